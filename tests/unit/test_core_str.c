/* Tests for src/core/str.c: views, comparisons, trimming, conversions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static void test_str_from_cstr_null_is_empty(void **state)
{
	struct str s = str_from_cstr(NULL);

	assert_null(s.p);
	assert_int_equal(s.len, 0);
	assert_int_equal(str_from_cstr("abc").len, 3);
}

static void test_str_eq_compares_bytes_and_length(void **state)
{
	const char buf[] = "INVITE sip:x";
	struct str method = {buf, 6};

	assert_true(str_eq_cstr(method, "INVITE"));
	assert_false(str_eq_cstr(method, "INVIT"));
	assert_false(str_eq_cstr(method, "invite"));
	assert_true(str_caseeq_cstr(method, "invite"));
	assert_true(str_eq(STR_NULL, STR_LIT("")));
}

static void test_str_has_prefix(void **state)
{
	assert_true(str_has_prefix(STR_LIT("sip:alice"), STR_LIT("sip:")));
	assert_false(str_has_prefix(STR_LIT("si"), STR_LIT("sip:")));
	assert_true(str_has_prefix(STR_LIT("x"), STR_NULL));
}

static void test_str_trim_spaces_and_tabs_only(void **state)
{
	struct str t = str_trim(STR_LIT(" \t value \t"));

	assert_true(str_eq_cstr(t, "value"));
	assert_true(str_eq_cstr(str_trim(STR_LIT("a\r\n")), "a\r\n"));
	assert_int_equal(str_trim(STR_LIT("   ")).len, 0);
}

static void test_str_index_finds_first(void **state)
{
	assert_int_equal(str_index(STR_LIT("a:b:c"), ':'), 1);
	assert_int_equal(str_index(STR_LIT("abc"), ':'), -1);
	assert_int_equal(str_index(STR_NULL, ':'), -1);
}

static void test_str_to_i64_accepts_range_limits(void **state)
{
	int64_t v;

	assert_int_equal(str_to_i64(STR_LIT("9223372036854775807"), &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(str_to_i64(STR_LIT("-9223372036854775808"), &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(str_to_i64(STR_LIT("-42"), &v), 0);
	assert_true(v == -42);
}

static void test_str_to_i64_rejects_overflow_and_junk(void **state)
{
	int64_t v = 7;

	assert_int_equal(str_to_i64(STR_LIT("9223372036854775808"), &v), -ERANGE);
	assert_int_equal(str_to_i64(STR_LIT("-9223372036854775809"), &v), -ERANGE);
	assert_int_equal(str_to_i64(STR_LIT(""), &v), -EINVAL);
	assert_int_equal(str_to_i64(STR_LIT("-"), &v), -EINVAL);
	assert_int_equal(str_to_i64(STR_LIT("12a"), &v), -EINVAL);
	assert_int_equal(str_to_i64(STR_LIT(" 1"), &v), -EINVAL);
	assert_int_equal(str_to_i64(STR_LIT("+1"), &v), -EINVAL);
	assert_true(v == 7);
}

static void test_str_to_u64_limits(void **state)
{
	uint64_t v;

	assert_int_equal(str_to_u64(STR_LIT("18446744073709551615"), &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(str_to_u64(STR_LIT("18446744073709551616"), &v), -ERANGE);
	assert_int_equal(str_to_u64(STR_LIT("-1"), &v), -EINVAL);
}

static void test_str_to_i64_reads_only_the_view(void **state)
{
	const char buf[] = "1234";
	int64_t v;

	assert_int_equal(str_to_i64((struct str){buf, 2}, &v), 0);
	assert_true(v == 12);
}

static void test_str_dup_terminates(void **state)
{
	char *d = str_dup((struct str){"hello world", 5});

	assert_string_equal(d, "hello");
	free(d);
}

static void test_str_copy_reports_truncation(void **state)
{
	char out[4];

	assert_int_equal(str_copy(out, sizeof(out), STR_LIT("abc")), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(str_copy(out, sizeof(out), STR_LIT("abcd")), -ENOSPC);
	assert_string_equal(out, "abc");
}

/* Matches printf's %lld for the edges and a sweep around every power of ten. */
static void test_str_from_i64_matches_printf(void **state)
{
	const int64_t edges[] = { 0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
	char got[STR_I64_MAX], want[32];
	(void)state;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		struct str s = str_from_i64(edges[i], got);
		snprintf(want, sizeof(want), "%lld", (long long)edges[i]);
		assert_int_equal(s.len, strlen(want));
		assert_memory_equal(s.p, want, s.len);
		assert_int_equal(s.p[s.len], '\0');
	}
	for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10)
		for (int64_t d = -1; d <= 1; d++)
			for (int sign = -1; sign <= 1; sign += 2) {
				int64_t n = sign * (p + d);
				struct str s = str_from_i64(n, got);
				snprintf(want, sizeof(want), "%lld", (long long)n);
				assert_int_equal(s.len, strlen(want));
				assert_memory_equal(s.p, want, s.len);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_str_from_cstr_null_is_empty),
	    cmocka_unit_test(test_str_eq_compares_bytes_and_length),
	    cmocka_unit_test(test_str_has_prefix),
	    cmocka_unit_test(test_str_trim_spaces_and_tabs_only),
	    cmocka_unit_test(test_str_index_finds_first),
	    cmocka_unit_test(test_str_to_i64_accepts_range_limits),
	    cmocka_unit_test(test_str_to_i64_rejects_overflow_and_junk),
	    cmocka_unit_test(test_str_to_u64_limits),
	    cmocka_unit_test(test_str_to_i64_reads_only_the_view),
	    cmocka_unit_test(test_str_from_i64_matches_printf),
	    cmocka_unit_test(test_str_dup_terminates),
	    cmocka_unit_test(test_str_copy_reports_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
