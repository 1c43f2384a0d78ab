/*
 * smppwire.h — the little SMPP 3.4 the benchmark tools (smppsink.c,
 * smppload.c) speak, written for them alone: the benchmark must not measure
 * WARP's codec (src/smpp) against itself.  A PDU is built into a caller's
 * buffer (smppw_*_put, then smppw_end to write command_length) and read
 * with a cursor that stops at the first short field (smppw_get_*, then
 * check r.bad).  Big-endian integers, C-octet strings (§3.1).
 * Used only by the bench tools; not installed.
 */
#ifndef BENCH_SMPPWIRE_H
#define BENCH_SMPPWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* SMPP 3.4 §5.1.2.1 command_id values the tools use. */
#define SMPPW_GENERIC_NACK 0x80000000u
#define SMPPW_BIND_RECEIVER 0x00000001u
#define SMPPW_BIND_TRANSMITTER 0x00000002u
#define SMPPW_SUBMIT_SM 0x00000004u
#define SMPPW_DELIVER_SM 0x00000005u
#define SMPPW_UNBIND 0x00000006u
#define SMPPW_BIND_TRANSCEIVER 0x00000009u
#define SMPPW_ENQUIRE_LINK 0x00000015u
#define SMPPW_RESP 0x80000000u

#define SMPPW_HDR 16
#define SMPPW_PDU_MAX 65536 /* a longer command_length has lost the framing */
#define SMPPW_ESME_RINVCMDID 0x00000003u
#define SMPPW_TLV_RECEIPTED_ID 0x001e  /* §5.3.2.12 */
#define SMPPW_TLV_MESSAGE_STATE 0x0427 /* §5.3.2.35 */
#define SMPPW_ESM_RECEIPT 0x04	       /* esm_class: SMSC delivery receipt */

/* A PDU being built into buf (room for SMPPW_PDU_MAX). */
struct smppw_out {
	uint8_t *buf;
	size_t len;
};

/* A cursor over one received PDU's body. */
struct smppw_in {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

/* One received PDU's header and body. */
struct smppw_pdu {
	uint32_t len, id, status, seq;
	struct smppw_in body;
};

static inline uint32_t smppw_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void smppw_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void smppw_begin(struct smppw_out *o, uint32_t id, uint32_t status, uint32_t seq)
{
	smppw_put32(o->buf + 4, id);
	smppw_put32(o->buf + 8, status);
	smppw_put32(o->buf + 12, seq);
	o->len = SMPPW_HDR;
}

static inline void smppw_u8(struct smppw_out *o, uint8_t v)
{
	if (o->len < SMPPW_PDU_MAX)
		o->buf[o->len++] = v;
}

static inline void smppw_bytes(struct smppw_out *o, const void *p, size_t n)
{
	if (o->len + n <= SMPPW_PDU_MAX) {
		memcpy(o->buf + o->len, p, n);
		o->len += n;
	}
}

/* A C-octet string of n bytes (no NUL inside) and its terminating NUL. */
static inline void smppw_cstr(struct smppw_out *o, const char *s, size_t n)
{
	smppw_bytes(o, s, n);
	smppw_u8(o, 0);
}

static inline void smppw_tlv(struct smppw_out *o, uint16_t tag, const void *v, uint16_t n)
{
	smppw_u8(o, (uint8_t)(tag >> 8));
	smppw_u8(o, (uint8_t)tag);
	smppw_u8(o, (uint8_t)(n >> 8));
	smppw_u8(o, (uint8_t)n);
	smppw_bytes(o, v, n);
}

/* Writes command_length; returns the PDU's length. */
static inline size_t smppw_end(struct smppw_out *o)
{
	smppw_put32(o->buf, (uint32_t)o->len);
	return o->len;
}

/* The header of the PDU at the front of buf[0..n): 1 with *pdu filled when
 * a whole PDU is there, 0 when more bytes are needed, -1 when the length
 * is outside 16..SMPPW_PDU_MAX (§3.2). */
static inline int smppw_frame(const uint8_t *buf, size_t n, struct smppw_pdu *pdu)
{
	if (n < SMPPW_HDR)
		return 0;
	pdu->len = smppw_get32(buf);
	if (pdu->len < SMPPW_HDR || pdu->len > SMPPW_PDU_MAX)
		return -1;
	if (n < pdu->len)
		return 0;
	pdu->id = smppw_get32(buf + 4);
	pdu->status = smppw_get32(buf + 8);
	pdu->seq = smppw_get32(buf + 12);
	pdu->body = (struct smppw_in){buf + SMPPW_HDR, pdu->len - SMPPW_HDR, 0, false};
	return 1;
}

static inline uint8_t smppw_get_u8(struct smppw_in *r)
{
	if (r->bad || r->off >= r->len) {
		r->bad = true;
		return 0;
	}
	return r->p[r->off++];
}

/* A C-octet string: its bytes (without the NUL) as a view into the PDU. */
static inline const char *smppw_get_cstr(struct smppw_in *r, size_t *n)
{
	const uint8_t *s = r->p + r->off;
	const void *nul = r->bad ? NULL : memchr(s, 0, r->len - r->off);

	if (!nul) {
		r->bad = true;
		*n = 0;
		return "";
	}
	*n = (size_t)((const uint8_t *)nul - s);
	r->off += *n + 1;
	return (const char *)s;
}

/* n raw bytes as a view. */
static inline const uint8_t *smppw_get_bytes(struct smppw_in *r, size_t n)
{
	const uint8_t *s = r->p + r->off;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return s;
}

/* The fields of submit_sm and deliver_sm the tools look at (§4.4.1, §4.6.1). */
struct smppw_sm {
	const char *src, *dst, *text;
	size_t src_len, dst_len, text_len;
	uint8_t esm_class, registered_delivery;
};

static inline void smppw_skip_cstr(struct smppw_in *r)
{
	size_t n;
	(void)smppw_get_cstr(r, &n);
}

static inline int smppw_sm_parse(struct smppw_in *r, struct smppw_sm *sm)
{
	smppw_skip_cstr(r); /* service_type */
	smppw_get_u8(r);    /* source_addr_ton, _npi */
	smppw_get_u8(r);
	sm->src = smppw_get_cstr(r, &sm->src_len);
	smppw_get_u8(r); /* dest_addr_ton, _npi */
	smppw_get_u8(r);
	sm->dst = smppw_get_cstr(r, &sm->dst_len);
	sm->esm_class = smppw_get_u8(r);
	smppw_get_u8(r); /* protocol_id, priority_flag */
	smppw_get_u8(r);
	smppw_skip_cstr(r); /* schedule_delivery_time, validity_period */
	smppw_skip_cstr(r);
	sm->registered_delivery = smppw_get_u8(r);
	smppw_get_u8(r); /* replace_if_present_flag, data_coding, sm_default_msg_id */
	smppw_get_u8(r);
	smppw_get_u8(r);
	sm->text_len = smppw_get_u8(r);
	sm->text = (const char *)smppw_get_bytes(r, sm->text_len);
	return r->bad ? -1 : 0;
}

/* A submit_sm or deliver_sm body: the mandatory fields in §4.4.1 order,
 * TON/NPI 1/1 (international, E.164), data_coding 0. */
static inline void smppw_sm_put(struct smppw_out *o, const struct smppw_sm *sm)
{
	smppw_cstr(o, "", 0); /* service_type */
	smppw_u8(o, 1);
	smppw_u8(o, 1);
	smppw_cstr(o, sm->src, sm->src_len);
	smppw_u8(o, 1);
	smppw_u8(o, 1);
	smppw_cstr(o, sm->dst, sm->dst_len);
	smppw_u8(o, sm->esm_class);
	smppw_u8(o, 0); /* protocol_id, priority_flag */
	smppw_u8(o, 0);
	smppw_cstr(o, "", 0); /* schedule_delivery_time, validity_period */
	smppw_cstr(o, "", 0);
	smppw_u8(o, sm->registered_delivery);
	smppw_u8(o, 0); /* replace_if_present_flag, data_coding, sm_default_msg_id */
	smppw_u8(o, 0);
	smppw_u8(o, 0);
	smppw_u8(o, (uint8_t)sm->text_len);
	smppw_bytes(o, sm->text, sm->text_len);
}

#endif
