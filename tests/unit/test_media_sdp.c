/*
 * test_media_sdp.c — the SDP parser and rewriter (src/media/sdp*.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media.h"

static struct sdp_session sess, again;

/* An offer the way a pjsip softphone behind NAT sends it: G.711 both laws,
 * telephone-event, a=rtcp with address, ICE with host and srflx. */
static const char OFFER[] = "v=0\r\n"
			    "o=- 3873154822 3873154823 IN IP4 192.168.1.20\r\n"
			    "s=pjmedia\r\n"
			    "b=AS:84\r\n"
			    "t=0 0\r\n"
			    "a=X-nat:0\r\n"
			    "m=audio 4000 RTP/AVP 0 8 101\r\n"
			    "c=IN IP4 192.168.1.20\r\n"
			    "b=TIAS:64000\r\n"
			    "a=rtcp:4001 IN IP4 192.168.1.20\r\n"
			    "a=sendrecv\r\n"
			    "a=rtpmap:0 PCMU/8000\r\n"
			    "a=rtpmap:8 PCMA/8000\r\n"
			    "a=rtpmap:101 telephone-event/8000\r\n"
			    "a=fmtp:101 0-16\r\n"
			    "a=ptime:20\r\n"
			    "a=ice-ufrag:6d2a1c3e\r\n"
			    "a=ice-pwd:2b0f5c1a7e8d4b3c\r\n"
			    "a=candidate:Hc0a80114 1 UDP 2130706431 192.168.1.20 4000 typ host\r\n"
			    "a=candidate:S4e2a1b3c 1 UDP 1694498815 78.42.27.60 4000 typ srflx "
			    "raddr 192.168.1.20 rport 4000\r\n"
			    "a=candidate:Hc0a80114 2 UDP 2130706430 192.168.1.20 4001 typ host\r\n"
			    "a=ssrc:1234567 cname:4f2c1a\r\n";

static void assert_str_is(struct str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

static int parse(const char *body)
{
	return sdp_parse(&sess, str_from_cstr(body));
}

/* Rewrites sess with the edits; the output must parse again. */
static char *rewrite(const struct sdp_edit *edits, size_t n)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(sdp_rewrite(&sess, edits, n, &b), 0);
	assert_int_equal(sdp_parse(&again, (struct str){b.p, b.len}), 0);
	return buf_steal(&b);
}

static void test_parse_real_world_offer(void **state)
{
	const struct sdp_media *m;
	const struct sdp_attr *a;

	assert_int_equal(parse(OFFER), 0);
	assert_str_is(sess.origin.username, "-");
	assert_str_is(sess.origin.sess_version, "3873154823");
	assert_str_is(sess.origin.conn.addrtype, "IP4");
	assert_str_is(sess.origin.conn.address, "192.168.1.20");
	assert_str_is(sess.name, "pjmedia");
	assert_str_is(sess.timing, "0 0");
	assert_int_equal(sess.conn.address.len, 0);
	assert_int_equal(sess.nbw, 1);
	assert_str_is(sess.bw[0], "AS:84");
	assert_int_equal(sess.nattrs, 1);
	assert_str_is(sess.attrs[0].name, "X-nat");
	assert_int_equal(sess.nmedia, 1);
	m = &sess.media[0];
	assert_str_is(m->type, "audio");
	assert_int_equal(m->port, 4000);
	assert_int_equal(m->port_count, 1);
	assert_str_is(m->proto, "RTP/AVP");
	assert_int_equal(m->nfmts, 3);
	assert_str_is(m->fmts[2], "101");
	assert_true(m->rtp);
	assert_str_is(m->conn.address, "192.168.1.20");
	assert_str_is(m->bw[0], "TIAS:64000");
	assert_int_equal(m->nattrs, 13);
	assert_int_equal(m->dir, SDP_DIR_SENDRECV);
	assert_false(m->rtcp_mux);
	a = sdp_attr_find(&sess, m, SDP_ATTR_RTCP);
	assert_int_equal(a->u.rtcp.port, 4001);
	assert_str_is(a->u.rtcp.conn.address, "192.168.1.20");
	a = sdp_rtpmap_find(&sess, m, 101);
	assert_str_is(a->u.rtpmap.encoding, "telephone-event");
	assert_int_equal(a->u.rtpmap.rate, 8000);
	assert_int_equal(a->u.rtpmap.channels, 0);
	assert_str_is(sdp_rtpmap_find(&sess, m, 8)->u.rtpmap.encoding, "PCMA");
	a = sdp_attr_find(&sess, m, SDP_ATTR_FMTP);
	assert_int_equal(a->pt, 101);
	assert_str_is(a->u.fmtp_params, "0-16");
	assert_int_equal(sdp_attr_find(&sess, m, SDP_ATTR_PTIME)->u.ptime, 20);
	assert_str_is(sdp_attr_find(&sess, m, SDP_ATTR_ICE_UFRAG)->value, "6d2a1c3e");
	assert_str_is(sdp_attr_find(&sess, m, SDP_ATTR_ICE_PWD)->value, "2b0f5c1a7e8d4b3c");
	assert_int_equal(sdp_attr_find(&sess, m, SDP_ATTR_OTHER)->kind, SDP_ATTR_OTHER);
	assert_str_is(sdp_attr_find(&sess, m, SDP_ATTR_OTHER)->line, "a=ssrc:1234567 cname:4f2c1a");
}

static void test_parse_candidate_fields(void **state)
{
	const struct sdp_media *m;
	struct sdp_candidate c;
	size_t i, seen = 0;

	assert_int_equal(parse(OFFER), 0);
	m = &sess.media[0];
	for (i = m->attr_first; i < m->attr_first + m->nattrs; i++) {
		if (sess.attrs[i].kind != SDP_ATTR_CANDIDATE)
			continue;
		assert_int_equal(sdp_candidate_parse(&sess.attrs[i], &c), 0);
		if (++seen == 2) {
			assert_str_is(c.foundation, "S4e2a1b3c");
			assert_int_equal(c.component, 1);
			assert_str_is(c.transport, "UDP");
			assert_int_equal(c.priority, 1694498815u);
			assert_str_is(c.address, "78.42.27.60");
			assert_int_equal(c.port, 4000);
			assert_str_is(c.type, "srflx");
			assert_str_is(c.rel_addr, "192.168.1.20");
			assert_int_equal(c.rel_port, 4000);
		}
	}
	assert_int_equal(seen, 3);
	assert_int_equal(sdp_candidate_parse(sdp_attr_find(&sess, m, SDP_ATTR_PTIME), &c),
			 SDP_ERR_ATTR);
}

static void test_parse_bad_candidate_refused_on_demand(void **state)
{
	assert_int_equal(
	    parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
		  "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 UDP 99 192.0.2.1 9 host\r\n"),
	    0);
	{
		struct sdp_candidate c;

		/* the parse of the body succeeds: candidates are parsed lazily */
		assert_int_equal(sdp_candidate_parse(&sess.attrs[0], &c), SDP_ERR_ATTR);
	}
}

static void test_parse_ipv6_connection(void **state)
{
	assert_int_equal(parse("v=0\r\n"
			       "o=alice 1 1 IN IP6 2001:db8::1\r\n"
			       "s= \r\n"
			       "c=IN IP6 2001:db8::1\r\n"
			       "t=0 0\r\n"
			       "m=audio 49170 RTP/AVP 0\r\n"
			       "c=IN IP6 2001:db8:0:1::5\r\n"),
			 0);
	assert_str_is(sess.origin.conn.addrtype, "IP6");
	assert_str_is(sess.origin.conn.address, "2001:db8::1");
	assert_str_is(sess.conn.addrtype, "IP6");
	assert_str_is(sess.conn.address, "2001:db8::1");
	assert_str_is(sess.media[0].conn.address, "2001:db8:0:1::5");
}

static void test_parse_multiple_media_sections(void **state)
{
	assert_int_equal(parse("v=0\r\n"
			       "o=- 7 7 IN IP4 198.51.100.1\r\n"
			       "s=-\r\n"
			       "c=IN IP4 198.51.100.1\r\n"
			       "t=0 0\r\n"
			       "a=sendonly\r\n"
			       "m=audio 49170/2 RTP/AVP 0\r\n"
			       "a=rtcp-mux\r\n"
			       "m=video 51372 RTP/AVPF 96 97\r\n"
			       "a=rtpmap:96 VP8/90000\r\n"
			       "a=rtpmap:97 H264/90000\r\n"
			       "a=rtcp-fb:96 nack\r\n"
			       "a=recvonly\r\n"
			       "m=image 0 udptl t38\r\n"
			       "m=audio 0 RTP/SAVP 8\r\n"),
			 0);
	assert_int_equal(sess.nmedia, 4);
	assert_int_equal(sess.dir, SDP_DIR_SENDONLY);
	assert_int_equal(sess.media[0].port_count, 2);
	assert_str_is(sess.media[0].port_token, "49170/2");
	assert_true(sess.media[0].rtcp_mux);
	assert_int_equal(sess.media[0].dir, SDP_DIR_SENDONLY); /* inherited */
	assert_int_equal(sess.media[1].dir, SDP_DIR_RECVONLY);
	assert_int_equal(sess.media[1].nattrs, 4);
	assert_str_is(sdp_rtpmap_find(&sess, &sess.media[1], 97)->u.rtpmap.encoding, "H264");
	assert_int_equal(sdp_attr_find(&sess, &sess.media[1], SDP_ATTR_RTCP_FB)->pt, 96);
	assert_null(sdp_rtpmap_find(&sess, &sess.media[0], 96));
	assert_str_is(sess.media[2].type, "image");
	assert_false(sess.media[2].rtp);
	assert_int_equal(sess.media[2].port, 0);
	assert_str_is(sess.media[3].proto, "RTP/SAVP");
	assert_int_equal(sess.media[3].nattrs, 0);
}

static void test_parse_accepts_bare_lf_and_missing_last_eol(void **state)
{
	assert_int_equal(
	    parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n\nm=audio 5004 RTP/AVP 0\n"
		  "a=rtpmap:0 PCMU/8000"),
	    0);
	assert_str_is(sess.name, "-");
	assert_int_equal(sess.media[0].port, 5004);
	assert_str_is(sdp_rtpmap_find(&sess, &sess.media[0], 0)->u.rtpmap.encoding, "PCMU");
}

static void test_reject_missing_version(void **state)
{
	assert_int_equal(parse("o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"), SDP_ERR_VERSION);
	assert_int_equal(sess.err_line, 1);
	assert_int_equal(parse("v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"), SDP_ERR_VERSION);
	assert_int_equal(parse("v=0\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"),
			 SDP_ERR_VERSION);
	assert_string_equal(sdp_strerror(SDP_ERR_VERSION), "missing or bad v= line");
}

static void test_reject_bad_media_port(void **state)
{
	const char *head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";
	char body[256];

	snprintf(body, sizeof(body), "%sm=audio 65536 RTP/AVP 0\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_PORT);
	assert_int_equal(sess.err_line, 5);
	snprintf(body, sizeof(body), "%sm=audio 4x00 RTP/AVP 0\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_PORT);
	snprintf(body, sizeof(body), "%sm=audio -1 RTP/AVP 0\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_PORT);
	snprintf(body, sizeof(body), "%sm=audio 4000/0 RTP/AVP 0\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_PORT);
	assert_string_equal(sdp_strerror(SDP_ERR_PORT), "bad port");
}

static void test_reject_media_without_formats(void **state)
{
	assert_int_equal(
	    parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 4000 RTP/AVP\r\n"),
	    SDP_ERR_MEDIA);
	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio\r\n"),
			 SDP_ERR_MEDIA);
}

static void test_reject_missing_origin_and_name(void **state)
{
	assert_int_equal(parse("v=0\r\ns=-\r\nt=0 0\r\n"), SDP_ERR_ORIGIN);
	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n"), SDP_ERR_ORIGIN);
	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n"), SDP_ERR_SESSION);
	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n"
			       "s=again\r\n"),
			 SDP_ERR_SESSION);
}

static void test_reject_malformed_lines(void **state)
{
	const char *head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
	char body[256];

	snprintf(body, sizeof(body), "%sthis is not sdp\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_LINE);
	assert_int_equal(sess.err_line, 4);
	snprintf(body, sizeof(body), "%sa=foo\rbar\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_LINE);
	snprintf(body, sizeof(body), "%sc=IN IP4\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_CONN);
	snprintf(body, sizeof(body), "%sc=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_CONN);
	snprintf(body, sizeof(body), "%sm=audio 1 RTP/AVP 0\r\na=rtpmap:300 X/8000\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_ATTR);
	snprintf(body, sizeof(body), "%sm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_ATTR);
	snprintf(body, sizeof(body), "%sm=audio 1 RTP/AVP 0\r\na=rtcp:abc\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_ATTR);
	snprintf(body, sizeof(body), "%sm=audio 1 RTP/AVP 0\r\na=:x\r\n", head);
	assert_int_equal(parse(body), SDP_ERR_ATTR);
	assert_int_equal(parse(""), SDP_ERR_EMPTY);
}

static void test_reject_too_many_media_sections(void **state)
{
	struct buf b;
	int i;

	buf_init(&b);
	buf_append_cstr(&b, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n");
	for (i = 0; i < SDP_MEDIA_MAX; i++)
		buf_append_cstr(&b, "m=audio 0 RTP/AVP 0\r\n");
	assert_int_equal(sdp_parse(&sess, (struct str){b.p, b.len}), 0);
	buf_append_cstr(&b, "m=audio 0 RTP/AVP 0\r\n");
	assert_int_equal(sdp_parse(&sess, (struct str){b.p, b.len}), SDP_ERR_LIMIT);
	buf_fini(&b);
}

static void test_reject_too_many_attributes_in_section(void **state)
{
	struct buf b;
	int i;

	buf_init(&b);
	buf_append_cstr(&b, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 0 RTP/AVP 0\r\n");
	for (i = 0; i < SDP_ATTR_MAX; i++)
		buf_append_cstr(&b, "a=x\r\n");
	assert_int_equal(sdp_parse(&sess, (struct str){b.p, b.len}), 0);
	buf_append_cstr(&b, "a=x\r\n");
	assert_int_equal(sdp_parse(&sess, (struct str){b.p, b.len}), SDP_ERR_LIMIT);
	buf_fini(&b);
}

static void test_rewrite_without_edits_is_identical(void **state)
{
	char *out;

	assert_int_equal(parse(OFFER), 0);
	out = rewrite(NULL, 0);
	assert_string_equal(out, OFFER);
	free(out);
}

/* Found by fuzz_sdp: without edits even a repeated a=rtcp-mux is kept. */
static void test_rewrite_without_edits_keeps_repeated_lines(void **state)
{
	const char *body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\na=rtcp-mux\r\n"
			   "a=rtcp-mux\r\nm=audio 1 RTP/AVP 0\r\na=rtcp:2\r\na=rtcp:2\r\n";
	char *out;

	assert_int_equal(parse(body), 0);
	out = rewrite(NULL, 0);
	assert_string_equal(out, body);
	free(out);
}

static void test_rewrite_address_and_port_keeps_other_lines(void **state)
{
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_ORIGIN_ADDR,
	     .addrtype = STR_LIT("IP4"),
	     .addr = STR_LIT("203.0.113.9")},
	    {.op = SDP_EDIT_CONN,
	     .media = SDP_ALL_MEDIA,
	     .addrtype = STR_LIT("IP4"),
	     .addr = STR_LIT("203.0.113.9")},
	    {.op = SDP_EDIT_PORT, .media = 0, .port = 30000},
	    {.op = SDP_EDIT_RTCP_SET,
	     .media = 0,
	     .port = 30001,
	     .addrtype = STR_LIT("IP4"),
	     .addr = STR_LIT("203.0.113.9")},
	};
	const char *want = "v=0\r\n"
			   "o=- 3873154822 3873154823 IN IP4 203.0.113.9\r\n"
			   "s=pjmedia\r\n"
			   "b=AS:84\r\n"
			   "t=0 0\r\n"
			   "a=X-nat:0\r\n"
			   "m=audio 30000 RTP/AVP 0 8 101\r\n"
			   "c=IN IP4 203.0.113.9\r\n"
			   "b=TIAS:64000\r\n"
			   "a=rtcp:30001 IN IP4 203.0.113.9\r\n"
			   "a=sendrecv\r\n"
			   "a=rtpmap:0 PCMU/8000\r\n"
			   "a=rtpmap:8 PCMA/8000\r\n"
			   "a=rtpmap:101 telephone-event/8000\r\n"
			   "a=fmtp:101 0-16\r\n"
			   "a=ptime:20\r\n"
			   "a=ice-ufrag:6d2a1c3e\r\n"
			   "a=ice-pwd:2b0f5c1a7e8d4b3c\r\n"
			   "a=candidate:Hc0a80114 1 UDP 2130706431 192.168.1.20 4000 typ host\r\n"
			   "a=candidate:S4e2a1b3c 1 UDP 1694498815 78.42.27.60 4000 typ srflx "
			   "raddr 192.168.1.20 rport 4000\r\n"
			   "a=candidate:Hc0a80114 2 UDP 2130706430 192.168.1.20 4001 typ host\r\n"
			   "a=ssrc:1234567 cname:4f2c1a\r\n";
	char *out;

	assert_int_equal(parse(OFFER), 0);
	out = rewrite(edits, sizeof(edits) / sizeof(edits[0]));
	assert_string_equal(out, want);
	assert_int_equal(again.media[0].port, 30000);
	free(out);
}

static void test_rewrite_session_conn_and_port_count_kept(void **state)
{
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_CONN,
	     .media = SDP_SESSION,
	     .addrtype = STR_LIT("IP6"),
	     .addr = STR_LIT("2001:db8::9")},
	    {.op = SDP_EDIT_PORT, .media = SDP_ALL_MEDIA, .port = 40000},
	};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			       "t=0 0\r\nm=audio 49170/2 RTP/AVP 0\r\n"),
			 0);
	out = rewrite(edits, 2);
	assert_string_equal(out,
			    "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP6 2001:db8::9\r\n"
			    "t=0 0\r\nm=audio 40000/2 RTP/AVP 0\r\n");
	free(out);
}

static void test_rewrite_inserts_missing_conn_before_attributes(void **state)
{
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_CONN,
	     .media = 1,
	     .addrtype = STR_LIT("IP4"),
	     .addr = STR_LIT("203.0.113.9")},
	};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
			       "t=0 0\r\nm=audio 1 RTP/AVP 0\r\nm=video 2 RTP/AVP 96\r\n"
			       "i=cam\r\nb=AS:500\r\na=rtpmap:96 VP8/90000\r\n"),
			 0);
	out = rewrite(edits, 1);
	assert_string_equal(
	    out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
		 "t=0 0\r\nm=audio 1 RTP/AVP 0\r\nm=video 2 RTP/AVP 96\r\n"
		 "i=cam\r\nc=IN IP4 203.0.113.9\r\nb=AS:500\r\na=rtpmap:96 VP8/90000\r\n");
	free(out);
}

/* Found by fuzz_sdp: a c= written after attributes is replaced where it
 * stands, not duplicated by an insertion before the attributes. */
static void test_rewrite_replaces_misplaced_conn_in_place(void **state)
{
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_CONN,
	     .media = SDP_SESSION,
	     .addrtype = STR_LIT("IP4"),
	     .addr = STR_LIT("203.0.113.9")},
	};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\na=x\r\n"
			       "c=IN IP4 192.0.2.1\r\n"),
			 0);
	out = rewrite(edits, 1);
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\na=x\r\n"
				 "c=IN IP4 203.0.113.9\r\n");
	free(out);
}

static void test_rewrite_removes_ice(void **state)
{
	const struct sdp_edit edits[] = {{.op = SDP_EDIT_ICE_REMOVE, .media = SDP_ALL_MEDIA}};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
			       "a=ice-lite\r\na=ice-options:trickle\r\n"
			       "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
			       "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\n"
			       "a=candidate:1 1 udp 2122260223 192.0.2.1 9 typ host\r\n"
			       "a=remote-candidates:1 192.0.2.2 9\r\n"
			       "a=end-of-candidates\r\na=ice-mismatch\r\n"
			       "a=rtpmap:111 opus/48000/2\r\n"),
			 0);
	out = rewrite(edits, 1);
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
				 "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
				 "a=rtpmap:111 opus/48000/2\r\n");
	assert_null(sdp_attr_find(&again, &again.media[0], SDP_ATTR_CANDIDATE));
	free(out);
}

static void test_rewrite_adds_rtcp_mux_once(void **state)
{
	const struct sdp_edit edits[] = {{.op = SDP_EDIT_RTCP_MUX_ADD, .media = SDP_ALL_MEDIA}};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
			       "m=audio 1 RTP/AVP 0\r\na=sendrecv\r\n"
			       "m=audio 2 RTP/AVP 0\r\na=rtcp-mux\r\na=ptime:20\r\n"),
			 0);
	out = rewrite(edits, 1);
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
				 "m=audio 1 RTP/AVP 0\r\na=sendrecv\r\na=rtcp-mux\r\n"
				 "m=audio 2 RTP/AVP 0\r\na=rtcp-mux\r\na=ptime:20\r\n");
	assert_true(again.media[0].rtcp_mux);
	free(out);
}

static void test_rewrite_removes_rtcp_and_rtcp_mux(void **state)
{
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_RTCP_REMOVE, .media = 0},
	    {.op = SDP_EDIT_RTCP_MUX_REMOVE, .media = 0},
	};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
			       "m=audio 1 RTP/AVP 0\r\na=rtcp:2\r\na=rtcp-mux\r\na=sendrecv\r\n"),
			 0);
	out = rewrite(edits, 2);
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
				 "m=audio 1 RTP/AVP 0\r\na=sendrecv\r\n");
	free(out);
}

static void test_rewrite_adds_rtcp_when_absent(void **state)
{
	const struct sdp_edit edits[] = {{.op = SDP_EDIT_RTCP_SET, .media = 0, .port = 30001}};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
			       "m=audio 1 RTP/AVP 0\r\na=sendrecv\r\n"),
			 0);
	out = rewrite(edits, 1);
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
				 "m=audio 1 RTP/AVP 0\r\na=sendrecv\r\na=rtcp:30001\r\n");
	free(out);
}

static void test_rewrite_codec_strip_removes_rtpmap_and_fmtp(void **state)
{
	static const uint8_t strip[] = {101, 8};
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_CODEC_STRIP, .media = 0, .pts = strip, .npts = 2},
	};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
			       "m=audio 1 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
			       "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
			       "a=fmtp:101 0-16\r\na=rtcp-fb:101 x\r\na=rtcp-fb:* nack\r\n"
			       "a=ptime:20\r\n"),
			 0);
	out = rewrite(edits, 1);
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
				 "m=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
				 "a=rtcp-fb:* nack\r\na=ptime:20\r\n");
	free(out);
}

static void test_rewrite_codec_keep_restricts_and_reorders(void **state)
{
	static const uint8_t keep[] = {8, 0, 99, 8};
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_CODEC_KEEP, .media = SDP_ALL_MEDIA, .pts = keep, .npts = 4},
	};
	char *out;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
			       "m=audio 1 RTP/AVP 0 18 8\r\na=rtpmap:18 G729/8000\r\n"
			       "a=fmtp:18 annexb=no\r\nm=image 2 udptl t38\r\n"),
			 0);
	out = rewrite(edits, 1);
	/* the T.38 section has no payload types: codec edits leave it alone */
	assert_string_equal(out, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
				 "m=audio 1 RTP/AVP 8 0\r\nm=image 2 udptl t38\r\n");
	free(out);
}

static void test_rewrite_refuses_to_strip_every_codec(void **state)
{
	static const uint8_t strip[] = {0};
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_CODEC_STRIP, .media = 0, .pts = strip, .npts = 1},
	};
	struct buf b;

	buf_init(&b);
	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n"),
			 0);
	assert_int_equal(sdp_rewrite(&sess, edits, 1, &b), SDP_ERR_CODEC);
	buf_fini(&b);
}

static void test_rewrite_appends_attributes_in_order(void **state)
{
	const struct sdp_edit edits[] = {
	    {.op = SDP_EDIT_ATTR_APPEND, .media = SDP_SESSION, .text = STR_LIT("rtpengine:warp1")},
	    {.op = SDP_EDIT_ATTR_APPEND, .media = 0, .text = STR_LIT("label:1")},
	    {.op = SDP_EDIT_ATTR_APPEND, .media = 0, .text = STR_LIT("sendonly")},
	};
	char *out;

	assert_int_equal(parse("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 1 RTP/AVP 0"),
			 0);
	out = rewrite(edits, 3);
	/* LF endings are kept; the last line gets the CRLF it lacked */
	assert_string_equal(out, "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\n"
				 "a=rtpengine:warp1\r\nm=audio 1 RTP/AVP 0\r\n"
				 "a=label:1\r\na=sendonly\r\n");
	assert_int_equal(again.media[0].dir, SDP_DIR_SENDONLY);
	free(out);
}

static void test_rewrite_rejects_bad_edits(void **state)
{
	const struct sdp_edit bad[] = {
	    {.op = SDP_EDIT_ATTR_APPEND, .media = 0, .text = STR_LIT("x\r\nm=audio 1 RTP/AVP 0")},
	    {.op = SDP_EDIT_ATTR_APPEND, .media = 0, .text = STR_LIT("rtpmap:0 PCMU")},
	    {.op = SDP_EDIT_CONN,
	     .media = 0,
	     .addrtype = STR_LIT("IP4"),
	     .addr = STR_LIT("1.2.3.4 x")},
	    {.op = SDP_EDIT_PORT, .media = 5, .port = 1},
	    {.op = SDP_EDIT_PORT, .media = SDP_SESSION, .port = 1},
	};
	size_t i;

	assert_int_equal(parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n"),
			 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b;

		buf_init(&b);
		assert_int_equal(sdp_rewrite(&sess, &bad[i], 1, &b), SDP_ERR_EDIT);
		buf_fini(&b);
	}
}

static void test_rewrite_refuses_to_exceed_attribute_limit(void **state)
{
	const struct sdp_edit edits[] = {{.op = SDP_EDIT_RTCP_MUX_ADD, .media = 0}};
	struct buf b;
	int i;

	buf_init(&b);
	buf_append_cstr(&b, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 0 RTP/AVP 0\r\n");
	for (i = 0; i < SDP_ATTR_MAX; i++)
		buf_append_cstr(&b, "a=x\r\n");
	assert_int_equal(sdp_parse(&sess, (struct str){b.p, b.len}), 0);
	{
		struct buf out;

		buf_init(&out);
		assert_int_equal(sdp_rewrite(&sess, edits, 1, &out), SDP_ERR_LIMIT);
		buf_fini(&out);
	}
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_real_world_offer),
	    cmocka_unit_test(test_parse_candidate_fields),
	    cmocka_unit_test(test_parse_bad_candidate_refused_on_demand),
	    cmocka_unit_test(test_parse_ipv6_connection),
	    cmocka_unit_test(test_parse_multiple_media_sections),
	    cmocka_unit_test(test_parse_accepts_bare_lf_and_missing_last_eol),
	    cmocka_unit_test(test_reject_missing_version),
	    cmocka_unit_test(test_reject_bad_media_port),
	    cmocka_unit_test(test_reject_media_without_formats),
	    cmocka_unit_test(test_reject_missing_origin_and_name),
	    cmocka_unit_test(test_reject_malformed_lines),
	    cmocka_unit_test(test_reject_too_many_media_sections),
	    cmocka_unit_test(test_reject_too_many_attributes_in_section),
	    cmocka_unit_test(test_rewrite_without_edits_is_identical),
	    cmocka_unit_test(test_rewrite_without_edits_keeps_repeated_lines),
	    cmocka_unit_test(test_rewrite_address_and_port_keeps_other_lines),
	    cmocka_unit_test(test_rewrite_session_conn_and_port_count_kept),
	    cmocka_unit_test(test_rewrite_inserts_missing_conn_before_attributes),
	    cmocka_unit_test(test_rewrite_replaces_misplaced_conn_in_place),
	    cmocka_unit_test(test_rewrite_removes_ice),
	    cmocka_unit_test(test_rewrite_adds_rtcp_mux_once),
	    cmocka_unit_test(test_rewrite_removes_rtcp_and_rtcp_mux),
	    cmocka_unit_test(test_rewrite_adds_rtcp_when_absent),
	    cmocka_unit_test(test_rewrite_codec_strip_removes_rtpmap_and_fmtp),
	    cmocka_unit_test(test_rewrite_codec_keep_restricts_and_reorders),
	    cmocka_unit_test(test_rewrite_refuses_to_strip_every_codec),
	    cmocka_unit_test(test_rewrite_appends_attributes_in_order),
	    cmocka_unit_test(test_rewrite_rejects_bad_edits),
	    cmocka_unit_test(test_rewrite_refuses_to_exceed_attribute_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
