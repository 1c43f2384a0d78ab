/*
 * role_charge.c — a rated record's money into its customer's ledger, in
 * the billing role's batch transaction (decision 0036, conventions of
 * decision 0035).
 *
 * The first rating posts the charge under the record's key ("cdr:<id>",
 * "msg:<group id>").  A prepaid call or message was charged already by the
 * role that settled its reservation under the same key: that entry is
 * found and kept (its amount becomes what the record has been charged), so
 * nothing is charged twice.  A re-rating posts only the difference from
 * what the ledger holds, as an adjustment keyed "<key>:r<n>" (n the
 * rating's number), so the ledger stays append-only and a repeated
 * re-rating at the same price posts nothing.
 *
 * Each posting runs inside a savepoint: a posting the ledger refuses (an
 * unknown customer, an amount out of range) or a key another process
 * posted first (PostgreSQL: billing_ledger_post_locked found it after
 * moving the balance) is undone alone, and the rest of the batch commits.
 */
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "role_private.h"

bool role_charge_refused(int rc)
{
	return rc <= BILLING_LEDGER_ENOCUSTOMER && rc >= BILLING_LEDGER_ENORESERVATION;
}

/* The amount of the customer's entry under key into *amount: 1 when there
 * is one, 0 when not, or a store code. */
static int charge_find(struct store_conn *c, const char *customer_id, const char *key,
		       int64_t *amount)
{
	struct store_param p[] = {store_p_text(customer_id), store_p_text(key)};
	struct store_res *r = NULL;
	int rc = store_exec(
	    c, "SELECT amount FROM ledger_entries WHERE customer_id = $1 AND idempotency_key = $2",
	    p, 2, &r);

	if (rc == 0 && store_res_rows(r) == 1) {
		*amount = store_res_int(r, 0, 0);
		rc = 1;
	}
	store_res_free(r);
	return rc;
}

/* Posts e in a savepoint: 0 posted, 1 the key was there (undone), or a
 * code (undone). */
static int charge_post_one(struct store_conn *c, const struct billing_ledger_opts *o,
			   struct billing_entry *e)
{
	int rc = store_exec(c, "SAVEPOINT billing_charge", NULL, 0, NULL);

	if (rc != 0)
		return rc;
	rc = billing_ledger_post_locked(c, o, e);
	if (rc != 0 && store_exec(c, "ROLLBACK TO SAVEPOINT billing_charge", NULL, 0, NULL) != 0)
		return STORE_ERR;
	int rel = store_exec(c, "RELEASE SAVEPOINT billing_charge", NULL, 0, NULL);
	return rel ? rel : rc;
}

static void charge_entry(const struct role_charge *ch, enum billing_entry_kind kind, int64_t amount,
			 const char *key, struct billing_entry *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->customer_id, sizeof(e->customer_id), "%s", ch->customer_id);
	e->kind = kind;
	e->amount = amount;
	snprintf(e->reference_type, sizeof(e->reference_type), "%s", ch->reference_type);
	snprintf(e->reference_id, sizeof(e->reference_id), "%s", ch->reference_id);
	snprintf(e->idempotency_key, sizeof(e->idempotency_key), "%s", key);
	/* the zone first, for invoices grouping charges by it (decision 0036) */
	snprintf(e->description, sizeof(e->description), "zone %s: %s",
		 ch->zone && ch->zone[0] ? ch->zone : "-", ch->destination ? ch->destination : "");
	snprintf(e->created_by, sizeof(e->created_by), "billing");
}

/* The first charge, or the one already under its key. */
static int charge_first(struct store_conn *c, const struct billing_ledger_opts *o,
			struct role_charge *ch)
{
	struct billing_entry e;
	int64_t amount = 0;
	int rc = charge_find(c, ch->customer_id, ch->key, &amount);

	if (rc == 0 && ch->sell > 0) {
		charge_entry(ch, ch->kind, -ch->sell, ch->key, &e);
		rc = charge_post_one(c, o, &e);
		if (rc == 1 || rc == BILLING_LEDGER_EKEYREUSED) /* posted meanwhile */
			rc = charge_find(c, ch->customer_id, ch->key, &amount);
		else if (rc == 0)
			amount = -ch->sell;
	}
	if (rc == 1 || rc == 0)
		ch->charged = -amount;
	return rc == 1 ? 0 : rc;
}

int role_charge_post(struct store_conn *c, const struct billing_ledger_opts *o,
		     struct role_charge *ch)
{
	char key[BILLING_LEDGER_KEY_MAX + 1];
	struct billing_entry e;
	int64_t diff = ch->charged - ch->sell;
	int rc;

	if (ch->ratings == 0)
		return charge_first(c, o, ch);
	if (diff == 0)
		return 0;
	snprintf(key, sizeof(key), "%s:r%lld", ch->key, (long long)ch->ratings + 1);
	charge_entry(ch, BILLING_ADJUSTMENT, diff, key, &e);
	rc = charge_post_one(c, o, &e);
	if (rc == 0 || rc == 1)
		ch->charged = ch->sell; /* 1: this re-rating's adjustment was posted before */
	return rc == 1 ? 0 : rc;
}
