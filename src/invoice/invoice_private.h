/*
 * invoice_private.h — what the invoice module's files share.
 */
#ifndef WARP_INVOICE_PRIVATE_H
#define WARP_INVOICE_PRIVATE_H

#include "invoice/invoice.h"

/* What one charge was for, as invoice lines group it. */
struct invoice_usage {
	char zone[INVOICE_TEXT_MAX + 1]; /* "" when unknown */
	int64_t billable_ms;		 /* a call's */
	int64_t segments;		 /* a message's */
};

/*
 * The one place the invoice learns a charge's zone and quantity (usage.c):
 * from the entry's reference (ref_type "cdr" or "message", ref_id its id).
 * kind is 2 for a call charge, 3 for a message charge (the ledger's enum).
 * An entry without a reference, or one whose record is gone, counts as one
 * call of 0 ms or one segment in zone "".
 */
int invoice_usage_get(struct store_conn *c, const char *customer_id, int kind, const char *ref_type,
		      const char *ref_id, struct invoice_usage *u);

/* usage_batch.c: a cdr_batch entry (entry_id, amount as the ledger's)
 * added to inv's call lines by the zones of the CDRs it charged.  0, a
 * store code or INVOICE_ETOOMANY. */
int invoice_usage_batch(struct store_conn *c, struct invoice *inv, const char *entry_id,
			int64_t amount);

/* The line (kind, text) of inv, added (zeroed) when missing; NULL when
 * inv already has INVOICE_LINES_MAX lines or memory runs out. */
struct invoice_line *invoice_line_get(struct invoice *inv, enum invoice_line_kind kind,
				      const char *text);
/* amount rounded half away from zero to `decimals` places, in micro-units. */
int64_t invoice_round(int64_t amount, int decimals);
/* Copies the first INVOICE_TEXT_MAX bytes of s that end on a UTF-8
 * character boundary. */
void invoice_text_copy(char *dst, const char *s);

/* issue.c: the stored documents of a customer's period, summed per line. */
int invoice_issued_sum(struct store_conn *c, const char *customer_id, const char *period,
		       struct invoice *sum, struct invoice *first, int64_t *next_seq);
/* Stores doc (lines included) in the caller's transaction, numbering it. */
int invoice_store(struct store_conn *c, struct invoice *doc);

#endif
