/*
 * test_billing_rate_record.c — src/billing/rate_record.c: one CDR or
 * message priced against a snapshot, with the sell price, buy cost and
 * margin computed here by hand; the quarantine reasons of each side; a
 * record that owes nothing rated at 0 without a rate; SMS per segment; a
 * trunk's deck over its customer's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "billing/billing.h"

static struct billing_rate row(const char *prefix, enum billing_service svc, int64_t rate,
			       int64_t fee, int32_t initial, int32_t inc, int32_t min)
{
	struct billing_rate r = {.service = svc,
				 .rate = rate,
				 .connection_fee = fee,
				 .initial_s = initial,
				 .increment_s = inc,
				 .min_duration_s = min,
				 .zone = "UK",
				 .destination = "United Kingdom"};
	snprintf(r.prefix, sizeof(r.prefix), "%s", prefix);
	return r;
}

static struct billing_deck *deck(const char *id, const char *currency, bool buy,
				 const struct billing_rate *rows, size_t n)
{
	struct billing_deck_meta m = {.number = 3, .activate_at = 0, .buy = buy};
	struct billing_deck *d = NULL;

	snprintf(m.deck_id, sizeof(m.deck_id), "%s", id);
	snprintf(m.version_id, sizeof(m.version_id), "%s-v3", id);
	snprintf(m.currency, sizeof(m.currency), "%s", currency);
	assert_int_equal(billing_deck_new(&m, rows, n, &d, NULL), 0);
	return d;
}

/* sell "S" (USD): 44 at 0.0125/min 60/60, 447 at 0.021/min 6/6 with a fee
 * of 0.01 and 10 s minimum, SMS 44 at 0.004; trunk deck "T": 44 at 0.1;
 * sell "E" in EUR; buy "B" (USD): 447 at 0.015/min 1/1, SMS 44 at 0.0025. */
static struct billing_rating *snapshot(void)
{
	const struct billing_rate s[] = {
	    row("44", BILLING_VOICE, 12500, 0, 60, 60, 0),
	    row("447", BILLING_VOICE, 21000, 10000, 6, 6, 10),
	    row("44", BILLING_SMS, 4000, 0, 1, 1, 0),
	};
	const struct billing_rate t[] = {row("44", BILLING_VOICE, 100000, 0, 1, 1, 0)};
	const struct billing_rate b[] = {
	    row("447", BILLING_VOICE, 15000, 0, 1, 1, 0),
	    row("44", BILLING_SMS, 2500, 0, 1, 1, 0),
	};
	struct billing_deck *d[] = {deck("S", "USD", false, s, 3), deck("T", "USD", false, t, 1),
				    deck("E", "EUR", false, t, 1), deck("B", "USD", true, b, 2)};
	const struct billing_customer cu[] = {
	    {.id = "cus_a", .currency = "USD", .sell_deck_id = "S"},
	    {.id = "cus_e", .currency = "USD", .sell_deck_id = "E"},
	};
	const struct billing_trunk tr[] = {
	    {.id = "trk_t", .customer_id = "cus_a", .sell_deck_id = "T"}};
	const struct billing_carrier ca[] = {{.id = "car_b", .buy_deck_id = "B"},
					     {.id = "car_none", .buy_deck_id = ""}};
	const struct billing_parties p = {cu, 2, tr, 1, ca, 2};
	struct billing_rating *r = NULL;

	assert_int_equal(billing_rating_new(d, 4, &p, &r), 0);
	for (size_t i = 0; i < 4; i++)
		billing_deck_unref(d[i]);
	return r;
}

static struct billing_record call(const char *number, int64_t duration_ms)
{
	return (struct billing_record){.svc = BILLING_VOICE,
				       .customer_id = STR_LIT("cus_a"),
				       .trunk_id = STR_LIT("trk_other"),
				       .carrier_id = STR_LIT("car_b"),
				       .number = str_from_cstr(number),
				       .t_ms = 1000,
				       .billable = duration_ms > 0,
				       .duration_ms = duration_ms};
}

static void test_call_priced_by_hand(void **state)
{
	struct billing_rating *r = snapshot();
	struct billing_record in = call("+447700900123", 61500);
	struct billing_rated out;
	(void)state;

	assert_int_equal(billing_rate_record(r, &in, &out), BILLING_RECORD_RATED);
	/* 61.5 s is 62 s; 6/6 bills 66 s: 0.01 + 0.021 * 66 / 60 = 0.0331 */
	assert_int_equal(out.billable_s, 66);
	assert_int_equal(out.sell, 33100);
	/* buy 1/1: 0.015 * 62 / 60 = 0.0155 */
	assert_int_equal(out.buy, 15500);
	assert_true(out.has_margin);
	assert_int_equal(out.margin, 17600);
	assert_string_equal(out.currency, "USD");
	assert_string_equal(out.prefix, "447");
	assert_string_equal(out.zone, "UK");
	assert_string_equal(out.sell_deck.deck_id, "S");
	assert_int_equal(out.sell_deck.number, 3);
	assert_string_equal(out.buy_deck.version_id, "B-v3");
	billing_rating_unref(r);
}

static void test_unanswered_owes_nothing_even_without_rate(void **state)
{
	struct billing_rating *r = snapshot();
	struct billing_record in = call("33123456", 0);
	struct billing_rated out;
	(void)state;

	in.carrier_id = STR_NULL;
	assert_int_equal(billing_rate_record(r, &in, &out), BILLING_RECORD_RATED);
	assert_int_equal(out.sell, 0);
	assert_int_equal(out.buy, 0);
	assert_string_equal(out.zone, "");
	in.number = STR_LIT("4420");
	assert_int_equal(billing_rate_record(r, &in, &out), BILLING_RECORD_RATED);
	assert_string_equal(out.zone, "UK"); /* filled when the deck has a row */
	billing_rating_unref(r);
}

static void expect_quarantine(struct billing_rating *r, const struct billing_record *in,
			      const char *side, const char *reason)
{
	struct billing_rated out;

	assert_int_equal(billing_rate_record(r, in, &out), BILLING_RECORD_QUARANTINED);
	assert_string_equal(out.side, side);
	assert_string_equal(out.reason, reason);
}

static void test_quarantine_reasons(void **state)
{
	struct billing_rating *r = snapshot();
	struct billing_record in = call("33123456", 1000);
	(void)state;

	expect_quarantine(r, &in, "sell", "no_rate");
	in = call("4420", 1000); /* the sell side has 44, the buy side only 447 */
	expect_quarantine(r, &in, "buy", "no_rate");
	in = call("447700", 1000);
	in.carrier_id = STR_NULL;
	expect_quarantine(r, &in, "buy", "no_carrier");
	in.carrier_id = STR_LIT("car_gone");
	expect_quarantine(r, &in, "buy", "no_party");
	in.carrier_id = STR_LIT("car_none");
	expect_quarantine(r, &in, "buy", "no_deck");
	in = call("447700", 1000);
	in.customer_id = STR_LIT("cus_e");
	expect_quarantine(r, &in, "sell", "currency_mismatch");
	in.customer_id = STR_LIT("cus_gone");
	expect_quarantine(r, &in, "sell", "no_party");
	billing_rating_unref(r);
}

static void test_sms_per_segment(void **state)
{
	struct billing_rating *r = snapshot();
	struct billing_record in = {.svc = BILLING_SMS,
				    .customer_id = STR_LIT("cus_a"),
				    .carrier_id = STR_LIT("car_b"),
				    .number = STR_LIT("447700900123"),
				    .t_ms = 5,
				    .billable = true,
				    .segments = 3};
	struct billing_rated out;
	(void)state;

	assert_int_equal(billing_rate_record(r, &in, &out), BILLING_RECORD_RATED);
	assert_int_equal(out.sell, 12000);
	assert_int_equal(out.buy, 7500);
	assert_int_equal(out.margin, 4500);
	billing_rating_unref(r);
}

static void test_trunk_deck_over_customer(void **state)
{
	struct billing_rating *r = snapshot();
	struct billing_record in = call("447700900123", 30000);
	struct billing_rated out;
	(void)state;

	in.trunk_id = STR_LIT("trk_t");
	assert_int_equal(billing_rate_record(r, &in, &out), BILLING_RECORD_RATED);
	assert_string_equal(out.sell_deck.deck_id, "T");
	assert_int_equal(out.sell, 50000); /* 0.1 * 30 / 60 */
	assert_int_equal(out.buy, 7500);
	billing_rating_unref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_priced_by_hand),
	    cmocka_unit_test(test_unanswered_owes_nothing_even_without_rate),
	    cmocka_unit_test(test_quarantine_reasons),
	    cmocka_unit_test(test_sms_per_segment),
	    cmocka_unit_test(test_trunk_deck_over_customer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
