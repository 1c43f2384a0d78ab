/*
 * ledger.h — what ledger.c shares with reserve.c inside the billing module.
 */
#ifndef WARP_BILLING_LEDGER_H
#define WARP_BILLING_LEDGER_H

#include "billing.h"

/* Posts e as billing_ledger_post does, but inside the caller's transaction
 * (which it neither begins nor ends): 0 when posted, 1 when e's
 * idempotency key names an entry already and e now holds that entry (the
 * caller rolls back: the balance was moved), or a negative code. */
int billing_ledger_post_locked(struct store_conn *c, const struct billing_ledger_opts *o,
			       struct billing_entry *e);

/* Writes the balance.low event of entry e, which took its customer's
 * balance below threshold (the caller decided it crossed). */
int billing_ledger_event_low(struct store_conn *c, const struct billing_entry *e,
			     int64_t threshold);

/* Counts n postings in warp_billing_ledger_postings_total{kind,result}:
 * rc 0 posted (or replayed), a ledger code refused, another failed. */
void billing_ledger_count(enum billing_entry_kind k, int rc, bool replayed, int64_t n);

/* "refused" for a ledger code (enum billing_ledger_err: the request), "failed"
 * for any other (the store), as the metrics' result label says. */
const char *billing_outcome(int rc);

#endif
