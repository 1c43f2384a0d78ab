/*
 * run.c — one invoice run: a closed period, for one customer or for every
 * customer with entries or documents in it.  Each customer's documents are
 * decided and stored in one transaction: the first run issues the
 * invoice; a rerun issues nothing when the ledger still says what the
 * documents say, and one credit or debit note for the difference when it
 * does not (docs/decisions/0040).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoice/invoice_private.h"

#define RUN_TRIES                                                                                  \
	10 /* attempts at one customer's month; each conflict means another run committed */

static const char customers_sql[] =
    "SELECT customer_id FROM ledger_entries WHERE created_at >= $1 AND created_at < $2"
    " UNION SELECT customer_id FROM invoices WHERE period = $3 ORDER BY 1";
static const char run_insert_sql[] =
    "INSERT INTO invoice_runs (id, period, customer_id, started_at) VALUES ($1, $2, $3, $4)";
static const char run_counts_sql[] =
    "UPDATE invoice_runs SET issued = $2, unchanged = $3, corrected = $4, failures = $5,"
    " finished_at = $6 WHERE id = $1";

static bool line_differs(const struct invoice_line *a, const struct invoice_line *b)
{
	return a->count != b->count || a->billable_ms != b->billable_ms || a->amount != b->amount ||
	       a->amount_rounded != b->amount_rounded;
}

/* doc's lines: fresh minus what was issued, for every line that differs. */
static int correction_lines(const struct invoice *fresh, const struct invoice *sum,
			    struct invoice *doc)
{
	const struct invoice *from[2] = {fresh, sum};
	for (int side = 0; side < 2; side++)
		for (size_t i = 0; i < from[side]->nlines; i++) {
			const struct invoice_line *l = &from[side]->lines[i];
			struct invoice_line *d = invoice_line_get(doc, l->kind, l->text);
			if (!d)
				return INVOICE_ETOOMANY;
			int sign = side == 0 ? 1 : -1;
			d->count += sign * l->count;
			d->billable_ms += sign * l->billable_ms;
			d->amount += sign * l->amount;
			d->amount_rounded += sign * l->amount_rounded;
		}
	size_t kept = 0;
	static const struct invoice_line zero;
	for (size_t i = 0; i < doc->nlines; i++)
		if (line_differs(&doc->lines[i], &zero)) {
			doc->lines[kept++] = doc->lines[i];
			doc->total += doc->lines[i].amount_rounded;
		}
	doc->nlines = kept;
	return 0;
}

/* What the ledger says against what was issued: *action and doc. */
static int run_decide(struct store_conn *c, struct invoice *fresh, int64_t now,
		      struct invoice_outcome *out)
{
	struct invoice sum, first;
	int64_t next = 0;
	int rc;

	invoice_init(&sum);
	invoice_init(&first);
	rc = invoice_issued_sum(c, fresh->customer_id, fresh->period.name, &sum, &first, &next);
	if (rc == 0 && fresh->entries == 0) {
		out->action = INVOICE_EMPTY; /* nothing to invoice, nothing issued */
		goto done;
	}
	if (rc == 0) {
		out->action = INVOICE_ISSUED;
		out->doc = *fresh; /* takes the lines */
		invoice_init(fresh);
		out->doc.issued_at = now;
		goto done;
	}
	if (rc < 0)
		goto done;
	struct invoice *doc = &out->doc;
	*doc = *fresh;
	doc->lines = NULL;
	doc->nlines = doc->cap = doc->total = 0;
	doc->payments = 0;
	rc = correction_lines(fresh, &sum, doc);
	if (rc == 0 && doc->nlines == 0) {
		out->action = INVOICE_UNCHANGED;
		invoice_fini(doc);
		rc = invoice_load(c, first.id, doc);
		goto done;
	}
	out->action = INVOICE_CORRECTED;
	doc->kind = doc->total > 0 ? INVOICE_KIND_DEBIT_NOTE : INVOICE_KIND_CREDIT_NOTE;
	doc->seq = next;
	doc->issued_at = now;
	memcpy(doc->corrects_id, first.id, sizeof(first.id));
	memcpy(doc->corrects_number, first.number, sizeof(first.number));
	snprintf(doc->external_id, sizeof(doc->external_id), "WARP-%s-%04d%02d-%lld",
		 doc->customer_id, doc->period.year, doc->period.month, (long long)next);
done:
	invoice_fini(&sum);
	invoice_fini(&first);
	return rc < 0 ? rc : 0;
}

/* One attempt at a customer's month: computed before the write lock is
 * taken (a big month's reads hold up no writer; an entry committed
 * meanwhile is found by the next run and corrected then), then decided and
 * stored in one transaction. */
static int run_customer_once(struct store_conn *c, const char *customer,
			     const struct invoice_period *p, bool dry, int64_t now,
			     struct invoice_outcome *out)
{
	struct invoice fresh;
	int rc;

	invoice_init(&fresh);
	invoice_fini(&out->doc);
	invoice_init(&out->doc);
	rc = invoice_compute(c, customer, p, &fresh);
	if (rc == 0 && !dry)
		rc = store_tx_begin(c);
	if (rc == 0) {
		rc = run_decide(c, &fresh, now, out);
		if (rc == 0 && !dry &&
		    (out->action == INVOICE_ISSUED || out->action == INVOICE_CORRECTED))
			rc = invoice_store(c, &out->doc);
		if (!dry)
			rc = rc == 0 ? store_tx_commit(c) : (store_tx_rollback(c), rc);
	}
	invoice_fini(&fresh);
	return rc;
}

static int run_customer(struct store_conn *c, const char *customer, const struct invoice_period *p,
			bool dry, int64_t now, struct invoice_outcome *out)
{
	int rc;

	invoice_init(&out->doc);
	str_copy(out->customer_id, sizeof(out->customer_id), str_from_cstr(customer));
	/* A concurrent run (PostgreSQL) that took the next number or issued
	 * this customer's document first makes the insert conflict: decided
	 * again, this run then numbers after it or finds the month unchanged. */
	for (int tries = 0;; tries++) {
		rc = run_customer_once(c, customer, p, dry, now, out);
		if ((rc != STORE_ECONFLICT && rc != STORE_EBUSY) || tries == RUN_TRIES - 1)
			break;
	}
	if (rc < 0) {
		out->action = INVOICE_FAILED;
		snprintf(out->error, sizeof(out->error), "%s", invoice_strerror(rc));
		log_warn("invoice", "customer %s, period %s: %s", customer, p->name, out->error);
	}
	return rc;
}

static struct invoice_outcome *run_outcome_add(struct invoice_run *run)
{
	if (run->n == run->cap) {
		size_t cap = run->cap ? run->cap * 2 : 8;
		struct invoice_outcome *o = realloc(run->outcomes, cap * sizeof(*o));
		if (!o)
			return NULL;
		run->outcomes = o;
		run->cap = cap;
	}
	struct invoice_outcome *o = &run->outcomes[run->n++];
	memset(o, 0, sizeof(*o));
	return o;
}

/* 0 when the customer exists, INVOICE_ENOCUSTOMER when not: checked
 * before the run is recorded, so an unknown customer leaves no run. */
static int run_customer_exists(struct store_conn *c, const char *customer_id)
{
	struct store_param p[1] = {store_p_text(customer_id)};
	struct store_res *r = NULL;
	int rc = store_exec(c, "SELECT 1 FROM customers WHERE id = $1", p, 1, &r);

	if (rc == 0 && store_res_rows(r) != 1)
		rc = INVOICE_ENOCUSTOMER;
	store_res_free(r);
	return rc;
}

static int run_customers(struct store_conn *c, const char *customer_id, struct invoice_run *run)
{
	struct store_param p[3] = {store_p_int(run->period.start_ms),
				   store_p_int(run->period.end_ms), store_p_text(run->period.name)};
	struct store_res *r = NULL;
	int rc = 0;

	if (customer_id) {
		struct invoice_outcome *o = run_outcome_add(run);
		if (!o)
			return -ENOMEM;
		run_customer(c, customer_id, &run->period, run->dry_run, run->started_at, o);
		return 0;
	}
	rc = store_exec(c, customers_sql, p, 3, &r);
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct invoice_outcome *o = run_outcome_add(run);
		if (!o)
			rc = -ENOMEM;
		else
			run_customer(c, store_res_text(r, i, 0), &run->period, run->dry_run,
				     run->started_at, o);
	}
	store_res_free(r);
	return rc;
}

int invoice_run(struct store_conn *c, const struct invoice_opts *o, const char *period,
		const char *customer_id, bool dry_run, int64_t now_ms, struct invoice_run *run)
{
	int rc;

	memset(run, 0, sizeof(*run));
	run->dry_run = dry_run;
	run->started_at = now_ms;
	rc = invoice_period_parse(period, &run->period);
	if (rc == 0 && run->period.end_ms + o->close_delay_ms > now_ms)
		rc = INVOICE_EOPEN;
	if (rc == 0 && customer_id)
		rc = run_customer_exists(c, customer_id);
	if (rc == 0 && !dry_run) {
		rc = id_new("ivr", run->id, sizeof(run->id));
		struct store_param p[4] = {store_p_text(run->id), store_p_text(run->period.name),
					   store_p_text(customer_id), store_p_int(now_ms)};
		rc = rc ? rc : store_exec(c, run_insert_sql, p, 4, NULL);
	}
	rc = rc ? rc : run_customers(c, customer_id, run);
	for (size_t i = 0; i < run->n; i++)
		run->failures += run->outcomes[i].action == INVOICE_FAILED;
	return rc;
}

int invoice_run_finish(struct store_conn *c, struct invoice_run *run, int64_t now_ms)
{
	int64_t count[5] = {0};

	run->finished_at = now_ms;
	if (run->dry_run || !run->id[0])
		return 0;
	for (size_t i = 0; i < run->n; i++)
		count[run->outcomes[i].action]++;
	struct store_param p[6] = {store_p_text(run->id),
				   store_p_int(count[INVOICE_ISSUED]),
				   store_p_int(count[INVOICE_UNCHANGED]),
				   store_p_int(count[INVOICE_CORRECTED]),
				   store_p_int(run->failures),
				   store_p_int(now_ms)};
	return store_exec(c, run_counts_sql, p, 6, NULL);
}

void invoice_run_fini(struct invoice_run *run)
{
	for (size_t i = 0; i < run->n; i++)
		invoice_fini(&run->outcomes[i].doc);
	free(run->outcomes);
	run->outcomes = NULL;
	run->n = run->cap = 0;
}
