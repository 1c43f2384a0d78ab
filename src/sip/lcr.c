/*
 * lcr.c — least-cost routing of a call (decision 0038): a route in lcr mode
 * orders its carriers by their buy rate per minute for the dialled number
 * (the longest prefix of each carrier's buy deck version in force now),
 * leaves out those without a rate, whose buy deck is in another currency
 * than the customer's, or whose rate leaves less than the route's minimum
 * margin over the customer's sell rate (the trunk's sell deck over the
 * customer's; a route without a minimum takes its customer's), and keeps
 * the route's priority and weight for ties.
 *
 * Everything comes from the process's rating snapshot (app_rating):
 * lookups without locks or store access, once per carrier of the route
 * when the call is planned.  The rates each carrier was chosen at go with
 * its targets into the CDR's attempts.
 *
 * hot path: no allocation, no locks, no I/O
 */
#include <string.h>

#include "billing/billing.h"
#include "sip/policy_private.h"

#define LCR_CANDIDATES_MAX 64 /* POLICY_CHOICES_MAX of policy.c */

/* The customer's sell rate for the number now, and the currency buy rates
 * are compared in (the customer's; else the sell deck's; "" any). */
static void lcr_sell(const struct billing_rating *r, const struct sip_call_plan *plan, int64_t t_ms,
		     struct billing_lcr_margin *m, char *cur, size_t curlen)
{
	struct str num = str_from_cstr(plan->normalized);
	const struct billing_customer *cu =
	    billing_rating_customer(r, str_from_cstr(plan->customer_id));
	const struct billing_deck *deck = NULL;
	struct billing_rate row;

	cur[0] = '\0';
	if (cu)
		str_copy(cur, curlen, str_from_cstr(cu->currency));
	m->has_sell =
	    billing_rating_sell(r, str_from_cstr(plan->customer_id), str_from_cstr(plan->trunk_id),
				t_ms, BILLING_VOICE, num, &row, &deck) == 0;
	m->sell_rate = m->has_sell ? row.rate : 0;
	if (m->has_sell && !cur[0] && deck)
		str_copy(cur, curlen, str_from_cstr(billing_deck_meta(deck)->currency));
}

/* One carrier's candidate: its buy rate and whether its currency is cur. */
static void lcr_candidate(const struct billing_rating *r, const struct psnap_carrier *ca,
			  const struct psnap_choice *ch, size_t pos, const char *number,
			  int64_t t_ms, const char *cur, struct billing_lcr_candidate *c)
{
	const struct billing_deck *deck = NULL;
	struct billing_rate row;

	memset(c, 0, sizeof(*c));
	c->idx = pos;
	c->priority = ch->priority;
	c->weight = ch->weight;
	c->has_rate = r && billing_rating_buy(r, str_from_cstr(ca->id), t_ms, BILLING_VOICE,
					      str_from_cstr(number), &row, &deck) == 0;
	c->buy_rate = c->has_rate ? row.rate : 0;
	c->currency_ok = !cur[0] || !deck || strcmp(billing_deck_meta(deck)->currency, cur) == 0;
}

/* The most telling reason among the left-out candidates. */
static int lcr_worst(const struct billing_lcr_candidate *c, size_t n)
{
	int out = BILLING_LCR_NO_RATE;

	for (size_t i = 0; i < n; i++)
		if ((int)c[i].out > out)
			out = (int)c[i].out;
	return out;
}

int sip_lcr_choices(struct sip_policy *p, const struct psnap *s, const struct psnap_trunk *t,
		    const struct psnap_route *rt, const struct sip_call_plan *plan,
		    struct psnap_choice *ch, size_t *n)
{
	const struct billing_rating *r = p->o.rating ? snapshot_acquire(p->o.rating) : NULL;
	struct billing_lcr_candidate c[LCR_CANDIDATES_MAX];
	struct billing_lcr_margin m = {.margin = rt->margin, .min_margin_bps = rt->min_margin_bps};
	struct psnap_choice in[LCR_CANDIDATES_MAX];
	size_t count = *n < LCR_CANDIDATES_MAX ? *n : LCR_CANDIDATES_MAX, kept = 0;
	int64_t t_ms = time_wall_ms(); /* decks are in force by the wall clock */
	char cur[BILLING_CURRENCY_MAX] = "";

	if (!m.margin && t && t->customer_margin) { /* the route sets none: the customer's */
		m.margin = true;
		m.min_margin_bps = t->customer_min_margin_bps;
	}
	if (r)
		lcr_sell(r, plan, t_ms, &m, cur, sizeof(cur));
	memcpy(in, ch, count * sizeof(*in));
	for (size_t i = 0; i < count; i++)
		lcr_candidate(r, &s->carriers[in[i].idx], &in[i], i, plan->normalized, t_ms, cur,
			      &c[i]);
	kept = billing_lcr_order(c, count, &m);
	for (size_t i = 0; i < kept; i++) {
		ch[i] = in[c[i].idx];
		ch[i].priority = c[i].rank;
		ch[i].has_buy_rate = true;
		ch[i].buy_rate = c[i].buy_rate;
	}
	for (size_t i = kept; i < count; i++)
		if (p->lcr_excluded[c[i].out])
			metric_inc(p->lcr_excluded[c[i].out]);
	*n = kept;
	if (r)
		snapshot_release(p->o.rating, r);
	return kept ? 0 : lcr_worst(c, count);
}

const char *sip_lcr_reject_reason(int out)
{
	return out == BILLING_LCR_MARGIN ? "no carrier within margin" : "no carrier rate";
}

void sip_lcr_metrics(struct sip_policy *p)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_sip_lcr_excluded_total",
	    "Carriers a route in lcr mode left out of a call's plan, by reason: no_rate (none in "
	    "its buy deck), currency_mismatch, margin (under the route's minimum margin).",
	    "reason");

	for (int out = BILLING_LCR_NO_RATE; f && out <= BILLING_LCR_MARGIN; out++)
		p->lcr_excluded[out] = metric_get(f, billing_lcr_out_reason(out));
}
