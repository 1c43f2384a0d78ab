/*
 * test_export_backoff.c — src/export/backoff.c: the wait doubles per
 * failure in a row from the base, stops at the maximum, lies between half
 * of that and all of it by the random part, and starts over after a reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "export/export_private.h"

static void test_doubles_up_to_max_with_least_jitter(void **state)
{
	struct export_backoff b = {.base_ms = 100, .max_ms = 1000};
	static const int64_t want[] = {50, 100, 200, 400, 500, 500, 500};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(export_backoff_next(&b, 0), want[i]);
	assert_int_equal(b.failures, 7);
}

static void test_most_jitter_reaches_the_full_wait(void **state)
{
	struct export_backoff b = {.base_ms = 100, .max_ms = 1000};
	static const int64_t want[] = {100, 200, 400, 800, 1000, 1000};

	/* rnd % (d/2 + 1) == d/2 for these rnd */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int64_t d = want[i];
		assert_int_equal(export_backoff_next(&b, (uint32_t)(d / 2)), d);
	}
}

static void test_always_within_half_and_full(void **state)
{
	struct export_backoff b = {.base_ms = 500, .max_ms = 60000};
	uint32_t rnd = 12345;

	for (int i = 0; i < 200; i++) {
		int64_t full = 500;
		for (unsigned k = 0; k < b.failures && full < 60000; k++)
			full *= 2;
		full = full > 60000 ? 60000 : full;
		rnd = rnd * 1103515245u + 12345u;
		int64_t d = export_backoff_next(&b, rnd);
		assert_true(d >= full / 2 && d <= full);
	}
}

static void test_reset_starts_over(void **state)
{
	struct export_backoff b = {.base_ms = 100, .max_ms = 1000};

	export_backoff_next(&b, 0);
	export_backoff_next(&b, 0);
	export_backoff_reset(&b);
	assert_int_equal(export_backoff_next(&b, 0), 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_doubles_up_to_max_with_least_jitter),
	    cmocka_unit_test(test_most_jitter_reaches_the_full_wait),
	    cmocka_unit_test(test_always_within_half_and_full),
	    cmocka_unit_test(test_reset_starts_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
