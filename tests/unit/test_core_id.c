/* Tests for src/core/id.c: id format, uniqueness and validation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

#define UNIQUE_N 10000

static void test_id_new_has_prefix_and_length(void **state)
{
	char id[ID_MAX];

	assert_int_equal(id_new("cus", id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 4 + ID_RANDOM_CHARS);
	assert_memory_equal(id, "cus_", 4);
	assert_int_equal(id_new("gw", id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 3 + ID_RANDOM_CHARS);
}

static void test_id_new_uses_lowercase_base32_alphabet(void **state)
{
	char id[ID_MAX];

	for (int i = 0; i < 200; i++) {
		assert_int_equal(id_new("msg", id, sizeof(id)), 0);
		assert_int_equal(strspn(id + 4, "abcdefghijklmnopqrstuvwxyz234567"),
				 ID_RANDOM_CHARS);
	}
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void test_id_new_unique_over_many(void **state)
{
	char(*ids)[ID_MAX] = calloc(UNIQUE_N, ID_MAX);

	assert_non_null(ids);
	for (int i = 0; i < UNIQUE_N; i++)
		assert_int_equal(id_new("cdr", ids[i], ID_MAX), 0);
	qsort(ids, UNIQUE_N, ID_MAX, cmp_ids);
	for (int i = 1; i < UNIQUE_N; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

static void test_id_new_refuses_bad_prefix_and_small_buffer(void **state)
{
	char id[ID_MAX];

	assert_int_equal(id_new("", id, sizeof(id)), -EINVAL);
	assert_int_equal(id_new("Cus", id, sizeof(id)), -EINVAL);
	assert_int_equal(id_new("cus_x", id, sizeof(id)), -EINVAL);
	assert_int_equal(id_new("cus", id, 20), -ENOSPC);
}

static void test_id_valid_accepts_fresh_ids(void **state)
{
	char id[ID_MAX];

	id_new("trk", id, sizeof(id));
	assert_true(id_valid(str_from_cstr(id), "trk"));
	assert_true(id_valid(str_from_cstr(id), NULL));
}

static void test_id_valid_rejects_wrong_prefix(void **state)
{
	char id[ID_MAX];

	id_new("trk", id, sizeof(id));
	assert_false(id_valid(str_from_cstr(id), "cus"));
	assert_false(id_valid(str_from_cstr(id), "tr"));
}

static void test_id_valid_rejects_wrong_length(void **state)
{
	assert_false(id_valid(STR_LIT("cus_abcdefghijklmnopqrstuvwxy"), "cus"));   /* 25 */
	assert_false(id_valid(STR_LIT("cus_abcdefghijklmnopqrstuvwxyza"), "cus")); /* 27 */
	assert_true(id_valid(STR_LIT("cus_abcdefghijklmnopqrstuvwxyz"), "cus"));
	assert_false(id_valid(STR_NULL, NULL));
}

static void test_id_valid_rejects_bad_chars(void **state)
{
	assert_false(id_valid(STR_LIT("cus_abcdefghijklmnopqrstuvwx0z"), "cus")); /* 0 */
	assert_false(id_valid(STR_LIT("cus_abcdefghijklmnopqrstuvwx8z"), "cus")); /* 8 */
	assert_false(id_valid(STR_LIT("cus_Abcdefghijklmnopqrstuvwxyz"), "cus"));
	assert_false(id_valid(STR_LIT("cus-abcdefghijklmnopqrstuvwxyz"), "cus"));
	assert_false(id_valid(STR_LIT("_abcdefghijklmnopqrstuvwxyzab"), NULL));
}

static void test_random_bytes_fills(void **state)
{
	unsigned char a[32] = {0}, b[32] = {0};

	assert_int_equal(random_bytes(a, sizeof(a)), 0);
	assert_int_equal(random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_new_has_prefix_and_length),
	    cmocka_unit_test(test_id_new_uses_lowercase_base32_alphabet),
	    cmocka_unit_test(test_id_new_unique_over_many),
	    cmocka_unit_test(test_id_new_refuses_bad_prefix_and_small_buffer),
	    cmocka_unit_test(test_id_valid_accepts_fresh_ids),
	    cmocka_unit_test(test_id_valid_rejects_wrong_prefix),
	    cmocka_unit_test(test_id_valid_rejects_wrong_length),
	    cmocka_unit_test(test_id_valid_rejects_bad_chars),
	    cmocka_unit_test(test_random_bytes_fills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
