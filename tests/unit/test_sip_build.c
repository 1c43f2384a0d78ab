/* Tests for src/sip/build.c: the bytes the proxy sends — a forwarded
 * request (RFC 3261 §16.6), our own response (§8.2.6), the ACK of a
 * non-2xx and the CANCEL of an INVITE we sent (§17.1.1.3, §9.1) and a
 * dialog's route set (§12.1) — from messages parsed from text, with no
 * proxy running and no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sip/proxy_private.h"

static const char invite[] = "INVITE sip:15551234567@198.51.100.1 SIP/2.0\r\n"
			     "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-a;rport\r\n"
			     "Route: <sip:198.51.100.1;lr>\r\n"
			     "Route: <sip:203.0.113.9;lr>\r\n"
			     "From: <sip:alice@10.0.0.5>;tag=a1\r\n"
			     "To: <sip:15551234567@198.51.100.1>\r\n"
			     "Call-ID: c1@10.0.0.5\r\n"
			     "CSeq: 7 INVITE\r\n"
			     "Max-Forwards: 70\r\n"
			     "Content-Length: 0\r\n\r\n";

struct fixture {
	struct sip_proxy p;
	struct sip_peer src;
	struct sip_msg inv;
	struct buf out;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(net_addr_parse(STR_LIT("198.51.100.1"), 5060, &f->p.listen[0].addr), 0);
	snprintf(f->p.listen[0].host, sizeof(f->p.listen[0].host), "198.51.100.1");
	f->p.listen[0].port = 5060;
	f->p.nlisten = 1;
	assert_int_equal(net_addr_parse(STR_LIT("10.0.0.5"), 5070, &f->src.addr), 0);
	assert_int_equal(sip_msg_parse(&f->inv, invite, sizeof(invite) - 1), 0);
	buf_init(&f->out);
}

static void fixture_fini(struct fixture *f)
{
	buf_fini(&f->out);
}

static bool has(const struct buf *b, const char *s)
{
	return b->p && strstr(b->p, s) != NULL;
}

static void test_forward_adds_our_via_and_rr_and_drops_our_route(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	struct sip_fwd fw = {.ruri = STR_LIT("sip:+15551234567@203.0.113.9"),
			     .via_at = &f.p.listen[0],
			     .via_transport = SIP_TRANSPORT_UDP,
			     .branch = STR_LIT("z9hG4bK-0-x"),
			     .src = &f.src,
			     .rr_in = &f.p.listen[0],
			     .rr_out = &f.p.listen[0],
			     .drop_routes = 1,
			     .max_forwards = 69};
	assert_int_equal(sip_build_forward(&f.out, &f.inv, &fw), 0);
	assert_true(has(&f.out, "INVITE sip:+15551234567@203.0.113.9 SIP/2.0\r\n"));
	assert_true(has(&f.out, "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-0-x"));
	assert_true(has(&f.out, ";received=10.0.0.5") || has(&f.out, "rport=5070"));
	assert_true(has(&f.out, "Record-Route: <sip:198.51.100.1:5060;lr>"));
	assert_false(has(&f.out, "Route: <sip:198.51.100.1;lr>"));
	assert_true(has(&f.out, "Route: <sip:203.0.113.9;lr>"));
	assert_true(has(&f.out, "Max-Forwards: 69\r\n"));
	fixture_fini(&f);
}

static void test_response_adds_our_to_tag_and_keeps_the_vias(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	assert_int_equal(sip_build_response(&f.out, &f.inv, 486, NULL, "w1", &f.src, NULL), 0);
	assert_true(has(&f.out, "SIP/2.0 486 "));
	assert_true(has(&f.out, "To: <sip:15551234567@198.51.100.1>;tag=w1"));
	assert_true(has(&f.out, "branch=z9hG4bK-a"));
	assert_true(has(&f.out, "CSeq: 7 INVITE\r\n"));
	buf_reset(&f.out);
	assert_int_equal(sip_build_response(&f.out, &f.inv, 100, NULL, "w1", &f.src, NULL), 0);
	assert_false(has(&f.out, "tag=w1")); /* a 100 carries no tag */
	fixture_fini(&f);
}

static void test_ack_and_cancel_copy_the_invite(void **state)
{
	static const char resp[] = "SIP/2.0 486 Busy Here\r\n"
				   "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-a\r\n"
				   "From: <sip:alice@10.0.0.5>;tag=a1\r\n"
				   "To: <sip:15551234567@198.51.100.1>;tag=b9\r\n"
				   "Call-ID: c1@10.0.0.5\r\n"
				   "CSeq: 7 INVITE\r\n"
				   "Content-Length: 0\r\n\r\n";
	struct fixture f;
	struct sip_msg r;
	(void)state;
	fixture_init(&f);
	assert_int_equal(sip_msg_parse(&r, resp, sizeof(resp) - 1), 0);
	assert_int_equal(sip_build_ack(&f.out, &f.inv, &r), 0);
	assert_true(has(&f.out, "ACK sip:15551234567@198.51.100.1 SIP/2.0\r\n"));
	assert_true(has(&f.out, "tag=b9"));
	assert_true(has(&f.out, "CSeq: 7 ACK\r\n"));
	assert_true(has(&f.out, "branch=z9hG4bK-a"));
	buf_reset(&f.out);
	assert_int_equal(sip_build_cancel(&f.out, &f.inv), 0);
	assert_true(has(&f.out, "CANCEL sip:15551234567@198.51.100.1 SIP/2.0\r\n"));
	assert_true(has(&f.out, "CSeq: 7 CANCEL\r\n"));
	assert_true(has(&f.out, "branch=z9hG4bK-a"));
	assert_false(has(&f.out, "tag=b9"));
	fixture_fini(&f);
}

static void test_route_set_either_way_leaves_us_out(void **state)
{
	static const char ok[] = "SIP/2.0 200 OK\r\n"
				 "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-a\r\n"
				 "Record-Route: <sip:203.0.113.9;lr>\r\n"
				 "Record-Route: <sip:198.51.100.1;lr>\r\n"
				 "Record-Route: <sip:10.0.0.9;lr>\r\n"
				 "From: <sip:alice@10.0.0.5>;tag=a1\r\n"
				 "To: <sip:15551234567@198.51.100.1>;tag=b9\r\n"
				 "Call-ID: c1@10.0.0.5\r\n"
				 "CSeq: 7 INVITE\r\n"
				 "Content-Length: 0\r\n\r\n";
	struct fixture f;
	struct sip_msg r;
	char rs[SIP_ROUTE_LEN];
	(void)state;
	fixture_init(&f);
	assert_int_equal(sip_msg_parse(&r, ok, sizeof(ok) - 1), 0);
	assert_int_equal(sip_build_route_set(rs, sizeof(rs), &f.p, &r, true), 0);
	assert_string_equal(rs, "<sip:203.0.113.9;lr>");
	assert_int_equal(sip_build_route_set(rs, sizeof(rs), &f.p, &r, false), 0);
	assert_string_equal(rs, "<sip:10.0.0.9;lr>");
	fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward_adds_our_via_and_rr_and_drops_our_route),
	    cmocka_unit_test(test_response_adds_our_to_tag_and_keeps_the_vias),
	    cmocka_unit_test(test_ack_and_cancel_copy_the_invite),
	    cmocka_unit_test(test_route_set_either_way_leaves_us_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
