/*
 * encode.c — one PDU into the caller's buffer.
 *
 * The header is written with a zero command_length, the body by the
 * command's field table (command.c) with the same bounds decode applies,
 * then the TLVs, and command_length is filled in last.
 */
#include <stddef.h>

#include "smpp/wire.h"

static const void *smpp_field_at(const struct smpp_pdu *p, const struct smpp_field *f)
{
	return (const char *)p + f->off;
}

static void smpp_field_encode(struct smpp_wr *w, const struct smpp_field *f,
			      const struct smpp_pdu *p)
{
	const struct str *s = smpp_field_at(p, f);

	switch (f->kind) {
	case SMPP_F_U8:
		smpp_wr_u8(w, *(const uint8_t *)smpp_field_at(p, f));
		break;
	case SMPP_F_TIME:
		if (s->len != 0 && s->len != SMPP_TIME_MAX - 1)
			smpp_wr_fail(w, f->err);
		smpp_wr_cstr(w, *s, f->max, f->err);
		break;
	case SMPP_F_CSTR:
		smpp_wr_cstr(w, *s, f->max, f->err);
		break;
	case SMPP_F_SM:
		if (s->len > SMPP_SM_MAX)
			smpp_wr_fail(w, SMPP_E_SM_LENGTH);
		smpp_wr_u8(w, (uint8_t)s->len);
		smpp_wr_bytes(w, *s);
		break;
	case SMPP_F_DESTS:
		smpp_dests_encode(w, p);
		break;
	case SMPP_F_UNSUCCESS:
		smpp_unsuccess_encode(w, p);
		break;
	}
}

int smpp_pdu_encode(const struct smpp_pdu *p, uint8_t *buf, size_t cap)
{
	const struct smpp_command *c = smpp_command_find(p->command_id);
	struct smpp_wr w = { buf, cap, 0, 0 };

	if (c == NULL)
		return SMPP_E_CMDID;
	smpp_wr_u32(&w, 0);
	smpp_wr_u32(&w, p->command_id);
	smpp_wr_u32(&w, p->command_status);
	smpp_wr_u32(&w, p->sequence_number);
	for (size_t i = 0; i < c->nfields; i++)
		smpp_field_encode(&w, &c->fields[i], p);
	smpp_tlvs_encode(&w, &p->tlv);
	if (w.err != 0)
		return w.err;
	if (w.len > SMPP_PDU_MAX_LEN)
		return SMPP_E_CMDLEN;
	smpp_put_be32(buf, (uint32_t)w.len);
	return (int)w.len;
}
