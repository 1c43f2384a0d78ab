/*
 * lcr.c — least-cost ordering of a route's carriers (billing.h, decision 0038).
 *
 * Rates are compared as they are in the decks, per minute or per segment:
 * a connection fee or a coarser increment does not enter the order (a
 * carrier's fee is small against a wholesale call and LCR tables compare
 * the per-minute rate the same way).  Margins are whole-number arithmetic
 * in int64: rates are at most BILLING_RATE_COST_MAX (about 9.2e12), times
 * 10,000 stays below INT64_MAX.
 */
#include "billing/billing.h"

/* The margin test: (sell - buy) / sell >= bps / 10000, without division. */
static bool lcr_margin_ok(const struct billing_lcr_margin *m, int64_t buy)
{
	if (!m || !m->margin)
		return true;
	if (!m->has_sell)
		return false; /* no sell rate: no margin can be shown */
	return (m->sell_rate - buy) * 10000 >= m->sell_rate * m->min_margin_bps;
}

static enum billing_lcr_out lcr_verdict(const struct billing_lcr_candidate *c,
					const struct billing_lcr_margin *m)
{
	if (!c->has_rate)
		return BILLING_LCR_NO_RATE;
	if (!c->currency_ok)
		return BILLING_LCR_CURRENCY;
	return lcr_margin_ok(m, c->buy_rate) ? BILLING_LCR_KEPT : BILLING_LCR_MARGIN;
}

/* a before b: cheaper, then lower priority value (tried first). */
static bool lcr_before(const struct billing_lcr_candidate *a, const struct billing_lcr_candidate *b)
{
	if (a->buy_rate != b->buy_rate)
		return a->buy_rate < b->buy_rate;
	return a->priority < b->priority;
}

size_t billing_lcr_order(struct billing_lcr_candidate *c, size_t n,
			 const struct billing_lcr_margin *m)
{
	size_t kept = 0;

	/* Stable partition: kept ones to the front, in their order. */
	for (size_t i = 0; i < n; i++) {
		c[i].out = lcr_verdict(&c[i], m);
		if (c[i].out != BILLING_LCR_KEPT)
			continue;
		struct billing_lcr_candidate t = c[i];

		for (size_t j = i; j > kept; j--)
			c[j] = c[j - 1];
		c[kept++] = t;
	}
	/* Insertion sort of the kept ones (a route has at most a few dozen
	 * carriers): stable, so equal keys keep the route's order. */
	for (size_t i = 1; i < kept; i++) {
		struct billing_lcr_candidate t = c[i];
		size_t j = i;

		for (; j > 0 && lcr_before(&t, &c[j - 1]); j--)
			c[j] = c[j - 1];
		c[j] = t;
	}
	for (size_t i = 0; i < kept; i++)
		c[i].rank = i == 0 ? 0 : c[i - 1].rank + (lcr_before(&c[i - 1], &c[i]) ? 1 : 0);
	for (size_t i = kept; i < n; i++)
		c[i].rank = -1;
	return kept;
}

const char *billing_lcr_out_reason(enum billing_lcr_out out)
{
	switch (out) {
	case BILLING_LCR_NO_RATE:
		return "no_rate";
	case BILLING_LCR_CURRENCY:
		return "currency_mismatch";
	case BILLING_LCR_MARGIN:
		return "margin";
	default:
		return "kept";
	}
}
