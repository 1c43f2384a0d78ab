/*
 * tendlc_private.h — the compliance snapshot's layout, shared by its
 * builder (snapshot.c) and its readers (check.c).  Everything in it is
 * immutable once published.
 */
#ifndef WARP_TENDLC_PRIVATE_H
#define WARP_TENDLC_PRIVATE_H

#include "tendlc/tendlc.h"

#define TENDLC_DIGITS_MAX 15 /* E.164 */

struct tendlc_campaign {
	char id[ID_MAX], brand_id[ID_MAX], customer_id[ID_MAX];
	char *opt_in_text, *opt_out_text, *help_text; /* never NULL */
	bool active;
	/* From its throughput JSON (decision 0050): AT&T's message class
	 * ('\0' none), messages a window per carrier (-1: not given) and the
	 * brand's T-Mobile daily cap (-1: by the brand's vetting score). */
	char att_class;
	int64_t sms_tpm[TENDLC_CARRIERS];
	int64_t daily_cap;
	int64_t vetting_score; /* the brand's; 0 when not vetted */
};

/* A portability prefix, sorted by digits for an exact bsearch per length. */
struct tendlc_prefix {
	char digits[TENDLC_DIGITS_MAX + 1];
	enum tendlc_carrier carrier;
};

/* A number bound to a campaign, sorted by digits. */
struct tendlc_number {
	char digits[TENDLC_DIGITS_MAX + 1];
	size_t campaign; /* index into campaigns */
};

/* An opt-out, sorted by (scope, recipient): scope is the customer's id,
 * '|' and the sender's digits, or "b:" and the brand id for a brand-wide
 * one (tendlc_optout_scope).  The customer is part of it, so an opt-out a
 * customer records can stop only its own traffic, whatever number it
 * names. */
#define TENDLC_SCOPE_MAX (2 * ID_MAX + 4)
struct tendlc_optout {
	char scope[TENDLC_SCOPE_MAX];
	char recipient[TENDLC_DIGITS_MAX + 1];
};

struct tendlc_rule_c {
	char *name;
	bool domain; /* else keyword */
	bool tag;    /* else refuse */
	bool hold;   /* neither: accepted, held for review at the lease */
	char **patterns;
	size_t npatterns;
	struct metric *m; /* refusals or tags under its name */
};

struct tendlc_snap {
	struct tendlc_opts opts;
	struct tendlc_campaign *campaigns;
	size_t ncampaigns;
	struct tendlc_number *numbers;
	size_t nnumbers;
	struct tendlc_optout *optouts;
	size_t noptouts;
	struct tendlc_rule_c *rules;
	size_t nrules;
	struct tendlc_prefix *prefixes;
	size_t nprefixes;
	struct metric *m_unregistered, *m_opted_out;
};

int tendlc_number_cmp(const void *a, const void *b);
int tendlc_optout_cmp(const void *a, const void *b);
/* The campaign number (digits, '+' ignored) is bound to, or NULL. */
const struct tendlc_campaign *tendlc_campaign_of(const struct tendlc_snap *s, struct str number);
int tendlc_prefix_cmp(const void *a, const void *b);
/* snapshot.c's loaders of the throughput part (throughput.c). */
int tendlc_load_prefixes(struct store_conn *c, struct tendlc_snap *s);
void tendlc_campaign_throughput(struct tendlc_campaign *k, const char *json, int64_t score);
void tendlc_optout_scope(char out[TENDLC_SCOPE_MAX], const char *customer, const char *kind,
			 const char *key);
/* The digits of addr ('+' dropped) into out; -1 when not all digits or too long. */
int tendlc_digits(struct str addr, char out[TENDLC_DIGITS_MAX + 1]);

#endif
