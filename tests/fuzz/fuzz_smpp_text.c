/*
 * fuzz_smpp_text.c — arbitrary bytes through src/smpp's text and segment
 * code, both ways a message comes in: as a peer's short_message (decoded
 * from its data_coding, its UDH read) and as UTF-8 from HTTP (alphabet
 * chosen, encoded, cut into parts, each part written and read back, joined
 * and decoded to the same UTF-8).  The first octet picks the data_coding
 * and the concatenation mode; the rest is the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/smpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_MAX 4096

static uint8_t enc[4 * TEXT_MAX], joined[4 * TEXT_MAX];
static char utf8[4 * TEXT_MAX];

/* A peer's octets in data_coding dc: what decodes must encode again. */
static void peer_text(uint8_t dc, struct str in)
{
	size_t n, m;

	if (smpp_text_decode(dc, in, utf8, sizeof(utf8), &n) != 0)
		return;
	if (dc == SMPP_DC_IA5)
		dc = SMPP_DC_LATIN1;
	if (smpp_text_encode((struct str){utf8, n}, dc, enc, sizeof(enc), &m) != 0)
		abort();
	if (dc != SMPP_DC_DEFAULT && (m != in.len || memcmp(enc, in.p, m) != 0))
		abort();
}

static void peer_udh(struct str in)
{
	struct smpp_pdu p;
	struct smpp_concat c;
	struct str body;

	smpp_pdu_init(&p, SMPP_DELIVER_SM, 1);
	p.esm_class = SMPP_ESM_UDHI;
	p.short_message = (struct str){in.p, in.len > SMPP_SM_MAX ? SMPP_SM_MAX : in.len};
	if (smpp_concat_read(&p, &c, &body) == 0 &&
	    (body.p < in.p || body.p + body.len > in.p + p.short_message.len || c.seqnum == 0 ||
	     c.seqnum > c.total))
		abort();
}

/* UTF-8 sent as parts and joined again must come back unchanged. */
static void http_text(enum smpp_concat_mode mode, struct str in)
{
	static struct str segs[SMPP_SEGMENTS_MAX];
	static struct smpp_part parts[SMPP_SEGMENTS_MAX];
	static uint8_t bufs[SMPP_SEGMENTS_MAX][SMPP_SM_MAX];
	struct smpp_pdu p;
	uint8_t dc;
	size_t len, nsegs, out;

	if (smpp_text_choose(in, true, &dc) != 0)
		return;
	if (smpp_text_encode(in, dc, enc, sizeof(enc), &len) != 0 ||
	    smpp_segments_split(dc, mode, (struct str){(const char *)enc, len}, segs,
				SMPP_SEGMENTS_MAX, &nsegs) != 0)
		abort();
	for (size_t i = 0; i < nsegs; i++) {
		const struct smpp_concat c = {0x1234, (uint8_t)nsegs, (uint8_t)(i + 1)};
		smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
		if (smpp_segment_fill(&p, mode, &c, segs[i], bufs[i], sizeof(bufs[i])) != 0 ||
		    smpp_concat_read(&p, &parts[i].c, &parts[i].body) != 0)
			abort();
	}
	if (smpp_concat_join(parts, nsegs, joined, sizeof(joined), &len) != 0 ||
	    smpp_text_decode(dc, (struct str){(const char *)joined, len}, utf8, sizeof(utf8),
			     &out) != 0 ||
	    out != in.len || memcmp(utf8, in.p, out) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t codings[] = {SMPP_DC_DEFAULT, SMPP_DC_IA5, SMPP_DC_LATIN1,
					  SMPP_DC_UCS2};
	struct str in;

	if (size < 1 || size > TEXT_MAX)
		return 0;
	in = (struct str){(const char *)data + 1, size - 1};
	peer_text(codings[data[0] & 3], in);
	peer_udh(in);
	http_text((enum smpp_concat_mode)((data[0] >> 2) % 3), in);
	return 0;
}
