/*
 * issue.c — issued documents in the store: what a period's documents add
 * up to, and storing a new one with its number and lines.  Documents are
 * only ever inserted; their NetSuite state is the one thing updated later
 * (netsuite_send.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "invoice/invoice_private.h"

static const char docs_sql[] =
    "SELECT id, number, seq, currency FROM invoices WHERE customer_id = $1 AND period = $2"
    " ORDER BY seq";
static const char sum_sql[] =
    "SELECT l.kind, l.text, SUM(l.count), SUM(l.billable_ms), SUM(l.amount),"
    " SUM(l.amount_rounded) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
    " WHERE i.customer_id = $1 AND i.period = $2 GROUP BY l.kind, l.text";

static int line_kind_parse(const char *s, enum invoice_line_kind *k)
{
	for (int i = 0; i <= INVOICE_LINE_REFUND; i++)
		if (strcmp(s, invoice_line_kind_name((enum invoice_line_kind)i)) == 0) {
			*k = (enum invoice_line_kind)i;
			return 0;
		}
	return -EINVAL;
}

static int issued_lines(struct store_conn *c, const struct store_param *p, struct invoice *sum)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, sum_sql, p, 2, &r);

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		enum invoice_line_kind k;
		struct invoice_line *l;
		if (line_kind_parse(store_res_text(r, i, 0), &k) < 0)
			rc = -EINVAL;
		else if (!(l = invoice_line_get(sum, k, store_res_text(r, i, 1))))
			rc = INVOICE_ETOOMANY;
		else {
			l->count = store_res_int(r, i, 2);
			l->billable_ms = store_res_int(r, i, 3);
			l->amount = store_res_int(r, i, 4);
			l->amount_rounded = store_res_int(r, i, 5);
		}
	}
	store_res_free(r);
	return rc;
}

int invoice_issued_sum(struct store_conn *c, const char *customer_id, const char *period,
		       struct invoice *sum, struct invoice *first, int64_t *next_seq)
{
	struct store_param p[2] = {store_p_text(customer_id), store_p_text(period)};
	struct store_res *r = NULL;
	int rc = store_exec(c, docs_sql, p, 2, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (n) {
		str_copy(first->id, sizeof(first->id), str_from_cstr(store_res_text(r, 0, 0)));
		str_copy(first->number, sizeof(first->number),
			 str_from_cstr(store_res_text(r, 0, 1)));
		*next_seq = store_res_int(r, n - 1, 2) + 1;
	}
	store_res_free(r);
	rc = rc == 0 && n ? issued_lines(c, p, sum) : rc;
	return rc < 0 ? rc : (int)n;
}

static const char insert_sql[] =
    "INSERT INTO invoices (id, number_seq, number, kind, customer_id, customer_name, period, seq,"
    " corrects_id, external_id, currency, opening_balance, payments, closing_balance, total,"
    " entries, issued_at) SELECT $1, COALESCE(MAX(number_seq), 0) + 1,"
    " $2 || SUBSTR(CAST(1000001 + COALESCE(MAX(number_seq), 0) AS TEXT), 2), $3, $4, $5, $6, $7,"
    " $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM invoices RETURNING number";
static const char line_sql[] =
    "INSERT INTO invoice_lines (invoice_id, line, kind, text, count, billable_ms, amount,"
    " amount_rounded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

static int store_lines(struct store_conn *c, const struct invoice *doc)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < doc->nlines; i++) {
		const struct invoice_line *l = &doc->lines[i];
		struct store_param p[8] = {store_p_text(doc->id),
					   store_p_int((int64_t)i + 1),
					   store_p_text(invoice_line_kind_name(l->kind)),
					   store_p_text(l->text),
					   store_p_int(l->count),
					   store_p_int(l->billable_ms),
					   store_p_int(l->amount),
					   store_p_int(l->amount_rounded)};
		rc = store_exec(c, line_sql, p, 8, NULL);
	}
	return rc;
}

int invoice_store(struct store_conn *c, struct invoice *doc)
{
	static const char *const prefixes[] = {"INV-", "CN-", "DN-"};
	struct store_res *r = NULL;
	int rc = id_new("inv", doc->id, sizeof(doc->id));

	if (rc < 0)
		return rc;
	/* Numbers run 1, 2, 3 … across kinds under the writer's lock (SQLite's
	 * BEGIN IMMEDIATE; on PostgreSQL a concurrent run meets the UNIQUE
	 * constraint and its transaction is retried). */
	struct store_param p[16] = {store_p_text(doc->id),
				    store_p_text(prefixes[doc->kind]),
				    store_p_text(invoice_kind_name(doc->kind)),
				    store_p_text(doc->customer_id),
				    store_p_text(doc->customer_name),
				    store_p_text(doc->period.name),
				    store_p_int(doc->seq),
				    doc->corrects_id[0] ? store_p_text(doc->corrects_id)
							: store_p_null(),
				    store_p_text(doc->external_id),
				    store_p_text(doc->currency),
				    store_p_int(doc->opening_balance),
				    store_p_int(doc->payments),
				    store_p_int(doc->closing_balance),
				    store_p_int(doc->total),
				    store_p_int(doc->entries),
				    store_p_int(doc->issued_at)};
	rc = store_exec(c, insert_sql, p, 16, &r);
	if (rc == 0 && store_res_rows(r) == 1)
		str_copy(doc->number, sizeof(doc->number), str_from_cstr(store_res_text(r, 0, 0)));
	store_res_free(r);
	return rc ? rc : store_lines(c, doc);
}
