/*
 * test_billing_deck_csv.c — src/billing/deck_csv.c, deck_row.c and
 * deck_time.c: RFC 4180 reading (quotes, "" escapes, CRLF, BOM, a record
 * spanning lines), header aliases in any order, fields into micro-units
 * and seconds, every error kind with its line and column, all errors of a
 * file in one answer, and overlapping windows refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/deck_private.h"

static int parse(const char *csv, struct billing_csv *d)
{
	return billing_csv_parse((struct str){csv, strlen(csv)}, d);
}

/* The deck must fail with exactly one error, of kind at line and column. */
static void expect_one_error(const char *csv, enum billing_csv_err kind, uint32_t line,
			     uint32_t column)
{
	struct billing_csv d;

	assert_int_equal(parse(csv, &d), -EINVAL);
	if (d.nerrors != 1)
		fail_msg("%zu errors for %s (first: %s)", d.nerrors, csv,
			 d.nerrors ? d.errors[0].detail : "");
	assert_int_equal(d.errors[0].kind, kind);
	assert_int_equal(d.errors[0].line, line);
	assert_int_equal(d.errors[0].column, column);
	assert_int_equal(d.nrows, 0);
	billing_csv_fini(&d);
}

static void test_simple_deck(void **state)
{
	struct billing_csv d;
	(void)state;

	assert_int_equal(parse("prefix,destination,rate\n"
			       "44,United Kingdom,0.0125\n"
			       "1,USA,0.005\n",
			       &d),
			 0);
	assert_int_equal(d.nrows, 2);
	/* Sorted by prefix. */
	assert_string_equal(d.rows[0].rate.prefix, "1");
	assert_true(d.rows[0].rate.rate == 5000);
	assert_int_equal(d.rows[0].line, 3);
	assert_string_equal(d.rows[1].rate.prefix, "44");
	assert_true(d.rows[1].rate.rate == 12500);
	assert_true(str_eq_cstr(d.rows[1].destination, "United Kingdom"));
	assert_int_equal(d.rows[1].rate.initial_s, 60);
	assert_int_equal(d.rows[1].rate.increment_s, 60);
	assert_int_equal(d.rows[1].rate.service, BILLING_VOICE);
	assert_true(d.rows[1].rate.effective_from == 0 && d.rows[1].rate.effective_to == 0);
	billing_csv_fini(&d);
}

static void test_aliases_any_order_crlf_bom(void **state)
{
	struct billing_csv d;
	(void)state;

	assert_int_equal(parse("\xEF\xBB\xBF"
			       "Rate (USD),Increments,Dial Code,Description,Zone,Setup-Fee,"
			       "Min Duration,Effective Date,Notes\r\n"
			       "0.010000,30/6,+4420,\"London, \"\"City\"\"\",Z1,0.1,10,"
			       "2026-12-01,anything\r\n",
			       &d),
			 0);
	assert_int_equal(d.nrows, 1);
	const struct billing_csv_row *r = &d.rows[0];
	assert_string_equal(r->rate.prefix, "4420");
	assert_true(r->rate.rate == 10000);
	assert_int_equal(r->rate.initial_s, 30);
	assert_int_equal(r->rate.increment_s, 6);
	assert_true(r->rate.connection_fee == 100000);
	assert_int_equal(r->rate.min_duration_s, 10);
	assert_true(r->rate.effective_from == 1796083200000); /* 2026-12-01T00:00:00Z */
	assert_true(str_eq_cstr(r->destination, "London, \"City\""));
	assert_true(str_eq_cstr(r->zone, "Z1"));
	billing_csv_fini(&d);
}

/* Spreadsheets export the empty rows under a table as ",,,"; they are
 * skipped like blank lines, and line numbers still count them. */
static void test_empty_rows_are_skipped(void **state)
{
	struct billing_csv d;
	(void)state;

	assert_int_equal(parse("prefix,rate,destination\n44,0.1,UK\n,,\n \n\n1,0.2,US\n,,\n", &d),
			 0);
	assert_int_equal(d.nrows, 2);
	assert_int_equal(d.rows[0].line, 6);
	billing_csv_fini(&d);
}

static void test_initial_subsequent_columns_and_sms(void **state)
{
	struct billing_csv d;
	(void)state;

	assert_int_equal(parse("code,price,initial_increment,subsequent_increment,service\n"
			       "49,0.02,1,1,voice\n"
			       "49,0.04,,,SMS\n"
			       "33,0.03,6,,voice\n",
			       &d),
			 0);
	assert_int_equal(d.nrows, 3);
	assert_string_equal(d.rows[0].rate.prefix, "33");
	assert_int_equal(d.rows[0].rate.initial_s, 6);
	assert_int_equal(d.rows[0].rate.increment_s, 60);
	assert_int_equal(d.rows[1].rate.service, BILLING_VOICE);
	assert_int_equal(d.rows[1].rate.initial_s, 1);
	assert_int_equal(d.rows[2].rate.service, BILLING_SMS);
	assert_true(d.rows[2].rate.rate == 40000);
	billing_csv_fini(&d);
}

/* A quoted field may hold a line break; the next record's line counts it. */
static void test_quoted_newline_keeps_line_numbers(void **state)
{
	(void)state;
	expect_one_error("prefix,notes,rate\n"
			 "44,\"two\nlines\",0.1\n"
			 "\n"
			 "45,x,abc\n",
			 BILLING_CSV_MONEY, 5, 3);
}

static void test_windows_and_dates(void **state)
{
	struct billing_csv d;
	int64_t ms = 0;
	(void)state;

	assert_int_equal(billing_csv_time_parse(STR_LIT("1970-01-02"), &ms), 0);
	assert_true(ms == 86400000);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2024-02-29 12:30"), &ms), 0);
	assert_true(ms == 1709209800000);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2024-02-29T13:30:00.5+01:00"), &ms), 0);
	assert_true(ms == 1709209800500);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2026-12-01T00:00:00Z"), &ms), 0);
	assert_true(ms == 1796083200000);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2023-02-29"), &ms), -EINVAL);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2026-13-01"), &ms), -EINVAL);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2026-12-01T24:00"), &ms), -EINVAL);
	assert_int_equal(billing_csv_time_parse(STR_LIT("01/12/2026"), &ms), -EINVAL);
	assert_int_equal(billing_csv_time_parse(STR_LIT("2026-12-01x"), &ms), -EINVAL);

	/* The same prefix in windows that follow each other is fine. */
	assert_int_equal(parse("prefix,rate,effective_from,effective_to\n"
			       "44,0.1,2026-01-01,2026-02-01\n"
			       "44,0.2,2026-02-01,\n",
			       &d),
			 0);
	assert_int_equal(d.nrows, 2);
	billing_csv_fini(&d);
}

/* ------------------------------------------------------ error kinds */

static void test_error_empty(void **state)
{
	(void)state;
	expect_one_error("", BILLING_CSV_EMPTY, 1, 0);
	expect_one_error("\r\n\n", BILLING_CSV_EMPTY, 1, 0);
}

static void test_error_quote(void **state)
{
	(void)state;
	expect_one_error("prefix,destination,rate\n44,\"open,0.1\n", BILLING_CSV_QUOTE, 2, 2);
	expect_one_error("prefix,destination,rate\n44,\"a\"b,0.1\n", BILLING_CSV_QUOTE, 2, 2);
}

static void test_error_header(void **state)
{
	(void)state;
	expect_one_error("prefix,code,rate\n44,44,0.1\n", BILLING_CSV_DUP_COLUMN, 1, 2);
	expect_one_error("prefix,increments,initial,rate\n44,60/60,6,0.1\n", BILLING_CSV_DUP_COLUMN,
			 1, 3);
	expect_one_error("prefix,destination\n44,x\n", BILLING_CSV_MISSING_COLUMN, 1, 0);
	expect_one_error("destination,rate\nx,0.1\n", BILLING_CSV_MISSING_COLUMN, 1, 0);
}

static void test_error_fields(void **state)
{
	(void)state;
	expect_one_error("prefix,rate\n44,0.1,extra\n", BILLING_CSV_FIELD_COUNT, 2, 0);
	expect_one_error("prefix,rate\n44\n", BILLING_CSV_FIELD_COUNT, 2, 0);
	expect_one_error("prefix,rate\n,0.1\n", BILLING_CSV_REQUIRED, 2, 1);
	expect_one_error("prefix,rate\n44,\n", BILLING_CSV_REQUIRED, 2, 2);
	expect_one_error("prefix,rate\n44,", BILLING_CSV_REQUIRED, 2, 2); /* no line end */
	expect_one_error("prefix,rate\n44a,0.1\n", BILLING_CSV_PREFIX, 2, 1);
	expect_one_error("prefix,rate\n+,0.1\n", BILLING_CSV_PREFIX, 2, 1);
	expect_one_error("prefix,rate\n1234567890123456789012345,0.1\n", BILLING_CSV_PREFIX, 2, 1);
	expect_one_error("prefix,rate\n44,0.1234567\n", BILLING_CSV_MONEY, 2, 2);
	expect_one_error("prefix,rate\n44,-0.1\n", BILLING_CSV_MONEY, 2, 2);
	expect_one_error("prefix,rate\n44,1e3\n", BILLING_CSV_MONEY, 2, 2);
	expect_one_error("prefix,rate,connection_fee\n44,0.1,9223372.036855\n", BILLING_CSV_MONEY,
			 2, 3);
	expect_one_error("prefix,rate,increments\n44,0.1,60-60\n", BILLING_CSV_INCREMENT, 2, 3);
	expect_one_error("prefix,rate,increments\n44,0.1,0/60\n", BILLING_CSV_INCREMENT, 2, 3);
	expect_one_error("prefix,rate,initial\n44,0.1,3601\n", BILLING_CSV_INCREMENT, 2, 3);
	expect_one_error("prefix,rate,min_duration\n44,0.1,-1\n", BILLING_CSV_DURATION, 2, 3);
	expect_one_error("prefix,rate,effective_from\n44,0.1,tomorrow\n", BILLING_CSV_DATE, 2, 3);
	expect_one_error("prefix,rate,effective_from,effective_to\n44,0.1,2026-02-01,2026-01-01\n",
			 BILLING_CSV_WINDOW, 2, 4);
	expect_one_error("prefix,rate,service\n44,0.1,fax\n", BILLING_CSV_SERVICE, 2, 3);
	expect_one_error("prefix,rate,destination\n44,0.1,\xC3\x28\n", BILLING_CSV_TEXT, 2, 3);
	expect_one_error("prefix,rate,destination\n44,0.1,a\x01z\n", BILLING_CSV_TEXT, 2, 3);
}

static void test_error_duplicates(void **state)
{
	(void)state;
	expect_one_error("prefix,rate\n44,0.1\n+44,0.2\n", BILLING_CSV_DUPLICATE, 3, 1);
	expect_one_error("rate,prefix,effective_from,effective_to\n"
			 "0.1,44,2026-01-01,2026-03-01\n"
			 "0.2,44,2026-02-01,\n",
			 BILLING_CSV_DUPLICATE, 3, 2);
	/* The same prefix for voice and for SMS is two prices, not one twice. */
	struct billing_csv d;
	assert_int_equal(parse("prefix,rate,service\n44,0.1,voice\n44,0.01,sms\n", &d), 0);
	billing_csv_fini(&d);
}

static void test_error_too_many_rows(void **state)
{
	size_t n = BILLING_CSV_ROWS_MAX + 1;
	char *csv = malloc(16 + n * 16), *p = csv;
	struct billing_csv d;
	(void)state;

	p += sprintf(p, "prefix,rate\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%zu,0.1\n", 10000000 + i);
	assert_int_equal(billing_csv_parse((struct str){csv, (size_t)(p - csv)}, &d), -EINVAL);
	assert_int_equal(d.nerrors, 1);
	assert_int_equal(d.errors[0].kind, BILLING_CSV_TOO_MANY_ROWS);
	assert_int_equal(d.errors[0].line, BILLING_CSV_ROWS_MAX + 2);
	billing_csv_fini(&d);
	free(csv);
}

/* Every bad row of a file in one answer, sorted, each named by line, column
 * and the header's own name for the column; no rows. */
static void test_all_errors_in_one_pass(void **state)
{
	struct billing_csv d;
	(void)state;

	assert_int_equal(parse("Dial Code,Price,Increments\n"
			       "44,0.1,60/60\n"
			       "4x,0.1,60/60\n"
			       "45,zero,60/60\n"
			       "46,0.1,6/\n"
			       "44,0.3,1/1\n",
			       &d),
			 -EINVAL);
	assert_int_equal(d.nrows, 0);
	assert_int_equal(d.nerrors, 4);
	assert_int_equal(d.errors[0].line, 3);
	assert_int_equal(d.errors[0].column, 1);
	assert_string_equal(d.errors[0].column_name, "Dial Code");
	assert_int_equal(d.errors[1].line, 4);
	assert_int_equal(d.errors[1].column, 2);
	assert_string_equal(d.errors[1].column_name, "Price");
	assert_string_equal(billing_csv_err_code(d.errors[1].kind), "invalid_amount");
	assert_int_equal(d.errors[2].line, 5);
	assert_int_equal(d.errors[2].kind, BILLING_CSV_INCREMENT);
	assert_int_equal(d.errors[3].line, 6);
	assert_int_equal(d.errors[3].kind, BILLING_CSV_DUPLICATE);
	assert_non_null(strstr(d.errors[3].detail, "line 2"));
	billing_csv_fini(&d);
}

/* Past BILLING_CSV_ERRORS_MAX errors are counted, not kept. */
static void test_errors_bounded(void **state)
{
	size_t n = BILLING_CSV_ERRORS_MAX + 500;
	char *csv = malloc(16 + n * 8), *p = csv;
	struct billing_csv d;
	(void)state;

	p += sprintf(p, "prefix,rate\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "x,0.1\n");
	assert_int_equal(billing_csv_parse((struct str){csv, (size_t)(p - csv)}, &d), -EINVAL);
	assert_int_equal(d.nerrors, BILLING_CSV_ERRORS_MAX);
	assert_int_equal(d.nerrors_total, n);
	billing_csv_fini(&d);
	free(csv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_deck),
	    cmocka_unit_test(test_aliases_any_order_crlf_bom),
	    cmocka_unit_test(test_empty_rows_are_skipped),
	    cmocka_unit_test(test_initial_subsequent_columns_and_sms),
	    cmocka_unit_test(test_quoted_newline_keeps_line_numbers),
	    cmocka_unit_test(test_windows_and_dates),
	    cmocka_unit_test(test_error_empty),
	    cmocka_unit_test(test_error_quote),
	    cmocka_unit_test(test_error_header),
	    cmocka_unit_test(test_error_fields),
	    cmocka_unit_test(test_error_duplicates),
	    cmocka_unit_test(test_error_too_many_rows),
	    cmocka_unit_test(test_all_errors_in_one_pass),
	    cmocka_unit_test(test_errors_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
