/*
 * ledger.c — customers' ledgers: posting an entry, reading a balance,
 * listing entries (billing.h; tables of migration 0017).
 *
 * A posting is one transaction that first moves the customer's balances
 * row with an UPDATE … RETURNING.  That statement is the lock that orders a
 * customer's posters: on PostgreSQL a second process posting for the same
 * customer waits on the row and then adds to the balance the first left
 * (READ COMMITTED re-reads the row it waited for), and on SQLite BEGIN
 * IMMEDIATE has serialized writers already.  Everything that must agree
 * with the balance is decided after the lock — the entry's seq, the
 * idempotency key's lookup, the balance.low crossing — so two posters can
 * neither take one seq nor both miss a key the other wrote
 * (docs/decisions/0035).
 */
#include "ledger.h"
#include "billing.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* A posting that lost a race (SQLite busy past its timeout, a PostgreSQL
 * deadlock or serialization failure) is run again this many times. */
#define LEDGER_TRIES 3

/* An optional parameter tested for NULL: PostgreSQL needs its type. */
#define LEDGER_UNSET(param, type) "CAST(" param " AS " type ") IS NULL"

static const char *const kind_names[BILLING_ENTRY_KINDS] = {
    [BILLING_TOPUP] = "topup",
    [BILLING_ADJUSTMENT] = "adjustment",
    [BILLING_CALL_CHARGE] = "call_charge",
    [BILLING_MESSAGE_CHARGE] = "message_charge",
    [BILLING_REFUND] = "refund",
};

const char *billing_entry_kind_name(enum billing_entry_kind k)
{
	return (unsigned)k < BILLING_ENTRY_KINDS ? kind_names[k] : "unknown";
}

int billing_entry_kind_parse(const char *s, enum billing_entry_kind *out)
{
	for (int k = 0; s && k < BILLING_ENTRY_KINDS; k++)
		if (strcmp(s, kind_names[k]) == 0) {
			*out = (enum billing_entry_kind)k;
			return 0;
		}
	return -EINVAL;
}

const char *billing_ledger_strerror(int err)
{
	switch (err) {
	case BILLING_LEDGER_ENOCUSTOMER:
		return "no such customer";
	case BILLING_LEDGER_EKEYREUSED:
		return "the idempotency key names another entry";
	case BILLING_LEDGER_ESIGN:
		return "the amount's sign does not suit the entry's kind";
	case BILLING_LEDGER_ERANGE:
		return "the amount or the balance it leaves is out of range";
	case BILLING_LEDGER_ECURRENCY:
		return "the customer's currency differs from its balance's";
	case BILLING_LEDGER_EFUNDS:
		return "the available balance does not cover the amount";
	case BILLING_LEDGER_ENORESERVATION:
		return "no open reservation with that id";
	default:
		return err <= STORE_ERR ? store_strerror(err) : strerror(-err);
	}
}

/* Top-ups and refunds bring money in, charges take it out, adjustments do
 * either; none is zero. */
static bool ledger_sign_ok(enum billing_entry_kind k, int64_t amount)
{
	switch (k) {
	case BILLING_TOPUP:
	case BILLING_REFUND:
		return amount > 0;
	case BILLING_CALL_CHARGE:
	case BILLING_MESSAGE_CHARGE:
		return amount < 0;
	case BILLING_ADJUSTMENT:
		return amount != 0;
	}
	return false;
}

/* "" is stored as NULL: a key, a reference that is not there. */
static struct store_param ledger_p_opt(const char *s)
{
	return store_p_text(s && s[0] ? s : NULL);
}

#define ENTRY_COLUMNS                                                                              \
	"SELECT id, customer_id, seq, kind, amount, balance_after, currency, reference_type,"      \
	" reference_id, idempotency_key, description, created_by, created_at FROM ledger_entries"

static void ledger_entry_read(const struct store_res *r, size_t row, struct billing_entry *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", store_res_text(r, row, 0));
	snprintf(e->customer_id, sizeof(e->customer_id), "%s", store_res_text(r, row, 1));
	e->seq = store_res_int(r, row, 2);
	if (billing_entry_kind_parse(store_res_text(r, row, 3), &e->kind) < 0)
		e->kind = BILLING_ADJUSTMENT; /* the CHECK constraint allows no other */
	e->amount = store_res_int(r, row, 4);
	e->balance_after = store_res_int(r, row, 5);
	snprintf(e->currency, sizeof(e->currency), "%s", store_res_text(r, row, 6));
	snprintf(e->reference_type, sizeof(e->reference_type), "%s", store_res_text(r, row, 7));
	snprintf(e->reference_id, sizeof(e->reference_id), "%s", store_res_text(r, row, 8));
	snprintf(e->idempotency_key, sizeof(e->idempotency_key), "%s", store_res_text(r, row, 9));
	snprintf(e->description, sizeof(e->description), "%s", store_res_text(r, row, 10));
	snprintf(e->created_by, sizeof(e->created_by), "%s", store_res_text(r, row, 11));
	e->created_at = store_res_int(r, row, 12);
}

/* The customer's currency and balance.low threshold (its own, or the
 * default); BILLING_LEDGER_ENOCUSTOMER when it does not exist. */
static int ledger_customer(struct store_conn *c, const struct billing_ledger_opts *o,
			   const char *id, char currency[4], int64_t *threshold)
{
	struct store_param p = store_p_text(id);
	struct store_res *r = NULL;
	int rc = store_exec(
	    c, "SELECT currency, low_balance_threshold FROM customers WHERE id = $1", &p, 1, &r);

	if (rc == 0 && store_res_rows(r) == 0)
		rc = BILLING_LEDGER_ENOCUSTOMER;
	if (rc == 0) {
		snprintf(currency, 4, "%s", store_res_text(r, 0, 0));
		*threshold =
		    store_res_isnull(r, 0, 1) ? o->low_balance_threshold : store_res_int(r, 0, 1);
	}
	store_res_free(r);
	return rc;
}

/* What the balances row holds after the move. */
struct ledger_moved {
	int64_t balance, seq;
	bool low;
	char currency[4];
};

/* Locks and moves the customer's balances row by amount (made first for a
 * customer's first entry); BILLING_LEDGER_ERANGE when the balance would
 * leave ±BILLING_LEDGER_BALANCE_MAX. */
static int ledger_balance_move(struct store_conn *c, const char *customer_id, const char *currency,
			       int64_t amount, int64_t now, struct ledger_moved *m)
{
	struct store_param ins[] = {store_p_text(customer_id), store_p_text(currency),
				    store_p_int(now)};
	struct store_param up[] = {store_p_text(customer_id), store_p_int(amount), store_p_int(now),
				   store_p_int(-BILLING_LEDGER_BALANCE_MAX),
				   store_p_int(BILLING_LEDGER_BALANCE_MAX)};
	struct store_res *r = NULL;
	int rc =
	    store_exec(c,
		       "INSERT INTO balances (customer_id, currency, updated_at) VALUES ($1, $2, "
		       "$3) ON CONFLICT (customer_id) DO NOTHING",
		       ins, 3, NULL);

	rc = rc ? rc
		: store_exec(
		      c,
		      "UPDATE balances SET balance = balance + $2, seq = seq + 1, updated_at = "
		      "$3 WHERE customer_id = $1 AND balance + $2 >= $4 AND balance + $2 <= $5 "
		      "RETURNING balance, seq, low, currency",
		      up, 5, &r);
	if (rc == 0 && store_res_rows(r) != 1)
		rc = BILLING_LEDGER_ERANGE;
	if (rc == 0) {
		m->balance = store_res_int(r, 0, 0);
		m->seq = store_res_int(r, 0, 1);
		m->low = store_res_int(r, 0, 2) != 0;
		snprintf(m->currency, sizeof(m->currency), "%s", store_res_text(r, 0, 3));
	}
	store_res_free(r);
	return rc;
}

/* 1 with *out filled when the customer has an entry with key, 0 when not. */
static int ledger_find_key(struct store_conn *c, const char *customer_id, const char *key,
			   struct billing_entry *out)
{
	struct store_param p[] = {store_p_text(customer_id), store_p_text(key)};
	struct store_res *r = NULL;
	int rc = store_exec(c, ENTRY_COLUMNS " WHERE customer_id = $1 AND idempotency_key = $2", p,
			    2, &r);

	if (rc == 0 && store_res_rows(r) == 1) {
		ledger_entry_read(r, 0, out);
		rc = 1;
	}
	store_res_free(r);
	return rc;
}

/* A retry with the same key asks for the same entry. */
static bool ledger_same_request(const struct billing_entry *first, const struct billing_entry *e)
{
	return first->kind == e->kind && first->amount == e->amount &&
	       strcmp(first->reference_type, e->reference_type) == 0 &&
	       strcmp(first->reference_id, e->reference_id) == 0 &&
	       strcmp(first->description, e->description) == 0;
}

static int ledger_entry_insert(struct store_conn *c, const struct billing_entry *e)
{
	struct store_param p[] = {
	    store_p_text(e->id),
	    store_p_text(e->customer_id),
	    store_p_int(e->seq),
	    store_p_text(billing_entry_kind_name(e->kind)),
	    store_p_int(e->amount),
	    store_p_int(e->balance_after),
	    store_p_text(e->currency),
	    ledger_p_opt(e->reference_type),
	    ledger_p_opt(e->reference_id),
	    ledger_p_opt(e->idempotency_key),
	    store_p_text(e->description),
	    store_p_text(e->created_by[0] ? e->created_by : "unknown"),
	    store_p_int(e->created_at),
	};

	return store_exec(
	    c,
	    "INSERT INTO ledger_entries (id, customer_id, seq, kind, amount, "
	    "balance_after, currency, reference_type, reference_id, idempotency_key, "
	    "description, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
	    "$8, $9, $10, $11, $12, $13)",
	    p, sizeof(p) / sizeof(p[0]), NULL);
}

/* The balance.low event of the entry e that took the balance below
 * threshold, as the webhook dispatcher's message stream (decision 0026)
 * delivers it: written without the config version, numbered at fan-out.
 * group_id is the entry, so an entry gives at most one. */
int billing_ledger_event_low(struct store_conn *c, const struct billing_entry *e, int64_t threshold)
{
	char id[ID_MAX], bal[BILLING_MONEY_BUF], thr[BILLING_MONEY_BUF];
	int dec = billing_currency_decimals(e->currency);
	int rc = id_new("evt", id, sizeof(id));
	json_t *data = NULL;
	char *text = NULL;

	if (rc < 0 || billing_money_format_exact(e->balance_after, dec, bal, sizeof(bal)) < 0 ||
	    billing_money_format_exact(threshold, dec, thr, sizeof(thr)) < 0)
		return rc < 0 ? rc : -EINVAL;
	data = json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:s,s:I}", "customer_id", e->customer_id,
			 "currency", e->currency, "balance", bal, "balance_micros",
			 (json_int_t)e->balance_after, "threshold", thr, "threshold_micros",
			 (json_int_t)threshold, "entry_id", e->id, "entry_seq", (json_int_t)e->seq);
	text = data ? json_dumps(data, JSON_COMPACT) : NULL;
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	struct store_param p[] = {store_p_text(id), store_p_text(e->id),
				  store_p_text(e->customer_id), store_p_text(text),
				  store_p_int(e->created_at)};
	rc = store_exec(
	    c,
	    "INSERT INTO message_events (id, group_id, customer_id, type, data, created_at) "
	    "VALUES ($1, $2, $3, 'balance.low', $4, $5)",
	    p, 5, NULL);
out:
	free(text);
	json_decref(data);
	return rc;
}

/* balances.low follows the balance across the threshold: set, with the
 * event, by a posting that lowers the balance below it; cleared by one that
 * leaves it at or above, so the next fall gives a new event. */
static int ledger_low_update(struct store_conn *c, const struct billing_entry *e,
			     const struct ledger_moved *m, int64_t threshold)
{
	bool below = m->balance < threshold;
	int rc = 0;

	if (below == m->low || (below && e->amount > 0))
		return 0; /* no crossing; a top-up that stays below is none either */
	if (below)
		rc = billing_ledger_event_low(c, e, threshold);
	struct store_param p[] = {store_p_text(e->customer_id), store_p_int(below ? 1 : 0)};
	return rc ? rc
		  : store_exec(c, "UPDATE balances SET low = $2 WHERE customer_id = $1", p, 2,
			       NULL);
}

int billing_ledger_post_locked(struct store_conn *c, const struct billing_ledger_opts *o,
			       struct billing_entry *e)
{
	struct billing_entry first;
	struct ledger_moved m;
	char currency[4];
	int64_t threshold = 0, now = time_wall_ms();
	int rc = 0;

	if (!e->customer_id[0])
		return BILLING_LEDGER_ENOCUSTOMER;
	if ((unsigned)e->kind >= BILLING_ENTRY_KINDS || !ledger_sign_ok(e->kind, e->amount))
		return BILLING_LEDGER_ESIGN;
	if (e->amount > BILLING_LEDGER_AMOUNT_MAX || e->amount < -BILLING_LEDGER_AMOUNT_MAX)
		return BILLING_LEDGER_ERANGE;
	rc = ledger_customer(c, o, e->customer_id, currency, &threshold);
	rc = rc ? rc : ledger_balance_move(c, e->customer_id, currency, e->amount, now, &m);
	if (rc == 0 && strcmp(m.currency, currency) != 0)
		rc = BILLING_LEDGER_ECURRENCY;
	if (rc == 0 && e->idempotency_key[0] &&
	    (rc = ledger_find_key(c, e->customer_id, e->idempotency_key, &first)) == 1) {
		if (!ledger_same_request(&first, e))
			return BILLING_LEDGER_EKEYREUSED;
		*e = first;
		return 1; /* the caller rolls the balance move back */
	}
	if (rc == 0) {
		rc = id_new("led", e->id, sizeof(e->id));
		e->seq = m.seq;
		e->balance_after = m.balance;
		e->created_at = now;
		memcpy(e->currency, currency, sizeof(e->currency));
	}
	rc = rc ? rc : ledger_entry_insert(c, e);
	return rc ? rc : ledger_low_update(c, e, &m, threshold);
}

const char *billing_outcome(int rc)
{
	return rc >= BILLING_LEDGER_ENORESERVATION && rc <= BILLING_LEDGER_ENOCUSTOMER ? "refused"
										       : "failed";
}

/* warp_billing_ledger_postings_total{kind,result}, in the process-wide
 * registry (which has its own lock): every caller's postings, the API's and
 * the billing role's. */
void billing_ledger_count(enum billing_entry_kind k, int rc, bool replayed, int64_t n)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_billing_ledger_postings_total",
	    "Ledger postings by kind: posted, replayed (a repeated idempotency key), refused (a "
	    "bad "
	    "amount, an unknown customer, a key reused for another entry) or failed (the store).",
	    "kind,result");
	const char *result = rc == 0 ? (replayed ? "replayed" : "posted") : billing_outcome(rc);

	if (f)
		metric_add(metric_get(f, billing_entry_kind_name(k), result), n);
}

/* One attempt of billing_ledger_post, in its own transaction. */
static int ledger_post_tx(struct store_conn *c, const struct billing_ledger_opts *o,
			  struct billing_entry *e, bool *replayed)
{
	int rc = store_tx_begin(c);

	rc = rc ? rc : billing_ledger_post_locked(c, o, e);
	if (rc == 0)
		rc = store_tx_commit(c);
	if (rc != 0)
		store_tx_rollback(c); /* also a replay: its balance move is undone */
	if (rc == 1)
		*replayed = true;
	return rc == 1 ? 0 : rc;
}

int billing_ledger_post(struct store_conn *c, const struct billing_ledger_opts *o,
			struct billing_entry *e, bool *replayed)
{
	int rc = STORE_EBUSY;

	*replayed = false;
	if (!c)
		return STORE_EDOWN;
	/* A lost race is run again whole; a conflict on the key's UNIQUE can
	 * only be one (the key is looked up under the balance row's lock). */
	for (int i = 0; i < LEDGER_TRIES && (rc == STORE_EBUSY || rc == STORE_ECONFLICT); i++)
		rc = ledger_post_tx(c, o, e, replayed);
	billing_ledger_count(e->kind, rc, *replayed, 1);
	return rc;
}

int billing_balance_get(struct store_conn *c, const struct billing_ledger_opts *o,
			const char *customer_id, struct billing_balance *out)
{
	struct store_param p = store_p_text(customer_id);
	struct store_res *r = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!c)
		return STORE_EDOWN;
	rc = store_exec(c,
			"SELECT COALESCE(b.currency, c.currency), c.credit_limit,"
			" c.low_balance_threshold, COALESCE(b.balance, 0), COALESCE(b.reserved, 0),"
			" COALESCE(b.seq, 0), COALESCE(b.low, 0), COALESCE(b.updated_at, 0)"
			" FROM customers c LEFT JOIN balances b ON b.customer_id = c.id"
			" WHERE c.id = $1",
			&p, 1, &r);
	if (rc == 0 && store_res_rows(r) == 0)
		rc = BILLING_LEDGER_ENOCUSTOMER;
	if (rc == 0) {
		snprintf(out->currency, sizeof(out->currency), "%s", store_res_text(r, 0, 0));
		out->credit_limit = store_res_int(r, 0, 1);
		out->low_threshold =
		    store_res_isnull(r, 0, 2) ? o->low_balance_threshold : store_res_int(r, 0, 2);
		out->balance = store_res_int(r, 0, 3);
		out->reserved = store_res_int(r, 0, 4);
		out->available = out->balance + out->credit_limit - out->reserved;
		out->seq = store_res_int(r, 0, 5);
		out->low = store_res_int(r, 0, 6) != 0;
		out->updated_at = store_res_int(r, 0, 7);
	}
	store_res_free(r);
	return rc;
}

/* clang-format off */
static const char ledger_list_sql[] =
	ENTRY_COLUMNS " WHERE customer_id = $1"
	" AND (" LEDGER_UNSET("$2", "TEXT") " OR kind = $2)"
	" AND (" LEDGER_UNSET("$3", "BIGINT") " OR created_at >= $3)"
	" AND (" LEDGER_UNSET("$4", "BIGINT") " OR created_at < $4)"
	" AND (" LEDGER_UNSET("$5", "BIGINT") " OR seq < $5)"
	" ORDER BY seq DESC LIMIT $6";
/* clang-format on */

static struct store_param ledger_p_bound(int64_t v)
{
	return v > 0 ? store_p_int(v) : store_p_null();
}

int billing_ledger_list(struct store_conn *c, const struct billing_ledger_filter *f,
			billing_entry_fn each, void *arg)
{
	struct store_param p[] = {
	    store_p_text(f->customer_id),
	    store_p_text(f->kind >= 0 ? billing_entry_kind_name((enum billing_entry_kind)f->kind)
				      : NULL),
	    ledger_p_bound(f->from_ms),
	    ledger_p_bound(f->to_ms),
	    ledger_p_bound(f->before_seq),
	    store_p_int(f->limit),
	};
	struct store_res *r = NULL;
	struct billing_entry e;
	int rc;

	if (!c)
		return STORE_EDOWN;
	rc = store_exec(c, ledger_list_sql, p, sizeof(p) / sizeof(p[0]), &r);
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		ledger_entry_read(r, i, &e);
		rc = each(&e, arg);
	}
	if (rc == 0)
		rc = (int)store_res_rows(r);
	store_res_free(r);
	return rc;
}
