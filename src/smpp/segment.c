/*
 * segment.c — long messages as several SMS and back.
 *
 * One SMS carries 140 octets of user data (3GPP TS 23.040 §9.2.3.24): 160
 * GSM septets, 140 octets or 70 UCS-2 units.  A longer message is cut into
 * parts that each leave room for the concatenation header, a UDH of 6 octets
 * (8-bit reference, IE 0x00) or 7 (16-bit reference, IE 0x08), or it is sent
 * with the SAR TLVs, which the SMSC turns into a UDH on the air, so SAR parts
 * are sized as 8-bit UDH ones.  The splitter works on the encoded text
 * (unpacked septets for GSM) and returns views into it; the receiving side
 * reads a part's reference and number from its UDH or TLVs and joins a
 * complete set.  Nothing here keeps state: holding parts until the set is
 * complete is the caller's, and durable.
 */
#include <stddef.h>
#include <string.h>

#include "smpp/wire.h"

#define UDH8_LEN 6  /* UDHL, IE 0x00, IEDL 3, ref, total, seqnum */
#define UDH16_LEN 7 /* UDHL, IE 0x08, IEDL 4, ref (2), total, seqnum */
#define IE_CONCAT8 0x00
#define IE_CONCAT16 0x08
#define GSM7_ESC 0x1B

static size_t concat_udh_len(enum smpp_concat_mode mode)
{
	return mode == SMPP_CONCAT_UDH16 ? UDH16_LEN : UDH8_LEN;
}

/* Units of enc one SMS holds next to udh octets of header. */
static size_t seg_capacity(uint8_t data_coding, size_t udh)
{
	size_t octets = SMPP_SMS_OCTETS - udh;

	if (data_coding == SMPP_DC_DEFAULT)
		return octets * 8 / 7;
	if (data_coding == SMPP_DC_UCS2)
		return octets & ~(size_t)1;
	return octets;
}

/* Where a part that may run to end must end so that it splits neither an
 * escape and its code nor a surrogate pair. */
static size_t seg_end(uint8_t data_coding, struct str enc, size_t pos, size_t end)
{
	const uint8_t *p = (const uint8_t *)enc.p;
	size_t i = pos;

	if (end >= enc.len)
		return enc.len;
	if (data_coding == SMPP_DC_DEFAULT) {
		while (i < end)
			i += p[i] == GSM7_ESC ? 2 : 1;
		return i > end ? end - 1 : end;
	}
	if (data_coding == SMPP_DC_UCS2 && end >= 2 && (p[end - 2] & 0xFC) == 0xD8)
		return end - 2;
	return end;
}

int smpp_segments_split(uint8_t data_coding, enum smpp_concat_mode mode, struct str enc,
			struct str *segs, size_t max, size_t *n)
{
	size_t cap = seg_capacity(data_coding, 0), pos = 0, count = 0;

	if (enc.len > cap)
		cap = seg_capacity(data_coding, concat_udh_len(mode));
	do {
		size_t end = seg_end(data_coding, enc, pos, pos + cap);

		if (count == SMPP_SEGMENTS_MAX || (segs != NULL && count == max))
			return SMPP_E_CONCAT;
		if (segs != NULL)
			segs[count] = (struct str){enc.p + pos, end - pos};
		count++;
		pos = end;
	} while (pos < enc.len);
	*n = count;
	return 0;
}

static bool concat_valid(const struct smpp_concat *c)
{
	return c->total >= 1 && c->seqnum >= 1 && c->seqnum <= c->total;
}

int smpp_segment_fill(struct smpp_pdu *p, enum smpp_concat_mode mode, const struct smpp_concat *c,
		      struct str seg, uint8_t *buf, size_t cap)
{
	struct smpp_wr w = {buf, cap, 0, 0};

	if (!concat_valid(c))
		return SMPP_E_CONCAT;
	p->short_message = seg;
	if (c->total == 1)
		return 0;
	if (mode == SMPP_CONCAT_SAR) {
		p->tlv.has |= SMPP_HAS_SAR_MSG_REF_NUM | SMPP_HAS_SAR_TOTAL_SEGMENTS |
			      SMPP_HAS_SAR_SEGMENT_SEQNUM;
		p->tlv.sar_msg_ref_num = c->ref;
		p->tlv.sar_total_segments = c->total;
		p->tlv.sar_segment_seqnum = c->seqnum;
		return 0;
	}
	smpp_wr_u8(&w, (uint8_t)(concat_udh_len(mode) - 1));
	if (mode == SMPP_CONCAT_UDH16) {
		smpp_wr_u8(&w, IE_CONCAT16);
		smpp_wr_u8(&w, 4);
		smpp_wr_u16(&w, c->ref);
	} else {
		smpp_wr_u8(&w, IE_CONCAT8);
		smpp_wr_u8(&w, 3);
		smpp_wr_u8(&w, (uint8_t)c->ref);
	}
	smpp_wr_u8(&w, c->total);
	smpp_wr_u8(&w, c->seqnum);
	smpp_wr_bytes(&w, seg);
	if (w.err != 0)
		return w.err;
	p->esm_class |= SMPP_ESM_UDHI;
	p->short_message = (struct str){(const char *)buf, w.len};
	return 0;
}

/* The concatenation IE of a UDH (TS 23.040 §9.2.3.24), other IEs skipped. */
static int concat_udh_read(struct str udh, struct smpp_concat *c)
{
	const uint8_t *p = (const uint8_t *)udh.p;

	for (size_t i = 0; i < udh.len;) {
		if (i + 2 > udh.len || i + 2 + p[i + 1] > udh.len)
			return SMPP_E_CONCAT;
		uint8_t ie = p[i], len = p[i + 1];
		const uint8_t *v = p + i + 2;
		if (ie == IE_CONCAT8 && len == 3)
			*c = (struct smpp_concat){v[0], v[1], v[2]};
		else if (ie == IE_CONCAT16 && len == 4)
			*c = (struct smpp_concat){smpp_be16(v), v[2], v[3]};
		i += 2u + len;
	}
	return 0;
}

int smpp_concat_read(const struct smpp_pdu *p, struct smpp_concat *c, struct str *body)
{
	const uint32_t sar =
	    SMPP_HAS_SAR_MSG_REF_NUM | SMPP_HAS_SAR_TOTAL_SEGMENTS | SMPP_HAS_SAR_SEGMENT_SEQNUM;
	int rc = 0;

	*c = (struct smpp_concat){0, 1, 1};
	*body = p->short_message;
	if (body->len == 0 && (p->tlv.has & SMPP_HAS_MESSAGE_PAYLOAD) != 0)
		*body = p->tlv.message_payload;
	if ((p->esm_class & SMPP_ESM_UDHI) != 0) {
		size_t udhl = body->len > 0 ? (uint8_t)body->p[0] : 0;
		if (body->len == 0 || 1 + udhl > body->len)
			return SMPP_E_CONCAT;
		rc = concat_udh_read((struct str){body->p + 1, udhl}, c);
		body->p += 1 + udhl;
		body->len -= 1 + udhl;
	} else if ((p->tlv.has & sar) == sar) {
		*c = (struct smpp_concat){p->tlv.sar_msg_ref_num, p->tlv.sar_total_segments,
					  p->tlv.sar_segment_seqnum};
	} else if ((p->tlv.has & sar) != 0) {
		return SMPP_E_CONCAT; /* §5.3.2.22: the three come together */
	}
	if (rc == 0 && !concat_valid(c))
		rc = SMPP_E_CONCAT;
	return rc;
}

int smpp_concat_join(const struct smpp_part *parts, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	struct smpp_wr w = {out, cap, 0, 0};

	if (n == 0 || n != parts[0].c.total)
		return SMPP_E_CONCAT;
	for (size_t seq = 1; seq <= n; seq++) {
		const struct smpp_part *found = NULL;
		for (size_t i = 0; i < n; i++) {
			const struct smpp_concat *c = &parts[i].c;
			if (c->ref != parts[0].c.ref || c->total != parts[0].c.total)
				return SMPP_E_CONCAT;
			if (c->seqnum == seq) {
				if (found != NULL)
					return SMPP_E_CONCAT; /* a part twice */
				found = &parts[i];
			}
		}
		if (found == NULL)
			return SMPP_E_CONCAT;
		smpp_wr_bytes(&w, found->body);
	}
	*len = w.len;
	return w.err;
}
