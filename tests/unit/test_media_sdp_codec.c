/*
 * test_media_sdp_codec.c — the rewriter's edits the relay added for
 * transcoding and transport overrides (SDP_EDIT_CODEC_ADD, SDP_EDIT_PROTO in
 * src/media/sdp_rewrite.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "media/media.h"

static struct sdp_session sess;

static const char BODY[] = "v=0\r\n"
			   "o=- 1 1 IN IP4 192.0.2.1\r\n"
			   "s=-\r\n"
			   "c=IN IP4 192.0.2.1\r\n"
			   "t=0 0\r\n"
			   "m=audio 4000 RTP/AVP 0 101\r\n"
			   "a=rtpmap:0 PCMU/8000\r\n"
			   "a=rtpmap:101 telephone-event/8000\r\n";

static char *rewrite(const struct sdp_edit *e, size_t n, int want)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(sdp_parse(&sess, str_from_cstr(BODY)), 0);
	assert_int_equal(sdp_rewrite(&sess, e, n, &b), want);
	return b.p;
}

static void test_codec_add_appends_payload_type(void **state)
{
	static const uint8_t pcma[] = {8};
	struct sdp_edit e[2] = {
	    {.op = SDP_EDIT_CODEC_ADD, .media = 0, .pts = pcma, .npts = 1},
	    {.op = SDP_EDIT_ATTR_APPEND, .media = 0, .text = STR_LIT("rtpmap:8 PCMA/8000")},
	};
	char *out = rewrite(e, 2, 0);

	assert_non_null(strstr(out, "m=audio 4000 RTP/AVP 0 101 8\r\n"));
	assert_non_null(
	    strstr(out, "a=rtpmap:101 telephone-event/8000\r\na=rtpmap:8 PCMA/8000\r\n"));
	free(out);
}

static void test_codec_add_of_present_type_changes_nothing(void **state)
{
	static const uint8_t pcmu[] = {0};
	struct sdp_edit e = {.op = SDP_EDIT_CODEC_ADD, .media = 0, .pts = pcmu, .npts = 1};
	char *out = rewrite(&e, 1, 0);

	assert_string_equal(out, BODY);
	free(out);
}

static void test_strip_then_add_replaces_the_codec(void **state)
{
	static const uint8_t pcmu[] = {0}, pcma[] = {8};
	struct sdp_edit e[2] = {
	    {.op = SDP_EDIT_CODEC_STRIP, .media = 0, .pts = pcmu, .npts = 1},
	    {.op = SDP_EDIT_CODEC_ADD, .media = 0, .pts = pcma, .npts = 1},
	};
	char *out = rewrite(e, 2, 0);

	assert_non_null(strstr(out, "m=audio 4000 RTP/AVP 101 8\r\n"));
	assert_null(strstr(out, "PCMU"));
	free(out);
}

static void test_add_keeps_line_alive_when_all_else_stripped(void **state)
{
	static const uint8_t both[] = {0, 101}, pcma[] = {8};
	struct sdp_edit e[2] = {
	    {.op = SDP_EDIT_CODEC_STRIP, .media = 0, .pts = both, .npts = 2},
	    {.op = SDP_EDIT_CODEC_ADD, .media = 0, .pts = pcma, .npts = 1},
	};
	char *out = rewrite(e, 2, 0);

	assert_non_null(strstr(out, "m=audio 4000 RTP/AVP 8\r\n"));
	free(out);
}

static void test_proto_edit_rewrites_transport(void **state)
{
	struct sdp_edit e = {.op = SDP_EDIT_PROTO, .media = 0, .text = STR_LIT("RTP/AVPF")};
	char *out = rewrite(&e, 1, 0);

	assert_non_null(strstr(out, "m=audio 4000 RTP/AVPF 0 101\r\n"));
	free(out);
}

static void test_proto_edit_refuses_bad_token(void **state)
{
	struct sdp_edit e = {.op = SDP_EDIT_PROTO, .media = 0, .text = STR_LIT("RTP AVP")};
	char *out = rewrite(&e, 1, SDP_ERR_EDIT);

	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codec_add_appends_payload_type),
	    cmocka_unit_test(test_codec_add_of_present_type_changes_nothing),
	    cmocka_unit_test(test_strip_then_add_replaces_the_codec),
	    cmocka_unit_test(test_add_keeps_line_alive_when_all_else_stripped),
	    cmocka_unit_test(test_proto_edit_rewrites_transport),
	    cmocka_unit_test(test_proto_edit_refuses_bad_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
