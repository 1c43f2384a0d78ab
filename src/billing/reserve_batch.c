/*
 * reserve_batch.c — a prepaid reservation as statements of a batch group
 * (billing.h, decisions 0035 and 0038), so that a message and the money
 * held for it commit in one transaction of the batching writer that
 * already stores the message, and the submit path never waits on the store
 * itself.
 *
 * The group is: the customer's balances row made if it is missing; the
 * row moved (reserved + amount), which on PostgreSQL takes the row lock
 * every posting takes (ledger.c), so the next statement's snapshot sees
 * what the posters before it committed; then the reservation row, whose
 * amount is the asked one only while balance + credit limit - reserved is
 * still >= 0, else 0 — which its CHECK (amount > 0) refuses.  So a
 * reservation that is not covered fails the group with STORE_ECONSTRAINT
 * and nothing of it (nor the message queued with it) is written; SQLite's
 * BEGIN IMMEDIATE serializes the writers anyway.  No decision is taken in
 * C between the statements: they need no result, as a batch requires.
 */
#include "billing.h"

#include <stdio.h>
#include <string.h>

#define RB_BALANCE_SQL                                                                             \
	"INSERT INTO balances (customer_id, currency, updated_at) SELECT id, currency, $2 FROM "   \
	"customers WHERE id = $1 ON CONFLICT (customer_id) DO NOTHING"
#define RB_HOLD_SQL "UPDATE balances SET reserved = reserved + $2 WHERE customer_id = $1"
#define RB_INSERT_SQL                                                                              \
	"INSERT INTO reservations (id, customer_id, amount, state, reference_type, reference_id, " \
	"expires_at, created_at) SELECT $1, b.customer_id, CASE WHEN b.balance + c.credit_limit "  \
	"- "                                                                                       \
	"b.reserved >= 0 THEN $3 ELSE 0 END, 'open', $4, $5, $6, $7 FROM balances b JOIN "         \
	"customers c ON c.id = b.customer_id WHERE b.customer_id = $2"

int billing_reserve_batch(struct billing_reserve_batch *out, const char *customer_id,
			  int64_t amount, const char *reference_type, const char *reference_id,
			  int64_t expires_at, int64_t now)
{
	memset(out, 0, sizeof(*out));
	if (amount <= 0 || amount > BILLING_LEDGER_AMOUNT_MAX)
		return BILLING_LEDGER_ERANGE;
	int rc = id_new("rsv", out->id, sizeof(out->id));

	if (rc < 0)
		return rc;
	snprintf(out->customer_id, sizeof(out->customer_id), "%s", customer_id);
	snprintf(out->reference_type, sizeof(out->reference_type), "%s", reference_type);
	snprintf(out->reference_id, sizeof(out->reference_id), "%s", reference_id);
	out->balance[0] = store_p_text(out->customer_id);
	out->balance[1] = store_p_int(now);
	out->hold[0] = store_p_text(out->customer_id);
	out->hold[1] = store_p_int(amount);
	out->insert[0] = store_p_text(out->id);
	out->insert[1] = store_p_text(out->customer_id);
	out->insert[2] = store_p_int(amount);
	out->insert[3] = store_p_text(out->reference_type);
	out->insert[4] = store_p_text(out->reference_id);
	out->insert[5] = store_p_int(expires_at);
	out->insert[6] = store_p_int(now);
	out->st[0] = (struct store_batch_stmt){RB_BALANCE_SQL, out->balance, 2};
	out->st[1] = (struct store_batch_stmt){RB_HOLD_SQL, out->hold, 2};
	out->st[2] = (struct store_batch_stmt){RB_INSERT_SQL, out->insert, 7};
	return 0;
}

bool billing_reserve_batch_refused(int status)
{
	return status == STORE_ECONSTRAINT;
}
