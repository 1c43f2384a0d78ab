/*
 * test_billing_reserve.c — src/billing/reserve.c on a migrated store, SQLite
 * and (under scripts/with-postgres) PostgreSQL: a reservation is made only
 * while available (balance + credit limit - reserved) covers it, also with
 * many threads on their own connections reserving at once; a settle posts
 * one charge of the exact cost and ends the reservation once (a repeat
 * returns the same entry); release and expiry give the money back, and a
 * settle after an expiry still charges.
 */
#include "test_billing_fixture.h"

#include <pthread.h>

#include "billing/billing.h"

static const struct billing_ledger_opts opts = {.low_balance_threshold = 0};

static struct store_conn *conn(void **state)
{
	struct fixture *f = *state;
	return store_conn(f->store);
}

/* A customer with balance units of money and a credit limit. */
static void customer_with(struct store_conn *c, const char *id, int64_t balance, int64_t credit)
{
	billing_fixture_customer(c, &opts, id, balance, credit);
}

static int reserve(struct store_conn *c, const char *cust, int64_t amount,
		   struct billing_reservation *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->customer_id, sizeof(r->customer_id), "%s", cust);
	r->amount = amount;
	snprintf(r->reference_type, sizeof(r->reference_type), "call");
	snprintf(r->reference_id, sizeof(r->reference_id), "call-%lld", (long long)amount);
	return billing_reserve(c, r, 60000);
}

static struct billing_balance bal(struct store_conn *c, const char *cust)
{
	struct billing_balance b;
	assert_int_equal(billing_balance_get(c, &opts, cust, &b), 0);
	return b;
}

static void test_reserve_only_what_is_available(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_reservation r1, r2, r3;

	customer_with(c, "cus_r", 10000000, 2000000); /* 10 + 2 credit */
	assert_int_equal(reserve(c, "cus_r", 7000000, &r1), 0);
	assert_true(strncmp(r1.id, "rsv_", 4) == 0 && r1.expires_at > 0);
	assert_int_equal(reserve(c, "cus_r", 5000001, &r2), BILLING_LEDGER_EFUNDS);
	assert_string_equal(r2.id, "");
	assert_int_equal(reserve(c, "cus_r", 5000000, &r3), 0); /* exactly what is left */
	struct billing_balance b = bal(c, "cus_r");
	assert_true(b.balance == 10000000 && b.reserved == 12000000 && b.available == 0);
	assert_int_equal(reserve(c, "cus_r", 1, &r2), BILLING_LEDGER_EFUNDS);
	assert_int_equal(reserve(c, "cus_none", 1, &r2), BILLING_LEDGER_ENOCUSTOMER);
	assert_int_equal(reserve(c, "cus_r", 0, &r2), BILLING_LEDGER_ERANGE);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM reservations"), 2);
}

static void test_settle_charges_the_exact_cost_once(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_reservation r;
	struct billing_entry e, again;
	bool replayed = true;

	customer_with(c, "cus_s", 10000000, 0);
	assert_int_equal(reserve(c, "cus_s", 3000000, &r), 0);
	assert_int_equal(
	    billing_reservation_settle(c, &opts, r.id, BILLING_CALL_CHARGE, 1234567, &e, &replayed),
	    0);
	assert_false(replayed);
	assert_true(e.amount == -1234567 && e.kind == BILLING_CALL_CHARGE);
	assert_string_equal(e.reference_type, "call");
	assert_string_equal(e.reference_id, "call-3000000");
	struct billing_balance b = bal(c, "cus_s");
	assert_true(b.balance == 10000000 - 1234567 && b.reserved == 0);
	/* A repeated settle (a retry after a lost answer) charges nothing more. */
	assert_int_equal(billing_reservation_settle(c, &opts, r.id, BILLING_CALL_CHARGE, 1234567,
						    &again, &replayed),
			 0);
	assert_true(replayed);
	assert_string_equal(again.id, e.id);
	assert_true(bal(c, "cus_s").balance == 10000000 - 1234567);
	/* The reservation names its charge. */
	struct store_param p = store_p_text(r.id);
	struct store_res *res = NULL;
	assert_int_equal(
	    store_exec(c, "SELECT state, entry_id FROM reservations WHERE id = $1", &p, 1, &res),
	    0);
	assert_string_equal(store_res_text(res, 0, 0), "settled");
	assert_string_equal(store_res_text(res, 0, 1), e.id);
	store_res_free(res);
	assert_int_equal(billing_reservation_settle(c, &opts, "rsv_none", BILLING_CALL_CHARGE, 1,
						    &again, &replayed),
			 BILLING_LEDGER_ENORESERVATION);
}

/* A call's reservation settles under the key the billing role charges the
 * call by (cdr:<id>): the role's later post of the same charge replays. */
static void test_settle_of_a_cdr_is_keyed_by_the_cdr(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_reservation r;
	struct billing_entry e, role = {0};
	bool replayed;

	customer_with(c, "cus_k", 10000000, 0);
	memset(&r, 0, sizeof(r));
	snprintf(r.customer_id, sizeof(r.customer_id), "cus_k");
	r.amount = 2000000;
	snprintf(r.reference_type, sizeof(r.reference_type), "cdr");
	snprintf(r.reference_id, sizeof(r.reference_id), "cdr_abc");
	assert_int_equal(billing_reserve(c, &r, 60000), 0);
	assert_int_equal(
	    billing_reservation_settle(c, &opts, r.id, BILLING_CALL_CHARGE, 1500000, &e, &replayed),
	    0);
	assert_string_equal(e.idempotency_key, "cdr:cdr_abc");
	assert_string_equal(e.reference_type, "cdr");
	snprintf(role.customer_id, sizeof(role.customer_id), "cus_k");
	role.kind = BILLING_CALL_CHARGE;
	role.amount = -1500000;
	snprintf(role.reference_type, sizeof(role.reference_type), "cdr");
	snprintf(role.reference_id, sizeof(role.reference_id), "cdr_abc");
	snprintf(role.idempotency_key, sizeof(role.idempotency_key), "cdr:cdr_abc");
	assert_int_equal(billing_ledger_post(c, &opts, &role, &replayed), 0);
	assert_true(replayed);
	assert_string_equal(role.id, e.id);
	assert_true(bal(c, "cus_k").balance == 10000000 - 1500000);
}

static void test_release_and_zero_cost_give_the_money_back(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_reservation r1, r2;
	struct billing_entry e;
	bool replayed;

	customer_with(c, "cus_z", 5000000, 0);
	assert_int_equal(reserve(c, "cus_z", 5000000, &r1), 0);
	assert_int_equal(billing_reservation_release(c, r1.id), 0);
	assert_int_equal(billing_reservation_release(c, r1.id), 0); /* ended once */
	assert_true(bal(c, "cus_z").reserved == 0);
	assert_int_equal(reserve(c, "cus_z", 5000000, &r2), 0);
	assert_int_equal(
	    billing_reservation_settle(c, &opts, r2.id, BILLING_MESSAGE_CHARGE, 0, &e, &replayed),
	    0);
	assert_string_equal(e.id, "");
	struct billing_balance b = bal(c, "cus_z");
	assert_true(b.reserved == 0 && b.balance == 5000000 && b.seq == 1);
	assert_int_equal(billing_reservation_release(c, "rsv_none"), BILLING_LEDGER_ENORESERVATION);
}

static void test_expiry_then_a_late_settle_still_charges(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_reservation r1, r2;
	struct billing_entry e;
	bool replayed;

	customer_with(c, "cus_e", 5000000, 0);
	assert_int_equal(reserve(c, "cus_e", 2000000, &r1), 0);
	assert_int_equal(reserve(c, "cus_e", 1000000, &r2), 0);
	/* Only the ones past expires_at; a second sweep finds none. */
	assert_int_equal(billing_reservations_expire(c, r1.expires_at - 60001, 10), 0);
	assert_int_equal(billing_reservations_expire(c, r2.expires_at, 10), 2);
	assert_int_equal(billing_reservations_expire(c, r2.expires_at, 10), 0);
	assert_true(bal(c, "cus_e").reserved == 0);
	/* The call was real: its charge is posted without the reservation. */
	assert_int_equal(
	    billing_reservation_settle(c, &opts, r1.id, BILLING_CALL_CHARGE, 700000, &e, &replayed),
	    0);
	assert_false(replayed);
	struct billing_balance b = bal(c, "cus_e");
	assert_true(b.balance == 4300000 && b.reserved == 0);
}

static int64_t reservations(const char *result)
{
	struct metric_family *f =
	    metrics_counter(metrics_default(), "warp_billing_reservations_total", "", "result");
	return f ? metric_value(metric_get(f, result)) : -1;
}

static void test_outcomes_are_counted(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_reservation r1, r2, r3;
	struct billing_entry e;
	bool replayed;
	const char *names[] = {"reserved", "refused", "settled", "released", "expired"};
	int64_t before[5];

	for (int i = 0; i < 5; i++)
		before[i] = reservations(names[i]);
	customer_with(c, "cus_m", 3000000, 0);
	assert_int_equal(reserve(c, "cus_m", 1000000, &r1), 0);
	assert_int_equal(reserve(c, "cus_m", 1000000, &r2), 0);
	assert_int_equal(reserve(c, "cus_m", 1000000, &r3), 0);
	assert_int_equal(reserve(c, "cus_m", 1, &r3), BILLING_LEDGER_EFUNDS);
	assert_int_equal(
	    billing_reservation_settle(c, &opts, r1.id, BILLING_CALL_CHARGE, 5, &e, &replayed), 0);
	assert_int_equal(
	    billing_reservation_settle(c, &opts, r1.id, BILLING_CALL_CHARGE, 5, &e, &replayed), 0);
	assert_int_equal(billing_reservation_release(c, r2.id), 0);
	assert_int_equal(billing_reservations_expire(c, INT64_MAX / 2, 10), 1);
	static const int64_t want[] = {3, 1, 1, 1, 1}; /* a repeated settle ends nothing */
	for (int i = 0; i < 5; i++)
		assert_int_equal(reservations(names[i]), before[i] + want[i]);
}

/* Reservers on their own threads and connections, as several sip processes
 * on one PostgreSQL would be: a balance that covers ten never gives out an
 * eleventh. */
#define RESERVERS 6
#define TRIES 10

struct reserver {
	struct store *store;
	int won, failed;
};

static void *reserver_run(void *arg)
{
	struct reserver *p = arg;
	struct store_conn *c = store_conn(p->store);
	struct billing_reservation r;

	for (int i = 0; i < TRIES; i++) {
		int rc = reserve(c, "cus_p", 1000000, &r);
		if (rc == 0)
			p->won++;
		else if (rc != BILLING_LEDGER_EFUNDS)
			p->failed++;
	}
	store_conn_release(p->store);
	return NULL;
}

static void test_parallel_reservations_never_overspend(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn(state);
	struct reserver p[RESERVERS];
	pthread_t t[RESERVERS];
	int won = 0;

	customer_with(c, "cus_p", 8000000, 2000000); /* covers ten of one unit */
	for (int i = 0; i < RESERVERS; i++) {
		p[i] = (struct reserver){f->store, 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, reserver_run, &p[i]), 0);
	}
	for (int i = 0; i < RESERVERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].failed, 0);
		won += p[i].won;
	}
	assert_int_equal(won, 10);
	struct billing_balance b = bal(c, "cus_p");
	assert_true(b.reserved == 10000000 && b.available == 0);
	assert_int_equal(fixture_query_int(c, "SELECT SUM(amount) FROM reservations WHERE state = "
					      "'open'"),
			 10000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reserve_only_what_is_available,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_settle_charges_the_exact_cost_once,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_settle_of_a_cdr_is_keyed_by_the_cdr,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_release_and_zero_cost_give_the_money_back,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_then_a_late_settle_still_charges,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_outcomes_are_counted, fixture_setup_migrated,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_parallel_reservations_never_overspend,
					    fixture_setup_migrated, fixture_teardown),
	};
	return FIXTURE_RUN("billing_reserve", tests);
}
