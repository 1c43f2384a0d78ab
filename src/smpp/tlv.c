/*
 * tlv.c — the optional parameters after a PDU's mandatory fields (SMPP 3.4
 * §5.3): tag, length, value, each integer big-endian.
 *
 * The TLVs the SMSC acts on are decoded into struct smpp_tlvs with a
 * presence bit each; every other TLV is kept as a view, in the order it came,
 * for a relay to pass on.  A known TLV twice is refused: one field cannot
 * carry two values, and a relay must not silently drop one.
 */
#include <stddef.h>
#include <string.h>

#include "smpp/wire.h"

enum smpp_tv_kind { SMPP_TV_U8, SMPP_TV_U16, SMPP_TV_CSTR, SMPP_TV_OCTETS, SMPP_TV_NETERR };

struct smpp_tv {
	uint16_t tag;
	uint8_t kind;	/* enum smpp_tv_kind */
	uint8_t max;	/* SMPP_TV_CSTR: octets with the NUL */
	uint32_t bit;	/* SMPP_HAS_* */
	uint16_t off;	/* offsetof(struct smpp_tlvs, field) */
};

#define TV(tag, kind, max, bit, f) { (tag), (kind), (max), (bit), offsetof(struct smpp_tlvs, f) }

/* In tag order, which is also the order encode writes them in. */
static const struct smpp_tv smpp_tvs[] = {
	TV(SMPP_TLV_RECEIPTED_MESSAGE_ID, SMPP_TV_CSTR, SMPP_MESSAGE_ID_MAX,
	   SMPP_HAS_RECEIPTED_MESSAGE_ID, receipted_message_id), /* §5.3.2.12 */
	TV(SMPP_TLV_USER_MESSAGE_REFERENCE, SMPP_TV_U16, 0, SMPP_HAS_USER_MESSAGE_REFERENCE,
	   user_message_reference), /* §5.3.2.17 */
	TV(SMPP_TLV_SOURCE_PORT, SMPP_TV_U16, 0, SMPP_HAS_SOURCE_PORT, source_port),
	TV(SMPP_TLV_DESTINATION_PORT, SMPP_TV_U16, 0, SMPP_HAS_DESTINATION_PORT, destination_port),
	TV(SMPP_TLV_SAR_MSG_REF_NUM, SMPP_TV_U16, 0, SMPP_HAS_SAR_MSG_REF_NUM, sar_msg_ref_num),
	TV(SMPP_TLV_SAR_TOTAL_SEGMENTS, SMPP_TV_U8, 0, SMPP_HAS_SAR_TOTAL_SEGMENTS,
	   sar_total_segments),
	TV(SMPP_TLV_SAR_SEGMENT_SEQNUM, SMPP_TV_U8, 0, SMPP_HAS_SAR_SEGMENT_SEQNUM,
	   sar_segment_seqnum),
	TV(SMPP_TLV_SC_INTERFACE_VERSION, SMPP_TV_U8, 0, SMPP_HAS_SC_INTERFACE_VERSION,
	   sc_interface_version),
	TV(SMPP_TLV_NETWORK_ERROR_CODE, SMPP_TV_NETERR, 0, SMPP_HAS_NETWORK_ERROR_CODE,
	   network_error_type), /* §5.3.2.31 */
	TV(SMPP_TLV_MESSAGE_PAYLOAD, SMPP_TV_OCTETS, 0, SMPP_HAS_MESSAGE_PAYLOAD,
	   message_payload), /* §5.3.2.32 */
	TV(SMPP_TLV_MORE_MESSAGES_TO_SEND, SMPP_TV_U8, 0, SMPP_HAS_MORE_MESSAGES_TO_SEND,
	   more_messages_to_send),
	TV(SMPP_TLV_MESSAGE_STATE, SMPP_TV_U8, 0, SMPP_HAS_MESSAGE_STATE, message_state),
};

#define SMPP_TV_COUNT (sizeof(smpp_tvs) / sizeof(smpp_tvs[0]))

static const struct smpp_tv *smpp_tv_find(uint16_t tag)
{
	for (size_t i = 0; i < SMPP_TV_COUNT; i++)
		if (smpp_tvs[i].tag == tag)
			return &smpp_tvs[i];
	return NULL;
}

static int smpp_tv_decode(const struct smpp_tv *tv, struct str v, struct smpp_tlvs *t)
{
	void *at = (char *)t + tv->off;
	const uint8_t *b = (const uint8_t *)v.p;
	static const size_t fixed[] = { [SMPP_TV_U8] = 1, [SMPP_TV_U16] = 2, [SMPP_TV_NETERR] = 3 };

	if (tv->kind != SMPP_TV_CSTR && tv->kind != SMPP_TV_OCTETS && v.len != fixed[tv->kind])
		return SMPP_E_TLV_LEN;
	switch (tv->kind) {
	case SMPP_TV_U8:
		*(uint8_t *)at = b[0];
		break;
	case SMPP_TV_U16:
		*(uint16_t *)at = smpp_be16(b);
		break;
	case SMPP_TV_NETERR:
		t->network_error_type = b[0];
		t->network_error_code = smpp_be16(b + 1);
		break;
	case SMPP_TV_CSTR:
		/* Accepted without its NUL too: many SMSCs send it so. */
		if (v.len > 0 && v.p[v.len - 1] == '\0')
			v.len--;
		if (v.len + 1 > tv->max || memchr(v.p, '\0', v.len) != NULL)
			return SMPP_E_TLV_LEN;
		*(struct str *)at = v;
		break;
	case SMPP_TV_OCTETS:
		*(struct str *)at = v;
		break;
	}
	return 0;
}

/* hot path: no allocation, no locks, no I/O */
int smpp_tlvs_decode(struct str r, struct smpp_tlvs *t)
{
	const struct smpp_tv *tv;
	struct str v;
	int rc;

	while (r.len > 0) {
		if (r.len < 4)
			return SMPP_E_TLV_STREAM;
		uint16_t tag = smpp_be16((const uint8_t *)r.p);
		v = (struct str){ r.p + 4, smpp_be16((const uint8_t *)r.p + 2) };
		if (v.len > r.len - 4)
			return SMPP_E_TLV_STREAM;
		r.p += 4 + v.len;
		r.len -= 4 + v.len;
		if ((tv = smpp_tv_find(tag)) == NULL) {
			if (t->nother == SMPP_TLV_OTHER_MAX)
				return SMPP_E_TLV_TOO_MANY;
			t->other[t->nother++] = (struct smpp_tlv){ tag, v };
			continue;
		}
		if ((t->has & tv->bit) != 0)
			return SMPP_E_TLV_STREAM;
		if ((rc = smpp_tv_decode(tv, v, t)) != 0)
			return rc;
		t->has |= tv->bit;
	}
	return 0;
}

static void smpp_tv_encode(struct smpp_wr *w, const struct smpp_tv *tv, const struct smpp_tlvs *t)
{
	const void *at = (const char *)t + tv->off;
	const struct str *s = at;

	smpp_wr_u16(w, tv->tag);
	switch (tv->kind) {
	case SMPP_TV_U8:
		smpp_wr_u16(w, 1);
		smpp_wr_u8(w, *(const uint8_t *)at);
		break;
	case SMPP_TV_U16:
		smpp_wr_u16(w, 2);
		smpp_wr_u16(w, *(const uint16_t *)at);
		break;
	case SMPP_TV_NETERR:
		smpp_wr_u16(w, 3);
		smpp_wr_u8(w, t->network_error_type);
		smpp_wr_u16(w, t->network_error_code);
		break;
	case SMPP_TV_CSTR:
		smpp_wr_u16(w, (uint16_t)(s->len + 1));
		smpp_wr_cstr(w, *s, tv->max, SMPP_E_TLV_LEN);
		break;
	case SMPP_TV_OCTETS:
		if (s->len > UINT16_MAX)
			smpp_wr_fail(w, SMPP_E_TLV_LEN);
		smpp_wr_u16(w, (uint16_t)s->len);
		smpp_wr_bytes(w, *s);
		break;
	}
}

void smpp_tlvs_encode(struct smpp_wr *w, const struct smpp_tlvs *t)
{
	for (size_t i = 0; i < SMPP_TV_COUNT; i++)
		if ((t->has & smpp_tvs[i].bit) != 0)
			smpp_tv_encode(w, &smpp_tvs[i], t);
	if (t->nother > SMPP_TLV_OTHER_MAX) {
		smpp_wr_fail(w, SMPP_E_TLV_TOO_MANY);
		return;
	}
	for (size_t i = 0; i < t->nother; i++) {
		const struct smpp_tlv *o = &t->other[i];
		/* A known tag here would come back decoded into its field. */
		if (smpp_tv_find(o->tag) != NULL || o->value.len > UINT16_MAX)
			smpp_wr_fail(w, SMPP_E_INVAL);
		smpp_wr_u16(w, o->tag);
		smpp_wr_u16(w, (uint16_t)o->value.len);
		smpp_wr_bytes(w, o->value);
	}
}
