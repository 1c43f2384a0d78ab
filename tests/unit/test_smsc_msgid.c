/*
 * test_smsc_msgid.c — the ids of submitted messages (src/smsc/msgid.c):
 * well-formed ids of the usual length, ordered by their accept time,
 * different within one millisecond, and one getrandom refill for many.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smsc/smsc.h"
#include "smsc/smsc_private.h"

static struct smsc_idpool pool;

static void test_ids_are_well_formed(void **state)
{
	char id[ID_MAX];

	(void)state;
	assert_int_equal(smsc_msgid_new(&pool, 1796601600123, id, sizeof(id)), 0);
	assert_true(id_valid(str_from_cstr(id), "msg"));
	assert_int_equal(strlen(id), 4 + ID_RANDOM_CHARS);
}

/* strcmp order is time order, across the carries of every character. */
static void test_ids_sort_by_accept_time(void **state)
{
	const int64_t times[] = {
	    0, 1, 31, 32, 1023, 1024, 1796601600123, 1796601600124, 1796601632000, 4102444800000};
	char prev[ID_MAX], id[ID_MAX];

	(void)state;
	assert_int_equal(smsc_msgid_new(&pool, times[0], prev, sizeof(prev)), 0);
	for (size_t i = 1; i < sizeof(times) / sizeof(times[0]); i++) {
		assert_int_equal(smsc_msgid_new(&pool, times[i], id, sizeof(id)), 0);
		assert_true(strcmp(prev, id) < 0);
		memcpy(prev, id, sizeof(id));
	}
}

/* Ten thousand ids in one millisecond: the random part tells them apart
 * (a pool refilled many times on the way). */
static void test_ids_in_one_millisecond_differ(void **state)
{
	static char ids[10000][ID_MAX];

	(void)state;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(smsc_msgid_new(&pool, 1796601600123, ids[i], ID_MAX), 0);
	for (int i = 0; i < 10000; i++)
		for (int k = i + 1; k < 10000; k++)
			assert_true(strcmp(ids[i], ids[k]) != 0);
	assert_int_equal(memcmp(ids[0], ids[1], 4 + 10), 0); /* same time prefix */
}

static void test_short_buffer_is_refused(void **state)
{
	char id[ID_MAX];

	(void)state;
	assert_int_equal(smsc_msgid_new(&pool, 1, id, 4 + ID_RANDOM_CHARS), -ENOSPC);
	assert_int_equal(smsc_msgid_new(&pool, -1, id, sizeof(id)), -ENOSPC);
}

/* The poolless form HTTP sends use: the same ids, time-ordered too. */
static void test_message_id_new_sorts_like_the_pools(void **state)
{
	char a[ID_MAX], b[ID_MAX], c[ID_MAX];

	(void)state;
	assert_int_equal(smsc_message_id_new(1796601600123, a, sizeof(a)), 0);
	assert_int_equal(smsc_msgid_new(&pool, 1796601600124, b, sizeof(b)), 0);
	assert_int_equal(smsc_message_id_new(1796601600125, c, sizeof(c)), 0);
	assert_true(id_valid(str_from_cstr(a), "msg"));
	assert_int_equal(strlen(a), 4 + ID_RANDOM_CHARS);
	assert_true(strcmp(a, b) < 0 && strcmp(b, c) < 0);
	assert_int_equal(smsc_message_id_new(1, a, 4 + ID_RANDOM_CHARS), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids_are_well_formed),
	    cmocka_unit_test(test_ids_sort_by_accept_time),
	    cmocka_unit_test(test_ids_in_one_millisecond_differ),
	    cmocka_unit_test(test_short_buffer_is_refused),
	    cmocka_unit_test(test_message_id_new_sorts_like_the_pools),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
