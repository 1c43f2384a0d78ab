/*
 * test_billing_lcr.c — src/billing/lcr.c: the least-cost order of a
 * route's carriers (decision 0038) from candidates and their buy rates:
 * cheapest first, ties by priority then the route's order with one rank,
 * carriers without a rate, in another currency or under the minimum margin
 * left out with their reason, and the margin's edge computed by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "billing/billing.h"

static struct billing_lcr_candidate cand(size_t idx, int64_t prio, bool has, int64_t rate)
{
	return (struct billing_lcr_candidate){.idx = idx,
					      .priority = prio,
					      .weight = 1,
					      .has_rate = has,
					      .currency_ok = true,
					      .buy_rate = rate};
}

static void test_cheapest_first(void **state)
{
	(void)state;
	struct billing_lcr_candidate c[] = {cand(0, 0, true, 12000), cand(1, 5, true, 8000),
					    cand(2, 1, true, 10000)};

	assert_int_equal(billing_lcr_order(c, 3, NULL), 3);
	assert_int_equal(c[0].idx, 1);
	assert_int_equal(c[1].idx, 2);
	assert_int_equal(c[2].idx, 0);
	assert_int_equal(c[0].rank, 0);
	assert_int_equal(c[1].rank, 1);
	assert_int_equal(c[2].rank, 2);
}

/* Equal rates: priority decides; equal rate and priority share a rank (the
 * caller's weighted draw) and keep the route's order. */
static void test_ties(void **state)
{
	(void)state;
	struct billing_lcr_candidate c[] = {cand(0, 2, true, 9000), cand(1, 1, true, 9000),
					    cand(2, 1, true, 9000), cand(3, 0, true, 9500)};

	assert_int_equal(billing_lcr_order(c, 4, NULL), 4);
	assert_int_equal(c[0].idx, 1);
	assert_int_equal(c[1].idx, 2);
	assert_int_equal(c[2].idx, 0);
	assert_int_equal(c[3].idx, 3);
	assert_int_equal(c[0].rank, 0);
	assert_int_equal(c[1].rank, 0);
	assert_int_equal(c[2].rank, 1);
	assert_int_equal(c[3].rank, 2);
}

static void test_left_out(void **state)
{
	(void)state;
	struct billing_lcr_candidate c[] = {cand(0, 0, false, 0), cand(1, 0, true, 7000),
					    cand(2, 0, true, 5000), cand(3, 0, true, 6000)};

	c[2].currency_ok = false;
	assert_int_equal(billing_lcr_order(c, 4, NULL), 2);
	assert_int_equal(c[0].idx, 3);
	assert_int_equal(c[1].idx, 1);
	/* the left-out ones after, in their old order, with their reason */
	assert_int_equal(c[2].idx, 0);
	assert_int_equal(c[2].out, BILLING_LCR_NO_RATE);
	assert_int_equal(c[3].idx, 2);
	assert_int_equal(c[3].out, BILLING_LCR_CURRENCY);
	assert_int_equal(c[3].rank, -1);
	assert_string_equal(billing_lcr_out_reason(c[3].out), "currency_mismatch");
}

/* Sell 10000 at 20 % (2000 bps): a buy of at most 8000 keeps it.
 * 8000: (10000-8000)*10000 = 2e7 >= 10000*2000 = 2e7, kept on the edge;
 * 8001: 19990000 < 2e7, left out; 10500 (a loss) left out. */
static void test_margin_edge(void **state)
{
	(void)state;
	struct billing_lcr_margin m = {
	    .margin = true, .has_sell = true, .sell_rate = 10000, .min_margin_bps = 2000};
	struct billing_lcr_candidate c[] = {cand(0, 0, true, 8001), cand(1, 0, true, 8000),
					    cand(2, 0, true, 10500), cand(3, 0, true, 7000)};

	assert_int_equal(billing_lcr_order(c, 4, &m), 2);
	assert_int_equal(c[0].idx, 3);
	assert_int_equal(c[1].idx, 1);
	assert_int_equal(c[2].out, BILLING_LCR_MARGIN);
	assert_int_equal(c[3].out, BILLING_LCR_MARGIN);
	assert_string_equal(billing_lcr_out_reason(c[2].out), "margin");
}

/* A margin of 0 bps still refuses a loss; no sell rate shows no margin. */
static void test_margin_zero_and_no_sell(void **state)
{
	(void)state;
	struct billing_lcr_margin m = {.margin = true, .has_sell = true, .sell_rate = 5000};
	struct billing_lcr_candidate c[] = {cand(0, 0, true, 5000), cand(1, 0, true, 5001)};

	assert_int_equal(billing_lcr_order(c, 2, &m), 1);
	assert_int_equal(c[0].idx, 0);
	m.has_sell = false;
	assert_int_equal(billing_lcr_order(c, 2, &m), 0);
	assert_int_equal(c[0].out, BILLING_LCR_MARGIN);
	m.margin = false; /* no protection: both, cheapest first */
	assert_int_equal(billing_lcr_order(c, 2, &m), 2);
	assert_int_equal(c[0].rank, 0);
}

/* The largest rates the decks accept do not overflow the margin test. */
static void test_margin_large(void **state)
{
	(void)state;
	const int64_t big = (int64_t)9223372036854;
	struct billing_lcr_margin m = {
	    .margin = true, .has_sell = true, .sell_rate = big, .min_margin_bps = 10000};
	struct billing_lcr_candidate c[] = {cand(0, 0, true, 0), cand(1, 0, true, 1)};

	assert_int_equal(billing_lcr_order(c, 2, &m), 1);
	assert_int_equal(c[0].idx, 0);
	assert_int_equal(billing_lcr_order(c, 0, &m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cheapest_first),
	    cmocka_unit_test(test_ties),
	    cmocka_unit_test(test_left_out),
	    cmocka_unit_test(test_margin_edge),
	    cmocka_unit_test(test_margin_zero_and_no_sell),
	    cmocka_unit_test(test_margin_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
