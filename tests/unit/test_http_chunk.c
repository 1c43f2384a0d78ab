/*
 * test_http_chunk.c — src/http/chunk.c: a chunked body's framing, scanned
 * as it arrives (RFC 9112 §7.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_private.h"

/* Scans text in pieces of step bytes; the result of the last call. */
static int scan(const char *text, size_t step, size_t *used)
{
	struct http_chunk_scan s = {.limit = 1000};
	size_t len = strlen(text), at = 0, n = 0;
	const char *why = NULL;
	int rc = 0;

	while (at < len && rc == 0) {
		size_t piece = len - at < step ? len - at : step;
		rc = http_chunk_scan(&s, (struct str){text + at, piece}, &n, &why);
		at += n;
	}
	if (rc > 1)
		assert_non_null(why);
	*used = at;
	return rc;
}

static void test_body_ends_after_last_chunk_and_trailer(void **state)
{
	const char *b = "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n";
	size_t used;
	(void)state;
	for (size_t step = 1; step <= strlen(b); step++) {
		assert_int_equal(scan(b, step, &used), 1);
		assert_int_equal(used, strlen(b) - strlen("GET / HTTP/1.1\r\n"));
	}
}

/* RFC 9112 §7.1.1: extensions are ignored, bare LF line ends read too. */
static void test_chunk_extensions_and_bare_lf_accepted(void **state)
{
	size_t used;
	(void)state;
	assert_int_equal(scan("e;foo=bar\r\n0123456789abcd\r\n0\r\n\r\n", 3, &used), 1);
	assert_int_equal(scan("3 ; a=\"b\"\nabc\n0\n\n", 2, &used), 1);
	assert_int_equal(scan("3\r\nab", 100, &used), 0); /* more to come */
}

static void test_bad_chunk_sizes_refused(void **state)
{
	size_t used;
	(void)state;
	assert_int_equal(scan("zz\r\n", 4, &used), 400);
	assert_int_equal(scan("-5\r\n", 4, &used), 400);
	assert_int_equal(scan(";e\r\n", 4, &used), 400);
	assert_int_equal(scan("\r\n", 4, &used), 400);
	assert_int_equal(scan("11111111111111111111\r\n", 5, &used), 400);
	assert_int_equal(scan("3x\r\n", 4, &used), 400);
	assert_int_equal(scan("3\r\nabcX\r\n", 4, &used), 400);
}

static void test_chunk_over_the_limit_is_413(void **state)
{
	size_t used;
	(void)state;
	assert_int_equal(scan("3e8\r\n", 5, &used), 413);	     /* 1000 */
	assert_int_equal(scan("3e7\r\n", 5, &used), 0);		     /* 999 */
	assert_int_equal(scan("0000000000000010\r\n", 5, &used), 0); /* 16 digits */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_ends_after_last_chunk_and_trailer),
	    cmocka_unit_test(test_chunk_extensions_and_bare_lf_accepted),
	    cmocka_unit_test(test_bad_chunk_sizes_refused),
	    cmocka_unit_test(test_chunk_over_the_limit_is_413),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
