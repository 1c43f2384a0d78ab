/*
 * test_billing_ledger.c — src/billing/ledger.c on a migrated store, SQLite
 * and (under scripts/with-postgres) PostgreSQL: postings move the balance
 * and number the entries, a retried key returns the first entry and a
 * reused one is refused, the balance always equals the sum of the entries
 * (also with several threads, each its own connection, posting at once),
 * balance.low is written once per crossing, and the store itself refuses
 * to change or remove an entry.
 */
#include "test_store_fixture.h"

#include <pthread.h>

#include "billing/billing.h"

static const struct billing_ledger_opts opts = {.low_balance_threshold = 0};

static struct store_conn *conn(void **state)
{
	struct fixture *f = *state;
	return store_conn(f->store);
}

static void customer_add(struct store_conn *c, const char *id)
{
	struct store_param p = store_p_text(id);
	assert_int_equal(
	    store_exec(c,
		       "INSERT INTO customers (id, name, status, billing_type, currency, "
		       "created_at, updated_at) VALUES ($1, $1, 'active', 'prepaid', "
		       "'USD', 0, 0)",
		       &p, 1, NULL),
	    0);
}

static int post(struct store_conn *c, const char *cust, enum billing_entry_kind k, int64_t amount,
		const char *key, struct billing_entry *out, bool *replayed)
{
	bool dummy;
	memset(out, 0, sizeof(*out));
	snprintf(out->customer_id, sizeof(out->customer_id), "%s", cust);
	out->kind = k;
	out->amount = amount;
	snprintf(out->idempotency_key, sizeof(out->idempotency_key), "%s", key ? key : "");
	snprintf(out->created_by, sizeof(out->created_by), "test");
	return billing_ledger_post(c, &opts, out, replayed ? replayed : &dummy);
}

static int64_t balance_of(struct store_conn *c, const char *cust)
{
	struct billing_balance b;
	assert_int_equal(billing_balance_get(c, &opts, cust, &b), 0);
	return b.balance;
}

/* SUM(amount) of the customer's entries, as the invariant says. */
static int64_t sum_of(struct store_conn *c, const char *cust)
{
	struct store_param p = store_p_text(cust);
	struct store_res *r = NULL;
	assert_int_equal(store_exec(c,
				    "SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM ledger_entries "
				    "WHERE customer_id = $1",
				    &p, 1, &r),
			 0);
	int64_t v = store_res_int(r, 0, 0);
	store_res_free(r);
	return v;
}

static void test_postings_move_balance_and_seq(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry e;
	struct billing_balance b;

	customer_add(c, "cus_a");
	assert_int_equal(billing_balance_get(c, &opts, "cus_a", &b), 0);
	assert_true(b.balance == 0 && b.seq == 0 && strcmp(b.currency, "USD") == 0);
	assert_int_equal(post(c, "cus_a", BILLING_TOPUP, 10000000, NULL, &e, NULL), 0);
	assert_true(e.seq == 1 && e.balance_after == 10000000);
	assert_string_equal(e.currency, "USD");
	assert_true(strncmp(e.id, "led_", 4) == 0);
	assert_int_equal(post(c, "cus_a", BILLING_CALL_CHARGE, -2500001, NULL, &e, NULL), 0);
	assert_true(e.seq == 2 && e.balance_after == 7499999);
	assert_int_equal(post(c, "cus_a", BILLING_ADJUSTMENT, -8000000, NULL, &e, NULL), 0);
	assert_true(e.seq == 3 && e.balance_after == -500001);
	assert_int_equal(billing_balance_get(c, &opts, "cus_a", &b), 0);
	assert_true(b.balance == -500001 && b.seq == 3 && b.available == -500001);
	assert_true(sum_of(c, "cus_a") == b.balance);
}

static void test_sign_range_and_customer_refused(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry e;

	customer_add(c, "cus_s");
	assert_int_equal(post(c, "cus_s", BILLING_TOPUP, -1, NULL, &e, NULL), BILLING_LEDGER_ESIGN);
	assert_int_equal(post(c, "cus_s", BILLING_REFUND, 0, NULL, &e, NULL), BILLING_LEDGER_ESIGN);
	assert_int_equal(post(c, "cus_s", BILLING_CALL_CHARGE, 5, NULL, &e, NULL),
			 BILLING_LEDGER_ESIGN);
	assert_int_equal(post(c, "cus_s", BILLING_ADJUSTMENT, 0, NULL, &e, NULL),
			 BILLING_LEDGER_ESIGN);
	assert_int_equal(
	    post(c, "cus_s", BILLING_TOPUP, BILLING_LEDGER_AMOUNT_MAX + 1, NULL, &e, NULL),
	    BILLING_LEDGER_ERANGE);
	assert_int_equal(post(c, "cus_none", BILLING_TOPUP, 1, NULL, &e, NULL),
			 BILLING_LEDGER_ENOCUSTOMER);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 0);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM balances"), 0);
}

static void test_key_retry_returns_first_entry(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry first, again;
	bool replayed = true;

	customer_add(c, "cus_k");
	assert_int_equal(post(c, "cus_k", BILLING_TOPUP, 5000000, "k1", &first, &replayed), 0);
	assert_false(replayed);
	assert_int_equal(post(c, "cus_k", BILLING_TOPUP, 5000000, "k1", &again, &replayed), 0);
	assert_true(replayed);
	assert_string_equal(again.id, first.id);
	assert_true(again.seq == 1 && again.balance_after == 5000000);
	assert_true(balance_of(c, "cus_k") == 5000000);
	/* The same key with another amount is refused, and moves nothing. */
	assert_int_equal(post(c, "cus_k", BILLING_TOPUP, 6000000, "k1", &again, &replayed),
			 BILLING_LEDGER_EKEYREUSED);
	assert_int_equal(post(c, "cus_k", BILLING_ADJUSTMENT, 5000000, "k1", &again, &replayed),
			 BILLING_LEDGER_EKEYREUSED);
	assert_true(balance_of(c, "cus_k") == 5000000);
	/* Keys are per customer. */
	customer_add(c, "cus_k2");
	assert_int_equal(post(c, "cus_k2", BILLING_TOPUP, 1000000, "k1", &again, &replayed), 0);
	assert_false(replayed);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 2);
	struct billing_balance b;
	assert_int_equal(billing_balance_get(c, &opts, "cus_k", &b), 0);
	assert_true(b.seq == 1); /* the refused and replayed posts took no seq */
}

static int64_t low_events(struct store_conn *c)
{
	return fixture_query_int(c,
				 "SELECT COUNT(*) FROM message_events WHERE type = 'balance.low'");
}

static void test_low_once_per_crossing(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry e;

	customer_add(c, "cus_l");
	fixture_exec_ok(c,
			"UPDATE customers SET low_balance_threshold = 5000000 WHERE id = 'cus_l'");
	/* A top-up that leaves the balance below the threshold takes nothing
	 * below it. */
	assert_int_equal(post(c, "cus_l", BILLING_TOPUP, 1000000, NULL, &e, NULL), 0);
	assert_int_equal(low_events(c), 0);
	assert_int_equal(post(c, "cus_l", BILLING_TOPUP, 9000000, NULL, &e, NULL), 0);
	assert_int_equal(post(c, "cus_l", BILLING_CALL_CHARGE, -6000000, NULL, &e, NULL), 0);
	assert_int_equal(low_events(c), 1);
	assert_int_equal(post(c, "cus_l", BILLING_CALL_CHARGE, -1000000, NULL, &e, NULL), 0);
	assert_int_equal(post(c, "cus_l", BILLING_MESSAGE_CHARGE, -1000000, NULL, &e, NULL), 0);
	assert_int_equal(low_events(c), 1);
	/* Back to exactly the threshold re-arms it; the next fall is a new
	 * crossing. */
	assert_int_equal(post(c, "cus_l", BILLING_TOPUP, 3000000, NULL, &e, NULL), 0);
	assert_int_equal(post(c, "cus_l", BILLING_CALL_CHARGE, -1, NULL, &e, NULL), 0);
	assert_int_equal(low_events(c), 2);
	/* The event names the entry that crossed. */
	struct store_res *r = NULL;
	struct store_param p = store_p_text(e.id);
	assert_int_equal(store_exec(c,
				    "SELECT group_id, customer_id, data FROM message_events WHERE "
				    "type = 'balance.low' AND group_id = $1",
				    &p, 1, &r),
			 0);
	assert_int_equal(store_res_rows(r), 1);
	assert_string_equal(store_res_text(r, 0, 1), "cus_l");
	assert_non_null(strstr(store_res_text(r, 0, 2), "\"balance\":\"4.999999\""));
	assert_non_null(strstr(store_res_text(r, 0, 2), "\"threshold\":\"5.00\""));
	store_res_free(r);
}

static void test_entries_are_append_only(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry e;

	customer_add(c, "cus_x");
	assert_int_equal(post(c, "cus_x", BILLING_TOPUP, 1000000, NULL, &e, NULL), 0);
	assert_true(store_exec(c, "UPDATE ledger_entries SET amount = 99", NULL, 0, NULL) < 0);
	assert_true(store_exec(c, "DELETE FROM ledger_entries", NULL, 0, NULL) < 0);
	assert_int_equal(fixture_query_int(c, "SELECT amount FROM ledger_entries"), 1000000);
}

struct collect {
	int64_t seqs[16];
	size_t n;
};

static int collect_one(const struct billing_entry *e, void *arg)
{
	struct collect *k = arg;
	k->seqs[k->n++] = e->seq;
	return 0;
}

static void test_list_newest_first_with_filters(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry e;
	struct collect k = {0};

	customer_add(c, "cus_p");
	for (int i = 0; i < 5; i++)
		assert_int_equal(post(c, "cus_p", i % 2 ? BILLING_CALL_CHARGE : BILLING_TOPUP,
				      i % 2 ? -1 : 10, NULL, &e, NULL),
				 0);
	struct billing_ledger_filter f = {"cus_p", -1, 0, 0, 0, 2};
	assert_int_equal(billing_ledger_list(c, &f, collect_one, &k), 2);
	assert_true(k.seqs[0] == 5 && k.seqs[1] == 4);
	f.before_seq = 4;
	k.n = 0;
	assert_int_equal(billing_ledger_list(c, &f, collect_one, &k), 2);
	assert_true(k.seqs[0] == 3 && k.seqs[1] == 2);
	f = (struct billing_ledger_filter){"cus_p", BILLING_TOPUP, 0, 0, 0, 10};
	k.n = 0;
	assert_int_equal(billing_ledger_list(c, &f, collect_one, &k), 3);
	assert_true(k.seqs[0] == 5 && k.seqs[2] == 1);
	f.kind = -1;
	f.to_ms = 1; /* before any entry */
	assert_int_equal(billing_ledger_list(c, &f, collect_one, &k), 0);
}

/* Posters on their own threads and connections, as several processes on one
 * PostgreSQL would be. */
#define POSTERS 4
#define POSTS 25

struct poster {
	struct store *store;
	int index, failed;
};

static void *poster_run(void *arg)
{
	struct poster *p = arg;
	struct store_conn *c = store_conn(p->store);
	struct billing_entry e;
	char key[32];

	for (int i = 0; i < POSTS; i++) {
		/* Every key twice: a retry racing its original. */
		snprintf(key, sizeof(key), "p%d-%d", p->index % 2, i);
		if (post(c, "cus_c", BILLING_ADJUSTMENT, p->index % 2 ? -3 : 7, key, &e, NULL) < 0)
			p->failed++;
	}
	store_conn_release(p->store);
	return NULL;
}

static void test_concurrent_posters_keep_the_sum(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn(state);
	struct poster p[POSTERS];
	pthread_t t[POSTERS];

	customer_add(c, "cus_c");
	for (int i = 0; i < POSTERS; i++) {
		p[i] = (struct poster){f->store, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, poster_run, &p[i]), 0);
	}
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].failed, 0);
	}
	/* Two distinct key sets of POSTS each: 2 * POSTS entries, seq 1..n. */
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(*) FROM ledger_entries"), 2 * POSTS);
	assert_int_equal(fixture_query_int(c, "SELECT COUNT(DISTINCT seq) FROM ledger_entries"),
			 2 * POSTS);
	assert_int_equal(fixture_query_int(c, "SELECT MAX(seq) FROM ledger_entries"), 2 * POSTS);
	assert_true(balance_of(c, "cus_c") == POSTS * (7 - 3));
	assert_true(sum_of(c, "cus_c") == POSTS * (7 - 3));
	/* Each entry's balance_after is the running sum in seq order. */
	assert_int_equal(
	    fixture_query_int(c, "SELECT COUNT(*) FROM ledger_entries e WHERE balance_after "
				 "<> (SELECT SUM(amount) FROM ledger_entries x WHERE "
				 "x.customer_id = e.customer_id AND x.seq <= e.seq)"),
	    0);
}

static int64_t postings(const char *kind, const char *result)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_billing_ledger_postings_total", "", "kind,result");
	return f ? metric_value(metric_get(f, kind, result)) : -1;
}

static void test_postings_are_counted(void **state)
{
	struct store_conn *c = conn(state);
	struct billing_entry e;
	int64_t posted = postings("refund", "posted"), replayed = postings("refund", "replayed");
	int64_t refused = postings("refund", "refused");

	customer_add(c, "cus_m");
	assert_int_equal(post(c, "cus_m", BILLING_REFUND, 5, "m1", &e, NULL), 0);
	assert_int_equal(post(c, "cus_m", BILLING_REFUND, 5, "m1", &e, NULL), 0);
	assert_int_equal(post(c, "cus_m", BILLING_REFUND, 6, "m1", &e, NULL),
			 BILLING_LEDGER_EKEYREUSED);
	assert_int_equal(post(c, "cus_m", BILLING_REFUND, -5, NULL, &e, NULL),
			 BILLING_LEDGER_ESIGN);
	assert_int_equal(postings("refund", "posted"), posted + 1);
	assert_int_equal(postings("refund", "replayed"), replayed + 1);
	assert_int_equal(postings("refund", "refused"), refused + 2);
}

static void test_currency_decimals_and_exact_format(void **state)
{
	char b[BILLING_MONEY_BUF];
	(void)state;
	assert_int_equal(billing_currency_decimals("USD"), 2);
	assert_int_equal(billing_currency_decimals("JPY"), 0);
	assert_int_equal(billing_currency_decimals("KWD"), 3);
	billing_money_format_exact(12500000, 2, b, sizeof(b));
	assert_string_equal(b, "12.50");
	billing_money_format_exact(12345678, 2, b, sizeof(b));
	assert_string_equal(b, "12.345678");
	billing_money_format_exact(-5000000, 0, b, sizeof(b));
	assert_string_equal(b, "-5");
	billing_money_format_exact(-10000, 2, b, sizeof(b));
	assert_string_equal(b, "-0.01");
	billing_money_format_exact(1, 3, b, sizeof(b));
	assert_string_equal(b, "0.000001");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_postings_move_balance_and_seq,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_sign_range_and_customer_refused,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_key_retry_returns_first_entry,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_low_once_per_crossing, fixture_setup_migrated,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_entries_are_append_only, fixture_setup_migrated,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_list_newest_first_with_filters,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_posters_keep_the_sum,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_postings_are_counted, fixture_setup_migrated,
					    fixture_teardown),
	    cmocka_unit_test(test_currency_decimals_and_exact_format),
	};
	return FIXTURE_RUN("billing_ledger", tests);
}
