/*
 * test_billing_role.c — the billing role's passes (src/billing/role*.c) on
 * a migrated store, SQLite and (under scripts/with-postgres) PostgreSQL:
 * CDRs of several customers over several batches each charged once (one
 * entry per postpaid customer and batch, decision 0052), with
 * every customer's seq numbers consecutive and its balance the sum of its
 * entries; a call a prepaid settlement charged already under cdr:<id>
 * keeps that entry, and a re-rating posts the difference from it once;
 * a CDR with no rate quarantined without holding back the rest; one
 * balance.low event for the crossing.
 */
#include "test_store_fixture.h"

#include <pthread.h>

#include "billing/billing.h"
#include "billing/role_private.h"

#define NCUST 3
#define NCDRS 20

static void provision(struct store_conn *c, int64_t now)
{
	char sql[1024];

	fixture_exec_ok(c, "INSERT INTO rate_decks (id, name, direction, currency, created_at, "
			   "updated_at) VALUES ('sell', 's', 'sell', 'USD', 0, 0), "
			   "('buy', 'b', 'buy', 'USD', 0, 0)");
	snprintf(
	    sql, sizeof(sql),
	    "INSERT INTO rate_deck_versions (id, deck_id, number, activate_at, row_count, "
	    "voice_rows, sms_rows, created_at, updated_at) VALUES ('sell-v1', 'sell', 1, %lld, "
	    "1, 1, 0, 0, 0), ('buy-v1', 'buy', 1, %lld, 1, 1, 0, 0, 0)",
	    (long long)(now - 60000), (long long)(now - 60000));
	fixture_exec_ok(c, sql);
	/* 1 at 0.06/min 1/1: a second costs 0.001; bought at 0.03 */
	fixture_exec_ok(c, "INSERT INTO rate_deck_rows (version_id, seq, prefix, service, "
			   "destination, zone, rate, initial_s, increment_s, line) VALUES "
			   "('sell-v1', 1, '1', 'voice', 'NANP', 'NA', 60000, 1, 1, 2), "
			   "('buy-v1', 1, '1', 'voice', 'NANP', 'NA', 30000, 1, 1, 2)");
	fixture_exec_ok(c, "INSERT INTO carriers (id, name, buy_deck_id, created_at, updated_at) "
			   "VALUES ('car_1', 'up', 'buy', 0, 0)");
	for (int i = 0; i < NCUST; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO customers (id, name, status, billing_type, currency, "
			 "credit_limit, sell_deck_id, low_balance_threshold, created_at, "
			 "updated_at) VALUES ('cus_%d', 'c', 'active', 'postpaid', 'USD', 0, "
			 "'sell', -5000, 0, 0)",
			 i);
		fixture_exec_ok(c, sql);
	}
}

/* CDR i of customer i % NCUST to number, i + 1 seconds long. */
static void cdr_add(struct store_conn *c, int i, const char *number, int64_t now)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO cdrs (id, call_id, direction, customer_id, trunk_id, carrier_id, "
		 "normalized, dialed, start_ms, answer_ms, end_ms, duration_ms, billable_ms, "
		 "final_code, attempts, created_at) VALUES ('cdr_%02d', 'call%d', 'termination', "
		 "'cus_%d', 'trk', 'car_1', '%s', '%s', %lld, %lld, %lld, %d, %d, 200, '[]', %lld)",
		 i, i, i % NCUST, number, number, (long long)now, (long long)now,
		 (long long)now + (i + 1) * 1000, (i + 1) * 1000, (i + 1) * 1000, (long long)now);
	fixture_exec_ok(c, sql);
}

static int64_t query_int(struct store_conn *c, const char *sql)
{
	struct store_res *r = NULL;
	int64_t v;

	assert_int_equal(store_exec(c, sql, NULL, 0, &r), 0);
	assert_int_equal(store_res_rows(r), 1);
	v = store_res_int(r, 0, 0);
	store_res_free(r);
	return v;
}

struct role_env {
	struct snapshot_loader *loader;
	struct billing_rating_source *src;
	struct billing_role *role;
	struct billing_role_opts o;
};

static void role_env_start(struct fixture *f, struct role_env *e, int batch)
{
	struct billing_role_opts o = {.store = f->store, .batch = batch, .interval_ms = 1000};

	e->src = billing_rating_source_new();
	e->loader = snapshot_loader_new(f->store, 1000);
	assert_non_null(e->loader);
	o.rating = snapshot_register(e->loader, "rating", billing_rating_build,
				     billing_rating_release, e->src);
	assert_non_null(o.rating);
	e->role = billing_role_new(&o);
	assert_non_null(e->role);
	e->o = o;
}

static void role_env_stop(struct role_env *e)
{
	billing_role_free(e->role);
	snapshot_loader_free(e->loader);
	billing_rating_source_free(e->src);
}

static void test_batches_charge_each_cdr_once(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	int64_t now = time_wall_ms();
	struct role_env e;

	provision(c, now);
	for (int i = 0; i < NCDRS; i++)
		cdr_add(c, i, i == 3 ? "4420" : "15550001", now);
	role_env_start(f, &e, 7);
	assert_int_equal(billing_role_drain(e.role, c), NCDRS);
	/* 19 charged, 0.001 per second of each call, the UK one quarantined:
	 * each batch of 7 has two or three calls of each postpaid customer,
	 * posted as one entry per customer and batch (decision 0052) whose
	 * parts the rating rows name */
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries WHERE reference_type = "
				      "'cdr_batch'"),
			 3 * NCUST);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 3 * NCUST);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM cdr_ratings g WHERE g.state = 'rated' "
				      "AND (g.entry_amount <> g.sell OR NOT EXISTS (SELECT 1 FROM "
				      "ledger_entries e WHERE e.id = g.entry_id))"),
			 0);
	assert_int_equal(query_int(c, "SELECT -SUM(amount) FROM ledger_entries"),
			 query_int(c, "SELECT SUM(sell) FROM cdr_ratings"));
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM cdr_ratings WHERE state = "
				      "'quarantined' AND reason = 'no_rate' AND cdr_id = 'cdr_03'"),
			 1);
	assert_int_equal(query_int(c, "SELECT sell FROM cdr_ratings WHERE cdr_id = 'cdr_04'"),
			 5000);
	assert_int_equal(query_int(c, "SELECT margin FROM cdr_ratings WHERE cdr_id = 'cdr_04'"),
			 2500);
	/* each customer: seq 1..n without a gap, balance = the sum of its entries */
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM balances b WHERE b.seq <> (SELECT "
				      "COUNT(*) FROM ledger_entries e WHERE e.customer_id = "
				      "b.customer_id) OR b.balance <> (SELECT SUM(amount) FROM "
				      "ledger_entries e WHERE e.customer_id = b.customer_id)"),
			 0);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries e WHERE e.seq > 1 AND "
				      "e.balance_after <> (SELECT p.balance_after FROM "
				      "ledger_entries p WHERE p.customer_id = e.customer_id AND "
				      "p.seq = e.seq - 1) + e.amount"),
			 0);
	/* the threshold of -0.005 is crossed once per customer */
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM message_events WHERE type = "
				      "'balance.low'"),
			 NCUST);
	/* entry ids are well-formed ids, in the order they were posted */
	struct store_res *r = NULL;
	assert_int_equal(
	    store_exec(c, "SELECT id FROM ledger_entries ORDER BY created_at, seq", NULL, 0, &r),
	    0);
	for (size_t i = 0; i < store_res_rows(r); i++)
		assert_true(id_valid(str_from_cstr(store_res_text(r, i, 0)), "led"));
	store_res_free(r);
	/* nothing pending: a second drain writes nothing */
	assert_int_equal(billing_role_drain(e.role, c), 0);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 3 * NCUST);
	role_env_stop(&e);
}

static void test_prepaid_charge_kept_and_rerating_posts_the_difference(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	struct billing_ledger_opts lo = {0};
	struct billing_entry pre = {.kind = BILLING_CALL_CHARGE, .amount = -1234};
	int64_t now = time_wall_ms();
	struct role_env e;
	bool replayed;

	provision(c, now);
	cdr_add(c, 0, "15550001", now); /* 1 s: 0.001 */
	snprintf(pre.customer_id, sizeof(pre.customer_id), "cus_0");
	snprintf(pre.idempotency_key, sizeof(pre.idempotency_key), "cdr:cdr_00");
	snprintf(pre.created_by, sizeof(pre.created_by), "sip");
	assert_int_equal(billing_ledger_post(c, &lo, &pre, &replayed), 0);
	role_env_start(f, &e, 100);
	assert_int_equal(billing_role_drain(e.role, c), 1);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 1);
	assert_int_equal(query_int(c, "SELECT charged FROM cdr_ratings"), 1234);
	assert_int_equal(query_int(c, "SELECT sell FROM cdr_ratings"), 1000);
	/* asked again twice: the ledger gets 0.000234 back once */
	for (int i = 0; i < 2; i++) {
		fixture_exec_ok(c, "UPDATE cdr_ratings SET state = 'pending'");
		assert_int_equal(billing_role_drain(e.role, c), 1);
	}
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 2);
	assert_int_equal(query_int(c, "SELECT amount FROM ledger_entries WHERE idempotency_key = "
				      "'cdr:cdr_00:r2'"),
			 234);
	assert_int_equal(query_int(c, "SELECT balance FROM balances"), -1000);
	assert_int_equal(query_int(c, "SELECT ratings FROM cdr_ratings"), 3);
	role_env_stop(&e);
}

struct drainer {
	struct fixture *f;
	struct billing_role *role;
	int64_t written;
};

static void *drain_thread(void *arg)
{
	struct drainer *d = arg;

	d->written = billing_role_drain(d->role, store_conn(d->f->store));
	store_conn_release(d->f->store);
	return NULL;
}

/* Two billing processes' worth of raters on one store: on PostgreSQL each
 * claims its batches (FOR UPDATE SKIP LOCKED), on SQLite they take turns;
 * either way every CDR is written once and charged once. */
static void test_two_raters_share_the_stream(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	int64_t now = time_wall_ms();
	struct role_env e;
	struct drainer d[2];
	pthread_t th[2];

	provision(c, now);
	for (int i = 0; i < NCDRS; i++)
		cdr_add(c, i, i == 3 ? "4420" : "15550001", now);
	role_env_start(f, &e, 3);
	struct billing_role_opts o = {.store = f->store,
				      .batch = 3,
				      .interval_ms = 1000,
				      .rating = snapshot_register(e.loader, "rating2",
								  billing_rating_build,
								  billing_rating_release, e.src)};
	struct billing_role *second = billing_role_new(&o);
	for (int i = 0; i < 2; i++) {
		d[i] = (struct drainer){.f = f, .role = i ? second : e.role};
		assert_int_equal(pthread_create(&th[i], NULL, drain_thread, &d[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(d[0].written >= 0 && d[1].written >= 0);
	assert_int_equal(d[0].written + d[1].written, NCDRS);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), NCDRS - 1);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM cdr_ratings WHERE ratings > 1"), 0);
	billing_role_free(second);
	role_env_stop(&e);
}

/* A customer switched from prepaid to postpaid: its call charged in a
 * batch entry by the role, the sip role's settlement of it that comes
 * after posts nothing and still closes the reservation (decision 0052). */
static void test_a_settlement_after_a_batch_charges_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	struct billing_ledger_opts lo = {0};
	struct billing_reservation rv = {.customer_id = "cus_0",
					 .amount = 500,
					 .reference_type = "cdr",
					 .reference_id = "cdr_00"};
	struct billing_entry e0;
	int64_t now = time_wall_ms();
	struct role_env e;
	bool replayed = true;

	provision(c, now);
	fixture_exec_ok(c, "UPDATE customers SET credit_limit = 1000000");
	assert_int_equal(billing_reserve(c, &rv, 60000), 0);
	cdr_add(c, 0, "15550001", now); /* cus_0, 1 s: 0.001 */
	cdr_add(c, 3, "15550001", now); /* cus_0, 4 s: 0.004 */
	role_env_start(f, &e, 100);
	assert_int_equal(billing_role_drain(e.role, c), 2);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries WHERE reference_type = "
				      "'cdr_batch' AND amount = -5000"),
			 1);
	assert_int_equal(
	    billing_reservation_settle(c, &lo, rv.id, BILLING_CALL_CHARGE, 1000, &e0, &replayed),
	    0);
	assert_false(replayed);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 1);
	assert_int_equal(query_int(c, "SELECT balance FROM balances"), -5000);
	assert_int_equal(query_int(c, "SELECT reserved FROM balances"), 0);
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM reservations WHERE state = 'open'"), 0);
	role_env_stop(&e);
}

/* A batch read ahead of the writer (role_pipe.c, decision 0052) charges
 * only the rows still as read: one re-rated meanwhile (its rating_version
 * moved) and one another batch rated are left alone. */
static void test_a_batch_read_ahead_charges_only_rows_still_as_read(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	int64_t now = time_wall_ms(), cursor[2] = {-1, 0};
	struct role_cdr_batch *b = NULL;
	struct role_pass pass;
	struct role_env e;
	bool full = true;

	if (store_kind(f->store) != STORE_SQLITE)
		skip(); /* the read ahead is SQLite's (its rowid order) */
	provision(c, now);
	for (int i = 0; i < 6; i++)
		cdr_add(c, i, "15550001", now); /* cus_(i % 3), i + 1 s */
	role_env_start(f, &e, 100);
	const struct billing_rating *r = snapshot_acquire(e.o.rating);
	assert_int_equal(role_cdr_read(c, r, snapshot_version(e.o.rating), 100, cursor, &b, &full),
			 0);
	snapshot_release(e.o.rating, r);
	assert_non_null(b);
	assert_false(full);
	/* read again after the cursor: nothing */
	struct role_cdr_batch *none = NULL;
	r = snapshot_acquire(e.o.rating);
	assert_int_equal(
	    role_cdr_read(c, r, snapshot_version(e.o.rating), 100, cursor, &none, &full), 0);
	snapshot_release(e.o.rating, r);
	assert_null(none);
	fixture_exec_ok(c, "UPDATE cdr_ratings SET rating_version = 999 WHERE cdr_id = 'cdr_01'");
	fixture_exec_ok(c, "UPDATE cdr_ratings SET state = 'rated', ratings = 1 WHERE cdr_id = "
			   "'cdr_02'");
	assert_int_equal(role_cdr_commit(c, &e.o, b, &pass), 0);
	role_cdr_batch_free(b);
	assert_int_equal(pass.rated, 4);
	assert_int_equal(query_int(c, "SELECT state = 'pending' AND rating_version = 999 FROM "
				      "cdr_ratings WHERE cdr_id = 'cdr_01'"),
			 1);
	/* cus_0: cdr_00 and cdr_03 in one entry; cdr_04 and cdr_05 alone */
	assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 3);
	assert_int_equal(query_int(c, "SELECT -SUM(amount) FROM ledger_entries"),
			 1000 + 4000 + 5000 + 6000);
	assert_int_equal(query_int(c, "SELECT amount FROM ledger_entries WHERE reference_type = "
				      "'cdr_batch'"),
			 -5000);
	role_env_stop(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_batches_charge_each_cdr_once,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(
		test_prepaid_charge_kept_and_rerating_posts_the_difference, fixture_setup_migrated,
		fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_two_raters_share_the_stream,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_a_settlement_after_a_batch_charges_nothing,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_a_batch_read_ahead_charges_only_rows_still_as_read,
					    fixture_setup_migrated, fixture_teardown),
	};
	return FIXTURE_RUN("billing_role", tests);
}
