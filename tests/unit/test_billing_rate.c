/*
 * test_billing_rate.c — src/billing/rate.c: billable seconds and costs
 * against tables computed by hand (each row's comment shows the working),
 * the corner cases of decision 0033 (0 s, 1 s, on an increment, 24 h, a
 * rate of 0, overflow), SMS, and the prepaid inverse checked against the
 * forward function.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "billing/billing.h"

static struct billing_rate voice(int64_t rate, int64_t fee, int32_t initial, int32_t increment,
				 int32_t min)
{
	return (struct billing_rate){.service = BILLING_VOICE,
				     .rate = rate,
				     .connection_fee = fee,
				     .initial_s = initial,
				     .increment_s = increment,
				     .min_duration_s = min};
}

struct rate_case {
	int64_t rate, fee;
	int32_t initial, increment, min;
	int64_t duration_s, billable_s, cost;
};

static void test_voice_table(void **state)
{
	/* rate is micro-units per minute: 12000 = 0.012/min. */
	static const struct rate_case cases[] = {
	    /* 60/60 at 0.012 */
	    {12000, 0, 60, 60, 0, 0, 0, 0},		   /* 0 s, no minimum: nothing billed */
	    {12000, 0, 60, 60, 0, 1, 60, 12000},	   /* 1 s -> 60 s; 12000*60/60 */
	    {12000, 0, 60, 60, 0, 60, 60, 12000},	   /* exactly the first block */
	    {12000, 0, 60, 60, 0, 61, 120, 24000},	   /* one second into block 2 */
	    {12000, 0, 60, 60, 0, 120, 120, 24000},	   /* exactly on an increment */
	    {12000, 0, 60, 60, 0, 86400, 86400, 17280000}, /* 24 h: 1440 min * 12000 */
	    /* 6/6 at 0.0125 */
	    {12500, 0, 6, 6, 0, 1, 6, 1250},	/* 12500*6/60 = 1250 */
	    {12500, 0, 6, 6, 0, 6, 6, 1250},	/* on the first block */
	    {12500, 0, 6, 6, 0, 7, 12, 2500},	/* 12500*12/60 */
	    {12500, 0, 6, 6, 0, 59, 60, 12500}, /* 6 + ceil(53/6)*6 = 60 */
	    /* 1/1 at 0.0137: the division by 60 rounds up */
	    {13700, 0, 1, 1, 0, 1, 1, 229},	/* 13700/60 = 228.33 -> 229 */
	    {13700, 0, 1, 1, 0, 59, 59, 13472}, /* 808300/60 = 13471.67 -> 13472 */
	    {13700, 0, 1, 1, 0, 60, 60, 13700}, /* exact, no rounding */
	    {1, 0, 1, 1, 0, 61, 61, 2},		/* 61/60 = 1.02 -> 2 */
	    /* 30/6 at 0.02 with a 0.05 connection fee */
	    {20000, 50000, 30, 6, 0, 0, 0, 0},	     /* 0 s: not even the fee */
	    {20000, 50000, 30, 6, 0, 1, 30, 60000},  /* 50000 + 20000*30/60 */
	    {20000, 50000, 30, 6, 0, 30, 30, 60000}, /* on the first block */
	    {20000, 50000, 30, 6, 0, 31, 36, 62000}, /* 50000 + 20000*36/60 */
	    {20000, 50000, 30, 6, 0, 36, 36, 62000}, /* on an increment */
	    {20000, 50000, 30, 6, 0, 37, 42, 64000}, /* 50000 + 20000*42/60 */
	    /* 60/60 at 0.01 with a 120 s minimum */
	    {10000, 0, 60, 60, 120, 0, 120, 20000},   /* 0 s answered bills the minimum */
	    {10000, 0, 60, 60, 120, 1, 120, 20000},   /* max(1, 120) = 120 */
	    {10000, 0, 60, 60, 120, 121, 180, 30000}, /* past the minimum: blocks */
	    /* 30/6 at 0.1, fee 0.001, minimum 45: 45 -> 30 + ceil(15/6)*6 = 48 */
	    {100000, 1000, 30, 6, 45, 0, 48, 81000},  /* 1000 + 100000*48/60 */
	    {100000, 1000, 30, 6, 45, 48, 48, 81000}, /* the same block */
	    {100000, 1000, 30, 6, 45, 49, 54, 91000}, /* 1000 + 100000*54/60 */
	    /* a rate of 0 */
	    {0, 0, 60, 60, 0, 3600, 3600, 0},	 /* free minutes */
	    {0, 30000, 60, 60, 0, 1, 60, 30000}, /* only the connection fee */
	    {0, 30000, 60, 60, 0, 0, 0, 0},	 /* 0 s: no fee */
	    /* 24 h at 1000 units a minute: 1440 * 10^9 = 1.44e12, under the limit */
	    {1000000000, 0, 1, 1, 0, 86400, 86400, 1440000000000},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rate_case *c = &cases[i];
		struct billing_rate r = voice(c->rate, c->fee, c->initial, c->increment, c->min);
		int64_t billable = -1, cost = -1;
		print_message("case %zu\n", i);
		assert_int_equal(billing_rate_billable_s(&r, c->duration_s, &billable), 0);
		assert_int_equal(billable, c->billable_s);
		assert_int_equal(billing_rate_voice_cost(&r, c->duration_s, &cost), 0);
		assert_int_equal(cost, c->cost);
	}
}

static void test_voice_limits(void **state)
{
	struct billing_rate r = voice(1, 0, 1, 1, 0);
	int64_t v = -1;

	(void)state;
	assert_int_equal(billing_rate_voice_cost(&r, -1, &v), BILLING_RATE_RANGE);
	assert_int_equal(billing_rate_voice_cost(&r, BILLING_RATE_DURATION_MAX_S + 1, &v),
			 BILLING_RATE_RANGE);
	/* 31 days at 1 micro-unit a minute: 2678400 / 60 = 44640 exactly */
	assert_int_equal(billing_rate_voice_cost(&r, BILLING_RATE_DURATION_MAX_S, &v), 0);
	assert_int_equal(v, 44640);
	/* 24 h at 10,000 units a minute: 1440 * 10^10 = 1.44e13 > the limit 9.2e12 */
	r.rate = 10000000000;
	assert_int_equal(billing_rate_voice_cost(&r, 86400, &v), BILLING_RATE_RANGE);
	/* the largest rate money parses (9223372036854 units): even 1 s must not wrap */
	r.rate = 9223372036854000000;
	assert_int_equal(billing_rate_voice_cost(&r, 1, &v), BILLING_RATE_RANGE);
	assert_int_equal(billing_rate_voice_cost(&r, 0, &v), 0);
	assert_int_equal(v, 0);
	/* exactly at the limit is allowed: fee alone at BILLING_RATE_COST_MAX */
	r = voice(0, BILLING_RATE_COST_MAX, 1, 1, 0);
	assert_int_equal(billing_rate_voice_cost(&r, 1, &v), 0);
	assert_int_equal(v, BILLING_RATE_COST_MAX);
	r.rate = 60; /* plus 60 micro-units for the minute: one past the limit */
	assert_int_equal(billing_rate_voice_cost(&r, 60, &v), BILLING_RATE_RANGE);
}

static void test_check_rows(void **state)
{
	struct billing_rate r = voice(1, 0, 1, 1, 0);
	int64_t v;

	(void)state;
	assert_int_equal(billing_rate_check(&r), 0);
	r.increment_s = 0;
	assert_int_equal(billing_rate_check(&r), BILLING_RATE_INVALID);
	assert_int_equal(billing_rate_voice_cost(&r, 10, &v), BILLING_RATE_INVALID);
	r = voice(1, 0, 0, 1, 0);
	assert_int_equal(billing_rate_check(&r), BILLING_RATE_INVALID);
	r = voice(-1, 0, 1, 1, 0);
	assert_int_equal(billing_rate_check(&r), BILLING_RATE_INVALID);
	r = voice(1, -1, 1, 1, 0);
	assert_int_equal(billing_rate_check(&r), BILLING_RATE_INVALID);
	r = voice(1, 0, 1, 1, -1);
	assert_int_equal(billing_rate_check(&r), BILLING_RATE_INVALID);
	r = voice(1, 0, 1, BILLING_RATE_DURATION_MAX_S + 1, 0);
	assert_int_equal(billing_rate_check(&r), BILLING_RATE_INVALID);
	/* an SMS row needs no increments, and cannot price a call */
	r = (struct billing_rate){.service = BILLING_SMS, .rate = 3500};
	assert_int_equal(billing_rate_check(&r), 0);
	assert_int_equal(billing_rate_voice_cost(&r, 10, &v), BILLING_RATE_SERVICE);
	assert_int_equal(billing_rate_max_duration_s(&r, 10, &v), BILLING_RATE_SERVICE);
	assert_string_equal(billing_rate_strerror(BILLING_RATE_RANGE),
			    "duration or cost out of range");
}

static void test_sms(void **state)
{
	struct billing_rate r = {.service = BILLING_SMS, .rate = 3500};
	struct billing_rate v = voice(3500, 0, 1, 1, 0);
	int64_t cost = -1;

	(void)state;
	assert_int_equal(billing_rate_sms_cost(&r, 3, &cost), 0);
	assert_int_equal(cost, 10500); /* 3 * 3500 */
	assert_int_equal(billing_rate_sms_cost(&r, 0, &cost), 0);
	assert_int_equal(cost, 0);
	assert_int_equal(billing_rate_sms_cost(&r, -1, &cost), BILLING_RATE_RANGE);
	r.rate = BILLING_RATE_COST_MAX;
	assert_int_equal(billing_rate_sms_cost(&r, 1, &cost), 0);
	assert_int_equal(billing_rate_sms_cost(&r, 2, &cost), BILLING_RATE_RANGE);
	r.rate = INT64_MAX;
	assert_int_equal(billing_rate_sms_cost(&r, INT64_MAX, &cost), BILLING_RATE_RANGE);
	assert_int_equal(billing_rate_sms_cost(&v, 1, &cost), BILLING_RATE_SERVICE);
}

static void test_seconds_from_ms(void **state)
{
	static const int64_t cases[][2] = {
	    {0, 0},    {1, 1},	  /* a started second is billed */
	    {999, 1},  {1000, 1}, /* exactly one second */
	    {1001, 2}, {86400000, 86400},
	    {-5, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(billing_rate_seconds_from_ms(cases[i][0]), cases[i][1]);
}

struct max_case {
	int64_t rate, fee;
	int32_t initial, increment, min;
	int64_t available, max_s;
};

static void test_max_duration_table(void **state)
{
	static const struct max_case cases[] = {
	    {12000, 0, 60, 60, 0, 11999, 0},	 /* not one block: 60 s cost 12000 */
	    {12000, 0, 60, 60, 0, 12000, 60},	 /* exactly one block */
	    {12000, 0, 60, 60, 0, 18000, 60},	 /* 120 s would cost 24000 */
	    {12000, 0, 60, 60, 0, 24000, 120},	 /* two blocks */
	    {20000, 50000, 30, 6, 0, 49999, 0},	 /* not even the fee */
	    {20000, 50000, 30, 6, 0, 59999, 0},	 /* fee + 30 s = 60000 */
	    {20000, 50000, 30, 6, 0, 61999, 30}, /* 36 s costs 62000 */
	    {20000, 50000, 30, 6, 0, 62000, 36}, /* (62000-50000)*60/20000 = 36 */
	    {10000, 0, 60, 60, 120, 19999, 0},	 /* the minimum costs 20000 */
	    {10000, 0, 60, 60, 120, 29999, 120}, /* every call up to 120 s costs 20000 */
	    {10000, 0, 60, 60, 120, 30000, 180}, /* 180 s costs 30000 */
	    {13700, 0, 1, 1, 0, 229, 1},	 /* 1 s costs ceil(228.33) = 229 */
	    {13700, 0, 1, 1, 0, 228, 0},	 /* one micro-unit short */
	    {13700, 0, 1, 1, 0, 13700, 60},	 /* 60 s costs 13700, 61 s 13929 */
	    {0, 0, 60, 60, 0, 0, BILLING_RATE_DURATION_MAX_S},	       /* free: the cap */
	    {0, 30000, 60, 60, 0, 29999, 0},			       /* the fee not covered */
	    {0, 30000, 60, 60, 0, 30000, BILLING_RATE_DURATION_MAX_S}, /* fee covered */
	    {1, 0, 1, 1, 0, INT64_MAX, BILLING_RATE_DURATION_MAX_S},   /* clipped */
	    {12000, 0, 60, 60, 0, -5, 0},			       /* a negative balance */
	    /* 7 s blocks cannot end on the 31-day cap (2678400 = 7 * 382628 + 4):
	     * the cap is returned, and costs no more than the block that holds it */
	    {60, 0, 7, 7, 0, 2678410, BILLING_RATE_DURATION_MAX_S},
	    {60, 0, 7, 7, 0, 2678399, 2678396}, /* 7 * 382628, the last whole block */
	    /* a 1966080 s (22.7 day) increment: the balance buys 3221261 billable
	     * seconds, past the cap, yet the block holding the cap ends at
	     * 30 + 2 * 1966080: only the first increment is affordable
	     * (found by fuzz_billing_rate) */
	    {20000, 50000, 30, 1966080, 0, 1073803825, 1966110},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct max_case *c = &cases[i];
		struct billing_rate r = voice(c->rate, c->fee, c->initial, c->increment, c->min);
		int64_t max_s = -1;
		print_message("case %zu\n", i);
		assert_int_equal(billing_rate_max_duration_s(&r, c->available, &max_s), 0);
		assert_int_equal(max_s, c->max_s);
	}
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static int64_t cost_of(const struct billing_rate *r, int64_t d)
{
	int64_t c = -1;
	assert_int_equal(billing_rate_voice_cost(r, d, &c), 0);
	return c;
}

/* The inverse of the forward function, for random rows and balances: what
 * it returns is affordable and one second more is not. */
static void test_max_duration_inverse(void **state)
{
	uint64_t seed = 10;
	(void)state;
	for (int i = 0; i < 200000; i++) {
		struct billing_rate r =
		    voice((int64_t)(lcg(&seed) % 2000000), (int64_t)(lcg(&seed) % 3) * 10000,
			  1 + (int32_t)(lcg(&seed) % 90), 1 + (int32_t)(lcg(&seed) % 60),
			  (int32_t)(lcg(&seed) % 4) * 30);
		int64_t avail = (int64_t)(lcg(&seed) % 5000000), d = -1;
		assert_int_equal(billing_rate_max_duration_s(&r, avail, &d), 0);
		if (d == 0) {
			assert_true(cost_of(&r, 1) > avail);
			continue;
		}
		assert_true(cost_of(&r, d) <= avail);
		assert_true(d == BILLING_RATE_DURATION_MAX_S || cost_of(&r, d + 1) > avail);
	}
}

/* Against a brute-force search over every second, where that is short. */
static void test_max_duration_brute_force(void **state)
{
	uint64_t seed = 7;
	(void)state;
	for (int i = 0; i < 300; i++) {
		struct billing_rate r =
		    voice(1000 + (int64_t)(lcg(&seed) % 100000), (int64_t)(lcg(&seed) % 2) * 777,
			  1 + (int32_t)(lcg(&seed) % 60), 1 + (int32_t)(lcg(&seed) % 30),
			  (int32_t)(lcg(&seed) % 3) * 25);
		int64_t avail = (int64_t)(lcg(&seed) % 100000), d = -1, best = 0;
		for (int64_t s = 1; s <= 7000; s++)
			if (cost_of(&r, s) <= avail)
				best = s;
		assert_int_equal(billing_rate_max_duration_s(&r, avail, &d), 0);
		assert_int_equal(d, best);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_voice_table),
	    cmocka_unit_test(test_voice_limits),
	    cmocka_unit_test(test_check_rows),
	    cmocka_unit_test(test_sms),
	    cmocka_unit_test(test_seconds_from_ms),
	    cmocka_unit_test(test_max_duration_table),
	    cmocka_unit_test(test_max_duration_inverse),
	    cmocka_unit_test(test_max_duration_brute_force),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
