/*
 * test_billing_rating.c — src/billing/rating.c: decks by id and version,
 * the highest version by default, a deck shared by two snapshots, and a
 * reader thread that keeps rating on its snapshot while the next one is
 * built and the old one dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "billing/billing.h"

static struct billing_rate row(const char *prefix, enum billing_service svc, int64_t rate)
{
	struct billing_rate r = {.service = svc, .rate = rate, .initial_s = 1, .increment_s = 1};
	snprintf(r.prefix, sizeof(r.prefix), "%s", prefix);
	return r;
}

static struct billing_deck_meta meta(int64_t id, int64_t version, int64_t activate_at)
{
	struct billing_deck_meta m = {.number = version, .activate_at = activate_at};
	snprintf(m.deck_id, sizeof(m.deck_id), "deck-%lld", (long long)id);
	snprintf(m.version_id, sizeof(m.version_id), "v-%lld-%lld", (long long)id,
		 (long long)version);
	snprintf(m.currency, sizeof(m.currency), "USD");
	return m;
}

static struct str idv(int64_t id, char buf[32])
{
	snprintf(buf, 32, "deck-%lld", (long long)id);
	return str_from_cstr(buf);
}

static struct billing_deck *deck_at(int64_t id, int64_t version, int64_t rate, int64_t at)
{
	const struct billing_rate rows[] = {
	    row("1", BILLING_VOICE, rate),
	    row("1", BILLING_SMS, rate + 1),
	    row("44", BILLING_VOICE, rate * 10),
	};
	struct billing_deck_meta m = meta(id, version, at);
	struct billing_deck *d = NULL;
	assert_int_equal(billing_deck_new(&m, rows, 3, &d, NULL), 0);
	assert_non_null(d);
	return d;
}

/* version v activated at v ms: the highest is the one in force later on */
static struct billing_deck *deck(int64_t id, int64_t version, int64_t rate)
{
	return deck_at(id, version, rate, version);
}

static int64_t rate_of(const struct billing_rating *r, int64_t id, int64_t version,
		       enum billing_service svc, const char *number)
{
	struct billing_rate out;
	char buf[32];
	const struct billing_deck *d = billing_rating_deck(r, idv(id, buf), version);
	if (!d || !billing_deck_lookup(d, svc, str_from_cstr(number), 0, &out))
		return -1;
	return out.rate;
}

static void test_decks_by_id_and_version(void **state)
{
	struct billing_deck *d[4] = {deck(7, 2, 200), deck(3, 1, 30), deck(7, 1, 100),
				     deck(9, 5, 9)};
	struct billing_rating *r = NULL;

	(void)state;
	assert_int_equal(billing_rating_new(d, 4, NULL, &r), 0);
	for (int i = 0; i < 4; i++)
		billing_deck_unref(d[i]); /* the snapshot holds its own references */
	assert_int_equal(billing_rating_decks(r), 4);
	assert_int_equal(rate_of(r, 7, 1, BILLING_VOICE, "1555"), 100);
	assert_int_equal(rate_of(r, 7, 2, BILLING_VOICE, "1555"), 200);
	assert_int_equal(rate_of(r, 7, 0, BILLING_VOICE, "1555"), 200); /* 0: the highest */
	assert_int_equal(rate_of(r, 7, 0, BILLING_SMS, "1555"), 201);
	assert_int_equal(rate_of(r, 7, 0, BILLING_VOICE, "4420"), 2000);
	assert_int_equal(rate_of(r, 7, 0, BILLING_SMS, "4420"), -1); /* no SMS row for 44 */
	assert_int_equal(rate_of(r, 3, 0, BILLING_VOICE, "1"), 30);
	assert_int_equal(rate_of(r, 9, 5, BILLING_VOICE, "1"), 9);
	assert_int_equal(rate_of(r, 7, 3, BILLING_VOICE, "1"), -1); /* no such version */
	assert_int_equal(rate_of(r, 8, 0, BILLING_VOICE, "1"), -1); /* no such deck */
	assert_int_equal(rate_of(r, 10, 0, BILLING_VOICE, "1"), -1);
	char b[32];
	assert_int_equal(billing_deck_meta(billing_rating_deck(r, idv(7, b), 0))->number, 2);
	assert_string_equal(billing_deck_meta(billing_rating_deck(r, idv(3, b), 1))->deck_id,
			    "deck-3");
	assert_null(billing_rating_deck(r, idv(1, b), 0));
	billing_rating_unref(r);
}

static void test_duplicate_and_bad_rows(void **state)
{
	struct billing_deck *d[2] = {deck(1, 1, 1), deck(1, 1, 2)};
	struct billing_rate bad[2] = {row("1", BILLING_VOICE, 1), row("2x", BILLING_SMS, 1)};
	struct billing_rating *r = NULL;
	struct billing_deck *x = NULL;
	size_t at = 99;

	(void)state;
	assert_int_equal(billing_rating_new(d, 2, NULL, &r), BILLING_PREFIX_DUPLICATE);
	assert_null(r);
	billing_deck_unref(d[0]);
	billing_deck_unref(d[1]);
	/* a bad SMS row fails the deck, by its index */
	struct billing_deck_meta m = meta(1, 1, 0);
	assert_int_equal(billing_deck_new(&m, bad, 2, &x, &at), BILLING_PREFIX_DIGITS);
	assert_null(x);
	assert_int_equal(at, 1);
	assert_int_equal(billing_rating_new(NULL, 0, NULL, &r), 0); /* no decks: rates nothing */
	assert_int_equal(rate_of(r, 1, 0, BILLING_VOICE, "1"), -1);
	billing_rating_unref(r);
}

/* The next snapshot takes the unchanged deck from the old one: the same
 * index, built once, outliving the snapshot it came from. */
static void test_deck_shared_across_snapshots(void **state)
{
	struct billing_deck *a = deck(1, 1, 10), *b = deck(2, 1, 20), *b2;
	struct billing_rating *old = NULL, *next = NULL;
	struct billing_deck *keep[2];

	(void)state;
	assert_int_equal(billing_rating_new((struct billing_deck *[]){a, b}, 2, NULL, &old), 0);
	billing_deck_unref(a);
	billing_deck_unref(b);
	b2 = deck(2, 2, 22);
	char buf[32];
	keep[0] = billing_rating_deck(old, idv(1, buf), 0);
	keep[1] = b2;
	assert_int_equal(billing_rating_new(keep, 2, NULL, &next), 0);
	billing_deck_unref(b2);
	billing_rating_unref(old); /* deck 1 lives on in next */
	assert_ptr_equal(billing_rating_deck(next, idv(1, buf), 0), keep[0]);
	assert_int_equal(rate_of(next, 1, 0, BILLING_VOICE, "1"), 10);
	assert_int_equal(rate_of(next, 2, 0, BILLING_VOICE, "1"), 22);
	assert_int_equal(rate_of(next, 2, 1, BILLING_VOICE, "1"), -1);
	billing_rating_unref(next);
}

struct reader {
	struct billing_rating *snap; /* the reader's own reference */
	atomic_int started;
	atomic_int stop;
	long lookups, wrong;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;

	atomic_store(&rd->started, 1);
	/* bounded: the main thread stops it after its swap, or 10^7 lookups */
	while (!atomic_load(&rd->stop) && rd->lookups < 10000000) {
		if (rate_of(rd->snap, 1, 0, BILLING_VOICE, "1555") != 10)
			rd->wrong++;
		rd->lookups++;
	}
	billing_rating_unref(rd->snap);
	return NULL;
}

static void test_reader_keeps_its_snapshot(void **state)
{
	struct billing_deck *a = deck(1, 1, 10), *a2;
	struct billing_rating *cur = NULL, *next = NULL;
	struct reader rd = {0};
	pthread_t t;

	(void)state;
	assert_int_equal(billing_rating_new(&a, 1, NULL, &cur), 0);
	billing_deck_unref(a);
	rd.snap = billing_rating_ref(cur); /* what acquiring a snapshot gives */
	assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
	while (!atomic_load(&rd.started))
		;
	/* the loader's side: build the next version, publish it, drop the old */
	a2 = deck(1, 2, 11);
	assert_int_equal(billing_rating_new(&a2, 1, NULL, &next), 0);
	billing_deck_unref(a2);
	billing_rating_unref(cur);
	cur = next;
	assert_int_equal(rate_of(cur, 1, 0, BILLING_VOICE, "1555"), 11);
	atomic_store(&rd.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(rd.lookups > 0);
	assert_int_equal(rd.wrong, 0); /* it saw its own version throughout */
	billing_rating_unref(cur);
}

/* The version in force at t: latest activate_at not after t, ties by the
 * higher number; a version scheduled later prices only from its time. */
static void test_version_in_force_by_time(void **state)
{
	struct billing_deck *d[4] = {deck_at(1, 1, 10, 1000), deck_at(1, 2, 20, 5000),
				     deck_at(1, 3, 30, 5000), deck_at(1, 4, 40, 9000)};
	struct billing_rating *r = NULL;
	struct billing_rate out;
	const struct billing_deck *used = NULL;
	char b[32];
	struct str one = str_from_cstr("1555");

	(void)state;
	assert_int_equal(billing_rating_new(d, 4, NULL, &r), 0);
	for (int i = 0; i < 4; i++)
		billing_deck_unref(d[i]);
	assert_false(billing_rating_lookup(r, idv(1, b), 999, BILLING_VOICE, one, &out, &used));
	assert_null(used);
	assert_true(billing_rating_lookup(r, idv(1, b), 1000, BILLING_VOICE, one, &out, &used));
	assert_int_equal(out.rate, 10);
	assert_true(billing_rating_lookup(r, idv(1, b), 4999, BILLING_VOICE, one, &out, NULL));
	assert_int_equal(out.rate, 10);
	assert_true(billing_rating_lookup(r, idv(1, b), 5000, BILLING_VOICE, one, &out, &used));
	assert_int_equal(out.rate, 30); /* two at 5000: the higher number */
	assert_int_equal(billing_deck_meta(used)->number, 3);
	assert_true(billing_rating_lookup(r, idv(1, b), 1 << 30, BILLING_VOICE, one, &out, NULL));
	assert_int_equal(out.rate, 40);
	assert_null(billing_rating_deck_at(r, str_from_cstr("deck-0"), 9000));
	assert_null(billing_rating_deck_at(r, str_from_cstr("deck-"), 9000));
	assert_null(billing_rating_deck_at(r, str_from_cstr("deck-10"), 9000));
	billing_rating_unref(r);
}

static struct billing_customer cust(const char *id, const char *cur, const char *deck)
{
	struct billing_customer c = {.prepaid = true, .credit_limit = 5};
	snprintf(c.id, sizeof(c.id), "%s", id);
	snprintf(c.currency, sizeof(c.currency), "%s", cur);
	snprintf(c.sell_deck_id, sizeof(c.sell_deck_id), "%s", deck);
	return c;
}

/* Sell prices follow the trunk's deck, else the customer's; a deck in
 * another currency than the customer's is refused, not converted. */
static void test_sell_and_buy_through_parties(void **state)
{
	struct billing_deck *d[2] = {deck_at(1, 1, 10, 0), deck_at(2, 1, 20, 0)};
	const struct billing_customer cu[] = {
	    cust("c-b", "USD", "deck-1"), cust("c-a", "EUR", "deck-1"), cust("c-none", "USD", "")};
	struct billing_trunk tr[2] = {0};
	struct billing_carrier ca[1] = {0};
	struct billing_parties p = {cu, 3, tr, 2, ca, 1};
	struct billing_rating *r = NULL;
	struct billing_rate out;
	const struct billing_deck *used;
	struct str num = str_from_cstr("+15551234");

	(void)state;
	snprintf(tr[0].id, sizeof(tr[0].id), "t-1");
	snprintf(tr[0].customer_id, sizeof(tr[0].customer_id), "c-b");
	snprintf(tr[0].sell_deck_id, sizeof(tr[0].sell_deck_id), "deck-2");
	snprintf(tr[1].id, sizeof(tr[1].id), "t-other");
	snprintf(tr[1].customer_id, sizeof(tr[1].customer_id), "c-a");
	snprintf(tr[1].sell_deck_id, sizeof(tr[1].sell_deck_id), "deck-2");
	snprintf(ca[0].id, sizeof(ca[0].id), "k-1");
	snprintf(ca[0].buy_deck_id, sizeof(ca[0].buy_deck_id), "deck-2");
	assert_int_equal(billing_rating_new(d, 2, &p, &r), 0);
	billing_deck_unref(d[0]);
	billing_deck_unref(d[1]);
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-b"), str_from_cstr(""), 0,
					     BILLING_VOICE, num, &out, &used),
			 0);
	assert_int_equal(out.rate, 10);
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-b"), str_from_cstr("t-1"), 0,
					     BILLING_VOICE, num, &out, &used),
			 0);
	assert_int_equal(out.rate, 20);
	/* another customer's trunk does not lend its deck */
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-b"), str_from_cstr("t-other"), 0,
					     BILLING_VOICE, num, &out, NULL),
			 0);
	assert_int_equal(out.rate, 10);
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-a"), str_from_cstr(""), 0,
					     BILLING_VOICE, num, &out, NULL),
			 BILLING_PRICE_CURRENCY);
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-none"), str_from_cstr(""), 0,
					     BILLING_VOICE, num, &out, NULL),
			 BILLING_PRICE_NO_DECK);
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-x"), str_from_cstr(""), 0,
					     BILLING_VOICE, num, &out, NULL),
			 BILLING_PRICE_NO_PARTY);
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-b"), str_from_cstr(""), 0,
					     BILLING_VOICE, str_from_cstr("4420"), &out, NULL),
			 0); /* deck rows: 1, 44 */
	assert_int_equal(billing_rating_sell(r, str_from_cstr("c-b"), str_from_cstr(""), 0,
					     BILLING_SMS, str_from_cstr("4420"), &out, NULL),
			 BILLING_PRICE_NO_RATE);
	assert_int_equal(
	    billing_rating_buy(r, str_from_cstr("k-1"), 0, BILLING_SMS, num, &out, &used), 0);
	assert_int_equal(out.rate, 21);
	assert_true(billing_deck_meta(used)->buy == false);
	assert_int_equal(
	    billing_rating_buy(r, str_from_cstr("k-2"), 0, BILLING_SMS, num, &out, NULL),
	    BILLING_PRICE_NO_PARTY);
	assert_true(billing_rating_customer(r, str_from_cstr("c-a"))->prepaid);
	assert_null(billing_rating_customer(r, str_from_cstr("")));
	assert_string_equal(billing_price_reason(BILLING_PRICE_CURRENCY), "currency_mismatch");
	billing_rating_unref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decks_by_id_and_version),
	    cmocka_unit_test(test_duplicate_and_bad_rows),
	    cmocka_unit_test(test_deck_shared_across_snapshots),
	    cmocka_unit_test(test_reader_keeps_its_snapshot),
	    cmocka_unit_test(test_version_in_force_by_time),
	    cmocka_unit_test(test_sell_and_buy_through_parties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
