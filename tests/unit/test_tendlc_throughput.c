/*
 * test_tendlc_throughput.c — throughput.c and the portability CSV of
 * csv.c: the US Pacific day's bounds on either side of both daylight-time
 * changes, a window letting its limit through and promising the rest to
 * later windows in order, the [tendlc] tables read (and refused when
 * malformed), "prefix,carrier" lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "tendlc/tendlc.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)

/* 2026-03-08 is the second Sunday of March, 2026-11-01 the first of
 * November; 2026-03-08T00:00Z is 1772928000000. */
#define MAR8_UTC 1772928000000LL
#define NOV1_UTC 1793491200000LL

static void test_pacific_day_in_standard_and_daylight_time(void **state)
{
	int64_t s, e;
	(void)state;
	/* 2026-01-15T12:00Z is 04:00 PST: the day began at 08:00Z. */
	tendlc_pacific_day(1768478400000LL, &s, &e);
	assert_int_equal(s, 1768478400000LL - 4 * HOUR);
	assert_int_equal(e, s + DAY);
	/* 2026-07-01T03:00Z is still June 30 in PDT (20:00): began 07:00Z. */
	tendlc_pacific_day(1782874800000LL, &s, &e);
	assert_int_equal(s, 1782874800000LL - 20 * HOUR);
	assert_int_equal(e, s + DAY);
}

static void test_pacific_days_of_the_changes_are_23_and_25_hours(void **state)
{
	int64_t s, e;
	(void)state;
	/* March 8 PST midnight = 08:00Z; the next midnight is PDT, 07:00Z. */
	tendlc_pacific_day(MAR8_UTC + 20 * HOUR, &s, &e);
	assert_int_equal(s, MAR8_UTC + 8 * HOUR);
	assert_int_equal(e, MAR8_UTC + DAY + 7 * HOUR);
	/* November 1 PDT midnight = 07:00Z; the next is PST, 08:00Z. */
	tendlc_pacific_day(NOV1_UTC + 12 * HOUR, &s, &e);
	assert_int_equal(s, NOV1_UTC + 7 * HOUR);
	assert_int_equal(e, NOV1_UTC + DAY + 8 * HOUR);
	/* One millisecond before a midnight belongs to the day before. */
	tendlc_pacific_day(NOV1_UTC + 7 * HOUR - 1, &s, &e);
	assert_int_equal(e, NOV1_UTC + 7 * HOUR);
}

static void test_window_lets_its_limit_through_and_promises_the_rest(void **state)
{
	struct tendlc_window w = {0};
	int64_t t = 1000000 * 60000LL + 5; /* 5 ms into a minute */
	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_true(tendlc_window_room(&w, 60000, 3, t));
		assert_int_equal(tendlc_window_take(&w, 60000, 3, t), 0);
	}
	assert_false(tendlc_window_room(&w, 60000, 3, t));
	int64_t next = t - 5 + 60000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(tendlc_window_take(&w, 60000, 3, t + 10), next);
	assert_int_equal(tendlc_window_take(&w, 60000, 3, t + 20), next + 60000);
	/* The next window: the ones promised to it take its slots. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(tendlc_window_take(&w, 60000, 3, next + 30), 0);
	assert_int_equal(tendlc_window_take(&w, 60000, 3, next + 40), next + 60000);
	assert_true(tendlc_window_room(&w, 60000, 3, next + 60000));
}

static void test_pacific_day_window_promises_midnight(void **state)
{
	struct tendlc_window w = {0};
	int64_t t = MAR8_UTC + 20 * HOUR;
	(void)state;
	assert_int_equal(tendlc_window_take(&w, TENDLC_WINDOW_PACIFIC_DAY, 1, t), 0);
	assert_int_equal(tendlc_window_take(&w, TENDLC_WINDOW_PACIFIC_DAY, 1, t),
			 MAR8_UTC + DAY + 7 * HOUR);
	assert_int_equal(tendlc_window_take(&w, TENDLC_WINDOW_PACIFIC_DAY, 1, t),
			 MAR8_UTC + 2 * DAY + 7 * HOUR);
}

static void test_limit_tables(void **state)
{
	struct tendlc_limits l;
	(void)state;
	assert_int_equal(
	    tendlc_limits_parse("A:4500, t:75,W:15", "25:10000,75:200000,0:2000", 60000, &l), 0);
	assert_int_equal(l.att_class['A' - 'A'], 4500);
	assert_int_equal(l.att_class['T' - 'A'], 75);
	assert_int_equal(l.att_class['B' - 'A'], 0);
	assert_int_equal(l.ntmobile, 3);
	assert_int_equal(l.tmobile[0].min_score, 75); /* highest first */
	assert_int_equal(l.tmobile[2].cap, 2000);
	assert_int_equal(tendlc_limits_parse("AB:1", "", 60000, &l), -1);
	assert_int_equal(tendlc_limits_parse("A:-1", "", 60000, &l), -1);
	assert_int_equal(tendlc_limits_parse("", "x:1", 60000, &l), -1);
	assert_int_equal(tendlc_limits_parse("", "", 0, &l), -1);
	assert_int_equal(tendlc_limits_parse("", "", 1000, &l), 0);
}

static void test_prefix_csv_lines(void **state)
{
	struct str in = STR_LIT("prefix,carrier\r\n1212555, ATT\n\n+1646,tmobile\n1917,sprint\n"
				"1,other,x\n16465550999,verizon");
	struct tendlc_prefix_row row;
	size_t line = 0;
	(void)state;
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_SKIP);
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_ROW);
	assert_true(str_eq_cstr(row.prefix, "1212555"));
	assert_int_equal(row.carrier, TENDLC_CARRIER_ATT);
	assert_int_equal(row.line, 2);
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_SKIP);
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_BAD); /* '+' */
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_BAD); /* sprint */
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_BAD); /* 3 fields */
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_ROW);
	assert_int_equal(row.carrier, TENDLC_CARRIER_VERIZON);
	assert_int_equal(tendlc_prefix_csv_next(&in, &line, &row), TENDLC_CSV_END);
	assert_string_equal(tendlc_carrier_name(TENDLC_CARRIER_TMOBILE), "tmobile");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pacific_day_in_standard_and_daylight_time),
	    cmocka_unit_test(test_pacific_days_of_the_changes_are_23_and_25_hours),
	    cmocka_unit_test(test_window_lets_its_limit_through_and_promises_the_rest),
	    cmocka_unit_test(test_pacific_day_window_promises_midnight),
	    cmocka_unit_test(test_limit_tables),
	    cmocka_unit_test(test_prefix_csv_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
