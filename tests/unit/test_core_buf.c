/* Tests for src/core/buf.c: growth, printf, JSON escaping, steal; and
 * src/core/time.c formatting and src/core/id.c hex. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static void test_buf_append_grows_and_terminates(void **state)
{
	struct buf b;
	char chunk[100];

	memset(chunk, 'x', sizeof(chunk));
	buf_init(&b);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 10000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[b.len], '\0');
	assert_int_equal(strspn(b.p, "x"), 10000);
	buf_fini(&b);
	assert_null(b.p);
}

static void test_buf_printf_appends(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_append_cstr(&b, "a=");
	assert_int_equal(buf_printf(&b, "%d,%s", 42, "z"), 0);
	buf_append_char(&b, '!');
	buf_append_str(&b, STR_LIT("end"));
	assert_string_equal(b.p, "a=42,z!end");
	assert_int_equal(b.len, strlen("a=42,z!end"));
	buf_fini(&b);
}

static void test_buf_printf_large_output(void **state)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(buf_printf(&b, "%5000d", 1), 0);
	assert_int_equal(b.len, 5000);
	assert_int_equal(b.p[4999], '1');
	buf_fini(&b);
}

static void test_buf_reset_keeps_storage(void **state)
{
	struct buf b;
	char *p;

	buf_init(&b);
	buf_append_cstr(&b, "hello");
	p = b.p;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	assert_ptr_equal(b.p, p);
	buf_fini(&b);
}

static void test_buf_json_escaping(void **state)
{
	struct buf b;
	const char in[] = "q\"b\\n\n\r\t\x01\x1f é";

	buf_init(&b);
	assert_int_equal(buf_append_json_escaped(&b, (struct str){in, sizeof(in) - 1}), 0);
	assert_string_equal(b.p, "q\\\"b\\\\n\\n\\r\\t\\u0001\\u001f é");
	buf_fini(&b);
}

static void test_buf_json_escaping_nul_byte(void **state)
{
	struct buf b;

	buf_init(&b);
	buf_append_json_escaped(&b, (struct str){"a\0b", 3});
	assert_string_equal(b.p, "a\\u0000b");
	buf_fini(&b);
}

static void test_buf_steal_empties(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b);
	assert_null(buf_steal(&b));
	buf_append_cstr(&b, "mine");
	s = buf_steal(&b);
	assert_string_equal(s, "mine");
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(s);
}

static void test_time_format_rfc3339(void **state)
{
	char out[32];

	assert_int_equal(time_format_rfc3339(1795591514123LL, out, sizeof(out)), 0);
	assert_string_equal(out, "2026-11-25T07:25:14.123Z");
	assert_int_equal(time_format_rfc3339(0, out, sizeof(out)), 0);
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	assert_int_equal(time_format_rfc3339(0, out, 10), -ENOSPC);
}

static void test_time_mono_advances(void **state)
{
	int64_t a = time_mono_us();
	int64_t b = time_mono_us();

	assert_true(b >= a);
	assert_true(time_wall_ms() > 1700000000000LL);
}

static void test_hex_encode_lowercase(void **state)
{
	char out[9];

	hex_encode("\x00\xab\x10\xff", 4, out);
	assert_string_equal(out, "00ab10ff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_append_grows_and_terminates),
	    cmocka_unit_test(test_buf_printf_appends),
	    cmocka_unit_test(test_buf_printf_large_output),
	    cmocka_unit_test(test_buf_reset_keeps_storage),
	    cmocka_unit_test(test_buf_json_escaping),
	    cmocka_unit_test(test_buf_json_escaping_nul_byte),
	    cmocka_unit_test(test_buf_steal_empties),
	    cmocka_unit_test(test_time_format_rfc3339),
	    cmocka_unit_test(test_time_mono_advances),
	    cmocka_unit_test(test_hex_encode_lowercase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
