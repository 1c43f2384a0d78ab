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

static struct billing_deck *deck(int64_t id, int64_t version, int64_t rate)
{
	const struct billing_rate rows[] = {
	    row("1", BILLING_VOICE, rate),
	    row("1", BILLING_SMS, rate + 1),
	    row("44", BILLING_VOICE, rate * 10),
	};
	struct billing_deck *d = NULL;
	assert_int_equal(billing_deck_new(id, version, rows, 3, &d, NULL), 0);
	assert_non_null(d);
	return d;
}

static int64_t rate_of(const struct billing_rating *r, int64_t id, int64_t version,
		       enum billing_service svc, const char *number)
{
	struct billing_rate out;
	if (!billing_rating_lookup(r, id, version, svc, (struct str){number, strlen(number)}, 0,
				   &out))
		return -1;
	return out.rate;
}

static void test_decks_by_id_and_version(void **state)
{
	struct billing_deck *d[4] = {deck(7, 2, 200), deck(3, 1, 30), deck(7, 1, 100),
				     deck(9, 5, 9)};
	struct billing_rating *r = NULL;

	(void)state;
	assert_int_equal(billing_rating_new(d, 4, &r), 0);
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
	assert_int_equal(billing_deck_version(billing_rating_deck(r, 7, 0)), 2);
	assert_int_equal(billing_deck_id(billing_rating_deck(r, 3, 1)), 3);
	assert_null(billing_rating_deck(r, 1, 0));
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
	assert_int_equal(billing_rating_new(d, 2, &r), BILLING_PREFIX_DUPLICATE);
	assert_null(r);
	billing_deck_unref(d[0]);
	billing_deck_unref(d[1]);
	/* a bad SMS row fails the deck, by its index */
	assert_int_equal(billing_deck_new(1, 1, bad, 2, &x, &at), BILLING_PREFIX_DIGITS);
	assert_null(x);
	assert_int_equal(at, 1);
	assert_int_equal(billing_rating_new(NULL, 0, &r), 0); /* no decks: rates nothing */
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
	assert_int_equal(billing_rating_new((struct billing_deck *[]){a, b}, 2, &old), 0);
	billing_deck_unref(a);
	billing_deck_unref(b);
	b2 = deck(2, 2, 22);
	keep[0] = billing_rating_deck(old, 1, 0);
	keep[1] = b2;
	assert_int_equal(billing_rating_new(keep, 2, &next), 0);
	billing_deck_unref(b2);
	billing_rating_unref(old); /* deck 1 lives on in next */
	assert_ptr_equal(billing_rating_deck(next, 1, 0), keep[0]);
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
	assert_int_equal(billing_rating_new(&a, 1, &cur), 0);
	billing_deck_unref(a);
	rd.snap = billing_rating_ref(cur); /* what acquiring a snapshot gives */
	assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
	while (!atomic_load(&rd.started))
		;
	/* the loader's side: build the next version, publish it, drop the old */
	a2 = deck(1, 2, 11);
	assert_int_equal(billing_rating_new(&a2, 1, &next), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decks_by_id_and_version),
	    cmocka_unit_test(test_duplicate_and_bad_rows),
	    cmocka_unit_test(test_deck_shared_across_snapshots),
	    cmocka_unit_test(test_reader_keeps_its_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
