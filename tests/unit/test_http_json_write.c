/*
 * test_http_json_write.c — src/http/json_write.c: the reply text is what
 * json_dumps(JSON_COMPACT) writes, so clients see the same bytes as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "http/http_private.h"

/* Writes v and checks the text against jansson's compact dump. */
static void assert_same_as_jansson(json_t *v)
{
	struct buf b;
	char *want = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	buf_init(&b);
	assert_non_null(want);
	assert_int_equal(http_json_write(&b, v), 0);
	assert_string_equal(b.p, want);
	free(want);
	buf_fini(&b);
	json_decref(v);
}

static void test_object_members_in_insertion_order(void **state)
{
	(void)state;
	assert_same_as_jansson(json_pack("{s:s, s:i, s:b, s:n, s:b}", "zeta", "z", "alpha", 1,
					 "mid", 1, "none", "off", 0));
}

static void test_nested_arrays_and_objects(void **state)
{
	(void)state;
	assert_same_as_jansson(json_pack("{s:{s:[{s:s, s:i}, [], {}]}, s:[i, [i, [s]]]}", "data",
					 "acl", "cidr", "192.0.2.0/24", "port", 5060, "list", 1,
					 2, "deep"));
}

static void test_integer_extremes(void **state)
{
	(void)state;
	assert_same_as_jansson(json_pack("[I, I, I, I, I]", (json_int_t)0, (json_int_t)-7,
					 (json_int_t)1764057600123, (json_int_t)INT64_MAX,
					 (json_int_t)INT64_MIN));
}

static void test_strings_with_quotes_backslashes_and_utf8(void **state)
{
	(void)state;
	assert_same_as_jansson(json_pack("{s:s}", "name \"q\"", "a\\b/c \xc3\xa9t\xc3\xa9 \xe2\x82\xac\n\t\r"));
}

static void test_control_characters_escaped_as_unicode(void **state)
{
	struct buf b;
	json_t *v = json_stringn("a\x01" "b\0c", 5);
	(void)state;

	buf_init(&b);
	assert_int_equal(http_json_write(&b, v), 0);
	assert_string_equal(b.p, "\"a\\u0001b\\u0000c\"");
	json_t *back = json_loads(b.p, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	assert_true(json_equal(back, v));
	json_decref(back);
	json_decref(v);
	buf_fini(&b);
}

static void test_real_keeps_jansson_format(void **state)
{
	(void)state;
	assert_same_as_jansson(json_pack("[f, f, f]", 1.0, 0.1, -2.5e-300));
}

static void test_null_value_refused(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b);
	assert_true(http_json_write(&b, NULL) < 0);
	buf_fini(&b);
}

static void test_nesting_beyond_limit_refused(void **state)
{
	struct buf b;
	json_t *v = json_array();
	(void)state;

	for (int i = 0; i < 1000; i++)
		v = json_pack("[o]", v);
	buf_init(&b);
	assert_int_equal(http_json_write(&b, v), -ELOOP);
	buf_fini(&b);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object_members_in_insertion_order),
		cmocka_unit_test(test_nested_arrays_and_objects),
		cmocka_unit_test(test_integer_extremes),
		cmocka_unit_test(test_strings_with_quotes_backslashes_and_utf8),
		cmocka_unit_test(test_control_characters_escaped_as_unicode),
		cmocka_unit_test(test_real_keeps_jansson_format),
		cmocka_unit_test(test_null_value_refused),
		cmocka_unit_test(test_nesting_beyond_limit_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
