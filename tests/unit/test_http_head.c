/*
 * test_http_head.c — src/http/head.c: where a request head ends and what
 * body it announces.
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

static void test_content_length_case_insensitive_with_spaces(void **state)
{
	uint64_t n;
	assert_int_equal(http_head_content_length(
				 STR_LIT("POST / HTTP/1.1\r\ncOnTeNt-LeNgTh: \t 1234 \r\n\r\n"), &n),
			 0);
	assert_int_equal(n, 1234);
}

static void test_content_length_absent(void **state)
{
	uint64_t n;
	assert_int_equal(http_head_content_length(
				 STR_LIT("POST / HTTP/1.1\r\nContent-Lengthy: 5\r\n\r\n"), &n),
			 -ENOENT);
}

static void test_content_length_not_digits_rejected(void **state)
{
	uint64_t n;
	assert_int_equal(http_head_content_length(
				 STR_LIT("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), &n),
			 -EINVAL);
	assert_int_equal(http_head_content_length(
				 STR_LIT("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), &n),
			 -EINVAL);
}

static void test_content_length_overflow_saturates(void **state)
{
	uint64_t n;
	assert_int_equal(
		http_head_content_length(
			STR_LIT("POST / HTTP/1.1\r\nContent-Length: 999999999999999999999999\r\n\r\n"),
			&n),
		0);
	assert_true(n == UINT64_MAX);
}

static void test_largest_of_several_content_lengths(void **state)
{
	uint64_t n;
	assert_int_equal(http_head_content_length(STR_LIT("POST / HTTP/1.1\r\nContent-Length: 9"
							  "\r\nContent-Length: 90000\r\n\r\n"),
						  &n),
			 0);
	assert_int_equal(n, 90000);
}

static void test_chunked_is_the_last_coding_of_the_last_field(void **state)
{
	(void)state;
	assert_true(http_head_chunked(STR_LIT("POST / HTTP/1.1\r\ntransfer-encoding:  Chunked \r\n\r\n")));
	assert_true(http_head_chunked(STR_LIT("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")));
	assert_false(http_head_chunked(STR_LIT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")));
	assert_false(http_head_chunked(STR_LIT("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n")));
	/* A field after the empty line is body, not head. */
	assert_false(http_head_chunked(STR_LIT("POST / HTTP/1.1\r\n\r\nTransfer-Encoding: chunked\r\n")));
	/* The request line is never a field. */
	assert_false(http_head_chunked(STR_LIT("Transfer-Encoding: chunked\r\nHost: x\r\n\r\n")));
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
		cmocka_unit_test(test_largest_of_several_content_lengths),
		cmocka_unit_test(test_chunked_is_the_last_coding_of_the_last_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
