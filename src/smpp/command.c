/*
 * command.c — the SMPP 3.4 commands as data: for each command_id, its name
 * and the mandatory fields of its body in wire order (§4), with the size
 * bound of each and the error a fault in it reports.  decode.c and encode.c
 * walk these tables, so a PDU type is added here and nowhere else.
 */
#include <stddef.h>

#include "smpp/wire.h"

#define F_U8(f) { SMPP_F_U8, 0, offsetof(struct smpp_pdu, f), 0 }
#define F_CSTR(f, max, e) { SMPP_F_CSTR, (max), offsetof(struct smpp_pdu, f), (e) }
#define F_TIME(f, e) { SMPP_F_TIME, SMPP_TIME_MAX, offsetof(struct smpp_pdu, f), (e) }
#define F_ADDR(f, max, e) F_U8(f.ton), F_U8(f.npi), F_CSTR(f.addr, (max), (e))
#define F_SM { SMPP_F_SM, 0, offsetof(struct smpp_pdu, short_message), SMPP_E_SM_LENGTH }

/* §4.1.1, §4.1.3, §4.1.5 */
static const struct smpp_field smpp_bind_fields[] = {
	F_CSTR(system_id, SMPP_SYSTEM_ID_MAX, SMPP_E_SYSTEM_ID),
	F_CSTR(password, SMPP_PASSWORD_MAX, SMPP_E_PASSWORD),
	F_CSTR(system_type, SMPP_SYSTEM_TYPE_MAX, SMPP_E_SYSTEM_TYPE),
	F_U8(interface_version),
	F_ADDR(address_range, SMPP_ADDRESS_RANGE_MAX, SMPP_E_ADDRESS_RANGE),
};

/* §4.1.2 and its kin; sc_interface_version is a TLV */
static const struct smpp_field smpp_bind_resp_fields[] = {
	F_CSTR(system_id, SMPP_SYSTEM_ID_MAX, SMPP_E_SYSTEM_ID),
};

/* §4.1.7 */
static const struct smpp_field smpp_outbind_fields[] = {
	F_CSTR(system_id, SMPP_SYSTEM_ID_MAX, SMPP_E_SYSTEM_ID),
	F_CSTR(password, SMPP_PASSWORD_MAX, SMPP_E_PASSWORD),
};

/* §4.4.1 submit_sm and §4.6.1 deliver_sm share one layout */
static const struct smpp_field smpp_sm_fields[] = {
	F_CSTR(service_type, SMPP_SERVICE_TYPE_MAX, SMPP_E_SERVICE_TYPE),
	F_ADDR(source, SMPP_ADDR_MAX, SMPP_E_SOURCE_ADDR),
	F_ADDR(dest, SMPP_ADDR_MAX, SMPP_E_DEST_ADDR),
	F_U8(esm_class),
	F_U8(protocol_id),
	F_U8(priority_flag),
	F_TIME(schedule_delivery_time, SMPP_E_SCHEDULE),
	F_TIME(validity_period, SMPP_E_VALIDITY),
	F_U8(registered_delivery),
	F_U8(replace_if_present_flag),
	F_U8(data_coding),
	F_U8(sm_default_msg_id),
	F_SM,
};

/* §4.4.2, §4.6.2, §4.7.2 */
static const struct smpp_field smpp_message_id_fields[] = {
	F_CSTR(message_id, SMPP_MESSAGE_ID_MAX, SMPP_E_MESSAGE_ID),
};

/* §4.5.1 */
static const struct smpp_field smpp_submit_multi_fields[] = {
	F_CSTR(service_type, SMPP_SERVICE_TYPE_MAX, SMPP_E_SERVICE_TYPE),
	F_ADDR(source, SMPP_ADDR_MAX, SMPP_E_SOURCE_ADDR),
	{ SMPP_F_DESTS, 0, offsetof(struct smpp_pdu, dests), SMPP_E_NUM_DESTS },
	F_U8(esm_class),
	F_U8(protocol_id),
	F_U8(priority_flag),
	F_TIME(schedule_delivery_time, SMPP_E_SCHEDULE),
	F_TIME(validity_period, SMPP_E_VALIDITY),
	F_U8(registered_delivery),
	F_U8(replace_if_present_flag),
	F_U8(data_coding),
	F_U8(sm_default_msg_id),
	F_SM,
};

/* §4.5.2 */
static const struct smpp_field smpp_submit_multi_resp_fields[] = {
	F_CSTR(message_id, SMPP_MESSAGE_ID_MAX, SMPP_E_MESSAGE_ID),
	{ SMPP_F_UNSUCCESS, 0, offsetof(struct smpp_pdu, unsuccess), SMPP_E_DEST_ADDR },
};

/* §4.7.1: both addresses of data_sm are up to 65 octets */
static const struct smpp_field smpp_data_sm_fields[] = {
	F_CSTR(service_type, SMPP_SERVICE_TYPE_MAX, SMPP_E_SERVICE_TYPE),
	F_ADDR(source, SMPP_ADDR_WIDE_MAX, SMPP_E_SOURCE_ADDR),
	F_ADDR(dest, SMPP_ADDR_WIDE_MAX, SMPP_E_DEST_ADDR),
	F_U8(esm_class),
	F_U8(registered_delivery),
	F_U8(data_coding),
};

/* §4.8.1 */
static const struct smpp_field smpp_query_sm_fields[] = {
	F_CSTR(message_id, SMPP_MESSAGE_ID_MAX, SMPP_E_MESSAGE_ID),
	F_ADDR(source, SMPP_ADDR_MAX, SMPP_E_SOURCE_ADDR),
};

/* §4.8.2 */
static const struct smpp_field smpp_query_sm_resp_fields[] = {
	F_CSTR(message_id, SMPP_MESSAGE_ID_MAX, SMPP_E_MESSAGE_ID),
	F_TIME(final_date, SMPP_E_FINAL_DATE),
	F_U8(message_state),
	F_U8(error_code),
};

/* §4.9.1 */
static const struct smpp_field smpp_cancel_sm_fields[] = {
	F_CSTR(service_type, SMPP_SERVICE_TYPE_MAX, SMPP_E_SERVICE_TYPE),
	F_CSTR(message_id, SMPP_MESSAGE_ID_MAX, SMPP_E_MESSAGE_ID),
	F_ADDR(source, SMPP_ADDR_MAX, SMPP_E_SOURCE_ADDR),
	F_ADDR(dest, SMPP_ADDR_MAX, SMPP_E_DEST_ADDR),
};

/* §4.10.1 */
static const struct smpp_field smpp_replace_sm_fields[] = {
	F_CSTR(message_id, SMPP_MESSAGE_ID_MAX, SMPP_E_MESSAGE_ID),
	F_ADDR(source, SMPP_ADDR_MAX, SMPP_E_SOURCE_ADDR),
	F_TIME(schedule_delivery_time, SMPP_E_SCHEDULE),
	F_TIME(validity_period, SMPP_E_VALIDITY),
	F_U8(registered_delivery),
	F_U8(sm_default_msg_id),
	F_SM,
};

/* §4.12.1 */
static const struct smpp_field smpp_alert_fields[] = {
	F_ADDR(source, SMPP_ADDR_WIDE_MAX, SMPP_E_SOURCE_ADDR),
	F_ADDR(esme, SMPP_ADDR_WIDE_MAX, SMPP_E_ESME_ADDR),
};

#define CMD(id, name, fields) { (id), (name), (fields), sizeof(fields) / sizeof((fields)[0]) }
#define CMD_HEADER(id, name) { (id), (name), NULL, 0 }

static const struct smpp_command smpp_commands[] = {
	CMD_HEADER(SMPP_GENERIC_NACK, "generic_nack"),
	CMD(SMPP_BIND_RECEIVER, "bind_receiver", smpp_bind_fields),
	CMD(SMPP_BIND_RECEIVER_RESP, "bind_receiver_resp", smpp_bind_resp_fields),
	CMD(SMPP_BIND_TRANSMITTER, "bind_transmitter", smpp_bind_fields),
	CMD(SMPP_BIND_TRANSMITTER_RESP, "bind_transmitter_resp", smpp_bind_resp_fields),
	CMD(SMPP_QUERY_SM, "query_sm", smpp_query_sm_fields),
	CMD(SMPP_QUERY_SM_RESP, "query_sm_resp", smpp_query_sm_resp_fields),
	CMD(SMPP_SUBMIT_SM, "submit_sm", smpp_sm_fields),
	CMD(SMPP_SUBMIT_SM_RESP, "submit_sm_resp", smpp_message_id_fields),
	CMD(SMPP_DELIVER_SM, "deliver_sm", smpp_sm_fields),
	CMD(SMPP_DELIVER_SM_RESP, "deliver_sm_resp", smpp_message_id_fields),
	CMD_HEADER(SMPP_UNBIND, "unbind"),
	CMD_HEADER(SMPP_UNBIND_RESP, "unbind_resp"),
	CMD(SMPP_REPLACE_SM, "replace_sm", smpp_replace_sm_fields),
	CMD_HEADER(SMPP_REPLACE_SM_RESP, "replace_sm_resp"),
	CMD(SMPP_CANCEL_SM, "cancel_sm", smpp_cancel_sm_fields),
	CMD_HEADER(SMPP_CANCEL_SM_RESP, "cancel_sm_resp"),
	CMD(SMPP_BIND_TRANSCEIVER, "bind_transceiver", smpp_bind_fields),
	CMD(SMPP_BIND_TRANSCEIVER_RESP, "bind_transceiver_resp", smpp_bind_resp_fields),
	CMD(SMPP_OUTBIND, "outbind", smpp_outbind_fields),
	CMD_HEADER(SMPP_ENQUIRE_LINK, "enquire_link"),
	CMD_HEADER(SMPP_ENQUIRE_LINK_RESP, "enquire_link_resp"),
	CMD(SMPP_SUBMIT_MULTI, "submit_multi", smpp_submit_multi_fields),
	CMD(SMPP_SUBMIT_MULTI_RESP, "submit_multi_resp", smpp_submit_multi_resp_fields),
	CMD(SMPP_ALERT_NOTIFICATION, "alert_notification", smpp_alert_fields),
	CMD(SMPP_DATA_SM, "data_sm", smpp_data_sm_fields),
	CMD(SMPP_DATA_SM_RESP, "data_sm_resp", smpp_message_id_fields),
};

const struct smpp_command *smpp_command_find(uint32_t id)
{
	for (size_t i = 0; i < sizeof(smpp_commands) / sizeof(smpp_commands[0]); i++)
		if (smpp_commands[i].id == id)
			return &smpp_commands[i];
	return NULL;
}

const char *smpp_command_name(uint32_t command_id)
{
	const struct smpp_command *c = smpp_command_find(command_id);

	return c != NULL ? c->name : NULL;
}

bool smpp_command_has_resp(uint32_t command_id)
{
	if ((command_id & SMPP_RESP_BIT) != 0 || command_id == SMPP_OUTBIND ||
	    command_id == SMPP_ALERT_NOTIFICATION)
		return false;
	return smpp_command_find(command_id) != NULL;
}

void smpp_pdu_init(struct smpp_pdu *p, uint32_t command_id, uint32_t sequence_number)
{
	memset(p, 0, sizeof(*p));
	p->command_id = command_id;
	p->sequence_number = sequence_number;
	p->interface_version = SMPP_INTERFACE_VERSION;
}
