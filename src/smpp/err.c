/*
 * err.c — what each codec error means on the wire: its phrase for logs, the
 * command_status a session answers with (SMPP 3.4 §5.1.3), and whether that
 * answer is a generic_nack (a header fault, §4.3) or the command's _resp.
 */
#include "smpp/wire.h"

struct smpp_err_info {
	const char *phrase;
	uint32_t status;
	bool nack;
};

/* Indexed by -err. */
static const struct smpp_err_info smpp_errs[] = {
	[0] = { "no error", SMPP_ESME_ROK, false },
	[-SMPP_E_SHORT] = { "fewer bytes than a header", SMPP_ESME_RINVCMDLEN, true },
	[-SMPP_E_CMDLEN] = { "bad command_length", SMPP_ESME_RINVCMDLEN, true },
	[-SMPP_E_CMDID] = { "unknown command_id", SMPP_ESME_RINVCMDID, true },
	[-SMPP_E_BODY_SHORT] = { "body shorter than its fields", SMPP_ESME_RINVCMDLEN, false },
	[-SMPP_E_SYSTEM_ID] = { "bad system_id", SMPP_ESME_RINVSYSID, false },
	[-SMPP_E_PASSWORD] = { "bad password", SMPP_ESME_RINVPASWD, false },
	[-SMPP_E_SYSTEM_TYPE] = { "bad system_type", SMPP_ESME_RINVSYSTYP, false },
	[-SMPP_E_ADDRESS_RANGE] = { "bad address_range", SMPP_ESME_RINVSRCADR, false },
	[-SMPP_E_SERVICE_TYPE] = { "bad service_type", SMPP_ESME_RINVSERTYP, false },
	[-SMPP_E_SOURCE_ADDR] = { "bad source_addr", SMPP_ESME_RINVSRCADR, false },
	[-SMPP_E_DEST_ADDR] = { "bad destination_addr", SMPP_ESME_RINVDSTADR, false },
	[-SMPP_E_ESME_ADDR] = { "bad esme_addr", SMPP_ESME_RINVDSTADR, false },
	[-SMPP_E_SCHEDULE] = { "bad schedule_delivery_time", SMPP_ESME_RINVSCHED, false },
	[-SMPP_E_VALIDITY] = { "bad validity_period", SMPP_ESME_RINVEXPIRY, false },
	[-SMPP_E_FINAL_DATE] = { "bad final_date", SMPP_ESME_RUNKNOWNERR, false },
	[-SMPP_E_MESSAGE_ID] = { "bad message_id", SMPP_ESME_RINVMSGID, false },
	[-SMPP_E_SM_LENGTH] = { "bad sm_length", SMPP_ESME_RINVMSGLEN, false },
	[-SMPP_E_NUM_DESTS] = { "bad number_of_dests", SMPP_ESME_RINVNUMDESTS, false },
	[-SMPP_E_DEST_FLAG] = { "bad dest_flag", SMPP_ESME_RINVDESTFLAG, false },
	[-SMPP_E_DL_NAME] = { "bad dl_name", SMPP_ESME_RINVDLNAME, false },
	[-SMPP_E_TLV_STREAM] = { "bad TLV stream", SMPP_ESME_RINVOPTPARSTREAM, false },
	[-SMPP_E_TLV_LEN] = { "bad TLV length", SMPP_ESME_RINVPARLEN, false },
	[-SMPP_E_TLV_TOO_MANY] = { "too many TLVs", SMPP_ESME_RINVOPTPARSTREAM, false },
	[-SMPP_E_NO_SPACE] = { "buffer too small", SMPP_ESME_RSYSERR, false },
	[-SMPP_E_INVAL] = { "value not encodable", SMPP_ESME_RSYSERR, false },
	[-SMPP_E_TEXT] = { "text not in its alphabet", SMPP_ESME_RSUBMITFAIL, false },
	[-SMPP_E_CONCAT] = { "bad concatenation", SMPP_ESME_RINVESMCLASS, false },
};

static const struct smpp_err_info *smpp_err_find(int err)
{
	size_t i = err <= 0 ? (size_t)-(long)err : 0;

	if (err > 0 || i >= sizeof(smpp_errs) / sizeof(smpp_errs[0]) || smpp_errs[i].phrase == NULL)
		return NULL;
	return &smpp_errs[i];
}

const char *smpp_strerror(int err)
{
	const struct smpp_err_info *e = smpp_err_find(err);

	return e != NULL ? e->phrase : "unknown error";
}

uint32_t smpp_err_status(int err)
{
	const struct smpp_err_info *e = smpp_err_find(err);

	return e != NULL ? e->status : SMPP_ESME_RUNKNOWNERR;
}

bool smpp_err_nack(int err)
{
	const struct smpp_err_info *e = smpp_err_find(err);

	return e != NULL && e->nack;
}

int smpp_pdu_reply_error(const struct smpp_pdu *bad, int err, struct smpp_pdu *out)
{
	if (err == SMPP_E_SHORT)
		return SMPP_E_SHORT;
	/* A response is never answered, not even a malformed one;
	 * an unknown id with the response bit is not known to be one. */
	if ((bad->command_id & SMPP_RESP_BIT) != 0 && smpp_command_find(bad->command_id) != NULL)
		return SMPP_E_CMDID;
	uint32_t id = SMPP_GENERIC_NACK;
	if (!smpp_err_nack(err) && smpp_command_has_resp(bad->command_id))
		id = bad->command_id | SMPP_RESP_BIT;
	smpp_pdu_init(out, id, bad->sequence_number);
	out->command_status = smpp_err_status(err);
	return 0;
}
