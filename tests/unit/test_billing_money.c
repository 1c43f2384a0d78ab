/*
 * test_billing_money.c — src/billing/money.c: decimal text to micro-units
 * exactly (no float on the way), every error kind, and formatting back with
 * a currency's decimals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "billing/billing.h"

static int parse(const char *s, bool neg, int64_t *v)
{
	return billing_money_parse((struct str){ s, strlen(s) }, neg, v);
}

static void test_parse_exact(void **state)
{
	static const struct {
		const char *in;
		int64_t micro;
	} cases[] = {
		{ "0", 0 },		{ "0.0125", 12500 },	  { "0.01250000", 12500 },
		{ " 1.2 ", 1200000 },	{ "12.", 12000000 },	  { ".5", 500000 },
		{ "0.000001", 1 },	{ "0.000003", 3 },	  { "+7", 7000000 },
		{ "-3", -3000000 },	{ "-0.000001", -1 },	  { "9223372036854", 9223372036854000000 },
		{ "100000.999999", 100000999999 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -42;
		assert_int_equal(parse(cases[i].in, true, &v), 0);
		assert_true(v == cases[i].micro);
	}
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *in;
		int err;
	} cases[] = {
		{ "", BILLING_MONEY_EMPTY },
		{ "   ", BILLING_MONEY_EMPTY },
		{ ".", BILLING_MONEY_SYNTAX },
		{ "+", BILLING_MONEY_SYNTAX },
		{ "-", BILLING_MONEY_NEGATIVE },
		{ "1,5", BILLING_MONEY_SYNTAX },
		{ "1.2.3", BILLING_MONEY_SYNTAX },
		{ "1e3", BILLING_MONEY_SYNTAX },
		{ "0x10", BILLING_MONEY_SYNTAX },
		{ "1 2", BILLING_MONEY_SYNTAX },
		{ "0.0000001", BILLING_MONEY_PRECISION },
		{ "0.1234567", BILLING_MONEY_PRECISION },
		{ "9223372036855", BILLING_MONEY_RANGE },
		{ "9223372036854.9", BILLING_MONEY_RANGE }, /* past INT64_MAX micro-units */
		{ "99999999999999999999", BILLING_MONEY_RANGE },
		{ "-1", BILLING_MONEY_NEGATIVE },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -42;
		assert_int_equal(parse(cases[i].in, false, &v), cases[i].err);
		assert_true(v == -42);
		assert_non_null(billing_money_strerror(cases[i].err));
	}
}

static void test_format(void **state)
{
	static const struct {
		int64_t micro;
		int decimals;
		const char *out;
	} cases[] = {
		{ 12345679, 2, "12.35" }, { 12344999, 2, "12.34" }, { 12500, 6, "0.012500" },
		{ -12345679, 2, "-12.35" }, { -4999, 2, "0.00" },   { 5000, 2, "0.01" },
		{ 1500000, 0, "2" },	    { 0, 3, "0.000" },	    { INT64_MIN, 6, "-9223372036854.775808" },
	};
	char buf[BILLING_MONEY_BUF];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = billing_money_format(cases[i].micro, cases[i].decimals, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(cases[i].out));
		assert_string_equal(buf, cases[i].out);
	}
	assert_int_equal(billing_money_format(1, 7, buf, sizeof(buf)), -1);
	assert_int_equal(billing_money_format(1, -1, buf, sizeof(buf)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_exact),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
