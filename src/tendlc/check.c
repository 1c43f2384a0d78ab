/*
 * check.c — the questions the send paths ask the compliance snapshot: may
 * this MT be queued (tendlc_mt_check, on every submit_sm and HTTP send),
 * and which campaign a number sends for (the MO keywords' texts).  Binary
 * searches over the snapshot's sorted arrays; nothing else.
 */
#include <stdlib.h>
#include <string.h>

#include "tendlc/tendlc_private.h"

static const struct tendlc_number *number_find(const struct tendlc_snap *s, struct str addr)
{
	struct tendlc_number key = {.campaign = 0};

	if (!s->nnumbers || tendlc_digits(addr, key.digits) < 0)
		return NULL;
	return bsearch(&key, s->numbers, s->nnumbers, sizeof(key), tendlc_number_cmp);
}

const struct tendlc_campaign *tendlc_campaign_of(const struct tendlc_snap *s, struct str number)
{
	const struct tendlc_number *n = s ? number_find(s, number) : NULL;
	return n ? &s->campaigns[n->campaign] : NULL;
}

static bool optout_has(const struct tendlc_snap *s, const char *customer, const char *kind,
		       const char *scope, const char *recipient)
{
	struct tendlc_optout key;

	tendlc_optout_scope(key.scope, customer, kind, scope);
	memcpy(key.recipient, recipient, sizeof(key.recipient));
	return bsearch(&key, s->optouts, s->noptouts, sizeof(key), tendlc_optout_cmp) != NULL;
}

/* The customer's pair (sender, recipient) or, brand-wide, (the sender's
 * brand, recipient) has an opt-out. */
static bool opted_out(const struct tendlc_snap *s, const char *customer,
		      const struct tendlc_number *n, struct str from, struct str to)
{
	char sender[TENDLC_DIGITS_MAX + 1], recipient[TENDLC_DIGITS_MAX + 1];

	if (!s->noptouts || tendlc_digits(to, recipient) < 0)
		return false;
	if (tendlc_digits(from, sender) == 0 && optout_has(s, customer, "", sender, recipient))
		return true;
	if (!s->opts.opt_out_brand_wide || !n)
		return false;
	return optout_has(s, customer, "b:", s->campaigns[n->campaign].brand_id, recipient);
}

static enum tendlc_rule verdict(struct tendlc_verdict *v, enum tendlc_rule r, const char *name,
				struct metric *m)
{
	v->rule = r;
	v->name = name;
	metric_inc(m);
	return r;
}

/* The first refusing rule that matches wins; every tagging one that
 * matches before it is counted, the first is named. */
static enum tendlc_rule content_check(const struct tendlc_snap *s, struct str text,
				      struct tendlc_verdict *v)
{
	for (size_t i = 0; i < s->nrules; i++) {
		const struct tendlc_rule_c *k = &s->rules[i];
		const char *const *p = (const char *const *)k->patterns;
		if (k->hold)
			continue; /* read at the lease: tendlc_review_rule */
		bool hit = k->domain ? tendlc_text_has_domain(text, p, k->npatterns)
				     : tendlc_text_has_words(text, p, k->npatterns);
		if (!hit)
			continue;
		if (!k->tag)
			return verdict(v, TENDLC_CONTENT, k->name, k->m);
		metric_inc(k->m);
		if (!v->tag)
			v->tag = k->name;
	}
	return TENDLC_OK;
}

/* hot path: no allocation, no locks, no I/O */
enum tendlc_rule tendlc_mt_check(const struct tendlc_snap *s, const char *customer, struct str from,
				 struct str to, struct str text, struct tendlc_verdict *v)
{
	const struct tendlc_number *n = number_find(s, from);

	*v = (struct tendlc_verdict){TENDLC_OK, NULL, NULL};
	/* 10DLC is the US carriers' rule for what reaches their handsets: a US
	 * long code's MT to a +1 destination. */
	if (tendlc_is_us_long_code(from) && tendlc_is_us_destination(to)) {
		const struct tendlc_campaign *c = n ? &s->campaigns[n->campaign] : NULL;
		if (!c || !c->active || strcmp(c->customer_id, customer) != 0)
			return verdict(v, TENDLC_UNREGISTERED, "unregistered_long_code",
				       s->m_unregistered);
	}
	if (opted_out(s, customer, n, from, to))
		return verdict(v, TENDLC_OPTED_OUT, "opted_out", s->m_opted_out);
	if (text.p && tendlc_is_us_destination(to))
		return content_check(s, text, v);
	return TENDLC_OK;
}

int tendlc_number_campaign(const struct tendlc_snap *s, struct str number,
			   struct tendlc_campaign_view *out)
{
	const struct tendlc_number *n = s ? number_find(s, number) : NULL;

	if (!n)
		return 0;
	const struct tendlc_campaign *c = &s->campaigns[n->campaign];
	*out = (struct tendlc_campaign_view){c->id,	     c->brand_id,     c->customer_id,
					     c->opt_in_text, c->opt_out_text, c->help_text,
					     c->active};
	return 1;
}

bool tendlc_snap_has_review(const struct tendlc_snap *s)
{
	for (size_t i = 0; s && i < s->nrules; i++)
		if (s->rules[i].hold)
			return true;
	return false;
}

bool tendlc_tagged(const struct tendlc_snap *s, const char *rule, struct str to, struct str text)
{
	if (!s || !text.p || !tendlc_is_us_destination(to))
		return false;
	for (size_t i = 0; i < s->nrules; i++) {
		const struct tendlc_rule_c *k = &s->rules[i];
		const char *const *p = (const char *const *)k->patterns;
		if (k->tag && k->name && strcmp(k->name, rule) == 0)
			return k->domain ? tendlc_text_has_domain(text, p, k->npatterns)
					 : tendlc_text_has_words(text, p, k->npatterns);
	}
	return false;
}

const char *tendlc_review_rule(const struct tendlc_snap *s, struct str to, struct str text)
{
	if (!text.p || !tendlc_is_us_destination(to))
		return NULL;
	for (size_t i = 0; i < s->nrules; i++) {
		const struct tendlc_rule_c *k = &s->rules[i];
		const char *const *p = (const char *const *)k->patterns;
		if (k->hold && (k->domain ? tendlc_text_has_domain(text, p, k->npatterns)
					  : tendlc_text_has_words(text, p, k->npatterns))) {
			metric_inc(k->m);
			return k->name;
		}
	}
	return NULL;
}

bool tendlc_snap_brand_wide(const struct tendlc_snap *s)
{
	return s && s->opts.opt_out_brand_wide;
}
