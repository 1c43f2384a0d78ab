/*
 * smpp.h — the public face of WARP's SMPP 3.4 codec.
 *
 * The codec turns one PDU's bytes into a struct smpp_pdu and back; it does no
 * I/O and keeps no state, so a session (server or connector) owns its socket,
 * its read buffer and its sequence numbers, and calls in here per PDU.
 *
 * Framing: smpp_frame_len reads command_length from the first 4 bytes of a
 * read buffer and checks it against SMPP_PDU_MIN_LEN..SMPP_PDU_MAX_LEN, so a
 * session knows how many bytes to wait for before it decodes.
 *
 * Decoding: smpp_pdu_decode takes exactly one PDU (command_length bytes) and
 * fills every field of that command's body as a struct str view into the
 * buffer, which must outlive the PDU.  Nothing is allocated and nothing
 * recurses; each C-Octet String is bounded by its SMPP 3.4 maximum (§4, the
 * size given includes the NUL), short_message by 254 octets, the TLV stream
 * by command_length and the unknown TLVs kept by SMPP_TLV_OTHER_MAX.  A view
 * of a field the command does not carry has p == NULL; an empty C-Octet
 * String ("\0" on the wire) has p != NULL and len == 0.  Known TLVs are
 * decoded into struct smpp_tlvs with a presence bit each; unknown TLVs are
 * kept in order as (tag, value view) so that a relay can pass them on.
 *
 * Errors are negative enum smpp_err values.  The first error met is kept in
 * smpp_pdu.err, and the header (command_id, sequence_number) is filled as
 * soon as 16 bytes were readable, so a session can answer a PDU it could not
 * decode without dropping the connection: smpp_err_status names the
 * command_status to answer with, and smpp_pdu_reply_error builds the answer
 * (the command's own _resp for a body fault, generic_nack for a bad header).
 *
 * Encoding: smpp_pdu_encode writes the PDU into the caller's buffer and
 * returns its length, or SMPP_E_NO_SPACE when cap is too small (nothing
 * useful is left in the buffer then).  Every field is checked against the
 * same bounds as on decode, so what we send, we would accept.  A decoded PDU
 * re-encodes to an equivalent one (known TLVs first in a fixed order, then
 * the unknown ones in their received order).
 *
 * Text and segments: smpp_text_* convert a message between UTF-8 and the
 * alphabet of its data_coding, smpp_segments_split cuts a long one into the
 * parts of SMS it needs and smpp_segment_fill writes each part into a PDU
 * (UDH or SAR TLVs); smpp_concat_read and smpp_concat_join are the receiving
 * side.  Like the codec they allocate nothing and keep no state: parts are
 * views, and holding received parts until a set is complete is the caller's.
 */
#ifndef WARP_SMPP_H
#define WARP_SMPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---------------------------------------------------------------- limits */

#define SMPP_HEADER_LEN 16	 /* command_length, command_id, command_status, sequence_number */
#define SMPP_PDU_MIN_LEN 16	 /* a header alone */
#define SMPP_PDU_MAX_LEN 65536	 /* ours (SMPP 3.4 sets none): holds any message_payload */
#define SMPP_SM_MAX 254		 /* short_message octets (§5.2.22 sm_length) */
#define SMPP_MULTI_DESTS_MAX 254 /* dest_address entries in submit_multi (§4.5.1) */
#define SMPP_TLV_OTHER_MAX 16	 /* unknown TLVs kept per PDU */
#define SMPP_INTERFACE_VERSION 0x34

/* C-Octet String maxima of SMPP 3.4 §4, NUL included. */
#define SMPP_SYSTEM_ID_MAX 16
#define SMPP_PASSWORD_MAX 9
#define SMPP_SYSTEM_TYPE_MAX 13
#define SMPP_ADDRESS_RANGE_MAX 41
#define SMPP_SERVICE_TYPE_MAX 6
#define SMPP_ADDR_MAX 21      /* source_addr, destination_addr, dl_name */
#define SMPP_ADDR_WIDE_MAX 65 /* data_sm and alert_notification addresses (§4.7.1, §4.12.1) */
#define SMPP_TIME_MAX 17      /* schedule_delivery_time, validity_period, final_date */
#define SMPP_MESSAGE_ID_MAX 65

/* ------------------------------------------------------------ command ids */

enum smpp_command_id {
	SMPP_GENERIC_NACK = 0x80000000u,
	SMPP_BIND_RECEIVER = 0x00000001u,
	SMPP_BIND_RECEIVER_RESP = 0x80000001u,
	SMPP_BIND_TRANSMITTER = 0x00000002u,
	SMPP_BIND_TRANSMITTER_RESP = 0x80000002u,
	SMPP_QUERY_SM = 0x00000003u,
	SMPP_QUERY_SM_RESP = 0x80000003u,
	SMPP_SUBMIT_SM = 0x00000004u,
	SMPP_SUBMIT_SM_RESP = 0x80000004u,
	SMPP_DELIVER_SM = 0x00000005u,
	SMPP_DELIVER_SM_RESP = 0x80000005u,
	SMPP_UNBIND = 0x00000006u,
	SMPP_UNBIND_RESP = 0x80000006u,
	SMPP_REPLACE_SM = 0x00000007u,
	SMPP_REPLACE_SM_RESP = 0x80000007u,
	SMPP_CANCEL_SM = 0x00000008u,
	SMPP_CANCEL_SM_RESP = 0x80000008u,
	SMPP_BIND_TRANSCEIVER = 0x00000009u,
	SMPP_BIND_TRANSCEIVER_RESP = 0x80000009u,
	SMPP_OUTBIND = 0x0000000Bu,
	SMPP_ENQUIRE_LINK = 0x00000015u,
	SMPP_ENQUIRE_LINK_RESP = 0x80000015u,
	SMPP_SUBMIT_MULTI = 0x00000021u,
	SMPP_SUBMIT_MULTI_RESP = 0x80000021u,
	SMPP_ALERT_NOTIFICATION = 0x00000102u,
	SMPP_DATA_SM = 0x00000103u,
	SMPP_DATA_SM_RESP = 0x80000103u,
};

#define SMPP_RESP_BIT 0x80000000u

/* "submit_sm", ... or NULL for a command id the codec does not know. */
const char *smpp_command_name(uint32_t command_id);
/* True for a request that the peer answers with a _resp (not outbind,
 * alert_notification, or a response). */
bool smpp_command_has_resp(uint32_t command_id);

/* ---------------------------------------------------- command_status values */

/* The SMPP 3.4 §5.1.3 values the codec and the SMSC answer with. */
enum smpp_status {
	SMPP_ESME_ROK = 0x00,
	SMPP_ESME_RINVMSGLEN = 0x01,
	SMPP_ESME_RINVCMDLEN = 0x02,
	SMPP_ESME_RINVCMDID = 0x03,
	SMPP_ESME_RINVBNDSTS = 0x04,
	SMPP_ESME_RALYBND = 0x05,
	SMPP_ESME_RSYSERR = 0x08,
	SMPP_ESME_RINVSRCADR = 0x0A,
	SMPP_ESME_RINVDSTADR = 0x0B,
	SMPP_ESME_RINVMSGID = 0x0C,
	SMPP_ESME_RBINDFAIL = 0x0D,
	SMPP_ESME_RINVPASWD = 0x0E,
	SMPP_ESME_RINVSYSID = 0x0F,
	SMPP_ESME_RCANCELFAIL = 0x11,
	SMPP_ESME_RREPLACEFAIL = 0x13,
	SMPP_ESME_RMSGQFUL = 0x14,
	SMPP_ESME_RINVSERTYP = 0x15,
	SMPP_ESME_RINVNUMDESTS = 0x33,
	SMPP_ESME_RINVDLNAME = 0x34,
	SMPP_ESME_RINVDESTFLAG = 0x40,
	SMPP_ESME_RINVESMCLASS = 0x43,
	SMPP_ESME_RSUBMITFAIL = 0x45,
	SMPP_ESME_RINVSYSTYP = 0x53,
	SMPP_ESME_RTHROTTLED = 0x58,
	SMPP_ESME_RINVSCHED = 0x61,
	SMPP_ESME_RINVEXPIRY = 0x62,
	SMPP_ESME_RQUERYFAIL = 0x67,
	SMPP_ESME_RINVOPTPARSTREAM = 0xC0,
	SMPP_ESME_RINVPARLEN = 0xC2,
	SMPP_ESME_RMISSINGOPTPARAM = 0xC3, /* an expected TLV missing */
	SMPP_ESME_RINVOPTPARAMVAL = 0xC4,  /* a TLV's value out of its range */
	SMPP_ESME_RUNKNOWNERR = 0xFF,
};

/* ---------------------------------------------------------------- errors */

/* Each field fault has its own code so that smpp_err_status can name the
 * command_status the spec gives for that field. */
enum smpp_err {
	SMPP_OK = 0,
	SMPP_E_SHORT = -1,	/* fewer bytes than a header: read more */
	SMPP_E_CMDLEN = -2,	/* command_length outside the limits or not len */
	SMPP_E_CMDID = -3,	/* a command_id the codec does not know */
	SMPP_E_BODY_SHORT = -4, /* a mandatory field runs past command_length */
	SMPP_E_SYSTEM_ID = -5,	/* a C-Octet String without its NUL within its maximum ... */
	SMPP_E_PASSWORD = -6,	/* ... (or, encoding, too long or holding a NUL) */
	SMPP_E_SYSTEM_TYPE = -7,
	SMPP_E_ADDRESS_RANGE = -8,
	SMPP_E_SERVICE_TYPE = -9,
	SMPP_E_SOURCE_ADDR = -10,
	SMPP_E_DEST_ADDR = -11,
	SMPP_E_ESME_ADDR = -12,
	SMPP_E_SCHEDULE = -13, /* also: neither empty nor 16 characters (§7.1.1) */
	SMPP_E_VALIDITY = -14,
	SMPP_E_FINAL_DATE = -15,
	SMPP_E_MESSAGE_ID = -16,
	SMPP_E_SM_LENGTH = -17, /* sm_length above 254 or past the end */
	SMPP_E_NUM_DESTS = -18, /* number_of_dests 0 or above 254 */
	SMPP_E_DEST_FLAG = -19, /* dest_flag neither 1 (SME) nor 2 (list) */
	SMPP_E_DL_NAME = -20,
	SMPP_E_TLV_STREAM = -21,   /* a TLV header or value past the end, or a known TLV twice */
	SMPP_E_TLV_LEN = -22,	   /* a known TLV with the wrong length */
	SMPP_E_TLV_TOO_MANY = -23, /* more than SMPP_TLV_OTHER_MAX unknown TLVs */
	SMPP_E_NO_SPACE = -24,	   /* encoding: the caller's buffer is too small */
	SMPP_E_INVAL = -25,	   /* encoding: a value the wire cannot carry */
	SMPP_E_TEXT = -26,	   /* text: not UTF-8, or a character the alphabet lacks */
	SMPP_E_CONCAT = -27,	   /* segments: a bad UDH or SAR set, or parts that do not join */
};

/* Short phrase for a code: "bad source_addr", ... */
const char *smpp_strerror(int err);
/* The command_status to answer a PDU that failed with err. */
uint32_t smpp_err_status(int err);
/* True when err concerns the header, so the answer is generic_nack rather
 * than the command's own _resp (§4.3: a PDU "with an invalid message header"). */
bool smpp_err_nack(int err);

/* ------------------------------------------------------------------ TLVs */

enum smpp_tlv_tag {
	SMPP_TLV_RECEIPTED_MESSAGE_ID = 0x001E,
	SMPP_TLV_USER_MESSAGE_REFERENCE = 0x0204,
	SMPP_TLV_SOURCE_PORT = 0x020A,
	SMPP_TLV_DESTINATION_PORT = 0x020B,
	SMPP_TLV_SAR_MSG_REF_NUM = 0x020C,
	SMPP_TLV_SAR_TOTAL_SEGMENTS = 0x020E,
	SMPP_TLV_SAR_SEGMENT_SEQNUM = 0x020F,
	SMPP_TLV_SC_INTERFACE_VERSION = 0x0210,
	SMPP_TLV_NETWORK_ERROR_CODE = 0x0423,
	SMPP_TLV_MESSAGE_PAYLOAD = 0x0424,
	SMPP_TLV_MORE_MESSAGES_TO_SEND = 0x0426,
	SMPP_TLV_MESSAGE_STATE = 0x0427,
};

/* Presence bits of struct smpp_tlvs.has, one per known TLV. */
enum smpp_tlv_bit {
	SMPP_HAS_RECEIPTED_MESSAGE_ID = 1u << 0,
	SMPP_HAS_USER_MESSAGE_REFERENCE = 1u << 1,
	SMPP_HAS_SOURCE_PORT = 1u << 2,
	SMPP_HAS_DESTINATION_PORT = 1u << 3,
	SMPP_HAS_SAR_MSG_REF_NUM = 1u << 4,
	SMPP_HAS_SAR_TOTAL_SEGMENTS = 1u << 5,
	SMPP_HAS_SAR_SEGMENT_SEQNUM = 1u << 6,
	SMPP_HAS_SC_INTERFACE_VERSION = 1u << 7,
	SMPP_HAS_NETWORK_ERROR_CODE = 1u << 8,
	SMPP_HAS_MESSAGE_PAYLOAD = 1u << 9,
	SMPP_HAS_MORE_MESSAGES_TO_SEND = 1u << 10,
	SMPP_HAS_MESSAGE_STATE = 1u << 11,
};

/* A TLV the codec does not interpret: the value is a view into the PDU. */
struct smpp_tlv {
	uint16_t tag;
	struct str value;
};

struct smpp_tlvs {
	uint32_t has; /* SMPP_HAS_* */
	/* receipted_message_id is a C-Octet String (§5.3.2.12); a value sent
	 * without its NUL is accepted and re-encoded with one. */
	struct str receipted_message_id;
	uint16_t user_message_reference;
	uint16_t source_port, destination_port;
	uint16_t sar_msg_ref_num;
	uint8_t sar_total_segments, sar_segment_seqnum;
	uint8_t sc_interface_version;
	uint8_t network_error_type;  /* network_error_code (§5.3.2.31): type octet ... */
	uint16_t network_error_code; /* ... then the 2-octet error code */
	struct str message_payload;
	uint8_t more_messages_to_send;
	uint8_t message_state;
	size_t nother;
	struct smpp_tlv other[SMPP_TLV_OTHER_MAX];
};

/* ------------------------------------------------------------- addresses */

struct smpp_addr {
	uint8_t ton, npi;
	struct str addr;
};

/* One dest_address of submit_multi (§4.5.1.1). */
enum smpp_dest_flag { SMPP_DEST_SME = 1, SMPP_DEST_DL = 2 };

struct smpp_dest {
	uint8_t flag;	      /* SMPP_DEST_SME or SMPP_DEST_DL */
	struct smpp_addr sme; /* SMPP_DEST_SME: ton, npi, destination_addr */
	struct str dl_name;   /* SMPP_DEST_DL */
};

/* One unsuccess_sme of submit_multi_resp (§4.5.2.1). */
struct smpp_unsuccess {
	struct smpp_addr addr;
	uint32_t error_status_code;
};

/* ------------------------------------------------------------------ PDU */

/*
 * One PDU of any command.  Only the fields of its command_id's body are used
 * (§4 lists them); the others stay zero.  Lists of submit_multi(_resp) are
 * kept raw on decode (dests / unsuccess, walked with smpp_dest_next and
 * smpp_unsuccess_next); to encode new ones, point dest_list / unsuccess_list
 * at an array of ndests / nunsuccess entries; when those are NULL the raw
 * views are written back unchanged.
 */
struct smpp_pdu {
	uint32_t command_length; /* decode only: encode computes it */
	uint32_t command_id;
	uint32_t command_status;
	uint32_t sequence_number;

	/* bind_*, outbind, bind_*_resp (system_id) */
	struct str system_id, password, system_type;
	uint8_t interface_version;
	struct smpp_addr address_range;

	/* messages */
	struct str service_type;
	struct smpp_addr source, dest;
	struct smpp_addr esme; /* alert_notification's esme_addr */
	uint8_t esm_class, protocol_id, priority_flag;
	struct str schedule_delivery_time, validity_period;
	uint8_t registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id;
	struct str short_message;
	struct str message_id;
	struct str final_date; /* query_sm_resp */
	uint8_t message_state, error_code;

	/* submit_multi */
	uint8_t ndests;
	struct str dests;
	const struct smpp_dest *dest_list;
	/* submit_multi_resp */
	uint8_t nunsuccess;
	struct str unsuccess;
	const struct smpp_unsuccess *unsuccess_list;

	struct smpp_tlvs tlv;
	int err; /* decode: first error met, SMPP_OK when none */
};

/* Zeroes p and sets its command and sequence number; interface_version
 * gets SMPP_INTERFACE_VERSION. */
void smpp_pdu_init(struct smpp_pdu *p, uint32_t command_id, uint32_t sequence_number);

/* hot path: no allocation, no locks, no I/O */
/* With at least 4 bytes in buf, *pdu_len gets command_length and 0 is
 * returned when it is within SMPP_PDU_MIN_LEN..SMPP_PDU_MAX_LEN, else
 * SMPP_E_CMDLEN (the stream has lost its framing: answer generic_nack with
 * ESME_RINVCMDLEN and close).  Fewer than 4 bytes: SMPP_E_SHORT. */
int smpp_frame_len(const uint8_t *buf, size_t len, uint32_t *pdu_len);

/* hot path: no allocation, no locks, no I/O */
/* Decodes the one PDU in buf[0..len) (len must equal its command_length).
 * Returns 0 or the first error, which out->err keeps too. */
int smpp_pdu_decode(const uint8_t *buf, size_t len, struct smpp_pdu *out);

/* Writes p into buf; returns the length written (= command_length) or a
 * negative enum smpp_err. */
int smpp_pdu_encode(const struct smpp_pdu *p, uint8_t *buf, size_t cap);

/* The answer to a PDU that failed to decode with err (bad may hold only its
 * header): generic_nack for a header fault or a command without a _resp,
 * otherwise the command's _resp, with smpp_err_status(err) and bad's
 * sequence_number.  Returns SMPP_E_CMDID when bad was itself a response
 * (which is never answered) and SMPP_E_SHORT when bad has no header. */
int smpp_pdu_reply_error(const struct smpp_pdu *bad, int err, struct smpp_pdu *out);

/* Walks a raw submit_multi dest list (smpp_pdu.dests) that decode checked:
 * returns 0 and the next entry, consuming it from *raw, or SMPP_E_SHORT at
 * the end. */
int smpp_dest_next(struct str *raw, struct smpp_dest *out);
int smpp_unsuccess_next(struct str *raw, struct smpp_unsuccess *out);

/* ------------------------------------------------------------- text */

/* data_coding values (§5.2.19) the text functions know. */
enum smpp_data_coding {
	SMPP_DC_DEFAULT = 0x00, /* the GSM 03.38 default alphabet, one septet per octet */
	SMPP_DC_IA5 = 0x01,	/* ASCII; decoded only */
	SMPP_DC_LATIN1 = 0x03,
	SMPP_DC_BINARY = 0x04,
	SMPP_DC_UCS2 = 0x08, /* UTF-16BE: surrogate pairs beyond the BMP */
};

/*
 * text.c.  Encode writes utf8 in data_coding's alphabet (GSM as unpacked
 * septets, an extension character as 0x1B and its code) and sets *len;
 * SMPP_E_TEXT for bytes that are not UTF-8 or a character the alphabet
 * lacks (never replaced by '?'), SMPP_E_NO_SPACE, SMPP_E_INVAL for a
 * data_coding that is not text.  Decode is the reverse, into UTF-8.
 */
/* hot path: no allocation, no locks, no I/O */
int smpp_text_encode(struct str utf8, uint8_t data_coding, uint8_t *out, size_t cap, size_t *len);
int smpp_text_decode(uint8_t data_coding, struct str in, char *out, size_t cap, size_t *len);
/* The cheapest data_coding that carries every character of utf8: GSM, then
 * Latin-1 when the upstream takes it (latin1_ok), else UCS-2.  SMPP_E_TEXT
 * for bytes that are not UTF-8. */
int smpp_text_choose(struct str utf8, bool latin1_ok, uint8_t *data_coding);
/* GSM 03.38 §6.1.2.1.1 packing of n septets into out ((7n + 7) / 8 octets,
 * returned), and its reverse, which reads at most nseptets (the count
 * cannot be told from the octets alone) and returns how many it read. */
size_t smpp_gsm7_pack(const uint8_t *septets, size_t n, uint8_t *out);
size_t smpp_gsm7_unpack(const uint8_t *packed, size_t len, size_t nseptets, uint8_t *out);

/* --------------------------------------------------------- segments */

/* How the parts of a long message are tied together (as the upstream
 * prefers): a UDH in short_message with an 8- or 16-bit reference (3GPP
 * TS 23.040 §9.2.3.24.1 and .8), or the sar_* TLVs (§5.3.2.22-24). */
enum smpp_concat_mode { SMPP_CONCAT_UDH8, SMPP_CONCAT_UDH16, SMPP_CONCAT_SAR };

#define SMPP_SMS_OCTETS 140   /* one SMS's user data */
#define SMPP_SEGMENTS_MAX 255 /* total and seqnum are one octet */
#define SMPP_ESM_UDHI 0x40    /* esm_class: short_message starts with a UDH */

/* One part: reference, total parts and this part's number (from 1). */
struct smpp_concat {
	uint16_t ref;
	uint8_t total, seqnum;
};

/*
 * segment.c.  Cuts enc (smpp_text_encode's output, or binary octets) into
 * parts: one when it fits an SMS whole (160 septets, 140 octets, 70 UCS-2
 * units), otherwise parts that leave room for the UDH (153/152 septets,
 * 134/133 octets, 67/66 UCS-2 units for UDH8/UDH16; SAR parts are sized as
 * UDH8's, so the SMSC can add its own UDH on the air).  A cut never splits
 * a GSM escape from its code nor a UTF-16 surrogate pair.  segs (NULL to
 * count only) gets views into enc; *n the count; SMPP_E_CONCAT past
 * SMPP_SEGMENTS_MAX or max.
 */
/* hot path: no allocation, no locks, no I/O */
int smpp_segments_split(uint8_t data_coding, enum smpp_concat_mode mode, struct str enc,
			struct str *segs, size_t max, size_t *n);
/* Sets p's short_message to part c->seqnum of c->total: seg alone when
 * total is 1; with a UDH written into buf (UDHI set in esm_class; UDH8
 * carries the low octet of c->ref); or seg with the sar_* TLVs.
 * SMPP_E_NO_SPACE when buf cannot hold UDH and seg, SMPP_E_CONCAT for a
 * seqnum outside 1..total. */
int smpp_segment_fill(struct smpp_pdu *p, enum smpp_concat_mode mode, const struct smpp_concat *c,
		      struct str seg, uint8_t *buf, size_t cap);
/* Which part of which message p is: from its UDH when esm_class has UDHI,
 * else from its sar_* TLVs, else a whole message (total 1).  *body gets the
 * user data after the UDH (short_message, or message_payload when that is
 * what p carries).  SMPP_E_CONCAT for a UDH or SAR set that does not hold. */
/* hot path: no allocation, no locks, no I/O */
int smpp_concat_read(const struct smpp_pdu *p, struct smpp_concat *c, struct str *body);

/* One received part, as smpp_concat_read returned it. */
struct smpp_part {
	struct smpp_concat c;
	struct str body;
};
/* Joins the n parts of one message, in any order, into out in seqnum
 * order; SMPP_E_CONCAT unless they are exactly parts 1..total of one
 * reference, SMPP_E_NO_SPACE. */
int smpp_concat_join(const struct smpp_part *parts, size_t n, uint8_t *out, size_t cap,
		     size_t *len);

#endif
