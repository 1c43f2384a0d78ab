/*
 * test_http_head.c — src/http/head.c: where a request head ends, whether
 * it is well formed, and what body it announces.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_private.h"

static void test_head_end_after_crlf_crlf(void **state)
{
	struct str h = STR_LIT("GET / HTTP/1.1\r\nHost: t\r\n\r\nbody");
	assert_int_equal(http_head_end(h, 0), h.len - 4);
}

static void test_head_end_after_bare_lf_lf(void **state)
{
	struct str h = STR_LIT("GET / HTTP/1.1\nHost: t\n\nrest");
	assert_int_equal(http_head_end(h, 0), h.len - 4);
}

static void test_head_not_ended_yet(void **state)
{
	assert_int_equal(http_head_end(STR_LIT("GET / HTTP/1.1\r\nHost: t\r\n"), 0), 0);
	assert_int_equal(http_head_end(STR_LIT("GET / HTTP/1.1\r\nHost: t\r\n\r"), 0), 0);
}

/* http_head_framing's status for h, its detail checked to be set. */
static int framing(const char *h, struct http_framing *f)
{
	const char *why = NULL;
	int rc = http_head_framing(str_from_cstr(h), f, &why);

	if (rc)
		assert_non_null(why);
	return rc;
}

static void test_content_length_case_insensitive_with_spaces(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\ncOnTeNt-LeNgTh: \t 1234 \r\n\r\n", &f), 0);
	assert_true(f.has_length && !f.chunked);
	assert_int_equal(f.length, 1234);
}

static void test_content_length_absent(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Lengthy: 5\r\n\r\n", &f), 0);
	assert_false(f.has_length || f.chunked);
}

static void test_content_length_not_digits_rejected(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", &f), 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", &f), 400);
}

static void test_content_length_overflow_saturates(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\nContent-Length: 999999999999999999999999\r\n\r\n", &f), 0);
	assert_true(f.length == UINT64_MAX);
}

/* RFC 9112 §6.3: differing values are refused, whichever comes first. */
static void test_differing_content_lengths_rejected(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Length: 0\r\n"
				 "Content-Length: 41\r\n\r\n",
				 &f),
			 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Length: 15\r\n"
				 "Content-Length: 5\r\n\r\n",
				 &f),
			 400);
}

static void test_identical_content_lengths_are_one(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Length: 7\r\n"
				 "Content-Length: 7\r\n\r\n",
				 &f),
			 0);
	assert_int_equal(f.length, 7);
}

static void test_transfer_encoding_codings(void **state)
{
	struct http_framing f;
	(void)state;
	assert_int_equal(framing("POST / HTTP/1.1\r\ntransfer-encoding:  Chunked \r\n\r\n", &f), 0);
	assert_true(f.chunked);
	assert_int_equal(framing("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &f),
			 501);
	assert_int_equal(framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &f),
			 400);
	assert_int_equal(
	    framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", &f), 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", &f),
			 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n", &f), 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n",
				 &f),
			 400);
	assert_int_equal(framing("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n",
				 &f),
			 400);
	/* A field after the empty line is body, not head. */
	assert_int_equal(framing("POST / HTTP/1.1\r\n\r\nTransfer-Encoding: chunked\r\n", &f), 0);
	assert_false(f.chunked);
	/* The request line is never a field. */
	assert_int_equal(framing("Transfer-Encoding: chunked\r\nHost: x\r\n\r\n", &f), 0);
	assert_false(f.chunked);
}

/* http_head_check's status for h, its detail checked to be set. */
static int head_check(const char *h)
{
	struct str target;
	const char *why = NULL;
	int rc = http_head_check(str_from_cstr(h), &target, &why);

	if (rc)
		assert_non_null(why);
	return rc;
}

static void test_check_accepts_well_formed_heads(void **state)
{
	struct str target;
	const char *why;

	(void)state;
	assert_int_equal(
	    http_head_check(STR_LIT("GET /a?b=c HTTP/1.1\r\nHost: t\r\n\r\n"), &target, &why), 0);
	assert_true(str_eq_cstr(target, "/a?b=c"));
	assert_int_equal(head_check("GET / HTTP/1.0\r\n\r\n"), 0);
	assert_int_equal(head_check("PATCH / HTTP/1.1\nhost:t\nX-E:\t\xe9 v \n\n"), 0);
	assert_int_equal(head_check("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	assert_int_equal(head_check("GET http://t/x HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	/* A minor version above 1 is read as HTTP/1.1 (RFC 9110 §2.5). */
	assert_int_equal(head_check("GET / HTTP/1.7\r\nHost: t\r\n\r\n"), 0);
}

static void test_check_refuses_broken_request_lines(void **state)
{
	(void)state;
	assert_int_equal(head_check("\r\n\r\n"), 400);
	assert_int_equal(head_check("GET\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET /\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check(" GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET  / HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1 \r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET /\x7f HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET /\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("G(T / HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / http/1.1\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/11\r\nHost: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1x\r\nHost: t\r\n\r\n"), 400);
}

static void test_check_refuses_unserved_methods_and_versions(void **state)
{
	(void)state;
	assert_int_equal(head_check("TRACE / HTTP/1.1\r\nHost: t\r\n\r\n"), 501);
	assert_int_equal(head_check("CONNECT t:1 HTTP/1.1\r\nHost: t\r\n\r\n"), 501);
	assert_int_equal(head_check("get / HTTP/1.1\r\nHost: t\r\n\r\n"), 501);
	assert_int_equal(head_check("GET / HTTP/2.0\r\nHost: t\r\n\r\n"), 505);
	assert_int_equal(head_check("GET / HTTP/0.9\r\nHost: t\r\n\r\n"), 505);
}

static void test_check_refuses_bad_field_lines(void **state)
{
	(void)state;
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\nnocolon\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\n: v\r\n\r\n"), 400);
	/* A space before the colon: RFC 9112 §5.1 says reject (smuggling). */
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost : t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\nX\x01: v\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\nX: a\x7f\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n"), 400);
}

static void test_check_wants_one_host_in_http11(void **state)
{
	(void)state;
	assert_int_equal(head_check("GET / HTTP/1.1\r\nX-Host: t\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\nhost: u\r\n\r\n"), 400);
	assert_int_equal(head_check("GET / HTTP/1.0\r\nHost: t\r\nHost: u\r\n\r\n"), 400);
	/* What follows the empty line is body, not head. */
	assert_int_equal(head_check("GET / HTTP/1.1\r\nHost: t\r\n\r\nHost: u\r\n"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_head_end_after_crlf_crlf),
	    cmocka_unit_test(test_head_end_after_bare_lf_lf),
	    cmocka_unit_test(test_head_not_ended_yet),
	    cmocka_unit_test(test_content_length_case_insensitive_with_spaces),
	    cmocka_unit_test(test_content_length_absent),
	    cmocka_unit_test(test_content_length_not_digits_rejected),
	    cmocka_unit_test(test_content_length_overflow_saturates),
	    cmocka_unit_test(test_differing_content_lengths_rejected),
	    cmocka_unit_test(test_identical_content_lengths_are_one),
	    cmocka_unit_test(test_transfer_encoding_codings),
	    cmocka_unit_test(test_check_accepts_well_formed_heads),
	    cmocka_unit_test(test_check_refuses_broken_request_lines),
	    cmocka_unit_test(test_check_refuses_unserved_methods_and_versions),
	    cmocka_unit_test(test_check_refuses_bad_field_lines),
	    cmocka_unit_test(test_check_wants_one_host_in_http11),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
