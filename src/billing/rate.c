/*
 * rate.c — billable duration and cost of a call or a message under one deck
 * row, and the inverse the prepaid check needs: how long a balance lasts.
 *
 * Everything is integer micro-units and whole seconds.  rate * seconds can
 * pass 2^63 (a rate near the money limit times a day), so products are taken
 * in 128 bits and the result checked against BILLING_RATE_COST_MAX before it
 * narrows: a cost is exact or an error, never wrapped.  The rules (0 s,
 * rounding toward the seller) are in billing.h and decision 0033.
 */
#include "billing.h"

/* GCC and clang on every target WARP builds for; __extension__ keeps
 * -Wpedantic builds quiet. */
__extension__ typedef unsigned __int128 rate_u128;

int billing_rate_check(const struct billing_rate *r)
{
	if (r->rate < 0 || r->connection_fee < 0 || r->connection_fee > BILLING_RATE_COST_MAX)
		return BILLING_RATE_INVALID;
	if (r->service == BILLING_SMS)
		return 0;
	if (r->service != BILLING_VOICE)
		return BILLING_RATE_INVALID;
	if (r->initial_s < 1 || r->increment_s < 1 || r->min_duration_s < 0 ||
	    r->initial_s > BILLING_RATE_DURATION_MAX_S ||
	    r->increment_s > BILLING_RATE_DURATION_MAX_S ||
	    r->min_duration_s > BILLING_RATE_DURATION_MAX_S)
		return BILLING_RATE_INVALID;
	return 0;
}

const char *billing_rate_strerror(int err)
{
	switch (err) {
	case BILLING_RATE_OK:
		return "ok";
	case BILLING_RATE_INVALID:
		return "rate row cannot be rated (negative price or increment below 1 s)";
	case BILLING_RATE_RANGE:
		return "duration or cost out of range";
	case BILLING_RATE_SERVICE:
		return "rate row is for another service";
	default:
		return "rating error";
	}
}

int64_t billing_rate_seconds_from_ms(int64_t ms)
{
	if (ms <= 0)
		return 0;
	return ms / 1000 + (ms % 1000 != 0);
}

static int rate_voice_row(const struct billing_rate *r)
{
	if (r->service != BILLING_VOICE)
		return BILLING_RATE_SERVICE;
	return billing_rate_check(r);
}

/* d >= 1 seconds up to the first block, then whole increments after it.
 * Stays below 2^63: d, initial and increment are all at most 31 days. */
static int64_t rate_blocks(const struct billing_rate *r, int64_t d)
{
	int64_t over;

	if (d <= r->initial_s)
		return r->initial_s;
	over = d - r->initial_s;
	return r->initial_s + (over + r->increment_s - 1) / r->increment_s * r->increment_s;
}

int billing_rate_billable_s(const struct billing_rate *r, int64_t duration_s, int64_t *billable_s)
{
	int64_t d = duration_s;
	int rc = rate_voice_row(r);

	if (rc)
		return rc;
	if (d < 0 || d > BILLING_RATE_DURATION_MAX_S)
		return BILLING_RATE_RANGE;
	/* 0 s bills nothing unless the row has a minimum (decision 0033). */
	if (d < r->min_duration_s)
		d = r->min_duration_s;
	*billable_s = d ? rate_blocks(r, d) : 0;
	return 0;
}

/* connection_fee + ceil(rate * billable / 60), in 128 bits. */
static int rate_cost_of(const struct billing_rate *r, int64_t billable_s, int64_t *cost)
{
	rate_u128 c;

	if (!billable_s) {
		*cost = 0; /* nothing billable: no connection fee either */
		return 0;
	}
	c = ((rate_u128)r->rate * (rate_u128)billable_s + 59) / 60 + (rate_u128)r->connection_fee;
	if (c > (rate_u128)BILLING_RATE_COST_MAX)
		return BILLING_RATE_RANGE;
	*cost = (int64_t)c;
	return 0;
}

int billing_rate_voice_cost(const struct billing_rate *r, int64_t duration_s, int64_t *cost)
{
	int64_t billable;
	int rc = billing_rate_billable_s(r, duration_s, &billable);

	if (rc)
		return rc;
	return rate_cost_of(r, billable, cost);
}

int billing_rate_sms_cost(const struct billing_rate *r, int64_t segments, int64_t *cost)
{
	rate_u128 c;

	if (r->service != BILLING_SMS)
		return BILLING_RATE_SERVICE;
	if (billing_rate_check(r))
		return BILLING_RATE_INVALID;
	if (segments < 0)
		return BILLING_RATE_RANGE;
	c = (rate_u128)r->rate * (rate_u128)segments;
	if (c > (rate_u128)BILLING_RATE_COST_MAX)
		return BILLING_RATE_RANGE;
	*cost = (int64_t)c;
	return 0;
}

/*
 * The largest billable b with fee + ceil(rate * b / 60) <= available.  As
 * ceil(x) <= n exactly when x <= n for an integer n, that is
 * b <= 60 * (available - fee) / rate, rounded down: at most 60 times the
 * cost limit, so it fits an int64.  -1 when not even the fee is covered.
 */
static int64_t rate_billable_affordable(const struct billing_rate *r, int64_t available)
{
	if (available > BILLING_RATE_COST_MAX)
		available = BILLING_RATE_COST_MAX; /* no cost past the limit is ever computed */
	if (available < r->connection_fee)
		return -1;
	if (!r->rate)
		return INT64_MAX;
	return (int64_t)((rate_u128)(available - r->connection_fee) * 60 / (rate_u128)r->rate);
}

int billing_rate_max_duration_s(const struct billing_rate *r, int64_t available, int64_t *max_s)
{
	int64_t bmax, first, d;
	int rc = rate_voice_row(r);

	if (rc)
		return rc;
	bmax = rate_billable_affordable(r, available);
	/* Every duration from 1 s up bills at least the blocks of the minimum. */
	first = rate_blocks(r, r->min_duration_s > 1 ? r->min_duration_s : 1);
	if (bmax < first) {
		*max_s = 0;
		return 0;
	}
	/* The end of the last whole block within bmax: every d up to it bills
	 * at most bmax (billable is nondecreasing, a block's end bills itself,
	 * and first <= bmax covers the minimum), while d + 1 opens the next
	 * block.  When that end is past the cap, the cap bills a block end no
	 * later than it, so the cap is affordable too.  No overflow: bmax >=
	 * first >= initial_s. */
	d = r->initial_s + (bmax - r->initial_s) / r->increment_s * r->increment_s;
	*max_s = d < BILLING_RATE_DURATION_MAX_S ? d : BILLING_RATE_DURATION_MAX_S;
	return 0;
}
