/*
 * decode.c — framing and decoding of one PDU into views over its bytes.
 *
 * The header is read first and kept even when the body then fails, so that
 * the session can answer with the PDU's own sequence_number.  The body is
 * walked by the command's field table (command.c); whatever follows the
 * mandatory fields is the TLV stream (tlv.c).  SMPP 3.4 allows TLVs on some
 * commands only, but later versions add them to others, so every command's
 * trailing octets are read as TLVs and kept rather than refused.
 */
#include <stddef.h>
#include <string.h>

#include "smpp/wire.h"

/* hot path: no allocation, no locks, no I/O */
int smpp_frame_len(const uint8_t *buf, size_t len, uint32_t *pdu_len)
{
	if (len < 4)
		return SMPP_E_SHORT;
	*pdu_len = smpp_be32(buf);
	if (*pdu_len < SMPP_PDU_MIN_LEN || *pdu_len > SMPP_PDU_MAX_LEN)
		return SMPP_E_CMDLEN;
	return 0;
}

static void *smpp_field_at(struct smpp_pdu *p, const struct smpp_field *f)
{
	return (char *)p + f->off;
}

static int smpp_field_decode(struct str *r, const struct smpp_field *f, struct smpp_pdu *out)
{
	struct str *s = smpp_field_at(out, f);
	uint8_t n;
	int rc;

	switch (f->kind) {
	case SMPP_F_U8:
		return smpp_rd_u8(r, smpp_field_at(out, f));
	case SMPP_F_CSTR:
		return smpp_rd_cstr(r, f->max, f->err, s);
	case SMPP_F_TIME:
		rc = smpp_rd_cstr(r, f->max, f->err, s);
		/* §7.1.1: absolute or relative, always 16 characters, or NULL */
		if (rc == 0 && s->len != 0 && s->len != SMPP_TIME_MAX - 1)
			rc = f->err;
		return rc;
	case SMPP_F_SM:
		if ((rc = smpp_rd_u8(r, &n)) != 0)
			return rc;
		if (n > SMPP_SM_MAX || n > r->len)
			return SMPP_E_SM_LENGTH;
		*s = (struct str){ r->p, n };
		r->p += n;
		r->len -= n;
		return 0;
	case SMPP_F_DESTS:
		return smpp_dests_decode(r, out);
	case SMPP_F_UNSUCCESS:
		return smpp_unsuccess_decode(r, out);
	}
	return SMPP_E_INVAL;
}

static int smpp_header_decode(const uint8_t *buf, size_t len, struct smpp_pdu *out)
{
	memset(out, 0, sizeof(*out));
	if (len < SMPP_HEADER_LEN)
		return SMPP_E_SHORT;
	out->command_length = smpp_be32(buf);
	out->command_id = smpp_be32(buf + 4);
	out->command_status = smpp_be32(buf + 8);
	out->sequence_number = smpp_be32(buf + 12);
	if (out->command_length != len || len > SMPP_PDU_MAX_LEN)
		return SMPP_E_CMDLEN;
	return 0;
}

/* hot path: no allocation, no locks, no I/O */
int smpp_pdu_decode(const uint8_t *buf, size_t len, struct smpp_pdu *out)
{
	const struct smpp_command *c;
	struct str r;
	int rc;

	if ((rc = smpp_header_decode(buf, len, out)) != 0)
		goto fail;
	if ((c = smpp_command_find(out->command_id)) == NULL) {
		rc = SMPP_E_CMDID;
		goto fail;
	}
	r = (struct str){ (const char *)buf + SMPP_HEADER_LEN, len - SMPP_HEADER_LEN };
	/* A response carrying an error may come without its body (§4.4.2:
	 * "not returned if the command_status field contains a non-zero value"). */
	if ((out->command_id & SMPP_RESP_BIT) != 0 && out->command_status != 0 && r.len == 0)
		return 0;
	for (size_t i = 0; i < c->nfields; i++)
		if ((rc = smpp_field_decode(&r, &c->fields[i], out)) != 0)
			goto fail;
	if ((rc = smpp_tlvs_decode(r, &out->tlv)) != 0)
		goto fail;
	return 0;
fail:
	out->err = rc;
	return rc;
}
