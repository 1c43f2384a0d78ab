/*
 * test_export_files.c — src/export/files.c: the period a row's time falls
 * in (hour or day, UTC) and its name in the load file's name, at the
 * edges: the first and last millisecond of a period, before 1970, a leap
 * day.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "export/export_private.h"

static void period_is(enum export_period p, int64_t ts, int64_t start, int64_t end,
		      const char *name)
{
	int64_t s, e;
	char n[16];

	export_period_of(p, ts, &s, &e, n, sizeof(n));
	assert_int_equal(s, start);
	assert_int_equal(e, end);
	assert_string_equal(n, name);
}

static void test_hours(void **state)
{
	/* 2023-11-14T22:13:20.123Z */
	period_is(EXPORT_PERIOD_HOUR, 1700000000123LL, 1699999200000LL, 1700002800000LL,
		  "2023111422");
	period_is(EXPORT_PERIOD_HOUR, 1699999200000LL, 1699999200000LL, 1700002800000LL,
		  "2023111422");
	period_is(EXPORT_PERIOD_HOUR, 1700002799999LL, 1699999200000LL, 1700002800000LL,
		  "2023111422");
	period_is(EXPORT_PERIOD_HOUR, 0, 0, 3600000, "1970010100");
	period_is(EXPORT_PERIOD_HOUR, -1, -3600000, 0, "1969123123");
}

static void test_days(void **state)
{
	period_is(EXPORT_PERIOD_DAY, 951825600000LL /* 2000-02-29T12:00 */, 951782400000LL,
		  951868800000LL, "20000229");
	period_is(EXPORT_PERIOD_DAY, 951868799999LL, 951782400000LL, 951868800000LL, "20000229");
	period_is(EXPORT_PERIOD_DAY, -86400000, -86400000, 0, "19691231");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hours),
	    cmocka_unit_test(test_days),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
