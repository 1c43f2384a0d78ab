/*
 * reserve.c — reservations of prepaid authorization (billing.h, decision
 * 0035): money held while a call or message is in progress, then settled by
 * one charge entry of the exact cost, released, or expired.
 *
 * The state is the store's alone — reservations rows and balances.reserved,
 * their open sum — so replicas agree without talking.  A reservation is
 * made by one conditional UPDATE of the balance row (the same lock every
 * posting takes, ledger.c): it adds to reserved only WHERE balance +
 * credit_limit - reserved still covers the amount, and a second process
 * waiting on that row re-checks the condition against what the first
 * committed.  A reservation ends by a conditional UPDATE of its own row
 * WHERE state = 'open', so a settle, a release and an expiry racing each
 * other end it once.  Locks are always taken reservation row first, then
 * balance row, so no two of these deadlock.
 */
#include "billing.h"
#include "ledger.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

/* warp_billing_reservations_total{result}: reserved, refused (available did
 * not cover it, or a bad request), settled, released, expired, failed (the
 * store). */
static void reserve_count(const char *result)
{
	struct metric_family *f =
	    metrics_counter(metrics_default(), "warp_billing_reservations_total",
			    "Reservations of prepaid authorization: reserved, refused (not covered "
			    "by the available "
			    "balance), then settled, released or expired; failed: the store.",
			    "result");

	if (f)
		metric_inc(metric_get(f, result));
}

static struct store_param reserve_p_opt(const char *s)
{
	return store_p_text(s && s[0] ? s : NULL);
}

/* The customer's currency and credit limit; BILLING_LEDGER_ENOCUSTOMER. */
static int reserve_customer(struct store_conn *c, const char *id, char currency[4],
			    int64_t *credit_limit)
{
	struct store_param p = store_p_text(id);
	struct store_res *r = NULL;
	int rc =
	    store_exec(c, "SELECT currency, credit_limit FROM customers WHERE id = $1", &p, 1, &r);

	if (rc == 0 && store_res_rows(r) == 0)
		rc = BILLING_LEDGER_ENOCUSTOMER;
	if (rc == 0) {
		snprintf(currency, 4, "%s", store_res_text(r, 0, 0));
		*credit_limit = store_res_int(r, 0, 1);
	}
	store_res_free(r);
	return rc;
}

/* Adds r->amount to reserved while available covers it, under the balance
 * row's lock; BILLING_LEDGER_EFUNDS when it does not. */
static int reserve_hold(struct store_conn *c, const struct billing_reservation *r, int64_t now)
{
	char currency[4];
	int64_t credit = 0;
	struct store_res *res = NULL;
	int rc = reserve_customer(c, r->customer_id, currency, &credit);

	if (rc)
		return rc; /* currency and credit are unset: build nothing from them */
	struct store_param ins[] = {store_p_text(r->customer_id), store_p_text(currency),
				    store_p_int(now)};
	struct store_param up[] = {store_p_text(r->customer_id), store_p_int(r->amount),
				   store_p_int(credit)};

	rc = store_exec(c,
			"INSERT INTO balances (customer_id, currency, updated_at) VALUES ($1, "
			"$2, $3) ON CONFLICT (customer_id) DO NOTHING",
			ins, 3, NULL);
	rc = rc ? rc
		: store_exec(c,
			     "UPDATE balances SET reserved = reserved + $2 WHERE customer_id = $1 "
			     "AND balance + $3 - reserved >= $2 RETURNING reserved",
			     up, 3, &res);
	if (rc == 0 && store_res_rows(res) != 1)
		rc = BILLING_LEDGER_EFUNDS;
	store_res_free(res);
	return rc;
}

static int reserve_insert(struct store_conn *c, const struct billing_reservation *r, int64_t now)
{
	struct store_param p[] = {store_p_text(r->id),
				  store_p_text(r->customer_id),
				  store_p_int(r->amount),
				  reserve_p_opt(r->reference_type),
				  reserve_p_opt(r->reference_id),
				  store_p_int(r->expires_at),
				  store_p_int(now)};

	return store_exec(
	    c,
	    "INSERT INTO reservations (id, customer_id, amount, state, reference_type, "
	    "reference_id, expires_at, created_at) VALUES ($1, $2, $3, 'open', $4, $5, "
	    "$6, $7)",
	    p, 7, NULL);
}

int billing_reserve(struct store_conn *c, struct billing_reservation *r, int64_t ttl_ms)
{
	int64_t now = time_wall_ms();
	int rc;

	if (!c)
		return STORE_EDOWN;
	if (r->amount <= 0 || r->amount > BILLING_LEDGER_AMOUNT_MAX || ttl_ms <= 0)
		return BILLING_LEDGER_ERANGE;
	r->expires_at = now + ttl_ms;
	rc = id_new("rsv", r->id, sizeof(r->id));
	rc = rc ? rc : store_tx_begin(c);
	rc = rc ? rc : reserve_hold(c, r, now);
	rc = rc ? rc : reserve_insert(c, r, now);
	rc = rc ? rc : store_tx_commit(c);
	if (rc < 0) {
		store_tx_rollback(c);
		r->id[0] = '\0';
	}
	reserve_count(rc == 0 ? "reserved" : billing_outcome(rc));
	return rc;
}

/* What an ended reservation was. */
struct reserve_closed {
	char customer_id[ID_MAX];
	int64_t amount;
	char reference_type[BILLING_LEDGER_REF_MAX + 1];
	char reference_id[BILLING_LEDGER_REF_MAX + 1];
};

/* customer_id, amount, reference_type, reference_id of row 0. */
static void reserve_row_read(const struct store_res *r, struct reserve_closed *out)
{
	snprintf(out->customer_id, sizeof(out->customer_id), "%s", store_res_text(r, 0, 0));
	out->amount = store_res_int(r, 0, 1);
	snprintf(out->reference_type, sizeof(out->reference_type), "%s", store_res_text(r, 0, 2));
	snprintf(out->reference_id, sizeof(out->reference_id), "%s", store_res_text(r, 0, 3));
}

/* Ends the open reservation id in state and takes its amount out of
 * reserved: 1 with *out filled, 0 when it was not open (ended already, or
 * unknown). */
static int reserve_close(struct store_conn *c, const char *id, const char *state, int64_t now,
			 struct reserve_closed *out)
{
	struct store_param p[] = {store_p_text(id), store_p_text(state), store_p_int(now)};
	struct store_res *r = NULL;
	int rc = store_exec(c,
			    "UPDATE reservations SET state = $2, closed_at = $3 WHERE id = $1 AND "
			    "state = 'open' RETURNING customer_id, amount, reference_type, "
			    "reference_id",
			    p, 3, &r);

	if (rc == 0 && store_res_rows(r) == 1) {
		reserve_row_read(r, out);
		rc = 1;
	}
	store_res_free(r);
	if (rc == 1) {
		struct store_param q[] = {store_p_text(out->customer_id), store_p_int(out->amount)};
		int u = store_exec(
		    c, "UPDATE balances SET reserved = reserved - $2 WHERE customer_id = $1", q, 2,
		    NULL);
		rc = u < 0 ? u : 1;
	}
	return rc;
}

/* The reservation's customer and reference, whatever its state; 0, or
 * BILLING_LEDGER_ENORESERVATION. */
static int reserve_find(struct store_conn *c, const char *id, struct reserve_closed *out)
{
	struct store_param p = store_p_text(id);
	struct store_res *r = NULL;
	int rc = store_exec(c,
			    "SELECT customer_id, amount, reference_type, reference_id FROM "
			    "reservations WHERE id = $1",
			    &p, 1, &r);

	if (rc == 0 && store_res_rows(r) == 0)
		rc = BILLING_LEDGER_ENORESERVATION;
	if (rc == 0) {
		reserve_row_read(r, out);
	}
	store_res_free(r);
	return rc;
}

/* The charge entry of a settle. */
static void reserve_charge(const char *id, const struct reserve_closed *rc,
			   enum billing_entry_kind kind, int64_t cost, struct billing_entry *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->customer_id, sizeof(e->customer_id), "%s", rc->customer_id);
	e->kind = kind;
	e->amount = -cost;
	/* A call's or message's charge is keyed by what it charges (cdr:<id>,
	 * msg:<id>), as the billing role posts it: whichever comes first wins
	 * and the other replays, so a prepaid call is never charged twice. */
	if (strcmp(rc->reference_type, "cdr") == 0 || strcmp(rc->reference_type, "message") == 0)
		snprintf(e->idempotency_key, sizeof(e->idempotency_key), "%s:%s",
			 rc->reference_type[0] == 'c' ? "cdr" : "msg", rc->reference_id);
	else
		snprintf(e->idempotency_key, sizeof(e->idempotency_key), "reservation:%s", id);
	snprintf(e->reference_type, sizeof(e->reference_type), "%s",
		 rc->reference_type[0] ? rc->reference_type : "reservation");
	snprintf(e->reference_id, sizeof(e->reference_id), "%s",
		 rc->reference_type[0] ? rc->reference_id : id);
	snprintf(e->created_by, sizeof(e->created_by), "billing");
}

/* 1 when the billing role charged the settled CDR already in one of its
 * batch entries (decision 0052: its rating row names the entry), 0 when
 * not, or a store code.  Asked after the posting, which holds the
 * customer's balances row — the lock the role posts a batch under — so
 * either the role's batch is seen here or it sees this key. */
static int reserve_batch_charged(struct store_conn *c, const struct reserve_closed *rc)
{
	struct store_param p = store_p_text(rc->reference_id);
	struct store_res *r = NULL;
	int e;

	if (strcmp(rc->reference_type, "cdr") != 0)
		return 0;
	e = store_exec(c, "SELECT 1 FROM cdr_ratings WHERE cdr_id = $1 AND entry_id IS NOT NULL",
		       &p, 1, &r);
	e = e ? e : store_res_rows(r) > 0;
	store_res_free(r);
	return e;
}

/* The settle's charge e in a savepoint: 1 replayed (an entry has its key)
 * or charged by a batch of the billing role (undone: the reservation is
 * still closed), 0 posted, or a code. */
static int reserve_post_charge(struct store_conn *c, const struct billing_ledger_opts *o,
			       const struct reserve_closed *rc, struct billing_entry *e,
			       bool *batched)
{
	int p = store_exec(c, "SAVEPOINT billing_settle", NULL, 0, NULL);

	p = p ? p : billing_ledger_post_locked(c, o, e);
	if (p == 0 && (p = reserve_batch_charged(c, rc)) == 1) {
		*batched = true;
		e->id[0] = '\0';
		p = store_exec(c, "ROLLBACK TO SAVEPOINT billing_settle", NULL, 0, NULL);
	}
	int rel = p < 0 ? 0 : store_exec(c, "RELEASE SAVEPOINT billing_settle", NULL, 0, NULL);
	return rel ? rel : p;
}

/* One attempt of a settle, in its own transaction. */
static int reserve_settle_tx(struct store_conn *c, const struct billing_ledger_opts *o,
			     const char *id, enum billing_entry_kind kind, int64_t cost,
			     struct billing_entry *e, bool *replayed)
{
	struct reserve_closed rc_open = {0};
	int64_t now = time_wall_ms();
	int rc = store_tx_begin(c);

	rc = rc ? rc : reserve_close(c, id, cost > 0 ? "settled" : "released", now, &rc_open);
	bool closed = rc == 1;
	if (rc == 0) /* not open: still charged, once (the key), if it exists */
		rc = reserve_find(c, id, &rc_open);
	if (rc >= 0 && cost > 0) {
		bool batched = false;

		reserve_charge(id, &rc_open, kind, cost, e);
		int p = reserve_post_charge(c, o, &rc_open, e, &batched);
		*replayed = p == 1 && !batched;
		rc = p < 0 ? p : 0;
	}
	if (rc >= 0 && e->id[0] && !*replayed) {
		struct store_param q[] = {store_p_text(id), store_p_text(e->id)};
		rc = store_exec(c, "UPDATE reservations SET entry_id = $2 WHERE id = $1", q, 2,
				NULL);
	}
	if (rc >= 0 && !*replayed)
		rc = store_tx_commit(c);
	if (rc < 0 || *replayed)
		store_tx_rollback(c);
	else if (closed)
		reserve_count(cost > 0 ? "settled" : "released");
	return rc < 0 ? rc : 0;
}

int billing_reservation_settle(struct store_conn *c, const struct billing_ledger_opts *o,
			       const char *reservation_id, enum billing_entry_kind kind,
			       int64_t cost, struct billing_entry *e, bool *replayed)
{
	int rc = STORE_EBUSY;

	memset(e, 0, sizeof(*e));
	*replayed = false;
	if (!c)
		return STORE_EDOWN;
	if ((kind != BILLING_CALL_CHARGE && kind != BILLING_MESSAGE_CHARGE) || cost < 0)
		return BILLING_LEDGER_ESIGN;
	for (int i = 0; i < 3 && (rc == STORE_EBUSY || rc == STORE_ECONFLICT); i++) {
		*replayed = false;
		e->id[0] = '\0';
		rc = reserve_settle_tx(c, o, reservation_id, kind, cost, e, replayed);
	}
	return rc;
}

/* Ends one open reservation in state, in its own transaction: 1 ended, 0
 * not open, or a negative code. */
static int reserve_end(struct store_conn *c, const char *id, const char *state)
{
	struct reserve_closed closed;
	int rc = store_tx_begin(c);

	rc = rc ? rc : reserve_close(c, id, state, time_wall_ms(), &closed);
	if (rc >= 0) {
		int k = store_tx_commit(c);
		if (k == 0 && rc == 1)
			reserve_count(state);
		if (k == 0)
			return rc;
		rc = k;
	}
	store_tx_rollback(c);
	return rc;
}

int billing_reservation_release(struct store_conn *c, const char *reservation_id)
{
	struct reserve_closed found;
	int rc;

	if (!c)
		return STORE_EDOWN;
	rc = reserve_end(c, reservation_id, "released");
	if (rc == 0) /* not open: ended already, or unknown */
		rc = reserve_find(c, reservation_id, &found);
	return rc < 0 ? rc : 0;
}

int billing_reservations_expire(struct store_conn *c, int64_t now_ms, int limit)
{
	struct store_param p[] = {store_p_int(now_ms), store_p_int(limit)};
	struct store_res *r = NULL;
	int rc, n = 0;

	if (!c)
		return STORE_EDOWN;
	rc = store_exec(c,
			"SELECT id FROM reservations WHERE state = 'open' AND expires_at <= $1 "
			"ORDER BY expires_at LIMIT $2",
			p, 2, &r);
	for (size_t i = 0; rc >= 0 && i < store_res_rows(r); i++) {
		/* 0: another process ended it first. */
		rc = reserve_end(c, store_res_text(r, i, 0), "expired");
		n += rc > 0;
	}
	store_res_free(r);
	return rc < 0 ? rc : n;
}
