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
	struct metric *m_unregistered, *m_opted_out;
};

int tendlc_number_cmp(const void *a, const void *b);
int tendlc_optout_cmp(const void *a, const void *b);
void tendlc_optout_scope(char out[TENDLC_SCOPE_MAX], const char *customer, const char *kind,
			 const char *key);
/* The digits of addr ('+' dropped) into out; -1 when not all digits or too long. */
int tendlc_digits(struct str addr, char out[TENDLC_DIGITS_MAX + 1]);

#endif
