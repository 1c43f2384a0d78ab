/*
 * test_billing_reserve_batch.c — src/billing/reserve_batch.c through a real
 * batching writer on a migrated store (SQLite, and PostgreSQL under
 * scripts/with-postgres): a reservation queued in a group with the row it
 * pays for commits with it while balance + credit limit - reserved covers
 * it, and otherwise fails the group (billing_reserve_batch_refused) with
 * neither the row nor the reservation written — also when covered and
 * refused groups share one batch, when two writers (two connections, as two
 * processes would) reserve for one customer at once, and for a customer with
 * no balances row yet (its credit limit alone).
 */
#include "test_billing_fixture.h"

#include <stdatomic.h>

#include "billing/billing.h"

#define GROUPS 10

static const struct billing_ledger_opts opts = {.low_balance_threshold = 0};

struct outcome {
	atomic_int status;
	atomic_bool done;
};

static void on_done(void *arg, int status)
{
	struct outcome *o = arg;

	atomic_store(&o->status, status);
	atomic_store(&o->done, true);
}

static void customer_with(struct store_conn *c, const char *id, int64_t balance, int64_t credit)
{
	billing_fixture_customer(c, &opts, id, balance, credit);
}

/* Queues n groups of (reservation of amount, the row "<cust>-<i>") and
 * waits for them; returns how many committed, the others must be refused. */
static int queue_groups(struct fixture *f, const char *cust, int64_t amount, int n)
{
	struct store_conn *c = store_conn(f->store);
	struct store_batch *b[2];
	struct outcome out[GROUPS];
	int ok = 0;

	fixture_exec_ok(c, "CREATE TABLE IF NOT EXISTS paid (id TEXT PRIMARY KEY)");
	for (int k = 0; k < 2; k++) { /* two writers: two connections at once */
		b[k] =
		    store_batch_new(f->store, "INSERT INTO paid (id) VALUES ($1)", 1, 64, 64, 50);
		assert_non_null(b[k]);
	}
	for (int i = 0; i < n; i++) {
		struct billing_reserve_batch rb;
		char row[64];
		struct store_batch_stmt st[BILLING_RESERVE_BATCH_STMTS + 1];
		struct store_param p;

		snprintf(row, sizeof(row), "%s-%d", cust, i);
		p = store_p_text(row);
		assert_int_equal(billing_reserve_batch(&rb, cust, amount, "message", row,
						       time_wall_ms() + 60000, time_wall_ms()),
				 0);
		memcpy(st, rb.st, sizeof(rb.st));
		st[BILLING_RESERVE_BATCH_STMTS] = (struct store_batch_stmt){NULL, &p, 1};
		atomic_init(&out[i].done, false);
		atomic_init(&out[i].status, 1);
		assert_int_equal(store_batch_add_group(b[i % 2], st,
						       BILLING_RESERVE_BATCH_STMTS + 1, on_done,
						       &out[i]),
				 0);
	}
	store_batch_free(b[0]); /* flushes: every group has its fate */
	store_batch_free(b[1]);
	for (int i = 0; i < n; i++) {
		int st = atomic_load(&out[i].status);

		assert_true(atomic_load(&out[i].done));
		assert_true(st == 0 || billing_reserve_batch_refused(st));
		ok += st == 0;
	}
	return ok;
}

static void test_covered_groups_commit_and_the_rest_write_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	struct billing_balance bal;

	customer_with(c, "cus_b", 30000, 5000); /* 0.03 + 0.005 credit: three of 0.01 */
	assert_int_equal(queue_groups(f, "cus_b", 10000, GROUPS), 3);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM paid"), 3);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM reservations WHERE state = "
					      "'open' AND reference_type = 'message'"),
			 3);
	assert_int_equal(billing_balance_get(c, &opts, "cus_b", &bal), 0);
	assert_true(bal.balance == 30000 && bal.reserved == 30000 && bal.available == 5000);
	/* the ones refused: no row, no reservation, whichever they were */
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM paid p WHERE NOT EXISTS "
					      "(SELECT 1 FROM reservations r WHERE "
					      "r.reference_id = p.id)"),
			 0);
}

static void test_a_customer_without_a_balance_row_has_its_credit(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);

	customer_with(c, "cus_n", 0, 20000);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM balances"), 0);
	assert_int_equal(queue_groups(f, "cus_n", 10000, 4), 2);
	assert_int_equal(fixture_query_int(c, "SELECT reserved FROM balances"), 20000);
}

static void test_bad_amounts_are_refused_before_queueing(void **state)
{
	struct billing_reserve_batch rb;

	(void)state;
	assert_int_equal(billing_reserve_batch(&rb, "cus_x", 0, "message", "m", 1, 0),
			 BILLING_LEDGER_ERANGE);
	assert_int_equal(billing_reserve_batch(&rb, "cus_x", BILLING_LEDGER_AMOUNT_MAX + 1,
					       "message", "m", 1, 0),
			 BILLING_LEDGER_ERANGE);
	assert_false(billing_reserve_batch_refused(0));
	assert_false(billing_reserve_batch_refused(STORE_EDOWN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_covered_groups_commit_and_the_rest_write_nothing,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_a_customer_without_a_balance_row_has_its_credit,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_amounts_are_refused_before_queueing,
					    fixture_setup_migrated, fixture_teardown),
	};
	return FIXTURE_RUN("billing_reserve_batch", tests);
}
