/*
 * role_ledger.c — the billing role's charges of one batch posted together:
 * per customer, one lock of its balances row, one look-up of the batch's
 * keys, one multi-row INSERT of the new entries and one update of the
 * balance, instead of six statements per entry (decision 0036).
 *
 * The order and the rules are billing_ledger_post_locked's (ledger.c,
 * decision 0035): the balances row is locked first (UPDATE … RETURNING),
 * and only then are the keys looked up, so a prepaid settlement posted
 * under the same key by a sip process on PostgreSQL is either seen here or
 * waits for this transaction; seq numbers follow the row's; a balance that
 * would leave ±BILLING_LEDGER_BALANCE_MAX refuses that entry alone; each
 * crossing of the customer's threshold downwards writes one balance.low
 * event, as one posting at a time would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "role_private.h"

#define LEDGER_COLS 13
#define KEYS_CHUNK 500
#define ID_TIME_CHARS 10 /* 50 bits of milliseconds */
#define ID_RAND_BYTES 10 /* 80 random bits: the other 16 characters */

/* The id alphabet (a-z, 2-7) in its byte order, so that ids made later
 * sort later. */
static const char sorted_alphabet[] = "234567abcdefghijklmnopqrstuvwxyz";

/* An entry id as id_new's ("led_" and 26 of its characters) whose first
 * ten encode the time: a batch's entries go to the right edge of the
 * ledger's primary key instead of a random leaf page each, which is most
 * of what a posting costs once the ledger outgrows the page cache. */
static void ledger_id(char *out, int64_t now, const unsigned char *rnd)
{
	uint64_t t = (uint64_t)now;
	char *p = out + 4;

	memcpy(out, "led_", 4);
	for (int i = ID_TIME_CHARS - 1; i >= 0; i--, t >>= 5)
		p[i] = sorted_alphabet[t & 31];
	for (int i = 0; i < ID_RANDOM_CHARS - ID_TIME_CHARS; i++) {
		unsigned bit = (unsigned)i * 5, byte = bit / 8, off = bit % 8;
		unsigned v =
		    (unsigned)rnd[byte] << 8 | (byte + 1 < ID_RAND_BYTES ? rnd[byte + 1] : 0);
		p[ID_TIME_CHARS + i] = sorted_alphabet[(v >> (11 - off)) & 31];
	}
	out[4 + ID_RANDOM_CHARS] = '\0';
}

static int post_cmp_customer(const void *a, const void *b)
{
	const struct role_post *x = *(struct role_post *const *)a,
			       *y = *(struct role_post *const *)b;
	return strcmp(x->customer_id, y->customer_id);
}

static int post_cmp_key(const void *a, const void *b)
{
	const struct role_post *x = *(struct role_post *const *)a,
			       *y = *(struct role_post *const *)b;
	return strcmp(x->key, y->key);
}

static bool post_sign_ok(const struct role_post *p)
{
	if (p->kind == BILLING_ADJUSTMENT)
		return p->amount != 0;
	return p->kind == BILLING_CALL_CHARGE || p->kind == BILLING_MESSAGE_CHARGE ? p->amount < 0
										   : p->amount > 0;
}

/* What the customer's balances row holds, locked. */
struct group_state {
	char currency[4];
	int64_t threshold, balance, seq, now;
	bool low;
};

/* The customer's currency and threshold, then its balances row locked;
 * 1 when the customer does not exist, 2 when its balance is in another
 * currency, 0 locked, or a store code. */
static int group_lock(struct store_conn *c, const struct billing_ledger_opts *o, const char *cust,
		      struct group_state *g)
{
	struct store_param p[] = {store_p_text(cust), store_p_text(NULL), store_p_int(g->now)};
	struct store_res *r = NULL;
	int rc = store_exec(
	    c, "SELECT currency, low_balance_threshold FROM customers WHERE id = $1", p, 1, &r);

	if (rc == 0 && store_res_rows(r) == 0)
		rc = 1;
	if (rc == 0) {
		snprintf(g->currency, sizeof(g->currency), "%s", store_res_text(r, 0, 0));
		g->threshold =
		    store_res_isnull(r, 0, 1) ? o->low_balance_threshold : store_res_int(r, 0, 1);
		p[1] = store_p_text(g->currency);
		rc = store_exec(
		    c,
		    "INSERT INTO balances (customer_id, currency, updated_at) VALUES ($1, "
		    "$2, $3) ON CONFLICT (customer_id) DO NOTHING",
		    p, 3, NULL);
	}
	store_res_free(r);
	r = NULL;
	rc = rc ? rc
		: store_exec(c,
			     "UPDATE balances SET updated_at = $2 WHERE customer_id = $1 RETURNING "
			     "balance, seq, low, currency",
			     (struct store_param[]){p[0], p[2]}, 2, &r);
	if (rc == 0) {
		g->balance = store_res_int(r, 0, 0);
		g->seq = store_res_int(r, 0, 1);
		g->low = store_res_int(r, 0, 2) != 0;
		if (strcmp(store_res_text(r, 0, 3), g->currency) != 0)
			rc = 2;
	}
	store_res_free(r);
	return rc;
}

/* Marks the posts of p[0..n) (sorted by key) whose key has an entry. */
static int group_find_keys(struct store_conn *c, const char *cust, struct role_post **p, size_t n)
{
	struct store_param v[KEYS_CHUNK + 1];
	struct buf sql;
	int rc = 0;

	buf_init(&sql);
	v[0] = store_p_text(cust);
	for (size_t at = 0; at < n && rc == 0; at += KEYS_CHUNK) {
		size_t k = n - at < KEYS_CHUNK ? n - at : KEYS_CHUNK;
		struct store_res *r = NULL;

		buf_reset(&sql);
		rc = buf_printf(&sql, "SELECT idempotency_key, amount FROM ledger_entries WHERE "
				      "customer_id = $1 AND idempotency_key IN (");
		for (size_t i = 0; i < k && rc == 0; i++) {
			rc = buf_printf(&sql, "%s$%zu", i ? ", " : "", i + 2);
			v[i + 1] = store_p_text(p[at + i]->key);
		}
		rc = rc ? rc : buf_append_char(&sql, ')');
		rc = rc ? rc : store_exec(c, sql.p, v, k + 1, &r);
		for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
			struct role_post want, *w = &want, **hit;

			snprintf(want.key, sizeof(want.key), "%s", store_res_text(r, i, 0));
			hit = bsearch(&w, p + at, k, sizeof(*p), post_cmp_key);
			if (hit) {
				(*hit)->result = ROLE_FOUND;
				(*hit)->found_amount = store_res_int(r, i, 1);
			}
		}
		store_res_free(r);
	}
	buf_fini(&sql);
	return rc;
}

/* balance.low when the entry p takes the balance below the threshold. */
static int group_low(struct store_conn *c, const struct role_post *p, struct group_state *g)
{
	bool below = p->balance_after < g->threshold;
	struct billing_entry e = {0};

	if (below == g->low || (below && p->amount > 0))
		return 0;
	g->low = below;
	if (!below)
		return 0;
	snprintf(e.id, sizeof(e.id), "%s", p->id);
	snprintf(e.customer_id, sizeof(e.customer_id), "%s", p->customer_id);
	memcpy(e.currency, g->currency, sizeof(e.currency));
	e.seq = p->seq;
	e.balance_after = p->balance_after;
	e.created_at = g->now;
	return billing_ledger_event_low(c, &e, g->threshold);
}

static void group_params(const struct role_post *p, const struct group_state *g,
			 struct store_param *v)
{
	size_t i = 0;

	v[i++] = store_p_text(p->id);
	v[i++] = store_p_text(p->customer_id);
	v[i++] = store_p_int(p->seq);
	v[i++] = store_p_text(billing_entry_kind_name(p->kind));
	v[i++] = store_p_int(p->amount);
	v[i++] = store_p_int(p->balance_after);
	v[i++] = store_p_text(g->currency);
	v[i++] = store_p_text(p->reference_type);
	v[i++] = store_p_text(p->reference_id);
	v[i++] = store_p_text(p->key);
	v[i++] = store_p_text(p->description);
	v[i++] = store_p_text("billing");
	v[i++] = store_p_int(g->now);
}

/* Whether x goes into its group's folded entry: a first charge the
 * caller allows to fold, not found under its key, of a valid amount. */
static bool post_folds(const struct role_post *x)
{
	return x->foldable && x->result != ROLE_FOUND && x->kind == BILLING_CALL_CHARGE &&
	       x->amount < 0 && x->amount >= -BILLING_LEDGER_AMOUNT_MAX;
}

/* The group's folded entry into *sum when two or more of its posts fold
 * and their sum is an amount the ledger takes (decision 0052); false:
 * each is posted alone. */
static bool group_fold(struct role_post **p, size_t n, const struct group_state *g,
		       struct role_post *sum)
{
	const struct role_post *first = NULL;
	int64_t total = 0;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!post_folds(p[i]))
			continue;
		if (p[i]->amount < -BILLING_LEDGER_AMOUNT_MAX - total)
			return false; /* past one entry's bound: alone, as before */
		total += p[i]->amount;
		first = first ? first : p[i];
		k++;
	}
	if (k < 2 || g->balance + total < -BILLING_LEDGER_BALANCE_MAX)
		return false;
	memset(sum, 0, sizeof(*sum));
	sum->customer_id = first->customer_id;
	sum->kind = BILLING_CALL_CHARGE;
	sum->amount = total;
	sum->reference_type = "cdr_batch";
	/* the first CDR (by key) is charged once, so its id keys the entry */
	snprintf(sum->key, sizeof(sum->key), "cdrs:%s", first->reference_id);
	snprintf(sum->description, sizeof(sum->description), "%zu calls rated together", k);
	return true;
}

/* Numbers x, moves the running balance, writes its balance.low event and
 * its row's parameters at v; ROLE_POSTED or a ledger code in x->result. */
static int group_append(struct store_conn *c, struct role_post *x, struct group_state *g,
			struct store_param *v, size_t *rows)
{
	int64_t next = g->balance + x->amount;
	unsigned char rnd[ID_RAND_BYTES];
	int rc;

	if (!post_sign_ok(x)) {
		x->result = BILLING_LEDGER_ESIGN;
		return 0;
	}
	if (x->amount > BILLING_LEDGER_AMOUNT_MAX || x->amount < -BILLING_LEDGER_AMOUNT_MAX ||
	    next > BILLING_LEDGER_BALANCE_MAX || next < -BILLING_LEDGER_BALANCE_MAX) {
		x->result = BILLING_LEDGER_ERANGE;
		return 0;
	}
	rc = random_bytes(rnd, sizeof(rnd));
	ledger_id(x->id, g->now, rnd);
	x->seq = ++g->seq;
	x->balance_after = g->balance = next;
	x->result = ROLE_POSTED;
	rc = rc ? rc : group_low(c, x, g);
	group_params(x, g, v + (*rows)++ * LEDGER_COLS);
	return rc;
}

/* Numbers the posts not found (the folded ones as one entry), moves the
 * running balance, writes the entries, the events and the balance. */
static int group_write(struct store_conn *c, struct role_post **p, size_t n, struct group_state *g,
		       struct store_param *v)
{
	struct role_post sum;
	bool fold = group_fold(p, n, g, &sum), head = true, fold_counted = false;
	size_t rows = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		struct role_post *x = p[i];

		if (x->result == ROLE_FOUND)
			continue;
		if (!fold || !post_folds(x)) {
			rc = group_append(c, x, g, v, &rows);
			continue;
		}
		if (head)
			rc = group_append(c, &sum, g, v, &rows);
		head = false;
		if (sum.result != ROLE_POSTED) { /* refused whole: each is */
			x->result = sum.result;
			continue;
		}
		memcpy(x->id, sum.id, sizeof(x->id));
		x->seq = sum.seq;
		x->balance_after = sum.balance_after;
		x->result = ROLE_POSTED;
		x->folded = true;
		x->fold_head = !fold_counted;
		fold_counted = true;
	}
	rc = rc ? rc
		: role_exec_rows(c,
				 "INSERT INTO ledger_entries (id, customer_id, seq, kind, amount, "
				 "balance_after, currency, reference_type, reference_id, "
				 "idempotency_key, description, created_by, created_at)",
				 "", LEDGER_COLS, v, rows);
	struct store_param b[] = {store_p_text(p[0]->customer_id), store_p_int(g->balance),
				  store_p_int(g->seq), store_p_int(g->low ? 1 : 0)};
	return rc ? rc
		  : store_exec(c,
			       "UPDATE balances SET balance = $2, seq = $3, low = $4 WHERE "
			       "customer_id = $1",
			       b, 4, NULL);
}

static int ledger_group(struct store_conn *c, const struct billing_ledger_opts *o,
			struct role_post **p, size_t n, struct store_param *v)
{
	struct group_state g = {.now = time_wall_ms()};
	int rc = group_lock(c, o, p[0]->customer_id, &g);

	for (size_t i = 0; i < n; i++)
		p[i]->result = rc == 1	 ? BILLING_LEDGER_ENOCUSTOMER
			       : rc == 2 ? BILLING_LEDGER_ECURRENCY
					 : ROLE_POSTED;
	if (rc != 0)
		return rc > 0 ? 0 : rc;
	qsort(p, n, sizeof(*p), post_cmp_key);
	rc = group_find_keys(c, p[0]->customer_id, p, n);
	return rc ? rc : group_write(c, p, n, &g, v);
}

int role_ledger_post_many(struct store_conn *c, const struct billing_ledger_opts *o,
			  struct role_post **p, size_t n)
{
	struct store_param *v = n ? calloc(n * LEDGER_COLS, sizeof(*v)) : NULL;
	int rc = n && !v ? -ENOMEM : 0;

	qsort(p, n, sizeof(*p), post_cmp_customer);
	for (size_t a = 0, b; a < n && rc == 0; a = b) {
		for (b = a + 1; b < n && strcmp(p[b]->customer_id, p[a]->customer_id) == 0; b++)
			;
		rc = ledger_group(c, o, p + a, b - a, v);
	}
	free(v);
	return rc;
}
