/*
 * usage_batch.c — a ledger entry that charged several calls at once (the
 * billing role's cdr_batch entries, decision 0052) into invoice lines: its
 * CDRs' rating rows name it (cdr_ratings.entry_id, migration 0030) with
 * each CDR's part of its amount, so each zone's line gets its calls, their
 * billed seconds and their part — the same lines as one entry per call
 * gave.  A part no rating row accounts for (none should be) goes to the
 * line of zone "", so the lines always add up to the entry.
 */
#include "invoice/invoice_private.h"

static const char batch_sql[] =
    "SELECT COALESCE(NULLIF(zone, ''), destination, ''), COUNT(*), COALESCE(SUM(billable_s), 0),"
    " COALESCE(SUM(entry_amount), 0) FROM cdr_ratings WHERE entry_id = $1"
    " GROUP BY COALESCE(NULLIF(zone, ''), destination, '')";

int invoice_usage_batch(struct store_conn *c, struct invoice *inv, const char *entry_id,
			int64_t amount)
{
	struct store_param p = store_p_text(entry_id);
	struct store_res *r = NULL;
	int64_t owed = -amount; /* the ledger's charges are negative: owed is positive */
	int rc = store_exec(c, batch_sql, &p, 1, &r);

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct invoice_line *l =
		    invoice_line_get(inv, INVOICE_LINE_CALLS, store_res_text(r, i, 0));

		if (!l) {
			rc = INVOICE_ETOOMANY;
			break;
		}
		l->count += store_res_int(r, i, 1);
		l->billable_ms += store_res_int(r, i, 2) * 1000;
		l->amount += store_res_int(r, i, 3);
		owed -= store_res_int(r, i, 3);
	}
	store_res_free(r);
	if (rc == 0 && owed != 0) {
		struct invoice_line *l = invoice_line_get(inv, INVOICE_LINE_CALLS, "");

		if (!l)
			return INVOICE_ETOOMANY;
		l->amount += owed;
	}
	return rc;
}
