/*
 * test_invoice_period.c — src/invoice/period.c and the rounding of
 * compute.c: months in UTC with their exact bounds (leap years, December),
 * what a period is not, and lines rounded half away from zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "invoice/invoice_private.h"

static void test_months_and_their_bounds(void **state)
{
	struct invoice_period p;
	char day[16], label[16];
	(void)state;
	assert_int_equal(invoice_period_parse("2026-11", &p), 0);
	assert_true(p.start_ms == 1793491200000LL && p.end_ms == 1796083200000LL);
	assert_string_equal(p.name, "2026-11");
	invoice_period_last_day(&p, day, sizeof(day));
	invoice_period_label(&p, label, sizeof(label));
	assert_string_equal(day, "2026-11-30");
	assert_string_equal(label, "Nov 2026");
	assert_int_equal(invoice_period_parse("2026-12", &p), 0);
	assert_true(p.end_ms == 1798761600000LL); /* 2027-01-01 */
	assert_int_equal(invoice_period_parse("2028-02", &p), 0);
	invoice_period_last_day(&p, day, sizeof(day));
	assert_string_equal(day, "2028-02-29");
	assert_int_equal(invoice_period_parse("2100-02", &p), 0);
	invoice_period_last_day(&p, day, sizeof(day));
	assert_string_equal(day, "2100-02-28");
	assert_int_equal(invoice_period_parse("2000-02", &p), 0);
	invoice_period_last_day(&p, day, sizeof(day));
	assert_string_equal(day, "2000-02-29");
}

static void test_what_a_period_is_not(void **state)
{
	static const char *const bad[] = {"2026-13", "2026-00",	   "2026-1",  "26-11",
					  "2026/11", "2026-11-01", "1999-12", "-026-11",
					  "2026-+1", "",	   "abcd-ef", "2026- 1"};
	struct invoice_period p;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(invoice_period_parse(bad[i], &p), INVOICE_EPERIOD);
	assert_int_equal(invoice_period_parse(NULL, &p), INVOICE_EPERIOD);
}

static void test_rounding_half_away_from_zero(void **state)
{
	(void)state;
	assert_true(invoice_round(2005000, 2) == 2010000);
	assert_true(invoice_round(2004999, 2) == 2000000);
	assert_true(invoice_round(-2005000, 2) == -2010000);
	assert_true(invoice_round(333333, 2) == 330000);
	assert_true(invoice_round(4000, 2) == 0);
	assert_true(invoice_round(1500000, 0) == 2000000); /* JPY */
	assert_true(invoice_round(1234567, 3) == 1235000); /* KWD */
	assert_true(invoice_round(1234567, 6) == 1234567);
}

static void test_text_is_cut_on_a_character_boundary(void **state)
{
	char in[INVOICE_TEXT_MAX + 8], out[INVOICE_TEXT_MAX + 1];
	(void)state;
	memset(in, 'a', INVOICE_TEXT_MAX - 1);
	memcpy(in + INVOICE_TEXT_MAX - 1, "\xe2\x98\x83z", 5); /* a snowman across the limit */
	invoice_text_copy(out, in);
	assert_int_equal(strlen(out), INVOICE_TEXT_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_months_and_their_bounds),
	    cmocka_unit_test(test_what_a_period_is_not),
	    cmocka_unit_test(test_rounding_half_away_from_zero),
	    cmocka_unit_test(test_text_is_cut_on_a_character_boundary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
