/*
 * fuzz_smpp.c — arbitrary bytes as what an SMPP peer sends (src/smpp): the
 * framing check a session makes on a read buffer, then the decode of one
 * PDU, and what the session does next — the error answer for a PDU that
 * failed, or for one that decoded: its lists walked, every view checked to
 * lie inside the input, and an encode whose result decodes and encodes again
 * to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/smpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[SMPP_PDU_MAX_LEN], again[SMPP_PDU_MAX_LEN];

static void view_inside(struct str s, const uint8_t *data, size_t size)
{
	const char *lo = (const char *)data;

	if (s.p != NULL && (s.p < lo || s.len > size || s.p + s.len > lo + size))
		abort();
}

static void views_inside(const struct smpp_pdu *p, const uint8_t *data, size_t size)
{
	const struct str views[] = {
	    p->system_id,
	    p->password,
	    p->system_type,
	    p->address_range.addr,
	    p->service_type,
	    p->source.addr,
	    p->dest.addr,
	    p->esme.addr,
	    p->schedule_delivery_time,
	    p->validity_period,
	    p->short_message,
	    p->message_id,
	    p->final_date,
	    p->dests,
	    p->unsuccess,
	    p->tlv.message_payload,
	    p->tlv.receipted_message_id,
	};

	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		view_inside(views[i], data, size);
	if (p->tlv.nother > SMPP_TLV_OTHER_MAX)
		abort();
	for (size_t i = 0; i < p->tlv.nother; i++)
		view_inside(p->tlv.other[i].value, data, size);
}

/* decode checked the lists once; walking them again must find exactly the
 * entries it counted. */
static void lists_walk(const struct smpp_pdu *p)
{
	struct str raw = p->dests;
	struct smpp_dest d;
	struct smpp_unsuccess u;
	size_t n = 0;

	while (smpp_dest_next(&raw, &d) == 0)
		n++;
	if (p->dests.p != NULL && n != p->ndests)
		abort();
	raw = p->unsuccess;
	n = 0;
	while (smpp_unsuccess_next(&raw, &u) == 0)
		n++;
	if (p->unsuccess.p != NULL && n != p->nunsuccess)
		abort();
}

/* Every PDU that is answered can be: the answer always encodes. */
static void answer_error(const struct smpp_pdu *bad, int err)
{
	struct smpp_pdu r;

	if (smpp_pdu_reply_error(bad, err, &r) == 0 &&
	    smpp_pdu_encode(&r, out, sizeof(out)) < SMPP_HEADER_LEN)
		abort();
}

/* What we send, we accept: the encoding of a decoded PDU decodes, and
 * encodes again to the same bytes. */
static void reencode(const struct smpp_pdu *p)
{
	struct smpp_pdu back;
	int n = smpp_pdu_encode(p, out, sizeof(out));

	if (n == SMPP_E_CMDLEN || n == SMPP_E_NO_SPACE)
		return; /* a NUL added to a receipted_message_id can pass the limit */
	if (n < 0 || smpp_pdu_decode(out, (size_t)n, &back) != 0)
		abort();
	if (smpp_pdu_encode(&back, again, sizeof(again)) != n || memcmp(out, again, (size_t)n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smpp_pdu p;
	uint32_t len;
	int rc;

	rc = smpp_frame_len(data, size, &len);
	if (rc == 0 && len <= size)
		size = len; /* one frame, as a session cuts it from its read buffer */
	rc = smpp_pdu_decode(data, size, &p);
	if (rc != p.err)
		abort();
	if (rc != 0) {
		if (smpp_strerror(rc) == NULL)
			abort();
		answer_error(&p, rc);
		return 0;
	}
	views_inside(&p, data, size);
	lists_walk(&p);
	reencode(&p);
	return 0;
}
