/*
 * test_billing_rating_load.c — src/billing/rating_load.c on a migrated
 * store, SQLite and (under scripts/with-postgres) PostgreSQL: the snapshot
 * holds the activated versions of use (in force, scheduled, or in force
 * within the history horizon) and not drafts or versions long superseded;
 * assignments follow customers, trunks and carriers; a rebuild reuses the
 * versions it already indexed and picks up a new one.
 */
#include "test_store_fixture.h"

#include "billing/billing.h"

#define DAY_MS ((int64_t)24 * 3600 * 1000)

static void deck_add(struct store_conn *c, const char *id, const char *dir, const char *cur)
{
	struct store_param p[] = {store_p_text(id), store_p_text(dir), store_p_text(cur)};
	assert_int_equal(store_exec(c,
				    "INSERT INTO rate_decks (id, name, direction, currency, "
				    "created_at, updated_at) VALUES ($1, $1, $2, $3, 0, 0)",
				    p, 3, NULL),
			 0);
}

/* Version `number` of deck with one voice row for prefix "1" at `rate`
 * and one SMS row; activate_at < 0 leaves it a draft. */
static void version_add(struct store_conn *c, const char *deck, int64_t number, int64_t at,
			int64_t rate)
{
	char vid[64];
	snprintf(vid, sizeof(vid), "%s-v%lld", deck, (long long)number);
	struct store_param v[] = {store_p_text(vid), store_p_text(deck), store_p_int(number),
				  at < 0 ? store_p_null() : store_p_int(at)};
	assert_int_equal(store_exec(c,
				    "INSERT INTO rate_deck_versions (id, deck_id, number, "
				    "activate_at, row_count, voice_rows, sms_rows, created_at, "
				    "updated_at) VALUES ($1, $2, $3, $4, 2, 1, 1, 0, 0)",
				    v, 4, NULL),
			 0);
	struct store_param r[] = {store_p_text(vid), store_p_int(rate)};
	assert_int_equal(
	    store_exec(c,
		       "INSERT INTO rate_deck_rows (version_id, seq, prefix, service, destination, "
		       "zone, rate, initial_s, increment_s, line) VALUES "
		       "($1, 1, '1', 'voice', 'North America', 'NANP', $2, 6, 6, 2), "
		       "($1, 2, '1', 'sms', 'North America', 'NANP', $2 + 1, 1, 1, 3)",
		       r, 2, NULL),
	    0);
}

static void parties_add(struct store_conn *c)
{
	fixture_exec_ok(c, "INSERT INTO customers (id, name, status, billing_type, currency, "
			   "credit_limit, sell_deck_id, created_at, updated_at) VALUES "
			   "('cus_1', 'one', 'active', 'prepaid', 'USD', 7, 'sell', 0, 0), "
			   "('cus_2', 'two', 'active', 'postpaid', 'USD', 0, NULL, 0, 0)");
	fixture_exec_ok(c, "INSERT INTO trunks (id, customer_id, name, sell_deck_id, created_at, "
			   "updated_at) VALUES ('trk_1', 'cus_2', 'pbx', 'sell', 0, 0)");
	fixture_exec_ok(c, "INSERT INTO carriers (id, name, buy_deck_id, created_at, updated_at) "
			   "VALUES ('car_1', 'up', 'buy', 0, 0)");
}

static struct billing_rating *build(struct store_conn *c, struct billing_rating_source *s)
{
	struct billing_rating *r = billing_rating_build(c, s);
	assert_non_null(r);
	return r;
}

static int64_t sell_rate(const struct billing_rating *r, const char *cus, const char *trunk,
			 int64_t t, enum billing_service svc)
{
	struct billing_rate out;
	int rc = billing_rating_sell(r, str_from_cstr(cus), str_from_cstr(trunk), t, svc,
				     str_from_cstr("15550001"), &out, NULL);
	return rc ? rc : out.rate;
}

static void test_versions_of_use_and_assignments(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	struct billing_rating_source *s = billing_rating_source_new();
	int64_t now = time_wall_ms();
	struct billing_rating *r;
	struct billing_rate out;

	deck_add(c, "sell", "sell", "USD");
	deck_add(c, "buy", "buy", "USD");
	version_add(c, "sell", 1, now - 200 * DAY_MS, 100); /* superseded 100 days ago */
	version_add(c, "sell", 2, now - 100 * DAY_MS, 200); /* superseded 10 days ago */
	version_add(c, "sell", 3, now - 10 * DAY_MS, 300);  /* in force */
	version_add(c, "sell", 4, now + DAY_MS, 400);	    /* scheduled */
	version_add(c, "sell", 5, -1, 500);		    /* a draft */
	version_add(c, "buy", 1, 0, 50);
	parties_add(c);
	r = build(c, s);
	assert_int_equal(billing_rating_decks(r), 4); /* sell 2, 3, 4; buy 1 */
	assert_null(billing_rating_deck(r, str_from_cstr("sell"), 1));
	assert_null(billing_rating_deck(r, str_from_cstr("sell"), 5));
	assert_int_equal(sell_rate(r, "cus_1", "", now, BILLING_VOICE), 300);
	assert_int_equal(sell_rate(r, "cus_1", "", now, BILLING_SMS), 301);
	assert_int_equal(sell_rate(r, "cus_1", "", now - 50 * DAY_MS, BILLING_VOICE), 200);
	assert_int_equal(sell_rate(r, "cus_1", "", now + 2 * DAY_MS, BILLING_VOICE), 400);
	/* older than the horizon's versions: no deck in force then */
	assert_int_equal(sell_rate(r, "cus_1", "", now - 150 * DAY_MS, BILLING_VOICE),
			 BILLING_PRICE_NO_DECK);
	assert_int_equal(sell_rate(r, "cus_2", "", now, BILLING_VOICE), BILLING_PRICE_NO_DECK);
	assert_int_equal(sell_rate(r, "cus_2", "trk_1", now, BILLING_VOICE), 300);
	assert_int_equal(billing_rating_buy(r, str_from_cstr("car_1"), now, BILLING_VOICE,
					    str_from_cstr("+1555"), &out, NULL),
			 0);
	assert_int_equal(out.rate, 50);
	assert_string_equal(out.zone, "NANP");
	const struct billing_customer *cu = billing_rating_customer(r, str_from_cstr("cus_1"));
	assert_true(cu && cu->prepaid && cu->credit_limit == 7);
	assert_false(billing_rating_customer(r, str_from_cstr("cus_2"))->prepaid);
	billing_rating_unref(r);
	billing_rating_source_free(s);
}

/* A rebuild indexes only what is new: the versions it had are the same
 * objects; the draft, once activated, joins. */
static void test_rebuild_reuses_versions(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	struct billing_rating_source *s = billing_rating_source_new();
	int64_t now = time_wall_ms();
	struct billing_rating *r1, *r2;

	deck_add(c, "sell", "sell", "USD");
	deck_add(c, "buy", "buy", "USD");
	version_add(c, "sell", 1, now - DAY_MS, 100);
	version_add(c, "sell", 2, -1, 200);
	parties_add(c);
	r1 = build(c, s);
	assert_int_equal(billing_rating_decks(r1), 1);
	struct store_param p = store_p_int(now - 1);
	assert_int_equal(store_exec(c,
				    "UPDATE rate_deck_versions SET activate_at = $1 WHERE id = "
				    "'sell-v2'",
				    &p, 1, NULL),
			 0);
	r2 = build(c, s);
	assert_int_equal(billing_rating_decks(r2), 2);
	assert_ptr_equal(billing_rating_deck(r1, str_from_cstr("sell"), 1),
			 billing_rating_deck(r2, str_from_cstr("sell"), 1));
	assert_int_equal(sell_rate(r1, "cus_1", "", now, BILLING_VOICE), 100);
	assert_int_equal(sell_rate(r2, "cus_1", "", now, BILLING_VOICE), 200);
	billing_rating_release(r1); /* r2 keeps the shared version alive */
	assert_int_equal(sell_rate(r2, "cus_1", "", now - DAY_MS / 2, BILLING_VOICE), 100);
	billing_rating_release(r2);
	billing_rating_source_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_versions_of_use_and_assignments,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rebuild_reuses_versions, fixture_setup_migrated,
					    fixture_teardown),
	};
	return FIXTURE_RUN("billing_rating_load", tests);
}
