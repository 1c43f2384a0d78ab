/* Tests for src/sip/th.c: topology hiding's rewriting of a call's headers
 * towards each side and their restoring (decision 0028), on messages
 * parsed from text, with no proxy or sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip/th.h"

static const unsigned char key[SIP_TH_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static const char invite[] = "INVITE sip:15551234567@198.51.100.1:5060 SIP/2.0\r\n"
			     "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-a;rport\r\n"
			     "Via: SIP/2.0/UDP 10.0.0.9:5080;branch=z9hG4bK-b\r\n"
			     "Record-Route: <sip:10.0.0.9:5080;lr>\r\n"
			     "From: \"Alice\" <sip:alice@10.0.0.5:5070>;tag=a1\r\n"
			     "To: <sip:15551234567@198.51.100.1:5060>\r\n"
			     "Call-ID: secret-call@10.0.0.5\r\n"
			     "CSeq: 7 INVITE\r\n"
			     "Contact: <sip:alice@10.0.0.5:5070>\r\n"
			     "Max-Forwards: 70\r\n"
			     "Content-Length: 0\r\n\r\n";

struct fixture {
	struct sip_th th;
	struct sip_msg inv;
	struct sip_peer src;
	struct sip_listen at;
	char text[2048];
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(net_addr_parse(str_from_cstr("10.0.0.5"), 5070, &f->src.addr), 0);
	snprintf(f->at.host, sizeof(f->at.host), "198.51.100.1");
	f->at.port = 5060;
	assert_int_equal(sip_msg_parse(&f->inv, invite, sizeof(invite) - 1), 0);
	assert_int_equal(sip_th_init(&f->th, &f->inv, &f->src, key, 1), 0);
	assert_int_equal(sip_th_target(&f->th, "192.0.2.1"), 0);
}

static void fixture_fini(struct fixture *f)
{
	sip_th_fini(&f->th);
}

/* A message of text (built with the fixture's values) into out, rewritten. */
static void rewrite(struct fixture *f, const char *text, enum sip_th_side toward, bool response,
		    struct buf *out)
{
	struct sip_msg m;
	snprintf(f->text, sizeof(f->text), "%s", text);
	assert_int_equal(sip_msg_parse(&m, f->text, strlen(f->text)), 0);
	struct sip_th_view v = {.th = &f->th,
				.toward = toward,
				.contact = "<sip:th-x@198.51.100.1:5060>",
				.at = &f->at,
				.tp = SIP_TRANSPORT_UDP};
	buf_init(out);
	if (response)
		assert_int_equal(sip_th_build_response(out, &m, &v, &f->th.caller_up), 0);
	else
		assert_int_equal(sip_th_build_copy(out, &m, &v), 0);
	assert_int_equal(buf_append_char(out, '\0'), 0);
}

static void test_call_id_names_its_worker_and_hides_the_original(void **state)
{
	char a[SIP_TH_VALUE_MAX], b[SIP_TH_VALUE_MAX];
	unsigned owner = 99;
	(void)state;
	assert_int_equal(sip_th_call_id(a, sizeof(a), key, 3, STR_LIT("abc@10.0.0.5")), 0);
	assert_int_equal(sip_th_call_id(b, sizeof(b), key, 3, STR_LIT("abc@10.0.0.5")), 0);
	assert_string_equal(a, b);
	assert_int_equal(strncmp(a, "wth3-", 5), 0);
	assert_int_equal(strlen(a), 5 + 32);
	assert_null(strstr(a, "10.0.0.5"));
	assert_true(sip_th_call_id_owner(str_from_cstr(a), &owner));
	assert_int_equal(owner, 3);
	assert_int_equal(sip_th_call_id(b, sizeof(b), key, 3, STR_LIT("abd@10.0.0.5")), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(sip_th_call_id(b, 10, key, 3, STR_LIT("abc")), -ENOSPC);
}

static void test_call_id_owner_refuses_other_shapes(void **state)
{
	unsigned owner;
	(void)state;
	assert_false(sip_th_call_id_owner(STR_LIT("abc@host"), &owner));
	assert_false(sip_th_call_id_owner(STR_LIT("wth"), &owner));
	assert_false(sip_th_call_id_owner(STR_LIT("wth-12"), &owner));
	assert_false(sip_th_call_id_owner(STR_LIT("wthx-12"), &owner));
	assert_false(sip_th_call_id_owner(STR_LIT("wth123456-12"), &owner));
	assert_false(sip_th_call_id_owner(STR_LIT("wth12"), &owner));
	assert_true(sip_th_call_id_owner(STR_LIT("wth12-"), &owner));
	assert_int_equal(owner, 12);
}

static void test_uri_mask_keeps_the_user_and_drops_host_port_params(void **state)
{
	char out[128];
	(void)state;
	assert_int_equal(sip_th_uri_mask(out, sizeof(out),
					 STR_LIT("sip:alice@10.0.0.5:5070;transport=tcp"),
					 "192.0.2.1"),
			 0);
	assert_string_equal(out, "sip:alice@192.0.2.1");
	assert_int_equal(
	    sip_th_uri_mask(out, sizeof(out), STR_LIT("sip:10.0.0.5"), "[2001:db8::1]"), 0);
	assert_string_equal(out, "sip:[2001:db8::1]");
	assert_int_equal(sip_th_uri_mask(out, sizeof(out), STR_LIT("sips:bob@pbx.example"), "h"),
			 0);
	assert_string_equal(out, "sips:bob@h");
	assert_int_equal(sip_th_uri_mask(out, sizeof(out), STR_LIT("tel:+15551234567"), "h"), 0);
	assert_string_equal(out, "tel:+15551234567");
	assert_int_equal(sip_th_uri_mask(out, 8, STR_LIT("sip:alice@10.0.0.5"), "192.0.2.1"),
			 -ENOSPC);
}

static void test_request_to_the_callee_shows_only_our_host(void **state)
{
	struct fixture f;
	struct buf out;
	(void)state;
	fixture_init(&f);
	rewrite(&f, invite, SIP_TH_CALLEE, false, &out);
	assert_non_null(strstr(out.p, "From: \"Alice\" <sip:alice@192.0.2.1>;tag=a1\r\n"));
	assert_non_null(strstr(out.p, "To: <sip:15551234567@192.0.2.1>\r\n"));
	assert_non_null(strstr(out.p, "Call-ID: wth1-"));
	assert_non_null(strstr(out.p, "Contact: <sip:th-x@198.51.100.1:5060>\r\n"));
	assert_null(strstr(out.p, "secret-call"));
	assert_null(strstr(out.p, "From: \"Alice\" <sip:alice@10.0.0.5"));
	buf_fini(&out);
	fixture_fini(&f);
}

static void test_response_to_the_caller_is_restored(void **state)
{
	struct fixture f;
	struct buf out;
	char resp[1024];
	(void)state;
	fixture_init(&f);
	snprintf(resp, sizeof(resp),
		 "SIP/2.0 200 OK\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-0-1;rport=5060\r\n"
		 "Record-Route: <sip:192.0.2.77;lr>, <sip:192.0.2.1:5060;lr>\r\n"
		 "From: \"Alice\" <sip:alice@192.0.2.1>;tag=a1\r\n"
		 "To: <sip:15551234567@192.0.2.1>;tag=b2\r\n"
		 "Call-ID: %s\r\n"
		 "CSeq: 7 INVITE\r\n"
		 "Contact: <sip:gw@192.0.2.50:5060>\r\n"
		 "Content-Length: 0\r\n\r\n",
		 f.th.call_id[SIP_TH_CALLEE]);
	rewrite(&f, resp, SIP_TH_CALLER, true, &out);
	assert_string_equal(out.p, "SIP/2.0 200 OK\r\n"
				   "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-a;"
				   "received=10.0.0.5;rport=5070\r\n"
				   "Via: SIP/2.0/UDP 10.0.0.9:5080;branch=z9hG4bK-b\r\n"
				   "Record-Route: <sip:198.51.100.1:5060;lr>\r\n"
				   "Record-Route: <sip:10.0.0.9:5080;lr>\r\n"
				   "From: \"Alice\" <sip:alice@10.0.0.5:5070>;tag=a1\r\n"
				   "To: <sip:15551234567@198.51.100.1:5060>;tag=b2\r\n"
				   "Call-ID: secret-call@10.0.0.5\r\n"
				   "CSeq: 7 INVITE\r\n"
				   "Contact: <sip:th-x@198.51.100.1:5060>\r\n"
				   "Content-Length: 0\r\n\r\n");
	buf_fini(&out);
	fixture_fini(&f);
}

static void test_request_from_the_callee_swaps_from_and_to_back(void **state)
{
	struct fixture f;
	struct buf out;
	char bye[1024];
	(void)state;
	fixture_init(&f);
	snprintf(bye, sizeof(bye),
		 "BYE sip:th-x@198.51.100.1:5060 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-0-2;rport\r\n"
		 "From: <sip:15551234567@192.0.2.1>;tag=b2\r\n"
		 "To: \"Alice\" <sip:alice@192.0.2.1>;tag=a1\r\n"
		 "Call-ID: %s\r\n"
		 "CSeq: 1 BYE\r\n"
		 "Content-Length: 0\r\n\r\n",
		 f.th.call_id[SIP_TH_CALLEE]);
	rewrite(&f, bye, SIP_TH_CALLER, false, &out);
	assert_non_null(strstr(out.p, "From: <sip:15551234567@198.51.100.1:5060>;tag=b2\r\n"));
	assert_non_null(strstr(out.p, "To: \"Alice\" <sip:alice@10.0.0.5:5070>;tag=a1\r\n"));
	assert_non_null(strstr(out.p, "Call-ID: secret-call@10.0.0.5\r\n"));
	assert_null(strstr(out.p, "wth1-"));
	buf_fini(&out);
	fixture_fini(&f);
}

static void test_values_of_another_dialog_are_left_alone(void **state)
{
	struct fixture f;
	struct buf out;
	static const char other[] = "OPTIONS sip:x@192.0.2.1 SIP/2.0\r\n"
				    "Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-c\r\n"
				    "From: <sip:bob@10.1.1.1>;tag=z\r\n"
				    "To: <tel:+15550000000>\r\n"
				    "Call-ID: other\r\n"
				    "CSeq: 1 OPTIONS\r\n"
				    "Content-Length: 0\r\n\r\n";
	(void)state;
	fixture_init(&f);
	rewrite(&f, other, SIP_TH_CALLEE, false, &out);
	assert_string_equal(out.p, other);
	buf_fini(&out);
	fixture_fini(&f);
}

static void test_from_and_to_shown_alike_keep_the_to(void **state)
{
	struct sip_th th;
	struct sip_msg m;
	struct sip_peer src = {0};
	static const char same[] = "INVITE sip:alice@192.0.2.1 SIP/2.0\r\n"
				   "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK-a\r\n"
				   "From: <sip:alice@10.0.0.5>;tag=a1\r\n"
				   "To: <sip:alice@10.0.0.6>\r\n"
				   "Call-ID: c\r\n"
				   "CSeq: 1 INVITE\r\n"
				   "Content-Length: 0\r\n\r\n";
	(void)state;
	assert_int_equal(net_addr_parse(str_from_cstr("10.0.0.5"), 5070, &src.addr), 0);
	assert_int_equal(sip_msg_parse(&m, same, sizeof(same) - 1), 0);
	assert_int_equal(sip_th_init(&th, &m, &src, key, 0), 0);
	assert_int_equal(sip_th_target(&th, "192.0.2.1"), 0);
	assert_string_equal(th.from[SIP_TH_CALLEE], "sip:alice@192.0.2.1");
	assert_string_equal(th.to[SIP_TH_CALLEE], "sip:alice@10.0.0.6");
	sip_th_fini(&th);
}

static void test_contact_names_our_address_and_the_hop_transport(void **state)
{
	struct fixture f;
	struct sip_listen tls = {.port = 5061};
	char out[128];
	(void)state;
	fixture_init(&f);
	snprintf(f.th.token, sizeof(f.th.token), "00ff");
	assert_int_equal(sip_th_contact(out, sizeof(out), &f.th, &f.at, SIP_TRANSPORT_UDP), 0);
	assert_string_equal(out, "<sip:th-00ff@198.51.100.1:5060>");
	assert_int_equal(sip_th_contact(out, sizeof(out), &f.th, &f.at, SIP_TRANSPORT_TCP), 0);
	assert_string_equal(out, "<sip:th-00ff@198.51.100.1:5060;transport=tcp>");
	snprintf(tls.host, sizeof(tls.host), "198.51.100.1");
	tls.tls = &tls;
	f.at.tls = &tls;
	assert_int_equal(sip_th_contact(out, sizeof(out), &f.th, &f.at, SIP_TRANSPORT_TLS), 0);
	assert_string_equal(out, "<sip:th-00ff@198.51.100.1:5061;transport=tls>");
	assert_int_equal(sip_th_contact(out, 12, &f.th, &f.at, SIP_TRANSPORT_UDP), -ENOSPC);
	fixture_fini(&f);
}

static void test_state_keeps_the_callers_contact_and_invite_lines(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	assert_string_equal(f.th.contact[SIP_TH_CALLER], "sip:alice@10.0.0.5:5070");
	assert_string_equal(f.th.contact[SIP_TH_CALLEE], "");
	assert_int_equal(f.th.invite_cseq, 7);
	assert_int_equal(strncmp(f.th.call_id[SIP_TH_CALLER], "secret-call@10.0.0.5", 20), 0);
	assert_int_equal(f.th.caller_up.rrs.len,
			 strlen("Record-Route: <sip:10.0.0.9:5080;lr>\r\n"));
	fixture_fini(&f);
}

static void test_values_are_kept_at_their_lengths_and_replaced_whole(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	/* One allocation holds the eight values: each points into it. */
	for (int side = 0; side < 2; side++) {
		assert_true(f.th.from[side] >= f.th.vals);
		assert_true(f.th.contact[side] >= f.th.vals);
	}
	assert_int_equal(sip_th_set_contact(&f.th, SIP_TH_CALLEE, "sip:bob@203.0.113.7:5060"), 0);
	assert_string_equal(f.th.contact[SIP_TH_CALLEE], "sip:bob@203.0.113.7:5060");
	assert_string_equal(f.th.contact[SIP_TH_CALLER], "sip:alice@10.0.0.5:5070");
	assert_string_equal(f.th.from[SIP_TH_CALLEE], "sip:alice@192.0.2.1");
	char big[SIP_TH_VALUE_MAX + 8];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sip_th_set_contact(&f.th, SIP_TH_CALLER, big), -ENOSPC);
	assert_string_equal(f.th.contact[SIP_TH_CALLER], "sip:alice@10.0.0.5:5070");
	fixture_fini(&f);
}

static void test_ack_lets_go_of_the_2xx_and_the_invite_lines(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	assert_int_equal(buf_append_cstr(&f.th.sent_2xx[SIP_TH_CALLER], "SIP/2.0 200 OK\r\n"), 0);
	f.th.sent_cseq[SIP_TH_CALLER] = 7;
	sip_th_acked(&f.th, SIP_TH_CALLER, 6); /* another CSeq: kept */
	assert_int_not_equal(f.th.sent_2xx[SIP_TH_CALLER].len, 0);
	assert_int_not_equal(f.th.caller_up.vias.len, 0);
	sip_th_acked(&f.th, SIP_TH_CALLER, 7);
	assert_null(f.th.sent_2xx[SIP_TH_CALLER].p);
	assert_null(f.th.caller_up.vias.p);
	assert_null(f.th.caller_up.rrs.p);
	fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_id_names_its_worker_and_hides_the_original),
	    cmocka_unit_test(test_call_id_owner_refuses_other_shapes),
	    cmocka_unit_test(test_uri_mask_keeps_the_user_and_drops_host_port_params),
	    cmocka_unit_test(test_request_to_the_callee_shows_only_our_host),
	    cmocka_unit_test(test_response_to_the_caller_is_restored),
	    cmocka_unit_test(test_request_from_the_callee_swaps_from_and_to_back),
	    cmocka_unit_test(test_values_of_another_dialog_are_left_alone),
	    cmocka_unit_test(test_from_and_to_shown_alike_keep_the_to),
	    cmocka_unit_test(test_contact_names_our_address_and_the_hop_transport),
	    cmocka_unit_test(test_state_keeps_the_callers_contact_and_invite_lines),
	    cmocka_unit_test(test_values_are_kept_at_their_lengths_and_replaced_whole),
	    cmocka_unit_test(test_ack_lets_go_of_the_2xx_and_the_invite_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
