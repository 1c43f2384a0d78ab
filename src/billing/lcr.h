/*
 * lcr.h — least-cost ordering of a route's carriers (decision 0038), shared
 * by the sip role (calls, buy rate per minute) and the smsc role (messages,
 * buy rate per segment).  Pure: candidates and their rates in, an order
 * out; no allocation, no locks, no I/O, so it runs on the call path.
 */
#ifndef WARP_BILLING_LCR_H
#define WARP_BILLING_LCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a candidate was left out (0: kept). */
enum billing_lcr_out {
	BILLING_LCR_KEPT = 0,
	BILLING_LCR_NO_RATE = 1,  /* no buy rate for the number */
	BILLING_LCR_CURRENCY = 2, /* its buy deck's currency is not the one compared */
	BILLING_LCR_MARGIN = 3,	  /* the rate leaves less than the minimum margin */
};

/* One carrier of a route, as the caller found it. */
struct billing_lcr_candidate {
	size_t idx;	  /* the caller's (a carrier index); carried along */
	int64_t priority; /* the route's priority for the carrier */
	int64_t weight;	  /* kept for the caller's weight-random draw */
	bool has_rate;	  /* a buy rate was found for the number */
	bool currency_ok; /* its currency is the one compared against */
	int64_t buy_rate; /* micro-units per minute (voice) or per segment (SMS) */
	/* Out: the position's tie group (equal buy rate and priority share a
	 * rank, ranks ascend from 0), and why it was left out. */
	int64_t rank;
	enum billing_lcr_out out;
};

/* What protects the margin: with `margin` false nothing does; else a
 * candidate is kept only when a sell rate is known (has_sell) and
 * (sell - buy) * 10000 >= sell * min_margin_bps (0..10000). */
struct billing_lcr_margin {
	bool margin;
	bool has_sell;
	int64_t sell_rate;
	int64_t min_margin_bps;
};

/* Orders c[0..n): the kept candidates first, by buy rate, then priority,
 * then their position in c (stable), each with its tie rank; the left-out
 * ones after them, in their old order, with their reason.  Returns how many
 * are kept.  The caller draws by weight within one rank. */
size_t billing_lcr_order(struct billing_lcr_candidate *c, size_t n,
			 const struct billing_lcr_margin *m);
/* "no_rate", "currency_mismatch", "margin" ("kept" for 0). */
const char *billing_lcr_out_reason(enum billing_lcr_out out);

#endif
