/*
 * load.c — stored documents read back: one with its lines, lists of them,
 * and the state /metrics and the API show.
 */
#include <errno.h>
#include <string.h>

#include "billing/billing.h"
#include "invoice/invoice_private.h"

#define DOC_COLS                                                                                   \
	"i.id, i.number, i.kind, i.customer_id, i.customer_name, i.period, i.seq,"                 \
	" COALESCE(i.corrects_id, ''), COALESCE(c.number, ''), i.external_id, i.currency,"         \
	" i.opening_balance, i.payments, i.closing_balance, i.total, i.entries, i.issued_at,"      \
	" i.netsuite_state, COALESCE(i.netsuite_id, ''), COALESCE(i.netsuite_error, ''),"          \
	" i.netsuite_attempts, COALESCE(i.netsuite_sent_at, 0), i.number_seq, i.netsuite_next_at"  \
	" FROM invoices i LEFT JOIN invoices c ON c.id = i.corrects_id"

static void text(char *dst, size_t n, const struct store_res *r, size_t row, size_t col)
{
	str_copy(dst, n, str_from_cstr(store_res_text(r, row, col)));
}

static void doc_read(const struct store_res *r, size_t row, struct invoice *d)
{
	const char *kind = store_res_text(r, row, 2);

	text(d->id, sizeof(d->id), r, row, 0);
	text(d->number, sizeof(d->number), r, row, 1);
	d->kind = strcmp(kind, "credit_note") == 0  ? INVOICE_KIND_CREDIT_NOTE
		  : strcmp(kind, "debit_note") == 0 ? INVOICE_KIND_DEBIT_NOTE
						    : INVOICE_KIND_INVOICE;
	text(d->customer_id, sizeof(d->customer_id), r, row, 3);
	text(d->customer_name, sizeof(d->customer_name), r, row, 4);
	invoice_period_parse(store_res_text(r, row, 5), &d->period);
	d->seq = store_res_int(r, row, 6);
	text(d->corrects_id, sizeof(d->corrects_id), r, row, 7);
	text(d->corrects_number, sizeof(d->corrects_number), r, row, 8);
	text(d->external_id, sizeof(d->external_id), r, row, 9);
	text(d->currency, sizeof(d->currency), r, row, 10);
	d->decimals = billing_currency_decimals(d->currency);
	d->opening_balance = store_res_int(r, row, 11);
	d->payments = store_res_int(r, row, 12);
	d->closing_balance = store_res_int(r, row, 13);
	d->total = store_res_int(r, row, 14);
	d->entries = store_res_int(r, row, 15);
	d->issued_at = store_res_int(r, row, 16);
	text(d->netsuite.state, sizeof(d->netsuite.state), r, row, 17);
	text(d->netsuite.record_id, sizeof(d->netsuite.record_id), r, row, 18);
	text(d->netsuite.error, sizeof(d->netsuite.error), r, row, 19);
	d->netsuite.attempts = store_res_int(r, row, 20);
	d->netsuite.sent_at = store_res_int(r, row, 21);
	d->number_seq = store_res_int(r, row, 22);
	d->netsuite.next_at = store_res_int(r, row, 23);
}

static const char lines_sql[] =
    "SELECT kind, text, count, billable_ms, amount, amount_rounded FROM invoice_lines"
    " WHERE invoice_id = $1 ORDER BY line";

static int doc_lines(struct store_conn *c, struct invoice *d)
{
	struct store_param p[1] = {store_p_text(d->id)};
	struct store_res *r = NULL;
	int rc = store_exec(c, lines_sql, p, 1, &r);

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		const char *k = store_res_text(r, i, 0);
		enum invoice_line_kind kind = INVOICE_LINE_ADJUSTMENT;
		for (int j = 0; j <= INVOICE_LINE_REFUND; j++)
			if (strcmp(k, invoice_line_kind_name((enum invoice_line_kind)j)) == 0)
				kind = (enum invoice_line_kind)j;
		struct invoice_line *l = invoice_line_get(d, kind, store_res_text(r, i, 1));
		if (!l) {
			rc = -ENOMEM;
			break;
		}
		l->count = store_res_int(r, i, 2);
		l->billable_ms = store_res_int(r, i, 3);
		l->amount = store_res_int(r, i, 4);
		l->amount_rounded = store_res_int(r, i, 5);
	}
	store_res_free(r);
	return rc;
}

int invoice_load(struct store_conn *c, const char *id, struct invoice *out)
{
	struct store_param p[1] = {store_p_text(id)};
	struct store_res *r = NULL;
	int rc = store_exec(c, "SELECT " DOC_COLS " WHERE i.id = $1", p, 1, &r);

	if (rc == 0 && store_res_rows(r) != 1)
		rc = INVOICE_ENOTFOUND;
	if (rc == 0)
		doc_read(r, 0, out);
	store_res_free(r);
	return rc ? rc : doc_lines(c, out);
}

/* Text parameters are NULL when unset, so one statement serves every filter
 * (cast: PostgreSQL must know a parameter's type before IS NULL). */
static const char list_sql[] =
    "SELECT " DOC_COLS " WHERE (CAST($1 AS TEXT) IS NULL OR i.customer_id = $1)"
    " AND (CAST($2 AS TEXT) IS NULL OR i.period = $2)"
    " AND (CAST($3 AS TEXT) IS NULL OR i.netsuite_state = $3)"
    " AND ($4 = 0 OR i.netsuite_state <> 'sent')"
    " AND ($6 = 0 OR i.number_seq < $6) ORDER BY i.number_seq DESC LIMIT $5";

int invoice_list(struct store_conn *c, const struct invoice_filter *f, invoice_each_fn each,
		 void *arg)
{
	struct store_param p[6] = {store_p_text(f->customer_id),
				   store_p_text(f->period),
				   store_p_text(f->ns_state),
				   store_p_int(f->unsent),
				   store_p_int(f->limit > 0 ? f->limit : 100),
				   store_p_int(f->before_seq)};
	struct store_res *r = NULL;
	int rc = store_exec(c, list_sql, p, 6, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct invoice d;
		invoice_init(&d);
		doc_read(r, i, &d);
		rc = each(&d, arg);
		invoice_fini(&d);
	}
	store_res_free(r);
	return rc < 0 ? rc : (int)n;
}

static const char state_sql[] = "SELECT (SELECT COALESCE(MAX(finished_at), 0) FROM invoice_runs),"
				" (SELECT failures FROM invoice_runs WHERE finished_at IS NOT NULL"
				" ORDER BY finished_at DESC LIMIT 1),"
				" (SELECT COUNT(*) FROM invoices WHERE netsuite_state = 'pending'),"
				" (SELECT COUNT(*) FROM invoices WHERE netsuite_state = 'failed')";

int invoice_state_get(struct store_conn *c, struct invoice_state *out)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, state_sql, NULL, 0, &r);

	memset(out, 0, sizeof(*out));
	if (rc == 0 && store_res_rows(r) == 1) {
		out->last_run_at = store_res_int(r, 0, 0);
		out->last_run_failures = store_res_int(r, 0, 1);
		out->ns_pending = store_res_int(r, 0, 2);
		out->ns_failed = store_res_int(r, 0, 3);
	}
	store_res_free(r);
	return rc;
}

static const char runs_sql[] =
    "SELECT id, period, COALESCE(customer_id, ''), issued, unchanged, corrected, failures,"
    " started_at, COALESCE(finished_at, 0) FROM invoice_runs ORDER BY started_at DESC, id"
    " LIMIT $1";

static json_t *ms_json(int64_t ms)
{
	return ms ? json_integer(ms) : json_null();
}

int invoice_runs_json(struct store_conn *c, int64_t limit, json_t **out)
{
	struct store_param p[1] = {store_p_int(limit)};
	struct store_res *r = NULL;
	int rc = store_exec(c, runs_sql, p, 1, &r);

	*out = json_array();
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		const char *cus = store_res_text(r, i, 2);
		json_array_append_new(
		    *out, json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:o,s:o}", "id",
				    store_res_text(r, i, 0), "period", store_res_text(r, i, 1),
				    "customer_id", cus[0] ? json_string(cus) : json_null(),
				    "issued", (json_int_t)store_res_int(r, i, 3), "unchanged",
				    (json_int_t)store_res_int(r, i, 4), "corrected",
				    (json_int_t)store_res_int(r, i, 5), "failures",
				    (json_int_t)store_res_int(r, i, 6), "started_at",
				    ms_json(store_res_int(r, i, 7)), "finished_at",
				    ms_json(store_res_int(r, i, 8))));
	}
	store_res_free(r);
	return rc;
}
