/*
 * test_ng_client.c — the ng client side (src/ng/engines.c, client.c,
 * ping.c, commands.c, stats.c): engine-set syntax, weighted sticky picks,
 * health states, request builders, statistics parsing; and, against a
 * tiny responder on the test's own event base, retransmission, timeout,
 * error replies, cancel, the in-flight bound and the pinger.  Real engines
 * (WARP's media role, rtpengine) are driven by
 * tests/integration/test_ng_client.py through tests/tools/ngclient_harness.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ng/ng.h"

static struct ng_engine_set *set_new(const char *spec)
{
	char err[256] = "";
	struct ng_engine_set *s = ng_engine_set_new(spec, 0, err, sizeof(err));

	if (!s)
		print_error("%s\n", err);
	return s;
}

static struct str cid(char *buf, size_t n, int i)
{
	int len = snprintf(buf, n, "call-%d@test", i);

	return (struct str){buf, (size_t)len};
}

/* ------------------------------------------------------------- syntax */

static void test_engine_set_parses_weights_and_separators(void **state)
{
	struct ng_engine_set *s = set_new(
	    "udp:127.0.0.1:2223=1, udp:10.0.0.5:2223=2;udp6:[::1]:2224 \tudp:127.0.0.2:9=1000");

	assert_non_null(s);
	assert_int_equal(ng_engine_set_count(s), 4);
	assert_int_equal(ng_engine_weight(s, 0), 1);
	assert_int_equal(ng_engine_weight(s, 1), 2);
	assert_int_equal(ng_engine_weight(s, 2), 1);
	assert_int_equal(ng_engine_weight(s, 3), 1000);
	assert_string_equal(ng_engine_name(s, 1), "udp:10.0.0.5:2223");
	assert_int_equal(net_addr_port(ng_engine_addr(s, 2)), 2224);
	assert_int_equal(net_addr_family(ng_engine_addr(s, 2)), AF_INET6);
	assert_int_equal(ng_engine_state_get(s, 0), NG_ENGINE_UP);
	ng_engine_set_free(s);
}

static void test_engine_set_refuses_bad_specs(void **state)
{
	const char *bad[] = {
	    "",
	    " , ",
	    "tcp:127.0.0.1:2223",
	    "127.0.0.1:2223",
	    "udp:127.0.0.1",
	    "udp:127.0.0.1:2223=0",
	    "udp:127.0.0.1:2223=1001",
	    "udp:127.0.0.1:2223=x",
	    "udp:rtp.example.com:2223",
	    "udp6:[::1]",
	    "udp:127.0.0.1:0",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		struct ng_engine_set *s = ng_engine_set_new(bad[i], 0, err, sizeof(err));

		if (s)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != 0);
	}
}

static void test_engine_set_refuses_more_than_sixteen(void **state)
{
	struct buf b;
	char err[256] = "";

	buf_init(&b);
	for (int i = 0; i < NG_ENGINES_MAX + 1; i++)
		buf_printf(&b, "udp:127.0.0.1:%d ", 3000 + i);
	assert_null(ng_engine_set_new(b.p, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "too many"));
	buf_fini(&b);
}

/* ---------------------------------------------------------- selection */

static void test_new_calls_spread_by_weight(void **state)
{
	struct ng_engine_set *s = set_new("udp:127.0.0.1:2000=1 udp:127.0.0.1:2001=3");
	size_t hits[2] = {0, 0}, idx;
	char b[64];
	const int n = 4000;

	for (int i = 0; i < n; i++) {
		assert_int_equal(ng_engine_set_pick(s, cid(b, sizeof(b), i), &idx), 0);
		hits[idx]++;
	}
	/* Expect 3000 of 4000 on the weight-3 engine; sigma is ~27, allow ~6. */
	assert_in_range(hits[1], 2840, 3160);
	ng_engine_set_free(s);
}

static void test_call_sticks_to_its_engine(void **state)
{
	struct ng_engine_set *s =
	    set_new("udp:127.0.0.1:2000 udp:127.0.0.1:2001 udp:127.0.0.1:2002");
	size_t first, again;
	char b[64];

	for (int i = 0; i < 50; i++) {
		struct str c = cid(b, sizeof(b), i);

		assert_int_equal(ng_engine_set_pick(s, c, &first), 0);
		/* Its engine going down does not move a call in progress. */
		ng_engine_state_set(s, first, NG_ENGINE_DOWN);
		assert_int_equal(ng_engine_set_pick(s, c, &again), 0);
		assert_int_equal(again, first);
		ng_engine_state_set(s, first, NG_ENGINE_UP);
	}
	ng_engine_set_free(s);
}

static void test_forgotten_call_picks_again_among_up_engines(void **state)
{
	struct ng_engine_set *s = set_new("udp:127.0.0.1:2000 udp:127.0.0.1:2001");
	size_t first, again;

	assert_int_equal(ng_engine_set_pick(s, STR_LIT("x@y"), &first), 0);
	assert_int_equal(ng_engine_set_sticky_count(s), 1);
	ng_engine_state_set(s, first, NG_ENGINE_DOWN);
	ng_engine_set_forget(s, STR_LIT("x@y"));
	assert_int_equal(ng_engine_set_sticky_count(s), 0);
	assert_int_equal(ng_engine_set_pick(s, STR_LIT("x@y"), &again), 0);
	assert_int_not_equal(again, first);
	ng_engine_set_free(s);
}

static void test_down_engine_skipped_for_new_calls(void **state)
{
	struct ng_engine_set *s = set_new("udp:127.0.0.1:2000=5 udp:127.0.0.1:2001=1");
	size_t idx;
	char b[64];

	ng_engine_state_set(s, 0, NG_ENGINE_DOWN);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(ng_engine_set_pick(s, cid(b, sizeof(b), i), &idx), 0);
		assert_int_equal(idx, 1);
	}
	ng_engine_set_free(s);
}

static void test_suspect_engine_used_only_when_none_up(void **state)
{
	struct ng_engine_set *s = set_new("udp:127.0.0.1:2000 udp:127.0.0.1:2001");
	size_t idx;
	char b[64];

	ng_engine_state_set(s, 0, NG_ENGINE_SUSPECT);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ng_engine_set_pick(s, cid(b, sizeof(b), i), &idx), 0);
		assert_int_equal(idx, 1);
	}
	ng_engine_state_set(s, 1, NG_ENGINE_DOWN);
	assert_int_equal(ng_engine_set_pick(s, STR_LIT("fresh"), &idx), 0);
	assert_int_equal(idx, 0);
	ng_engine_set_free(s);
}

static void test_all_down_is_an_error(void **state)
{
	struct ng_engine_set *s = set_new("udp:127.0.0.1:2000 udp:127.0.0.1:2001");
	size_t idx = 99;

	ng_engine_state_set(s, 0, NG_ENGINE_DOWN);
	ng_engine_state_set(s, 1, NG_ENGINE_DOWN);
	assert_int_equal(ng_engine_set_pick(s, STR_LIT("c"), &idx), -EHOSTUNREACH);
	assert_int_equal(ng_engine_set_pick(s, STR_NULL, &idx), -EHOSTUNREACH);
	assert_int_equal(idx, 99);
	assert_int_equal(ng_engine_set_sticky_count(s), 0);
	ng_engine_set_free(s);
}

static void test_sticky_table_is_bounded_and_eviction_keeps_engine(void **state)
{
	char err[128];
	struct ng_engine_set *s = ng_engine_set_new(
	    "udp:127.0.0.1:2000 udp:127.0.0.1:2001 udp:127.0.0.1:2002=2", 16, err, sizeof(err));
	size_t first[300], again;
	char b[64];

	for (int i = 0; i < 300; i++)
		assert_int_equal(ng_engine_set_pick(s, cid(b, sizeof(b), i), &first[i]), 0);
	assert_true(ng_engine_set_sticky_count(s) <= 16);
	/* Evicted calls hash to the same engine while the set is unchanged. */
	for (int i = 0; i < 300; i++) {
		assert_int_equal(ng_engine_set_pick(s, cid(b, sizeof(b), i), &again), 0);
		assert_int_equal(again, first[i]);
	}
	ng_engine_set_free(s);
}

/* ----------------------------------------------------------- builders */

static void test_offer_is_sorted_bencode_with_options(void **state)
{
	const char *flags[] = {"trust-address"};
	const char *replace[] = {"origin", "session-connection"};
	struct ng_params p = {
	    .call_id = STR_LIT("c1"),
	    .from_tag = STR_LIT("f1"),
	    .via_branch = STR_LIT("z9"),
	    .sdp = STR_LIT("v=0\r\n"),
	    .flags = flags,
	    .nflags = 1,
	    .replace = replace,
	    .nreplace = 2,
	    .ice = "remove",
	    .direction = {"pub", "priv"},
	    .received_from = STR_LIT("192.0.2.7"),
	};
	const char *want =
	    "d3:ICE6:remove7:call-id2:c17:command5:offer9:directionl3:pub4:prive"
	    "5:flagsl13:trust-addresse8:from-tag2:f113:received-froml3:IP49:192.0.2.7e"
	    "7:replacel6:origin18:session-connectione3:sdp5:v=0\r\n10:via-branch2:z9e";
	struct buf b;

	buf_init(&b);
	assert_int_equal(ng_build_offer(&b, &p), 0);
	assert_string_equal(b.p, want);
	buf_fini(&b);
}

static void test_answer_needs_to_tag(void **state)
{
	struct ng_params p = {
	    .call_id = STR_LIT("c1"), .from_tag = STR_LIT("f1"), .sdp = STR_LIT("v=0\r\n")};
	struct buf b;

	buf_init(&b);
	assert_int_equal(ng_build_answer(&b, &p), -EINVAL);
	p.to_tag = STR_LIT("t1");
	buf_reset(&b);
	assert_int_equal(ng_build_answer(&b, &p), 0);
	assert_non_null(strstr(b.p, "7:command6:answer"));
	assert_non_null(strstr(b.p, "6:to-tag2:t1"));
	buf_fini(&b);
}

static void test_delete_and_query_carry_only_given_tags(void **state)
{
	struct ng_params p = {.call_id = STR_LIT("c1"), .from_tag = STR_LIT("f1")};
	struct buf b;

	buf_init(&b);
	assert_int_equal(ng_build_delete(&b, &p), 0);
	assert_string_equal(b.p, "d7:call-id2:c17:command6:delete8:from-tag2:f1e");
	buf_reset(&b);
	assert_int_equal(ng_build_query(&b, &(struct ng_params){.call_id = STR_LIT("c1")}), 0);
	assert_string_equal(b.p, "d7:call-id2:c17:command5:querye");
	buf_reset(&b);
	assert_int_equal(ng_build_delete(&b, &(struct ng_params){0}), -EINVAL);
	buf_fini(&b);
}

/* -------------------------------------------------------------- stats */

static const struct bencode_node *decode(const char *text, struct bencode_node *nodes, size_t n)
{
	struct bencode_doc d;
	const struct bencode_node *root = NULL;

	bencode_doc_init(&d, nodes, n);
	assert_int_equal(bencode_decode(&d, str_from_cstr(text), &root), 0);
	return root;
}

/* A stream: flags, stats, optional extra keys (already bencoded). */
static void put_stream(struct buf *b, const char *kind, int pk, int by, const char *extra)
{
	buf_printf(b, "d5:flagsl%zu:%se5:statsd7:packetsi%de5:bytesi%de6:errorsi0ee%se",
		   strlen(kind), kind, pk, by, extra);
}

static void test_stats_from_warp_reply(void **state)
{
	struct bencode_node nodes[256];
	struct ng_call_stats st;
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "d6:result2:ok7:createdi1700000000e4:tagsd");
	buf_printf(&b, "2:ftd3:tag2:ft16:in dialogue with2:tt6:mediasld7:streamsl");
	put_stream(&b, "RTP", 100, 17200, "");
	put_stream(&b, "RTCP", 3, 240, "4:rtcpd7:reportsi3e12:packets losti7e6:jitteri42ee");
	buf_printf(&b, "eeee");
	buf_printf(&b, "2:ttd3:tag2:tt16:in dialogue with2:ft6:mediasld7:streamsl");
	put_stream(&b, "RTP", 90, 15480, "");
	put_stream(&b, "RTCP", 0, 0, "");
	buf_printf(&b, "eeeee");
	buf_printf(&b, "6:totalsd3:RTPd7:packetsi190e5:bytesi32680e6:errorsi0ee"
		       "4:RTCPd7:packetsi3e5:bytesi240e6:errorsi0eee");
	buf_printf(&b, "e");
	assert_int_equal(ng_stats_parse(decode(b.p, nodes, 256), &st), 0);
	assert_int_equal(st.created, 1700000000);
	assert_int_equal(st.rtp_packets, 190);
	assert_int_equal(st.rtcp_bytes, 240);
	assert_int_equal(st.nlegs, 2);
	const struct ng_leg_stats *ft = ng_stats_leg(&st, STR_LIT("ft"));
	const struct ng_leg_stats *tt = ng_stats_leg(&st, STR_LIT("tt"));

	assert_non_null(ft);
	assert_non_null(tt);
	assert_int_equal(ft->packets, 100);
	assert_int_equal(ft->bytes, 17200);
	assert_int_equal(ft->rtcp_packets, 3);
	assert_int_equal(tt->packets, 90);
	/* ft's party reported on what it received, i.e. what tt sent. */
	assert_int_equal(tt->lost, 7);
	assert_int_equal(tt->jitter, 42);
	assert_int_equal(ft->lost, -1);
	assert_int_equal(ft->jitter, -1);
	buf_fini(&b);
}

static void test_stats_from_rtpengine_reply_with_ssrc(void **state)
{
	struct bencode_node nodes[256];
	struct ng_call_stats st;
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "d7:createdi5e6:result2:ok4:SSRCd4:1234d15:cumulative lossi4e"
		       "11:average MOSd3:MOSi43e6:jitteri3e11:packet lossi2eeee4:tagsd");
	buf_printf(&b, "1:ad6:mediasld7:streamsl");
	put_stream(&b, "RTP", 10, 1720, "4:SSRCi1234e");
	put_stream(&b, "RTCP", 1, 80, "");
	buf_printf(&b, "eeeeee");
	assert_int_equal(ng_stats_parse(decode(b.p, nodes, 256), &st), 0);
	assert_int_equal(st.nlegs, 1);
	assert_int_equal(st.leg[0].packets, 10);
	assert_int_equal(st.leg[0].rtcp_bytes, 80);
	assert_int_equal(st.leg[0].lost, 4);
	assert_int_equal(st.leg[0].jitter, 3);
	assert_int_equal(st.rtp_packets, 0); /* no totals given */
	buf_fini(&b);
}

static void test_stats_refuse_error_reply(void **state)
{
	struct bencode_node nodes[16];
	struct ng_call_stats st;

	assert_int_equal(
	    ng_stats_parse(decode("d6:result5:error12:error-reason3:no!e", nodes, 16), &st),
	    -EINVAL);
	assert_int_equal(ng_stats_parse(NULL, &st), -EINVAL);
}

/* ---------------------------------------------- requests on a responder */

/* A fake engine on the test's own base, only for timing behaviour:
 * it drops the first `drop` datagrams and answers the rest as told. */
struct responder {
	int fd;
	uint16_t port;
	struct event *ev;
	int drop, seen, pings;
	const char *answer; /* bencoded body, NULL = never answer */
	bool silent_pings;
	char first[512];
	size_t first_len;
	bool all_same;
};

static void responder_read(evutil_socket_t fd, short what, void *arg)
{
	struct responder *r = arg;
	char buf[2048], out[2048];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&ss, &sl);
	struct str cookie, body;

	if (n <= 0 || ng_msg_split((struct str){buf, (size_t)n}, &cookie, &body) < 0)
		return;
	if (memmem(body.p, body.len, "7:command4:ping", 15)) {
		r->pings++;
		if (!r->silent_pings) {
			int len =
			    snprintf(out, sizeof(out), "%.*s d6:result4:ponge", STR_FMT(cookie));
			sendto(fd, out, (size_t)len, 0, (struct sockaddr *)&ss, sl);
		}
		return;
	}
	if (r->seen++ == 0) {
		memcpy(r->first, buf, (size_t)n);
		r->first_len = (size_t)n;
	} else if ((size_t)n != r->first_len || memcmp(buf, r->first, (size_t)n) != 0) {
		r->all_same = false;
	}
	if (r->seen <= r->drop || !r->answer)
		return;
	int len = snprintf(out, sizeof(out), "%.*s %s", STR_FMT(cookie), r->answer);
	sendto(fd, out, (size_t)len, 0, (struct sockaddr *)&ss, sl);
}

static void responder_open(struct responder *r, struct event_base *base)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	memset(r, 0, sizeof(*r));
	r->all_same = true;
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(r->fd, (struct sockaddr *)&a, &al);
	r->port = ntohs(a.sin_port);
	r->ev = event_new(base, r->fd, EV_READ | EV_PERSIST, responder_read, r);
	event_add(r->ev, NULL);
}

static void responder_close(struct responder *r)
{
	event_free(r->ev);
	close(r->fd);
}

struct outcome {
	int calls, status;
	int64_t at_ms;
	char reason[64];
	struct event_base *base;
};

static void on_reply(void *arg, int status, const struct bencode_node *reply, struct str raw)
{
	struct outcome *o = arg;
	struct str why;

	o->calls++;
	o->status = status;
	o->at_ms = time_mono_ms();
	if (reply && bencode_dict_get_str(reply, "error-reason", &why) == 0)
		str_copy(o->reason, sizeof(o->reason), why);
	event_base_loopbreak(o->base);
}

/* Runs base until a callback or the bound, at most ms. */
static void run_for(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

struct rig {
	struct event_base *base;
	struct responder r;
	struct ng_engine_set *set;
	struct ng_client *c;
	struct buf body;
};

static void rig_open(struct rig *g, int64_t rt_ms, unsigned retransmits, size_t inflight)
{
	char spec[64];
	struct ng_client_opts o = {rt_ms, retransmits, inflight};

	g->base = event_base_new();
	responder_open(&g->r, g->base);
	snprintf(spec, sizeof(spec), "udp:127.0.0.1:%u", g->r.port);
	g->set = set_new(spec);
	g->c = ng_client_new(g->set, g->base, &o);
	assert_non_null(g->c);
	buf_init(&g->body);
	assert_int_equal(
	    ng_build_query(&g->body, &(struct ng_params){.call_id = STR_LIT("call-q")}), 0);
}

static void rig_close(struct rig *g)
{
	buf_fini(&g->body);
	ng_client_free(g->c);
	ng_engine_set_free(g->set);
	responder_close(&g->r);
	event_base_free(g->base);
}

static void test_lost_datagrams_are_retransmitted_with_same_cookie(void **state)
{
	struct rig g;
	struct outcome o = {0};

	rig_open(&g, 50, 3, 8);
	o.base = g.base;
	g.r.drop = 2;
	g.r.answer = "d6:result2:oke";
	int64_t t0 = time_mono_ms();

	assert_int_equal(ng_client_request(g.c, STR_LIT("call-q"),
					   (struct str){g.body.p, g.body.len}, on_reply, &o, NULL),
			 0);
	run_for(g.base, 2000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, 0);
	assert_int_equal(g.r.seen, 3);
	assert_true(g.r.all_same);
	assert_in_range(o.at_ms - t0, 90, 400);
	assert_int_equal(ng_client_inflight(g.c), 0);
	rig_close(&g);
}

static void test_unanswered_request_times_out_and_engine_is_suspect(void **state)
{
	struct rig g;
	struct outcome o = {0};

	rig_open(&g, 40, 2, 8);
	o.base = g.base;
	int64_t t0 = time_mono_ms();

	assert_int_equal(ng_client_request(g.c, STR_LIT("call-q"),
					   (struct str){g.body.p, g.body.len}, on_reply, &o, NULL),
			 0);
	run_for(g.base, 2000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, -ETIMEDOUT);
	assert_int_equal(g.r.seen, 3); /* one send and two retransmissions */
	assert_in_range(o.at_ms - t0, 110, 500);
	assert_int_equal(ng_engine_state_get(g.set, 0), NG_ENGINE_SUSPECT);
	rig_close(&g);
}

static void test_error_reply_reaches_callback_with_reason(void **state)
{
	struct rig g;
	struct outcome o = {0};

	rig_open(&g, 200, 2, 8);
	o.base = g.base;
	g.r.answer = "d6:result5:error12:error-reason15:Unknown call-ide";
	assert_int_equal(ng_client_request(g.c, STR_LIT("call-q"),
					   (struct str){g.body.p, g.body.len}, on_reply, &o, NULL),
			 0);
	run_for(g.base, 2000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, NG_CLIENT_ERR_REPLY);
	assert_string_equal(o.reason, "Unknown call-id");
	rig_close(&g);
}

static void test_cancelled_request_never_calls_back(void **state)
{
	struct rig g;
	struct outcome o = {0};
	uint64_t id = 0;

	rig_open(&g, 30, 1, 8);
	o.base = g.base;
	g.r.answer = "d6:result2:oke";
	g.r.drop = 1; /* the reply comes to the retransmission, after cancel */
	assert_int_equal(ng_client_request(g.c, STR_LIT("call-q"),
					   (struct str){g.body.p, g.body.len}, on_reply, &o, &id),
			 0);
	assert_true(id != 0);
	ng_client_cancel(g.c, id);
	assert_int_equal(ng_client_inflight(g.c), 0);
	run_for(g.base, 200);
	assert_int_equal(o.calls, 0);
	rig_close(&g);
}

static void test_inflight_bound_refuses_with_enobufs(void **state)
{
	struct rig g;
	struct outcome o = {0};
	struct str body;

	rig_open(&g, 1000, 0, 2);
	o.base = g.base;
	body = (struct str){g.body.p, g.body.len};
	assert_int_equal(ng_client_request(g.c, STR_LIT("a"), body, on_reply, &o, NULL), 0);
	assert_int_equal(ng_client_request(g.c, STR_LIT("b"), body, on_reply, &o, NULL), 0);
	assert_int_equal(ng_client_request(g.c, STR_LIT("c"), body, on_reply, &o, NULL), -ENOBUFS);
	assert_int_equal(ng_client_inflight(g.c), 2);
	rig_close(&g);
}

static void test_pinger_marks_down_after_misses_and_up_on_pong(void **state)
{
	struct rig g;
	struct ng_pinger *p;

	rig_open(&g, 100, 0, 2);
	g.r.silent_pings = true;
	p = ng_pinger_new(g.set, g.base, 30, 3);
	assert_non_null(p);
	run_for(g.base, 60);
	assert_int_equal(ng_engine_state_get(g.set, 0), NG_ENGINE_UP);
	/* Third miss lands at the fourth tick, ~90 ms after the first ping. */
	run_for(g.base, 200);
	assert_int_equal(ng_engine_state_get(g.set, 0), NG_ENGINE_DOWN);
	assert_true(g.r.pings >= 4);
	g.r.silent_pings = false;
	run_for(g.base, 80);
	assert_int_equal(ng_engine_state_get(g.set, 0), NG_ENGINE_UP);
	ng_pinger_free(p);
	rig_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_engine_set_parses_weights_and_separators),
	    cmocka_unit_test(test_engine_set_refuses_bad_specs),
	    cmocka_unit_test(test_engine_set_refuses_more_than_sixteen),
	    cmocka_unit_test(test_new_calls_spread_by_weight),
	    cmocka_unit_test(test_call_sticks_to_its_engine),
	    cmocka_unit_test(test_forgotten_call_picks_again_among_up_engines),
	    cmocka_unit_test(test_down_engine_skipped_for_new_calls),
	    cmocka_unit_test(test_suspect_engine_used_only_when_none_up),
	    cmocka_unit_test(test_all_down_is_an_error),
	    cmocka_unit_test(test_sticky_table_is_bounded_and_eviction_keeps_engine),
	    cmocka_unit_test(test_offer_is_sorted_bencode_with_options),
	    cmocka_unit_test(test_answer_needs_to_tag),
	    cmocka_unit_test(test_delete_and_query_carry_only_given_tags),
	    cmocka_unit_test(test_stats_from_warp_reply),
	    cmocka_unit_test(test_stats_from_rtpengine_reply_with_ssrc),
	    cmocka_unit_test(test_stats_refuse_error_reply),
	    cmocka_unit_test(test_lost_datagrams_are_retransmitted_with_same_cookie),
	    cmocka_unit_test(test_unanswered_request_times_out_and_engine_is_suspect),
	    cmocka_unit_test(test_error_reply_reaches_callback_with_reason),
	    cmocka_unit_test(test_cancelled_request_never_calls_back),
	    cmocka_unit_test(test_inflight_bound_refuses_with_enobufs),
	    cmocka_unit_test(test_pinger_marks_down_after_misses_and_up_on_pong),
	};

	log_setup(LOG_ERROR, LOG_FORMAT_TEXT, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
