/*
 * compute.c — a customer's invoice for a period, computed from its ledger
 * entries (ledger_entries, migration 0017): charges grouped into lines by
 * zone, adjustments and refunds by their text, top-ups as payments, and
 * the balances at the period's start and end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "invoice/invoice_private.h"

#define COMPUTE_PAGE 5000 /* entries read at once */

int64_t invoice_round(int64_t amount, int decimals)
{
	int64_t step = 1;
	for (int i = decimals; i < 6; i++)
		step *= 10;
	int64_t mag = amount < 0 ? -amount : amount;
	mag = (mag + step / 2) / step * step; /* half away from zero, as billing_money_format */
	return amount < 0 ? -mag : mag;
}

void invoice_text_copy(char *dst, const char *s)
{
	size_t n = strlen(s);
	if (n > INVOICE_TEXT_MAX) {
		n = INVOICE_TEXT_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--; /* not inside a UTF-8 sequence */
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

struct invoice_line *invoice_line_get(struct invoice *inv, enum invoice_line_kind kind,
				      const char *text)
{
	char t[INVOICE_TEXT_MAX + 1];

	invoice_text_copy(t, text);
	for (size_t i = 0; i < inv->nlines; i++)
		if (inv->lines[i].kind == kind && strcmp(inv->lines[i].text, t) == 0)
			return &inv->lines[i];
	if (inv->nlines == INVOICE_LINES_MAX)
		return NULL;
	if (inv->nlines == inv->cap) {
		size_t cap = inv->cap ? inv->cap * 2 : 16;
		struct invoice_line *l = realloc(inv->lines, cap * sizeof(*l));
		if (!l)
			return NULL;
		inv->lines = l;
		inv->cap = cap;
	}
	struct invoice_line *l = &inv->lines[inv->nlines++];
	memset(l, 0, sizeof(*l));
	l->kind = kind;
	memcpy(l->text, t, sizeof(t));
	return l;
}

/* Lines in a stable order: calls, SMS, adjustments, refunds, each by text. */
static int line_cmp(const void *a, const void *b)
{
	const struct invoice_line *x = a, *y = b;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(x->text, y->text);
}

/* Adds one entry (the columns of entries_sql) to inv. */
static int compute_entry(struct store_conn *c, struct invoice *inv, const struct store_res *r,
			 size_t row)
{
	enum billing_entry_kind k;
	int64_t amount = store_res_int(r, row, 1);
	struct invoice_usage u = {{0}, 0, 0};
	struct invoice_line *l;
	int rc;

	if (billing_entry_kind_parse(store_res_text(r, row, 0), &k) < 0)
		return -EINVAL;
	inv->entries++;
	if (k == BILLING_TOPUP) {
		inv->payments += amount;
		return 0;
	}
	if (k == BILLING_CALL_CHARGE && strcmp(store_res_text(r, row, 2), "cdr_batch") == 0)
		return invoice_usage_batch(c, inv, store_res_text(r, row, 6), amount);
	if (k == BILLING_CALL_CHARGE || k == BILLING_MESSAGE_CHARGE) {
		rc = invoice_usage_get(c, inv->customer_id, (int)k, store_res_text(r, row, 2),
				       store_res_text(r, row, 3), &u);
		if (rc < 0)
			return rc;
		l = invoice_line_get(
		    inv, k == BILLING_CALL_CHARGE ? INVOICE_LINE_CALLS : INVOICE_LINE_SMS, u.zone);
	} else {
		const char *d = store_res_text(r, row, 4);
		l = invoice_line_get(
		    inv, k == BILLING_REFUND ? INVOICE_LINE_REFUND : INVOICE_LINE_ADJUSTMENT,
		    d[0] ? d : billing_entry_kind_name(k));
	}
	if (!l)
		return INVOICE_ETOOMANY;
	l->count += k == BILLING_MESSAGE_CHARGE ? u.segments : 1;
	l->billable_ms += u.billable_ms;
	l->amount -= amount; /* the ledger's charges are negative: owed is positive */
	return 0;
}

static const char entries_sql[] =
    "SELECT kind, amount, COALESCE(reference_type, ''), COALESCE(reference_id, ''), description,"
    " seq, id FROM ledger_entries WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3"
    " AND seq > $4 ORDER BY seq LIMIT $5";

static int compute_entries(struct store_conn *c, struct invoice *inv)
{
	int64_t after = 0;
	size_t got;
	int rc;

	do {
		struct store_param p[5] = {
		    store_p_text(inv->customer_id), store_p_int(inv->period.start_ms),
		    store_p_int(inv->period.end_ms), store_p_int(after), store_p_int(COMPUTE_PAGE)};
		struct store_res *r = NULL;
		rc = store_exec(c, entries_sql, p, 5, &r);
		got = rc == 0 ? store_res_rows(r) : 0;
		for (size_t i = 0; rc == 0 && i < got; i++)
			rc = compute_entry(c, inv, r, i);
		if (got)
			after = store_res_int(r, got - 1, 5);
		store_res_free(r);
	} while (rc == 0 && got == COMPUTE_PAGE);
	return rc;
}

static const char head_sql[] =
    "SELECT cu.name, cu.currency,"
    " (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = $1"
    " AND created_at < $2),"
    " (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE customer_id = $1"
    " AND created_at < $3) FROM customers cu WHERE cu.id = $1";

int invoice_compute(struct store_conn *c, const char *customer_id, const struct invoice_period *p,
		    struct invoice *out)
{
	struct store_param prm[3] = {store_p_text(customer_id), store_p_int(p->start_ms),
				     store_p_int(p->end_ms)};
	struct store_res *r = NULL;
	int rc = store_exec(c, head_sql, prm, 3, &r);

	if (rc == 0 && store_res_rows(r) != 1)
		rc = INVOICE_ENOCUSTOMER;
	if (rc == 0) {
		str_copy(out->customer_id, sizeof(out->customer_id), str_from_cstr(customer_id));
		invoice_text_copy(out->customer_name, store_res_text(r, 0, 0));
		str_copy(out->currency, sizeof(out->currency),
			 str_from_cstr(store_res_text(r, 0, 1)));
		out->opening_balance = store_res_int(r, 0, 2);
		out->closing_balance = store_res_int(r, 0, 3);
		out->period = *p;
		out->decimals = billing_currency_decimals(out->currency);
		snprintf(out->external_id, sizeof(out->external_id), "WARP-%s-%04d%02d-0",
			 customer_id, p->year, p->month);
	}
	store_res_free(r);
	rc = rc ? rc : compute_entries(c, out);
	if (rc == 0) {
		qsort(out->lines, out->nlines, sizeof(*out->lines), line_cmp);
		for (size_t i = 0; i < out->nlines; i++) {
			out->lines[i].amount_rounded =
			    invoice_round(out->lines[i].amount, out->decimals);
			out->total += out->lines[i].amount_rounded;
		}
	}
	return rc;
}
