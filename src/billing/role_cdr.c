/*
 * role_cdr.c — the billing role's CDR batches: the pending rows of
 * cdr_ratings (a trigger of migration 0025 adds one per new CDR), then the
 * quarantined ones the snapshot has changed for, each priced by
 * billing_rate_record at its start time, written back with its ledger
 * charge in one transaction: the batch's charges posted together
 * (role_ledger.c) and its rows written with a few multi-row upserts
 * (role_rows.c), so a CDR costs a fraction of a statement.
 *
 * What is priced: a termination's dialled number (normalised E.164, else
 * as dialled), its customer and trunk for the sell price, the carrier that
 * answered (cdrs.carrier_id, the answering attempt's) for the buy cost.
 * An origination (a call to a customer's number) owes nothing under the
 * decks of issue 10 and is rated at 0 with its zone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "role_private.h"

/* SQLite: the rating row's rowid too, which its update goes by (no
 * look-up of the random cdr_id in its index; decision 0052). */
#define CDR_SELECT(rowid)                                                                          \
	"SELECT c.id, c.customer_id, c.trunk_id, c.carrier_id, c.normalized, c.dialed, "           \
	"c.start_ms, c.answer_ms, c.duration_ms, c.direction, g.charged, g.ratings, "              \
	"c.created_at, " rowid ", g.rating_version FROM cdr_ratings g JOIN cdrs c ON "             \
	"c.id = g.cdr_id "

/* A re-rating asked for after a provisioning change names the version it
 * waits for in rating_version (src/api/cdrs.c). */
#define CDR_PENDING "WHERE g.state = 'pending' AND g.rating_version <= $2 LIMIT $1"
#define CDR_RETRY "WHERE g.state = 'quarantined' AND g.rating_version < $2 LIMIT $1"
/* PostgreSQL: the rows a batch rates are locked until it commits, and
 * skipped by other billing processes, so several share the stream and a
 * re-rating asked for meanwhile waits and then takes effect (SQLite's
 * BEGIN IMMEDIATE serializes all of that already). */
#define CDR_CLAIM " FOR UPDATE OF g SKIP LOCKED"
static const char *const cdr_pending_sql[2] = {CDR_SELECT("g.rowid") CDR_PENDING,
					       CDR_SELECT("0") CDR_PENDING CDR_CLAIM};
static const char *const cdr_retry_sql[2] = {CDR_SELECT("g.rowid") CDR_RETRY,
					     CDR_SELECT("0") CDR_RETRY CDR_CLAIM};

enum {
	C_ID,
	C_CUST,
	C_TRUNK,
	C_CARRIER,
	C_NORM,
	C_DIALED,
	C_START,
	C_ANSWER,
	C_DUR,
	C_DIR,
	C_CHARGED,
	C_RATINGS,
	C_CREATED,
	C_ROWID,
	C_VERSION
};

static struct str col(const struct store_res *r, size_t row, int c)
{
	return str_from_cstr(store_res_text(r, row, (size_t)c));
}

static void cdr_record(const struct store_res *r, size_t i, struct billing_record *in)
{
	bool termination = strcmp(store_res_text(r, i, C_DIR), "termination") == 0;

	*in = (struct billing_record){
	    .svc = BILLING_VOICE,
	    .customer_id = col(r, i, C_CUST),
	    .trunk_id = col(r, i, C_TRUNK),
	    .carrier_id = col(r, i, C_CARRIER),
	    .number = store_res_isnull(r, i, C_NORM) ? col(r, i, C_DIALED) : col(r, i, C_NORM),
	    .t_ms = store_res_int(r, i, C_START),
	    .billable =
		termination && !store_res_isnull(r, i, C_ANSWER) && store_res_int(r, i, C_DUR) > 0,
	    .duration_ms = store_res_int(r, i, C_DUR),
	};
}

/* One CDR of a batch: its price and, when it moves money, its posting. */
struct cdr_item {
	const char *id;
	int64_t rowid;	 /* SQLite's, of the rating row */
	int64_t version; /* its rating_version as read */
	bool skip;	 /* changed since it was read outside the batch's transaction */
	struct billing_rated p;
	int64_t charged, ratings; /* as stored: the ledger's amount, the ratings so far */
	bool posts;
	struct role_post post;
};

#define CDR_RATED_COLS (ROLE_PRICE_PARAMS + 4)
#define CDR_QUARANTINE_COLS 6

/* What the CDR owes the ledger now: the first rating's charge, or a
 * re-rating's difference from what the ledger holds (decision 0036).  A
 * postpaid customer's first charges of a batch share one entry (decision
 * 0052); a prepaid customer's call is charged alone under cdr:<id>, the
 * key its settlement by the sip role posts under. */
static void cdr_posting(struct cdr_item *it, const char *customer_id, bool prepaid)
{
	struct role_post *x = &it->post;
	int64_t diff = it->charged - it->p.sell;

	it->posts = it->ratings == 0 ? it->p.sell > 0 : diff != 0;
	if (!it->posts)
		return;
	x->customer_id = customer_id;
	x->foldable = it->ratings == 0 && !prepaid;
	x->reference_type = "cdr";
	x->reference_id = it->id;
	if (it->ratings == 0) {
		x->kind = BILLING_CALL_CHARGE;
		x->amount = -it->p.sell;
		snprintf(x->key, sizeof(x->key), "cdr:%s", it->id);
	} else {
		x->kind = BILLING_ADJUSTMENT;
		x->amount = diff;
		snprintf(x->key, sizeof(x->key), "cdr:%s:r%lld", it->id,
			 (long long)it->ratings + 1);
	}
	/* the zone first, for invoices grouping charges by it */
	snprintf(x->description, sizeof(x->description), "zone %s: %s",
		 it->p.zone[0] ? it->p.zone : "-", it->p.destination);
}

/* After the postings: what the ledger holds for each rated CDR, or its
 * quarantine when the ledger refused its entry. */
static void cdr_posted(struct cdr_item *it)
{
	if (!it->posts) {
		if (it->ratings == 0)
			it->charged = 0;
		return;
	}
	if (it->post.result < 0) {
		it->p.state = BILLING_RECORD_QUARANTINED;
		it->p.reason = "ledger_refused";
		it->p.side = "sell";
	} else if (it->post.result == ROLE_FOUND && it->ratings == 0) {
		it->charged = -it->post.found_amount; /* settled by prepaid under the same key */
	} else {
		it->charged = it->p.sell;
	}
}

/* The folded entry a CDR's first charge went into and its part of it;
 * NULL for one charged alone (or not at all). */
static void cdr_entry_params(const struct cdr_item *it, struct store_param *v)
{
	bool folded = it->posts && it->post.folded;

	v[0] = folded ? store_p_text(it->post.id) : store_p_null();
	v[1] = folded ? store_p_int(-it->post.amount) : store_p_null();
}

/* The batch's rows back: the rated ones with their prices, the
 * quarantined ones with the reason (their last prices kept). */
/* The rated rows: SQLite updates each by its rowid from one VALUES list
 * (UPDATE … FROM: no look-up of the random cdr_id, decision 0052);
 * PostgreSQL upserts by cdr_id (its VALUES would want a cast per column).
 * A re-rating keeps the entry its first charge went into. */
static const char *const cdr_rated_head[2] = {
    "UPDATE cdr_ratings SET currency = v.column2, sell = v.column3, buy_currency = v.column4, "
    "buy = v.column5, margin = v.column6, prefix = v.column7, zone = v.column8, destination = "
    "v.column9, sell_deck_id = v.column10, sell_deck_version = v.column11, buy_deck_id = "
    "v.column12, buy_deck_version = v.column13, charged = v.column14, ratings = v.column15, "
    "rating_version = v.column16, rated_at = v.column17, billable_s = v.column18, state = "
    "v.column19, reason = NULL, side = NULL, entry_id = COALESCE(v.column20, entry_id), "
    "entry_amount = COALESCE(v.column21, entry_amount) FROM (",
    "INSERT INTO cdr_ratings (cdr_id, " ROLE_PRICE_COLUMNS
    ", billable_s, state, entry_id, entry_amount)"};
static const char *const cdr_rated_tail[2] = {
    ") AS v WHERE cdr_ratings.rowid = v.column1",
    "ON CONFLICT (cdr_id) DO UPDATE SET " ROLE_PRICE_EXCLUDED
    ", billable_s = excluded.billable_s, state = excluded.state, reason = NULL, "
    "side = NULL, entry_id = COALESCE(excluded.entry_id, cdr_ratings.entry_id), "
    "entry_amount = COALESCE(excluded.entry_amount, cdr_ratings.entry_amount)"};

static int cdr_write(struct store_conn *c, int pg, const struct cdr_item *it, size_t n,
		     int64_t version, struct store_param *v)
{
	size_t nr = 0, nq = 0;
	int64_t now = time_wall_ms();
	int rc;

	for (size_t i = 0; i < n; i++)
		if (it[i].p.state == BILLING_RECORD_RATED && !it[i].skip) {
			struct store_param *r = v + nr++ * CDR_RATED_COLS;

			r[0] = pg ? store_p_text(it[i].id) : store_p_int(it[i].rowid);
			role_price_params(&it[i].p, it[i].charged, it[i].ratings + 1, version, r);
			r[ROLE_PRICE_PARAMS] = store_p_int(it[i].p.billable_s);
			r[ROLE_PRICE_PARAMS + 1] = store_p_text("rated");
			cdr_entry_params(&it[i], r + ROLE_PRICE_PARAMS + 2);
		}
	rc = role_exec_rows(c, cdr_rated_head[pg], cdr_rated_tail[pg], CDR_RATED_COLS, v, nr);
	for (size_t i = 0; i < n; i++)
		if (it[i].p.state == BILLING_RECORD_QUARANTINED && !it[i].skip) {
			struct store_param *q = v + nq++ * CDR_QUARANTINE_COLS;

			q[0] = store_p_text(it[i].id);
			q[1] = store_p_text(it[i].p.reason);
			q[2] = store_p_text(it[i].p.side);
			q[3] = store_p_int(version);
			q[4] = store_p_int(now);
			q[5] = store_p_text("quarantined");
		}
	return rc ? rc
		  : role_exec_rows(
			c,
			"INSERT INTO cdr_ratings (cdr_id, reason, side, rating_version, "
			"rated_at, state)",
			"ON CONFLICT (cdr_id) DO UPDATE SET state = 'quarantined', reason = "
			"excluded.reason, side = excluded.side, rating_version = "
			"excluded.rating_version, rated_at = excluded.rated_at",
			CDR_QUARANTINE_COLS, v, nq);
}

static bool cdr_prepaid(const struct billing_rating *r, struct str customer_id)
{
	const struct billing_customer *cu = billing_rating_customer(r, customer_id);

	return cu && cu->prepaid;
}

/* Prices rows[0..n) of res into it[] (no store access). */
static void cdr_price_all(const struct billing_rating *r, const struct store_res *res,
			  struct cdr_item *it, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct billing_record in;

		it[i].id = store_res_text(res, i, C_ID);
		it[i].rowid = store_res_int(res, i, C_ROWID);
		it[i].version = store_res_int(res, i, C_VERSION);
		it[i].charged = store_res_int(res, i, C_CHARGED);
		it[i].ratings = store_res_int(res, i, C_RATINGS);
		cdr_record(res, i, &in);
		if (billing_rate_record(r, &in, &it[i].p) == BILLING_RECORD_RATED)
			cdr_posting(&it[i], store_res_text(res, i, C_CUST),
				    cdr_prepaid(r, in.customer_id));
	}
}

/* Posts the money of it[0..n) (those not skipped) in one go and writes
 * them back, in the caller's transaction; out counts them. */
static int cdr_commit_items(struct store_conn *c, const struct billing_role_opts *o,
			    int64_t version, struct cdr_item *it, size_t n, struct role_pass *out)
{
	struct role_post **posts = calloc(n ? n : 1, sizeof(*posts));
	struct store_param *v = calloc(n ? n * CDR_RATED_COLS : 1, sizeof(*v));
	size_t np = 0;
	int rc = posts && v ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && rc == 0; i++)
		if (it[i].posts && !it[i].skip)
			posts[np++] = &it[i].post;
	rc = rc ? rc : role_ledger_post_many(c, &o->ledger, posts, np);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct role_post *x = &it[i].post;

		if (it[i].skip)
			continue;
		if (it[i].posts && x->result < 0)
			out->refused[x->kind]++;
		else if (it[i].posts && (!x->folded || x->fold_head)) /* an entry once */
			(x->result == ROLE_FOUND ? out->found : out->posted)[x->kind]++;
		if (it[i].p.state == BILLING_RECORD_RATED)
			cdr_posted(&it[i]);
		if (it[i].p.state == BILLING_RECORD_RATED)
			out->rated++;
		else
			out->quarantined++;
	}
	rc = rc ? rc : cdr_write(c, store_kind(o->store) == STORE_POSTGRES, it, n, version, v);
	free(posts);
	free(v);
	return rc;
}

/* Rates rows[0..n) of res into it[], posts their money in one go, writes
 * them back; out counts them. */
static int cdr_rate_all(struct store_conn *c, const struct billing_rating *r, int64_t version,
			const struct billing_role_opts *o, const struct store_res *res,
			struct cdr_item *it, size_t n, struct role_pass *out)
{
	cdr_price_all(r, res, it, n);
	return cdr_commit_items(c, o, version, it, n, out);
}

static int cdr_batch(struct store_conn *c, const struct billing_rating *r, int64_t version,
		     const struct billing_role_opts *o, const char *sql, struct role_pass *out)
{
	struct store_param p[] = {store_p_int(o->batch), store_p_int(version)};
	struct store_res *res = NULL;
	struct cdr_item *it = NULL;
	int rc = store_exec(c, sql, p, 2, &res);
	size_t n = rc == 0 ? store_res_rows(res) : 0;

	if (n && !(it = calloc(n, sizeof(*it))))
		rc = -ENOMEM;
	rc = rc || !n ? rc : cdr_rate_all(c, r, version, o, res, it, n, out);
	for (size_t i = 0; i < n; i++) {
		int64_t created = store_res_int(res, i, C_CREATED);

		if (!out->oldest_ms || created < out->oldest_ms)
			out->oldest_ms = created;
	}
	if ((int64_t)n >= o->batch)
		out->full = true;
	free(it);
	store_res_free(res);
	return rc;
}
int role_cdr_pass(struct store_conn *c, const struct billing_rating *r, int64_t version,
		  const struct billing_role_opts *o, struct role_pass *out)
{
	int pg = store_kind(o->store) == STORE_POSTGRES;
	int rc = store_tx_begin(c);

	memset(out, 0, sizeof(*out));
	rc = rc ? rc : cdr_batch(c, r, version, o, cdr_pending_sql[pg], out);
	if (rc == 0 && !out->full)
		rc = cdr_batch(c, r, version, o, cdr_retry_sql[pg], out);
	rc = rc ? rc : store_tx_commit(c);
	if (rc != 0) {
		store_tx_rollback(c);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

/* ------------------------------------------------- read ahead (SQLite) */

/* The pending rows after the cursor (rating_version, rowid), in that order:
 * the rows of the batch being written meanwhile are still pending in the
 * store this reads, and are passed over (role_pipe.c, decision 0052). */
static const char cdr_ahead_sql[] =
    CDR_SELECT("g.rowid") "WHERE g.state = 'pending' AND g.rating_version <= $2 AND "
			  "(g.rating_version, g.rowid) > ($3, $4) ORDER BY g.rating_version, "
			  "g.rowid LIMIT $1";

struct role_cdr_batch {
	struct store_res *res;
	struct cdr_item *it;
	size_t n;
	int64_t version;
	int64_t oldest_ms;
};

void role_cdr_batch_free(struct role_cdr_batch *b)
{
	if (!b)
		return;
	store_res_free(b->res);
	free(b->it);
	free(b);
}

int role_cdr_read(struct store_conn *c, const struct billing_rating *r, int64_t version, int batch,
		  int64_t cursor[2], struct role_cdr_batch **out, bool *full)
{
	struct store_param p[] = {store_p_int(batch), store_p_int(version), store_p_int(cursor[0]),
				  store_p_int(cursor[1])};
	struct role_cdr_batch *b = calloc(1, sizeof(*b));
	int rc = b ? store_exec(c, cdr_ahead_sql, p, 4, &b->res) : -ENOMEM;

	*out = NULL;
	b &&rc == 0 ? (void)(b->n = store_res_rows(b->res)) : (void)0;
	if (rc == 0 && b->n && !(b->it = calloc(b->n, sizeof(*b->it))))
		rc = -ENOMEM;
	if (rc != 0 || !b->n) {
		role_cdr_batch_free(b);
		*full = false;
		return rc;
	}
	b->version = version;
	cdr_price_all(r, b->res, b->it, b->n);
	for (size_t i = 0; i < b->n; i++) {
		int64_t created = store_res_int(b->res, i, C_CREATED);

		if (!b->oldest_ms || created < b->oldest_ms)
			b->oldest_ms = created;
	}
	cursor[0] = b->it[b->n - 1].version;
	cursor[1] = b->it[b->n - 1].rowid;
	*full = (int64_t)b->n >= batch;
	*out = b;
	return 0;
}

#define AHEAD_CHUNK 500

static int item_rowid_cmp(const void *a, const void *b)
{
	int64_t x = (*(struct cdr_item *const *)a)->rowid,
		y = (*(struct cdr_item *const *)b)->rowid;
	return x < y ? -1 : x > y;
}

/* The rows of items x[0..k) (sorted by rowid) as the store has them now,
 * walked beside x: skip cleared on each still as read. */
static int cdr_ahead_chunk(struct store_conn *c, struct cdr_item **x, size_t k, struct buf *sql)
{
	struct store_param v[AHEAD_CHUNK];
	struct store_res *r = NULL;
	int rc = buf_printf(sql, "SELECT rowid, rating_version, ratings, charged FROM cdr_ratings "
				 "WHERE state = 'pending' AND rowid IN (");

	for (size_t i = 0; i < k && rc == 0; i++) {
		rc = buf_printf(sql, "%s$%zu", i ? ", " : "", i + 1);
		v[i] = store_p_int(x[i]->rowid);
	}
	rc = rc ? rc : buf_append_cstr(sql, ") ORDER BY rowid");
	rc = rc ? rc : store_exec(c, sql->p, v, k, &r);
	for (size_t i = 0, j = 0; rc == 0 && i < store_res_rows(r); i++) {
		int64_t rowid = store_res_int(r, i, 0);

		while (j < k && x[j]->rowid < rowid)
			j++;
		if (j < k && x[j]->rowid == rowid)
			x[j]->skip = x[j]->version != store_res_int(r, i, 1) ||
				     x[j]->ratings != store_res_int(r, i, 2) ||
				     x[j]->charged != store_res_int(r, i, 3);
	}
	store_res_free(r);
	return rc;
}

/* Marks skip on the items whose row is no longer as read: rated or
 * re-queued meanwhile (a re-rating sets its rating_version and the role
 * reads it again later), so nothing is charged from a stale read. */
static int cdr_ahead_check(struct store_conn *c, struct role_cdr_batch *b)
{
	struct cdr_item **x = calloc(b->n, sizeof(*x));
	struct buf sql;
	int rc = x ? 0 : -ENOMEM;

	for (size_t i = 0; i < b->n && x; i++) {
		b->it[i].skip = true;
		x[i] = &b->it[i];
	}
	if (x)
		qsort(x, b->n, sizeof(*x), item_rowid_cmp);
	buf_init(&sql);
	for (size_t at = 0; at < b->n && rc == 0; at += AHEAD_CHUNK) {
		buf_reset(&sql);
		rc = cdr_ahead_chunk(c, x + at, b->n - at < AHEAD_CHUNK ? b->n - at : AHEAD_CHUNK,
				     &sql);
	}
	buf_fini(&sql);
	free(x);
	return rc;
}

int role_cdr_commit(struct store_conn *c, const struct billing_role_opts *o,
		    struct role_cdr_batch *b, struct role_pass *out)
{
	int rc = store_tx_begin(c);

	memset(out, 0, sizeof(*out));
	rc = rc ? rc : cdr_ahead_check(c, b);
	rc = rc ? rc : cdr_commit_items(c, o, b->version, b->it, b->n, out);
	rc = rc ? rc : store_tx_commit(c);
	if (rc != 0) {
		store_tx_rollback(c);
		memset(out, 0, sizeof(*out));
	}
	out->oldest_ms = b->oldest_ms;
	return rc;
}
