/* Tests for src/sip/msg.c, access.c, via.c, addr.c, scalar.c: one per behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

#define INVITE_LINE "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
#define STD_HDRS                                                                                   \
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"                    \
	"Max-Forwards: 70\r\n"                                                                     \
	"To: Bob <sip:bob@biloxi.example.com>\r\n"                                                 \
	"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"                           \
	"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"                                     \
	"CSeq: 314159 INVITE\r\n"

static struct sip_msg msg;

static int parse(const char *s)
{
	return sip_msg_parse(&msg, s, strlen(s));
}

static void parse_ok(const char *s)
{
	int rc = parse(s);

	if (rc != 0)
		fail_msg("parse: %d %s", rc, sip_msg_error(&msg));
}

static void test_msg_request_line(void **state)
{
	parse_ok(INVITE_LINE STD_HDRS "Content-Length: 0\r\n\r\n");
	assert_true(sip_msg_is_request(&msg));
	assert_int_equal(msg.method, SIP_METHOD_INVITE);
	assert_true(str_eq_cstr(msg.method_name, "INVITE"));
	assert_true(str_eq_cstr(msg.ruri, "sip:bob@biloxi.example.com"));
	assert_int_equal(sip_msg_validate(&msg), 0);
	assert_null(sip_msg_error(&msg));
}

static void test_msg_compact_names(void **state)
{
	static const struct {
		const char *name;
		enum sip_hdr_id id;
	} names[] = {
	    {"i", SIP_HDR_CALL_ID},
	    {"f", SIP_HDR_FROM},
	    {"t", SIP_HDR_TO},
	    {"v", SIP_HDR_VIA},
	    {"m", SIP_HDR_CONTACT},
	    {"l", SIP_HDR_CONTENT_LENGTH},
	    {"c", SIP_HDR_CONTENT_TYPE},
	    {"k", SIP_HDR_SUPPORTED},
	    {"s", SIP_HDR_SUBJECT},
	    {"e", SIP_HDR_CONTENT_ENCODING},
	    {"o", SIP_HDR_EVENT},
	    {"r", SIP_HDR_REFER_TO},
	    {"x", SIP_HDR_SESSION_EXPIRES},
	    {"u", SIP_HDR_ALLOW_EVENTS},
	    {"V", SIP_HDR_VIA},
	    {"b", SIP_HDR_REFERRED_BY},
	    {"q", SIP_HDR_OTHER},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(sip_hdr_id_from_name(str_from_cstr(names[i].name)), names[i].id);
	parse_ok("OPTIONS sip:x@example.com SIP/2.0\r\n"
		 "v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
		 "f: <sip:a@example.com>;tag=1\r\nt: sip:x@example.com\r\n"
		 "i: abc@h\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n");
	assert_int_equal(sip_msg_validate(&msg), 0);
	assert_int_equal(msg.content_length, 0);
}

static void test_msg_full_names_case_insensitive(void **state)
{
	assert_int_equal(sip_hdr_id_from_name(STR_LIT("cALL-id")), SIP_HDR_CALL_ID);
	assert_int_equal(sip_hdr_id_from_name(STR_LIT("RECORD-ROUTE")), SIP_HDR_RECORD_ROUTE);
	assert_int_equal(sip_hdr_id_from_name(STR_LIT("Call-IDs")), SIP_HDR_OTHER);
	assert_string_equal(sip_hdr_name(SIP_HDR_CALL_ID), "Call-ID");
}

static void test_msg_folded_lines_are_whitespace(void **state)
{
	struct sip_cseq cseq;
	struct sip_via via;

	parse_ok("BYE sip:x@example.com SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP\r\n h.example.com\r\n\t;branch=z9hG4bKf\r\n"
		 "From: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\n"
		 "Call-ID: c1\r\nCSeq: 7\r\n  BYE\r\n"
		 "Subject: one\r\n two\r\n\r\n");
	assert_int_equal(sip_msg_cseq(&msg, &cseq), 0);
	assert_int_equal(cseq.number, 7);
	assert_int_equal(sip_msg_via(&msg, 0, &via), 0);
	assert_true(str_eq_cstr(via.host, "h.example.com"));
	assert_true(str_eq_cstr(via.branch, "z9hG4bKf"));
	assert_true(str_eq_cstr(sip_msg_hdr_first(&msg, SIP_HDR_SUBJECT)->value, "one\r\n two"));
}

static void test_msg_multi_value_via(void **state)
{
	struct sip_via via;

	parse_ok("SIP/2.0 200 OK\r\n"
		 "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP "
		 "b.example.com:5070;branch=z9hG4bK2\r\n"
		 "v: SIP/2.0/TLS c.example.com;branch=z9hG4bK3\r\n"
		 "From: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>;tag=2\r\n"
		 "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(sip_msg_via(&msg, 0, &via), 0);
	assert_true(str_eq_cstr(via.host, "a.example.com"));
	assert_int_equal(sip_msg_via(&msg, 1, &via), 0);
	assert_true(str_eq_cstr(via.transport, "TCP"));
	assert_int_equal(via.port, 5070);
	assert_true(str_eq_cstr(via.branch, "z9hG4bK2"));
	assert_int_equal(sip_msg_via(&msg, 2, &via), 0);
	assert_true(str_eq_cstr(via.host, "c.example.com"));
	assert_int_equal(sip_msg_via(&msg, 3, &via), SIP_E_NOT_FOUND);
	assert_int_equal(sip_msg_hdr_count(&msg, SIP_HDR_VIA), 2);
}

static void test_via_rport_without_value(void **state)
{
	struct sip_via via;

	assert_int_equal(
	    sip_via_parse(STR_LIT("SIP/2.0/UDP h.example.com;rport;branch=z9hG4bKx"), &via), 0);
	assert_non_null(via.rport.p);
	assert_int_equal(via.rport.len, 0);
	assert_int_equal(via.rport_port, 0);
}

static void test_via_rport_with_value_and_received(void **state)
{
	struct sip_via via;

	assert_int_equal(
	    sip_via_parse(
		STR_LIT("SIP/2.0/UDP "
			"h.example.com:5060;received=192.0.2.1;rport=40000;branch=z9hG4bKx"),
		&via),
	    0);
	assert_int_equal(via.rport_port, 40000);
	assert_true(str_eq_cstr(via.received, "192.0.2.1"));
	assert_int_equal(via.port, 5060);
	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP h;rport=99999"), &via), SIP_E_VIA);
}

static void test_via_absent_rport_is_null(void **state)
{
	struct sip_via via;

	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP h.example.com;branch=z9hG4bKx"), &via),
			 0);
	assert_null(via.rport.p);
	assert_int_equal(via.ttl, -1);
}

static void test_via_maddr_ttl_and_other_params(void **state)
{
	struct sip_via via;
	struct str v;

	assert_int_equal(
	    sip_via_parse(STR_LIT("SIP/2.0/UDP h;maddr=224.2.0.1;ttl=16;foo=bar;branch=z9hG4bKx"),
			  &via),
	    0);
	assert_true(str_eq_cstr(via.maddr, "224.2.0.1"));
	assert_int_equal(via.ttl, 16);
	assert_int_equal(sip_params_find(via.params, "foo", &v), 0);
	assert_true(str_eq_cstr(v, "bar"));
	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP h;ttl=256"), &via), SIP_E_VIA);
}

static void test_via_ipv6_sent_by(void **state)
{
	struct sip_via via;

	assert_int_equal(
	    sip_via_parse(
		STR_LIT(
		    "SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKx;received=2001:db8::9:255"),
		&via),
	    0);
	assert_true(via.host_ipv6);
	assert_true(str_eq_cstr(via.host, "2001:db8::9:1"));
	assert_int_equal(via.port, 5070);
	assert_true(str_eq_cstr(via.received, "2001:db8::9:255"));
}

static void test_via_bad_values_rejected(void **state)
{
	struct sip_via via;

	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0 h.example.com"), &via), SIP_E_VIA);
	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP"), &via), SIP_E_VIA);
	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP h;;"), &via), SIP_E_VIA);
	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP h;branch="), &via), SIP_E_VIA);
	assert_int_equal(sip_via_parse(STR_LIT("SIP/2.0/UDP h garbage"), &via), SIP_E_VIA);
}

static void test_from_bare_addr_spec_params_belong_to_header(void **state)
{
	struct sip_addr a;

	assert_int_equal(sip_addr_parse(STR_LIT("sip:alice@example.com;tag=88;user=phone"), &a), 0);
	assert_false(a.name_addr);
	assert_true(str_eq_cstr(a.uri.raw, "sip:alice@example.com"));
	assert_int_equal(a.uri.params.len, 0);
	assert_true(str_eq_cstr(a.tag, "88"));
	assert_int_equal(sip_params_find(a.params, "user", NULL), 0);
}

static void test_from_name_addr_uri_params_stay_in_uri(void **state)
{
	struct sip_addr a;

	assert_int_equal(
	    sip_addr_parse(
		STR_LIT("\"A. G. Bell\" <sip:agb@bell-telephone.com;user=phone> ;tag=a48s"), &a),
	    0);
	assert_true(a.name_addr);
	assert_true(a.display_quoted);
	assert_true(str_eq_cstr(a.display, "A. G. Bell"));
	assert_int_equal(sip_uri_param(&a.uri, "user", NULL), 0);
	assert_true(str_eq_cstr(a.tag, "a48s"));
}

static void test_from_token_display_name(void **state)
{
	struct sip_addr a;

	assert_int_equal(
	    sip_addr_parse(STR_LIT("Anonymous Caller <sip:c8oqz84zk7z@privacy.org>;tag=hyh8"), &a),
	    0);
	assert_false(a.display_quoted);
	assert_true(str_eq_cstr(a.display, "Anonymous Caller"));
	assert_true(str_eq_cstr(a.uri.host, "privacy.org"));
}

static void test_addr_bad_values_rejected(void **state)
{
	struct sip_addr a;

	assert_int_equal(sip_addr_parse(STR_LIT("\"unterminated <sip:a@b>"), &a), SIP_E_ADDR);
	assert_int_equal(sip_addr_parse(STR_LIT("Bell, Alexander <sip:a@b>"), &a), SIP_E_ADDR);
	assert_int_equal(sip_addr_parse(STR_LIT("< sip:a@b >"), &a), SIP_E_ADDR);
	assert_int_equal(sip_addr_parse(STR_LIT("sip:a@b?Route=x"), &a), SIP_E_ADDR);
	assert_int_equal(sip_addr_parse(STR_LIT("<sip:a@b>;tag="), &a), SIP_E_ADDR);
}

static void test_contact_wildcard_and_list(void **state)
{
	struct sip_addr a;

	parse_ok(
	    "REGISTER sip:example.com SIP/2.0\r\n" STD_HDRS
	    "Contact: \"x, y\" <sip:a,b@h1.example.com;p=1>;expires=60, <sip:b@h2.example.com>\r\n"
	    "m: *\r\n\r\n");
	assert_int_equal(sip_msg_addr(&msg, SIP_HDR_CONTACT, 0, &a), 0);
	assert_true(str_eq_cstr(a.display, "x, y"));
	assert_true(str_eq_cstr(a.uri.host, "h1.example.com"));
	assert_true(str_eq_cstr(a.uri.user, "a,b"));
	assert_int_equal(sip_msg_addr(&msg, SIP_HDR_CONTACT, 1, &a), 0);
	assert_true(str_eq_cstr(a.uri.host, "h2.example.com"));
	assert_int_equal(sip_msg_addr(&msg, SIP_HDR_CONTACT, 2, &a), 0);
	assert_true(a.wildcard);
	assert_int_equal(sip_msg_addr(&msg, SIP_HDR_CONTACT, 3, &a), SIP_E_NOT_FOUND);
}

static void test_route_values_in_order(void **state)
{
	struct sip_addr a;

	parse_ok(INVITE_LINE STD_HDRS "Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>\r\n"
				      "Route: <sip:p3.example.com;lr>\r\n\r\n");
	assert_int_equal(sip_msg_addr(&msg, SIP_HDR_ROUTE, 2, &a), 0);
	assert_true(str_eq_cstr(a.uri.host, "p3.example.com"));
	assert_int_equal(sip_uri_param(&a.uri, "lr", NULL), 0);
}

static void test_cseq_method_mismatch(void **state)
{
	struct sip_cseq cseq;

	parse_ok("OPTIONS sip:x@example.com SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@b>\r\n"
		 "Call-ID: c\r\nCSeq: 1 INVITE\r\n\r\n");
	assert_int_equal(sip_msg_cseq(&msg, &cseq), SIP_E_CSEQ_METHOD);
	assert_string_equal(sip_msg_error(&msg), "CSeq method mismatch");
	assert_int_equal(sip_msg_validate(&msg), SIP_E_CSEQ_METHOD);
	assert_true(sip_msg_can_reply(&msg));
}

static void test_cseq_number_within_2_pow_31(void **state)
{
	struct sip_cseq cseq;

	assert_int_equal(sip_cseq_parse(STR_LIT("2147483647 ACK"), &cseq), 0);
	assert_int_equal(cseq.number, 2147483647u);
	assert_int_equal(cseq.method, SIP_METHOD_ACK);
	assert_int_equal(sip_cseq_parse(STR_LIT("2147483648 ACK"), &cseq), SIP_E_CSEQ);
	assert_int_equal(sip_cseq_parse(STR_LIT("1INVITE"), &cseq), SIP_E_CSEQ);
	assert_int_equal(sip_cseq_parse(STR_LIT("1 INVITE x"), &cseq), SIP_E_CSEQ);
}

static void test_max_forwards_range(void **state)
{
	int mf;

	parse_ok(INVITE_LINE "Max-Forwards: 255\r\n\r\n");
	assert_int_equal(sip_msg_max_forwards(&msg, &mf), 0);
	assert_int_equal(mf, 255);
	parse_ok(INVITE_LINE "Max-Forwards: 256\r\n\r\n");
	assert_int_equal(sip_msg_max_forwards(&msg, &mf), SIP_E_MAX_FORWARDS);
	parse_ok(INVITE_LINE "Max-Forwards: -1\r\n\r\n");
	assert_int_equal(sip_msg_max_forwards(&msg, &mf), SIP_E_MAX_FORWARDS);
	parse_ok(INVITE_LINE "\r\n");
	assert_int_equal(sip_msg_max_forwards(&msg, &mf), SIP_E_MISSING);
}

static void test_content_length_body_shorter_is_error(void **state)
{
	assert_int_equal(parse(INVITE_LINE STD_HDRS "Content-Length: 10\r\n\r\nv=0\r\n"),
			 SIP_E_BODY_SHORT);
	assert_string_equal(sip_msg_error(&msg), "Content-Length mismatch");
	assert_int_equal(sip_err_status(SIP_E_BODY_SHORT), 400);
	assert_true(sip_msg_can_reply(&msg));
}

static void test_content_length_extra_octets_ignored(void **state)
{
	parse_ok(INVITE_LINE STD_HDRS "Content-Length: 5\r\n\r\nv=0\r\nGARBAGE");
	assert_true(str_eq_cstr(sip_msg_body(&msg), "v=0\r\n"));
	assert_true(str_eq_cstr(msg.trailing, "GARBAGE"));
	assert_int_equal(msg.raw.len,
			 strlen(INVITE_LINE STD_HDRS "Content-Length: 5\r\n\r\nv=0\r\n"));
}

static void test_content_length_absent_takes_rest(void **state)
{
	parse_ok(INVITE_LINE STD_HDRS "\r\nv=0\r\n");
	assert_int_equal(msg.content_length, -1);
	assert_true(str_eq_cstr(sip_msg_body(&msg), "v=0\r\n"));
}

static void test_content_length_not_a_number(void **state)
{
	assert_int_equal(parse(INVITE_LINE "Content-Length: -5\r\n\r\n"), SIP_E_CONTENT_LENGTH);
	assert_int_equal(parse(INVITE_LINE "l: 99999999999999999999\r\n\r\n"),
			 SIP_E_CONTENT_LENGTH);
}

static void test_too_many_headers(void **state)
{
	static char buf[SIP_MSG_MAX_SIZE];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s", INVITE_LINE);

	for (int i = 0; i <= SIP_MSG_MAX_HDRS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-H%d: %d\r\n", i, i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(sip_msg_parse(&msg, buf, n), SIP_E_TOO_MANY_HDRS);
	assert_string_equal(sip_msg_error(&msg), "too many headers");
	assert_int_equal(msg.nhdrs, SIP_MSG_MAX_HDRS);
	assert_false(msg.headers_done);
}

static void test_max_headers_accepted(void **state)
{
	static char buf[SIP_MSG_MAX_SIZE];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s", INVITE_LINE);

	for (int i = 0; i < SIP_MSG_MAX_HDRS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-H%d: %d\r\n", i, i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(sip_msg_parse(&msg, buf, n), 0);
	assert_int_equal(msg.nhdrs, SIP_MSG_MAX_HDRS);
}

static void test_message_too_big(void **state)
{
	static char buf[SIP_MSG_MAX_SIZE + 1];

	memset(buf, 'a', sizeof(buf));
	assert_int_equal(sip_msg_parse(&msg, buf, sizeof(buf)), SIP_E_TOO_BIG);
	assert_int_equal(sip_err_status(SIP_E_TOO_BIG), 513);
}

static void test_missing_empty_line_is_incomplete(void **state)
{
	assert_int_equal(parse(INVITE_LINE "Via: SIP/2.0/UDP h\r\n"), SIP_E_INCOMPLETE);
	assert_int_equal(parse("INVITE sip:x SIP/2.0"), SIP_E_INCOMPLETE);
	assert_int_equal(parse(""), SIP_E_INCOMPLETE);
}

static void test_bad_header_line_rejected(void **state)
{
	assert_int_equal(parse(INVITE_LINE "NoColonHere\r\n\r\n"), SIP_E_HDR_LINE);
	assert_int_equal(parse(INVITE_LINE " leading-space: x\r\n\r\n"), SIP_E_HDR_LINE);
	assert_int_equal(parse(INVITE_LINE "Bare: lf\n\r\n"), SIP_E_INCOMPLETE);
}

static void test_response_parsing(void **state)
{
	struct sip_cseq cseq;

	parse_ok("SIP/2.0 180 Ringing\r\n" STD_HDRS "Content-Length: 0\r\n\r\n");
	assert_false(sip_msg_is_request(&msg));
	assert_int_equal(msg.status, 180);
	assert_true(str_eq_cstr(msg.reason, "Ringing"));
	assert_false(sip_msg_can_reply(&msg));
	/* A response's CSeq is not compared with a request method. */
	assert_int_equal(sip_msg_cseq(&msg, &cseq), 0);
	assert_int_equal(sip_msg_validate(&msg), 0);
}

static void test_response_empty_and_utf8_reason(void **state)
{
	parse_ok("SIP/2.0 100 \r\n\r\n");
	assert_int_equal(msg.reason.len, 0);
	parse_ok("SIP/2.0 486 Occup\xc3\xa9 ici\r\n\r\n");
	assert_true(str_eq_cstr(msg.reason, "Occup\xc3\xa9 ici"));
}

static void test_response_status_out_of_range(void **state)
{
	assert_int_equal(parse("SIP/2.0 700 Huh\r\n\r\n"), SIP_E_STATUS);
	assert_int_equal(parse("SIP/2.0 099 Huh\r\n\r\n"), SIP_E_STATUS);
	assert_int_equal(parse("SIP/2.0 2000 Huh\r\n\r\n"), SIP_E_STATUS);
	assert_int_equal(parse("SIP/2.0 20 Huh\r\n\r\n"), SIP_E_STATUS);
}

static void test_version_must_be_2_0(void **state)
{
	assert_int_equal(parse("OPTIONS sip:x SIP/3.0\r\n" STD_HDRS "\r\n"), SIP_E_VERSION);
	assert_int_equal(sip_err_status(sip_msg_error_code(&msg)), 505);
	assert_int_equal(parse("OPTIONS sip:x HTTP/1.1\r\n\r\n"), SIP_E_START_LINE);
	parse_ok("OPTIONS sip:x@example.com sip/2.0\r\n\r\n");
}

static void test_request_line_single_spaces(void **state)
{
	assert_int_equal(parse("INVITE  sip:x@y SIP/2.0\r\n\r\n"), SIP_E_RURI);
	assert_int_equal(parse("INVITE sip:x@y SIP/2.0 \r\n\r\n"), SIP_E_START_LINE);
	assert_int_equal(parse("INVITE <sip:x@y> SIP/2.0\r\n\r\n"), SIP_E_RURI);
	assert_int_equal(parse("INV@TE sip:x@y SIP/2.0\r\n\r\n"), SIP_E_START_LINE);
}

static void test_ruri_unsupported_scheme_is_416(void **state)
{
	struct sip_uri u;

	parse_ok("OPTIONS mailto:x@example.com SIP/2.0\r\n\r\n");
	assert_int_equal(sip_msg_ruri(&msg, &u), SIP_E_URI_SCHEME);
	assert_int_equal(sip_err_status(sip_msg_error_code(&msg)), 416);
	parse_ok("OPTIONS sip:x@example.com?Subject=x SIP/2.0\r\n\r\n");
	assert_int_equal(sip_msg_ruri(&msg, &u), SIP_E_RURI);
}

static void test_leading_crlf_ignored(void **state)
{
	parse_ok("\r\n\r\n" INVITE_LINE "\r\n");
	assert_int_equal(msg.method, SIP_METHOD_INVITE);
}

/* Splicing out one header's line leaves a well-formed message. */
static void test_header_line_span_removes_header(void **state)
{
	static const char in[] =
	    INVITE_LINE "Route: <sip:me.example.com;lr>\r\n" STD_HDRS "Content-Length: 0\r\n\r\n";
	static const char want[] = INVITE_LINE STD_HDRS "Content-Length: 0\r\n\r\n";
	char out[sizeof(in)];

	parse_ok(in);
	const struct sip_hdr *h = sip_msg_hdr_first(&msg, SIP_HDR_ROUTE);
	assert_non_null(h);
	assert_true(str_eq_cstr(h->line, "Route: <sip:me.example.com;lr>\r\n"));
	size_t pre = (size_t)(h->line.p - in);
	memcpy(out, in, pre);
	memcpy(out + pre, h->line.p + h->line.len, sizeof(in) - 1 - pre - h->line.len);
	size_t n = sizeof(in) - 1 - h->line.len;
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
}

static void test_header_line_span_covers_folding(void **state)
{
	parse_ok(INVITE_LINE "Subject: a\r\n b\r\nX: y\r\n\r\n");
	const struct sip_hdr *h = sip_msg_hdr_first(&msg, SIP_HDR_SUBJECT);
	assert_true(str_eq_cstr(h->line, "Subject: a\r\n b\r\n"));
	assert_true(str_eq_cstr(h->name, "Subject"));
}

static void test_hdr_iteration_and_lookup_by_name(void **state)
{
	parse_ok(INVITE_LINE "X-A: 1\r\nSupported: timer\r\nx-a: 2\r\nk: 100rel\r\n\r\n");
	const struct sip_hdr *h = sip_msg_hdr_first(&msg, SIP_HDR_SUPPORTED);
	assert_true(str_eq_cstr(h->value, "timer"));
	h = sip_msg_hdr_next(&msg, h);
	assert_true(str_eq_cstr(h->value, "100rel"));
	assert_null(sip_msg_hdr_next(&msg, h));
	h = sip_msg_hdr_find(&msg, STR_LIT("X-a"));
	assert_true(str_eq_cstr(h->value, "1"));
	assert_null(sip_msg_hdr_find(&msg, STR_LIT("X-B")));
}

/* A parsed value is cached: the second call does not read the buffer again. */
static void test_lazy_value_is_cached(void **state)
{
	static char buf[] = INVITE_LINE STD_HDRS "\r\n";
	struct sip_via via;

	assert_int_equal(sip_msg_parse(&msg, buf, strlen(buf)), 0);
	assert_int_equal(sip_msg_via(&msg, 0, &via), 0);
	char *v = strstr(buf, "SIP/2.0/UDP");
	v[3] = '#'; /* would be a bad Via if parsed now */
	assert_int_equal(sip_msg_via(&msg, 0, &via), 0);
	assert_int_equal(sip_msg_via(&msg, 1, &via), SIP_E_NOT_FOUND);
}

static void test_failed_parse_keeps_top_via_for_400(void **state)
{
	struct sip_via via;

	assert_int_equal(parse("INVITE <sip:x@y> SIP/2.0\r\n" STD_HDRS "\r\n"), SIP_E_RURI);
	assert_true(sip_msg_can_reply(&msg));
	assert_int_equal(sip_msg_via(&msg, 0, &via), 0);
	assert_true(str_eq_cstr(via.branch, "z9hG4bK776asdhds"));
	assert_int_equal(parse("INVITE sip:x@y SIP/2.0\r\nVia: bogus\r\n"
			       "From: <sip:a@b>\r\nTo: <sip:b@c>\r\n"
			       "Call-ID: x\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\n"),
			 SIP_E_BODY_SHORT);
	assert_false(sip_msg_can_reply(&msg));
}

static void test_ack_is_never_answered(void **state)
{
	parse_ok("ACK sip:x@example.com SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@b>\r\n"
		 "Call-ID: c\r\nCSeq: 1 ACK\r\n\r\n");
	assert_false(sip_msg_can_reply(&msg));
}

static void test_validate_reports_missing_header(void **state)
{
	parse_ok(INVITE_LINE
		 "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@b>\r\n"
		 "CSeq: 1 INVITE\r\n\r\n");
	assert_int_equal(sip_msg_validate(&msg), SIP_E_MISSING);
	assert_string_equal(sip_msg_error(&msg), "missing Call-ID");
}

static void test_validate_reports_bad_via(void **state)
{
	parse_ok(INVITE_LINE "Via: SIP/2.0/UDP\r\n" STD_HDRS "\r\n");
	assert_int_equal(sip_msg_validate(&msg), SIP_E_VIA);
	assert_string_equal(sip_msg_error(&msg), "bad Via");
}

static void test_validate_ignores_other_accessor_faults(void **state)
{
	int64_t ms;

	parse_ok(INVITE_LINE STD_HDRS "Date: yesterday\r\n\r\n");
	assert_int_equal(sip_msg_date(&msg, &ms), SIP_E_DATE);
	assert_string_equal(sip_msg_error(&msg), "bad Date");
	assert_int_equal(sip_msg_validate(&msg), 0);
}

static void test_empty_list_header_has_no_values(void **state)
{
	struct sip_value_iter it;
	struct str v;

	parse_ok(INVITE_LINE "Supported:\r\nSupported: timer\r\n\r\n");
	sip_value_iter_init(&it, &msg, SIP_HDR_SUPPORTED);
	assert_int_equal(sip_value_iter_next(&it, &v, NULL), 0);
	assert_true(str_eq_cstr(v, "timer"));
	assert_int_equal(sip_value_iter_next(&it, &v, NULL), SIP_E_NOT_FOUND);
}

static void test_single_value_header_twice(void **state)
{
	struct str cid;

	parse_ok(INVITE_LINE "Call-ID: a\r\ni: b\r\n\r\n");
	assert_int_equal(sip_msg_call_id(&msg, &cid), SIP_E_MULTIPLE);
	parse_ok(INVITE_LINE "Call-ID: a b\r\n\r\n");
	assert_int_equal(sip_msg_call_id(&msg, &cid), SIP_E_CALL_ID);
}

static void test_content_type_and_expires_and_date(void **state)
{
	struct str type, params;
	uint32_t exp;
	int64_t ms;

	parse_ok(INVITE_LINE "c: application / sdp ; charset=utf-8\r\nExpires: 3600\r\n"
			     "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n\r\n");
	assert_int_equal(sip_msg_content_type(&msg, &type, &params), 0);
	assert_true(str_eq_cstr(type, "application / sdp"));
	assert_int_equal(sip_params_find(params, "charset", NULL), 0);
	assert_int_equal(sip_msg_expires(&msg, &exp), 0);
	assert_int_equal(exp, 3600);
	assert_int_equal(sip_msg_date(&msg, &ms), 0);
	assert_int_equal(ms, 1289690940000LL);
	parse_ok(INVITE_LINE "Date: Sat, 13 Nov 2010 23:29:00 EST\r\n\r\n");
	assert_int_equal(sip_msg_date(&msg, &ms), SIP_E_DATE);
}

static void test_value_iter_respects_quotes_and_angles(void **state)
{
	struct sip_value_iter it;
	struct str v;

	parse_ok(INVITE_LINE "Accept: a/b, c/d,\r\n e/f\r\nAccept: g/h\r\n\r\n");
	sip_value_iter_init(&it, &msg, SIP_HDR_ACCEPT);
	static const char *const want[] = {"a/b", "c/d", "e/f", "g/h"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(sip_value_iter_next(&it, &v, NULL), 0);
		assert_true(str_eq_cstr(v, want[i]));
	}
	assert_int_equal(sip_value_iter_next(&it, &v, NULL), SIP_E_NOT_FOUND);
}

static void test_strerror_phrases(void **state)
{
	assert_string_equal(sip_strerror(SIP_E_VIA), "bad Via");
	assert_string_equal(sip_strerror(SIP_E_BODY_SHORT), "Content-Length mismatch");
	assert_string_equal(sip_strerror(5), "unknown error");
	assert_string_equal(sip_strerror(-1000), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_msg_request_line),
	    cmocka_unit_test(test_msg_compact_names),
	    cmocka_unit_test(test_msg_full_names_case_insensitive),
	    cmocka_unit_test(test_msg_folded_lines_are_whitespace),
	    cmocka_unit_test(test_msg_multi_value_via),
	    cmocka_unit_test(test_via_rport_without_value),
	    cmocka_unit_test(test_via_rport_with_value_and_received),
	    cmocka_unit_test(test_via_absent_rport_is_null),
	    cmocka_unit_test(test_via_maddr_ttl_and_other_params),
	    cmocka_unit_test(test_via_ipv6_sent_by),
	    cmocka_unit_test(test_via_bad_values_rejected),
	    cmocka_unit_test(test_from_bare_addr_spec_params_belong_to_header),
	    cmocka_unit_test(test_from_name_addr_uri_params_stay_in_uri),
	    cmocka_unit_test(test_from_token_display_name),
	    cmocka_unit_test(test_addr_bad_values_rejected),
	    cmocka_unit_test(test_contact_wildcard_and_list),
	    cmocka_unit_test(test_route_values_in_order),
	    cmocka_unit_test(test_cseq_method_mismatch),
	    cmocka_unit_test(test_cseq_number_within_2_pow_31),
	    cmocka_unit_test(test_max_forwards_range),
	    cmocka_unit_test(test_content_length_body_shorter_is_error),
	    cmocka_unit_test(test_content_length_extra_octets_ignored),
	    cmocka_unit_test(test_content_length_absent_takes_rest),
	    cmocka_unit_test(test_content_length_not_a_number),
	    cmocka_unit_test(test_too_many_headers),
	    cmocka_unit_test(test_max_headers_accepted),
	    cmocka_unit_test(test_message_too_big),
	    cmocka_unit_test(test_missing_empty_line_is_incomplete),
	    cmocka_unit_test(test_bad_header_line_rejected),
	    cmocka_unit_test(test_response_parsing),
	    cmocka_unit_test(test_response_empty_and_utf8_reason),
	    cmocka_unit_test(test_response_status_out_of_range),
	    cmocka_unit_test(test_version_must_be_2_0),
	    cmocka_unit_test(test_request_line_single_spaces),
	    cmocka_unit_test(test_ruri_unsupported_scheme_is_416),
	    cmocka_unit_test(test_leading_crlf_ignored),
	    cmocka_unit_test(test_header_line_span_removes_header),
	    cmocka_unit_test(test_header_line_span_covers_folding),
	    cmocka_unit_test(test_hdr_iteration_and_lookup_by_name),
	    cmocka_unit_test(test_lazy_value_is_cached),
	    cmocka_unit_test(test_failed_parse_keeps_top_via_for_400),
	    cmocka_unit_test(test_ack_is_never_answered),
	    cmocka_unit_test(test_validate_reports_missing_header),
	    cmocka_unit_test(test_validate_reports_bad_via),
	    cmocka_unit_test(test_validate_ignores_other_accessor_faults),
	    cmocka_unit_test(test_empty_list_header_has_no_values),
	    cmocka_unit_test(test_single_value_header_twice),
	    cmocka_unit_test(test_content_type_and_expires_and_date),
	    cmocka_unit_test(test_value_iter_respects_quotes_and_angles),
	    cmocka_unit_test(test_strerror_phrases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
