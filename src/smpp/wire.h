/*
 * wire.h — private to src/smpp: the octet reader and writer every part of the
 * codec shares, and the command and TLV tables that drive it.
 *
 * The reader consumes a struct str view from its front and never reads past
 * it; the writer appends into the caller's buffer and, once a write did not
 * fit or a value was refused, keeps that first error and writes nothing more,
 * so an encoder can write a whole body and check once at the end.  Integers
 * are big-endian (SMPP 3.4 §3.1).
 */
#ifndef WARP_SMPP_WIRE_H
#define WARP_SMPP_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smpp/smpp.h"

/* ---------------------------------------------------------------- reader */

static inline int smpp_rd_u8(struct str *r, uint8_t *v)
{
	if (r->len < 1)
		return SMPP_E_BODY_SHORT;
	*v = (uint8_t)r->p[0];
	r->p++;
	r->len--;
	return 0;
}

static inline uint32_t smpp_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t smpp_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline int smpp_rd_u32(struct str *r, uint32_t *v)
{
	if (r->len < 4)
		return SMPP_E_BODY_SHORT;
	*v = smpp_be32((const uint8_t *)r->p);
	r->p += 4;
	r->len -= 4;
	return 0;
}

/* A C-Octet String of at most max octets with its NUL (§3.1): err when max
 * octets hold no NUL, SMPP_E_BODY_SHORT when the PDU ends first. */
static inline int smpp_rd_cstr(struct str *r, size_t max, int err, struct str *out)
{
	size_t n = r->len < max ? r->len : max;
	const char *nul = memchr(r->p, '\0', n);

	if (nul == NULL)
		return n == max ? err : SMPP_E_BODY_SHORT;
	*out = (struct str){ r->p, (size_t)(nul - r->p) };
	r->p = nul + 1;
	r->len -= out->len + 1;
	return 0;
}

/* ---------------------------------------------------------------- writer */

struct smpp_wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err;
};

static inline uint8_t *smpp_wr_room(struct smpp_wr *w, size_t n)
{
	if (w->err != 0)
		return NULL;
	if (n > w->cap - w->len) {
		w->err = SMPP_E_NO_SPACE;
		return NULL;
	}
	uint8_t *at = w->p + w->len;
	w->len += n;
	return at;
}

static inline void smpp_wr_fail(struct smpp_wr *w, int err)
{
	if (w->err == 0)
		w->err = err;
}

static inline void smpp_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void smpp_wr_u8(struct smpp_wr *w, uint8_t v)
{
	uint8_t *at = smpp_wr_room(w, 1);

	if (at != NULL)
		*at = v;
}

static inline void smpp_wr_u16(struct smpp_wr *w, uint16_t v)
{
	uint8_t *at = smpp_wr_room(w, 2);

	if (at != NULL) {
		at[0] = (uint8_t)(v >> 8);
		at[1] = (uint8_t)v;
	}
}

static inline void smpp_wr_u32(struct smpp_wr *w, uint32_t v)
{
	uint8_t *at = smpp_wr_room(w, 4);

	if (at != NULL)
		smpp_put_be32(at, v);
}

static inline void smpp_wr_bytes(struct smpp_wr *w, struct str s)
{
	uint8_t *at = smpp_wr_room(w, s.len);

	if (at != NULL && s.len > 0)
		memcpy(at, s.p, s.len);
}

/* s and its NUL, refused with err when the two need more than max octets or
 * s holds a NUL of its own (the peer would read a shorter string). */
static inline void smpp_wr_cstr(struct smpp_wr *w, struct str s, size_t max, int err)
{
	if (s.len + 1 > max || (s.len > 0 && memchr(s.p, '\0', s.len) != NULL)) {
		smpp_wr_fail(w, err);
		return;
	}
	smpp_wr_bytes(w, s);
	smpp_wr_u8(w, 0);
}

/* ---------------------------------------------------------------- tables */

/* What one mandatory body field is, in the order of §4's tables. */
enum smpp_field_kind {
	SMPP_F_U8,
	SMPP_F_CSTR,	  /* C-Octet String up to max */
	SMPP_F_TIME,	  /* C-Octet String empty or of 16 characters (§7.1) */
	SMPP_F_SM,	  /* sm_length then short_message */
	SMPP_F_DESTS,	  /* number_of_dests then dest_address list */
	SMPP_F_UNSUCCESS, /* no_unsuccess then unsuccess_sme list */
};

struct smpp_field {
	uint8_t kind;	/* enum smpp_field_kind */
	uint8_t max;	/* SMPP_F_CSTR: octets with the NUL */
	uint16_t off;	/* offsetof(struct smpp_pdu, field) */
	int16_t err;	/* enum smpp_err for a fault in this field */
};

struct smpp_command {
	uint32_t id;
	const char *name;
	const struct smpp_field *fields;
	size_t nfields;
};

/* The command's body layout, or NULL for an id the codec does not know. */
const struct smpp_command *smpp_command_find(uint32_t id);

/* TLVs (tlv.c): the stream after the mandatory fields. */
int smpp_tlvs_decode(struct str r, struct smpp_tlvs *out);
void smpp_tlvs_encode(struct smpp_wr *w, const struct smpp_tlvs *t);

/* Lists of submit_multi and submit_multi_resp (list.c). */
int smpp_dests_decode(struct str *r, struct smpp_pdu *out);
void smpp_dests_encode(struct smpp_wr *w, const struct smpp_pdu *p);
int smpp_unsuccess_decode(struct str *r, struct smpp_pdu *out);
void smpp_unsuccess_encode(struct smpp_wr *w, const struct smpp_pdu *p);

#endif
