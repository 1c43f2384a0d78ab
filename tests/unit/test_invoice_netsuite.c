/*
 * test_invoice_netsuite.c — src/invoice/netsuite_oauth.c and
 * netsuite_body.c: RFC 5849 percent-encoding, the OAuth 1.0a signature base
 * string and HMAC-SHA256 signature of a NetSuite upsert checked against
 * ones worked out by hand (the base string below is written out piece by
 * piece; the signature is what Python's hmac module computes for it), the
 * Authorization header, a document's record URL and JSON body, and how
 * NetSuite's answers are read (netsuite_answer.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "invoice/invoice_private.h"

static void assert_pct(const char *in, const char *want)
{
	struct buf b;
	buf_init(&b);
	assert_int_equal(netsuite_pct_encode(&b, str_from_cstr(in)), 0);
	assert_string_equal(b.p ? b.p : "", want);
	buf_fini(&b);
}

/* RFC 5849 §3.6: unreserved stays, everything else %XX, UTF-8 by byte. */
static void test_percent_encoding_follows_rfc5849(void **state)
{
	(void)state;
	assert_pct("Ladies + Gentlemen", "Ladies%20%2B%20Gentlemen");
	assert_pct("An encoded string!", "An%20encoded%20string%21");
	assert_pct("Dogs, Cats & Mice", "Dogs%2C%20Cats%20%26%20Mice");
	assert_pct("\xe2\x98\x83", "%E2%98%83");
	assert_pct("AZaz09-._~", "AZaz09-._~");
	assert_pct("eid:a/b=c", "eid%3Aa%2Fb%3Dc");
	assert_pct("", "");
}

static const struct netsuite_oauth oauth = {
    .realm = "1234567_SB1",
    .consumer_key = "ck+/=",
    .consumer_secret = "cs&secret",
    .token_id = "tok",
    .token_secret = "ts \xe2\x98\x83",
    .timestamp = "1796083200",
    .nonce = "n0nce",
};

/* Scheme and host lower-cased, :443 dropped (§3.4.1.2), path kept. */
static const char url[] =
    "https://1234567-SB1.Suitetalk.api.netsuite.com:443/services/rest/record/v1/invoice/"
    "eid:WARP-cus_a-202611-0";

static const char base_want[] =
    /* the method */
    "PUT"
    "&"
    /* the base string URI, encoded */
    "https%3A%2F%2F1234567-sb1.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord%2Fv1%2F"
    "invoice%2Feid%3AWARP-cus_a-202611-0"
    "&"
    /* the sorted oauth_* parameters, each encoded, then the whole encoded
     * again: "ck+/=" is ck%2B%2F%3D once and ck%252B%252F%253D twice */
    "oauth_consumer_key%3Dck%252B%252F%253D"
    "%26oauth_nonce%3Dn0nce"
    "%26oauth_signature_method%3DHMAC-SHA256"
    "%26oauth_timestamp%3D1796083200"
    "%26oauth_token%3Dtok"
    "%26oauth_version%3D1.0";

static void test_base_string_worked_out_by_hand(void **state)
{
	struct buf b;
	(void)state;
	buf_init(&b);
	assert_int_equal(netsuite_oauth_base_string(&oauth, "PUT", url, &b), 0);
	assert_string_equal(b.p, base_want);
	buf_fini(&b);
}

/* key = "cs%26secret&ts%20%E2%98%83" (§3.4.2); HMAC-SHA256, base64. */
static void test_signature_of_the_base_string(void **state)
{
	char sig[96];
	(void)state;
	assert_int_equal(netsuite_oauth_sign(&oauth, base_want, sig, sizeof(sig)), 0);
	assert_string_equal(sig, "A8xMkhX8VRn6iNYxG0dlEw2Rv5/WUd34tM8agmB6ai4=");
	assert_int_equal(netsuite_oauth_sign(&oauth, base_want, sig, 44), -ENOSPC);
}

static void test_authorization_header(void **state)
{
	struct buf b;
	(void)state;
	buf_init(&b);
	assert_int_equal(netsuite_oauth_header(&oauth, "PUT", url, &b), 0);
	assert_string_equal(
	    b.p, "OAuth realm=\"1234567_SB1\", oauth_consumer_key=\"ck%2B%2F%3D\", "
		 "oauth_token=\"tok\", oauth_signature_method=\"HMAC-SHA256\", "
		 "oauth_timestamp=\"1796083200\", oauth_nonce=\"n0nce\", oauth_version=\"1.0\", "
		 "oauth_signature=\"A8xMkhX8VRn6iNYxG0dlEw2Rv5%2FWUd34tM8agmB6ai4%3D\"");
	buf_fini(&b);
}

static void test_a_query_or_no_path_is_refused(void **state)
{
	struct buf b;
	(void)state;
	buf_init(&b);
	assert_int_equal(netsuite_oauth_base_string(&oauth, "PUT", "https://h/p?x=1", &b), -EINVAL);
	assert_int_equal(netsuite_oauth_base_string(&oauth, "PUT", "https://h", &b), -EINVAL);
	assert_int_equal(netsuite_oauth_base_string(&oauth, "PUT", "h/p", &b), -EINVAL);
	buf_fini(&b);
}

static void test_map_lookup(void **state)
{
	char v[16];
	const char *map = "cus_a=101, cus_b = 202 ,UK Mobile=7,empty=";
	(void)state;
	assert_true(netsuite_map_get(map, "cus_a", v, sizeof(v)) && strcmp(v, "101") == 0);
	assert_true(netsuite_map_get(map, "cus_b", v, sizeof(v)) && strcmp(v, "202") == 0);
	assert_true(netsuite_map_get(map, "UK Mobile", v, sizeof(v)) && strcmp(v, "7") == 0);
	assert_false(netsuite_map_get(map, "empty", v, sizeof(v)));
	assert_false(netsuite_map_get(map, "cus", v, sizeof(v)));
	assert_false(netsuite_map_get("", "cus_a", v, sizeof(v)));
	assert_false(netsuite_map_get(NULL, "cus_a", v, sizeof(v)));
}

static void doc_fill(struct invoice *inv)
{
	invoice_init(inv);
	assert_int_equal(invoice_period_parse("2026-02", &inv->period), 0);
	strcpy(inv->customer_id, "cus_a");
	strcpy(inv->number, "INV-000007");
	strcpy(inv->external_id, "WARP-cus_a-202602-0");
	struct invoice_line *l = invoice_line_get(inv, INVOICE_LINE_CALLS, "UK \"Mobile\"");
	l->count = 3, l->billable_ms = 150000, l->amount = 2005000, l->amount_rounded = 2010000;
	l = invoice_line_get(inv, INVOICE_LINE_SMS, "");
	l->count = 4, l->amount = 80000, l->amount_rounded = 80000;
	l = invoice_line_get(inv, INVOICE_LINE_ADJUSTMENT, "Goodwill");
	l->count = 1, l->amount = -1000000, l->amount_rounded = -1000000;
}

static const struct netsuite_opts ns = {
    .account_id = "1234567_SB1",
    .entity_map = "cus_a=101",
    .item_map = "UK \"Mobile\"=7",
    .sms_item = "8",
    .adjustment_item = "9",
};

static void test_record_url_and_body(void **state)
{
	struct invoice inv;
	struct buf u, b;
	char err[256] = "";
	(void)state;
	doc_fill(&inv);
	buf_init(&u);
	buf_init(&b);
	assert_int_equal(netsuite_request(&ns, &inv, &u, &b, err, sizeof(err)), 0);
	assert_string_equal(u.p, "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/"
				 "record/v1/invoice/eid:WARP-cus_a-202602-0");
	assert_string_equal(
	    b.p,
	    "{\"externalId\":\"WARP-cus_a-202602-0\",\"entity\":{\"id\":\"101\"},\"tranDate\":"
	    "\"2026-02-28\",\"postingPeriod\":{\"refName\":\"Feb 2026\"},\"memo\":\"WARP invoice "
	    "INV-000007, period 2026-02\",\"item\":{\"items\":["
	    "{\"item\":{\"id\":\"7\"},\"description\":\"Calls: UK "
	    "\\\"Mobile\\\"\",\"quantity\":2.5000,"
	    "\"rate\":0.804,\"amount\":2.01},"
	    "{\"item\":{\"id\":\"8\"},\"description\":\"SMS: other destinations\",\"quantity\":4,"
	    "\"rate\":0.02,\"amount\":0.08},"
	    "{\"item\":{\"id\":\"9\"},\"description\":\"Adjustment: Goodwill\",\"quantity\":1,"
	    "\"rate\":-1.00,\"amount\":-1.00}]}}");
	buf_fini(&u);
	buf_fini(&b);
	invoice_fini(&inv);
}

/* A credit note is a creditMemo crediting positive amounts. */
static void test_credit_note_is_a_credit_memo(void **state)
{
	struct invoice inv;
	struct buf u, b;
	char err[256] = "";
	struct netsuite_opts o = ns;
	(void)state;
	doc_fill(&inv);
	inv.kind = INVOICE_KIND_CREDIT_NOTE;
	inv.nlines = 1;
	inv.lines[0].amount_rounded = -330000;
	inv.lines[0].billable_ms = 0;
	o.base_url = "https://127.0.0.1:8443/";
	buf_init(&u);
	buf_init(&b);
	assert_int_equal(netsuite_request(&o, &inv, &u, &b, err, sizeof(err)), 0);
	assert_string_equal(u.p, "https://127.0.0.1:8443/services/rest/record/v1/creditMemo/"
				 "eid:WARP-cus_a-202602-0");
	assert_non_null(strstr(b.p, "\"rate\":0.33,\"amount\":0.33}"));
	buf_fini(&u);
	buf_fini(&b);
	invoice_fini(&inv);
}

static void test_unmapped_customer_or_zone_fails_the_document(void **state)
{
	struct invoice inv;
	struct buf u, b;
	char err[256] = "";
	struct netsuite_opts o = ns;
	(void)state;
	doc_fill(&inv);
	buf_init(&u);
	buf_init(&b);
	o.entity_map = "cus_b=1";
	assert_int_equal(netsuite_request(&o, &inv, &u, &b, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no NetSuite entity for customer cus_a"));
	o = ns;
	o.item_map = "";
	buf_reset(&b);
	assert_int_equal(netsuite_request(&o, &inv, &u, &b, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no NetSuite item for calls line 'UK \"Mobile\"'"));
	buf_fini(&u);
	buf_fini(&b);
	invoice_fini(&inv);
}

static void assert_answer(long status, const char *loc, const char *body, int rc, const char *id,
			  const char *err)
{
	char got_id[64] = "", got_err[256] = "x";
	assert_int_equal(netsuite_answer_read(status, loc, body, body ? strlen(body) : 0, got_id,
					      sizeof(got_id), got_err, sizeof(got_err)),
			 rc);
	assert_string_equal(got_id, id);
	assert_string_equal(got_err, err);
}

/* 204 with the record in Location, or the reason from NetSuite's error
 * document; whatever the server sends. */
static void test_answers_are_read_without_trusting_them(void **state)
{
	(void)state;
	assert_answer(204, "https://h/services/rest/record/v1/invoice/9001", NULL, 0, "9001", "");
	assert_answer(200, "https://h/record/v1/invoice/77?x=1", NULL, 0, "77", "");
	assert_answer(204, "", NULL, -EIO, "", "HTTP 204 without a record Location");
	assert_answer(204, "https://h/record/v1/invoice/", NULL, -EIO, "",
		      "HTTP 204 without a record Location");
	assert_answer(204, "https://h/a b", NULL, -EIO, "", "HTTP 204 without a record Location");
	assert_answer(400, NULL,
		      "{\"title\":\"Bad Request\",\"o:errorDetails\":[{\"detail\":\"Invalid "
		      "customer reference key 13.\",\"o:errorCode\":\"INVALID_VALUE\"}]}",
		      -EIO, "", "HTTP 400: Invalid customer reference key 13.");
	assert_answer(401, NULL, "{\"title\":\"Unauthorized\"}", -EIO, "",
		      "HTTP 401: Unauthorized");
	assert_answer(500, NULL, "<html>oops", -EIO, "", "HTTP 500: no detail");
	assert_answer(502, NULL, "{\"o:errorDetails\":[1]}", -EIO, "", "HTTP 502: no detail");
	assert_answer(503, NULL, NULL, -EIO, "", "HTTP 503: no detail");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percent_encoding_follows_rfc5849),
	    cmocka_unit_test(test_base_string_worked_out_by_hand),
	    cmocka_unit_test(test_signature_of_the_base_string),
	    cmocka_unit_test(test_authorization_header),
	    cmocka_unit_test(test_a_query_or_no_path_is_refused),
	    cmocka_unit_test(test_map_lookup),
	    cmocka_unit_test(test_record_url_and_body),
	    cmocka_unit_test(test_credit_note_is_a_credit_memo),
	    cmocka_unit_test(test_unmapped_customer_or_zone_fails_the_document),
	    cmocka_unit_test(test_answers_are_read_without_trusting_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
