/*
 * fuzz_sdp.c — libFuzzer target for the SDP parser and rewriter.
 *
 * Whatever parses is rewritten with a fixed set of edits touching every
 * kind of line the rewriter changes; when the rewrite succeeds its output
 * must parse again, and rewriting without edits must reproduce the input
 * (modulo a CRLF added to a last line that had no line ending).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_strip[] = {101, 18};
static const uint8_t fuzz_keep[] = {8, 0, 96, 111};

static const struct sdp_edit fuzz_edits[] = {
    {.op = SDP_EDIT_ORIGIN_ADDR, .addrtype = STR_LIT("IP4"), .addr = STR_LIT("203.0.113.9")},
    {.op = SDP_EDIT_CONN,
     .media = SDP_SESSION,
     .addrtype = STR_LIT("IP4"),
     .addr = STR_LIT("203.0.113.9")},
    {.op = SDP_EDIT_CONN,
     .media = SDP_ALL_MEDIA,
     .addrtype = STR_LIT("IP6"),
     .addr = STR_LIT("2001:db8::9")},
    {.op = SDP_EDIT_PORT, .media = SDP_ALL_MEDIA, .port = 30000},
    {.op = SDP_EDIT_RTCP_SET,
     .media = 0,
     .port = 30001,
     .addrtype = STR_LIT("IP4"),
     .addr = STR_LIT("203.0.113.9")},
    {.op = SDP_EDIT_RTCP_REMOVE, .media = 1},
    {.op = SDP_EDIT_RTCP_MUX_ADD, .media = SDP_ALL_MEDIA},
    {.op = SDP_EDIT_ICE_REMOVE, .media = SDP_ALL_MEDIA},
    {.op = SDP_EDIT_CODEC_STRIP, .media = SDP_ALL_MEDIA, .pts = fuzz_strip, .npts = 2},
    {.op = SDP_EDIT_CODEC_KEEP, .media = 0, .pts = fuzz_keep, .npts = 4},
    {.op = SDP_EDIT_ATTR_APPEND, .media = SDP_SESSION, .text = STR_LIT("rtpengine:warp")},
    {.op = SDP_EDIT_ATTR_APPEND, .media = SDP_ALL_MEDIA, .text = STR_LIT("sendrecv")},
};

static struct sdp_session fuzz_sess, fuzz_again;

static void fuzz_sdp_identity(struct str body)
{
	struct buf b;

	buf_init(&b);
	if (sdp_rewrite(&fuzz_sess, NULL, 0, &b) < 0)
		abort();
	if (b.len < body.len || memcmp(b.p, body.p, body.len) != 0)
		abort();
	if (b.len != body.len && !(b.len == body.len + 2 && memcmp(b.p + body.len, "\r\n", 2) == 0))
		abort();
	buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str body = {(const char *)data, size};
	struct sdp_edit edits[sizeof(fuzz_edits) / sizeof(fuzz_edits[0])];
	size_t i, nedits = 0;
	struct buf b;
	int rc;

	if (sdp_parse(&fuzz_sess, body) < 0)
		return 0;
	fuzz_sdp_identity(body);
	/* edits naming a media index need that many sections */
	for (i = 0; i < sizeof(fuzz_edits) / sizeof(fuzz_edits[0]); i++)
		if (fuzz_edits[i].media < 0 || (size_t)fuzz_edits[i].media < fuzz_sess.nmedia)
			edits[nedits++] = fuzz_edits[i];
	buf_init(&b);
	rc = sdp_rewrite(&fuzz_sess, edits, nedits, &b);
	if (rc == 0 && sdp_parse(&fuzz_again, (struct str){b.p, b.len}) < 0)
		abort();
	if (rc < 0 && rc != SDP_ERR_CODEC && rc != SDP_ERR_LIMIT)
		abort();
	buf_fini(&b);
	return 0;
}
