/*
 * test_auth_jwks_policy.c — src/auth/jwks_policy.c: when a request may ask
 * for a JWKS fetch and whether it waits, and the table of refuted kids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_private.h"

#define MIN_REFETCH 10000
#define T0 1700000000000LL

/* A set is loaded, was fetched at T0, nothing under way; the token's kid is
 * unknown and usable.  Each test changes what it is about. */
static struct jwks_need need_unknown_kid(int64_t now_ms)
{
	return (struct jwks_need){.loaded = true,
				  .fetched = true,
				  .last_fetch_ms = T0,
				  .now_ms = now_ms,
				  .min_refetch_ms = MIN_REFETCH};
}

static void test_unknown_kid_within_interval_is_refused_at_once(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + MIN_REFETCH - 1);

	(void)state;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
}

static void test_unknown_kid_after_interval_asks_and_waits(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + MIN_REFETCH);

	(void)state;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_ASK | JWKS_ACT_WAIT);
}

static void test_unknown_kid_asks_without_waiting_when_the_issuer_is_failing(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + MIN_REFETCH);

	(void)state;
	n.failing = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_ASK);
	n.loaded = false; /* no set at all: worth the wait all the same */
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_ASK | JWKS_ACT_WAIT);
}

static void test_unknown_kid_does_not_join_a_fetch_under_way(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + 3 * MIN_REFETCH);

	(void)state;
	n.in_flight = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
}

static void test_refuted_kid_never_asks(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + 3 * MIN_REFETCH);

	(void)state;
	n.refuted = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
	n.loaded = false; /* nor when no set has loaded */
	n.in_flight = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
}

static void test_cold_start_asks_and_waits_first_time(void **state)
{
	struct jwks_need n = {.now_ms = T0, .min_refetch_ms = MIN_REFETCH};

	(void)state;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_ASK | JWKS_ACT_WAIT);
}

static void test_cold_start_joins_the_fetch_under_way(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + 1);

	(void)state;
	n.loaded = false;
	n.in_flight = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_WAIT);
}

static void test_cold_start_after_a_failed_fetch_within_interval_answers_at_once(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + 1);

	(void)state;
	n.loaded = false;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
	n.now_ms = T0 + MIN_REFETCH;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_ASK | JWKS_ACT_WAIT);
}

static void test_stale_set_with_the_kid_asks_without_waiting(void **state)
{
	struct jwks_need n = need_unknown_kid(T0 + MIN_REFETCH);

	(void)state;
	n.found = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
	n.stale = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_ASK);
	n.in_flight = true;
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
	n.in_flight = false;
	n.now_ms = T0 + 1; /* max-age refreshes keep the interval too */
	assert_int_equal(jwks_policy_decide(&n), JWKS_ACT_NONE);
}

static void test_kid_usable_only_when_it_could_name_a_key(void **state)
{
	char long_kid[JWKS_KID_MAX + 1];

	(void)state;
	memset(long_kid, 'k', sizeof(long_kid) - 1);
	long_kid[JWKS_KID_MAX] = '\0';
	assert_true(jwks_kid_usable(STR_LIT("rsa-1")));
	assert_false(jwks_kid_usable(STR_NULL));
	assert_false(jwks_kid_usable(str_from_cstr(long_kid)));
	assert_true(jwks_kid_usable((struct str){long_kid, JWKS_KID_MAX - 1}));
}

static void test_refuted_kid_answers_only_for_its_set(void **state)
{
	struct jwks_refuted t[JWKS_REFUTED_SLOTS];

	(void)state;
	memset(t, 0, sizeof(t));
	assert_false(jwks_refuted_has(t, STR_LIT("made-up"), 1));
	jwks_refuted_note(t, STR_LIT("made-up"), 1);
	assert_true(jwks_refuted_has(t, STR_LIT("made-up"), 1));
	assert_false(jwks_refuted_has(t, STR_LIT("made-up"), 2));
	assert_false(jwks_refuted_has(t, STR_LIT("made-u"), 1));
	assert_false(jwks_refuted_has(t, STR_LIT("made-up2"), 1));
	/* Generation 0 is "no set": nothing is recorded against it. */
	jwks_refuted_note(t, STR_LIT("other"), 0);
	assert_false(jwks_refuted_has(t, STR_LIT("other"), 0));
}

static void test_refuted_table_is_bounded(void **state)
{
	struct jwks_refuted t[JWKS_REFUTED_SLOTS];
	char kid[32];
	int kept = 0;

	(void)state;
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 10 * JWKS_REFUTED_SLOTS; i++) {
		snprintf(kid, sizeof(kid), "kid-%d", i);
		jwks_refuted_note(t, str_from_cstr(kid), 7);
	}
	for (int i = 0; i < 10 * JWKS_REFUTED_SLOTS; i++) {
		snprintf(kid, sizeof(kid), "kid-%d", i);
		kept += jwks_refuted_has(t, str_from_cstr(kid), 7);
	}
	assert_true(kept > 0 && kept <= JWKS_REFUTED_SLOTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unknown_kid_within_interval_is_refused_at_once),
	    cmocka_unit_test(test_unknown_kid_after_interval_asks_and_waits),
	    cmocka_unit_test(test_unknown_kid_asks_without_waiting_when_the_issuer_is_failing),
	    cmocka_unit_test(test_unknown_kid_does_not_join_a_fetch_under_way),
	    cmocka_unit_test(test_refuted_kid_never_asks),
	    cmocka_unit_test(test_cold_start_asks_and_waits_first_time),
	    cmocka_unit_test(test_cold_start_joins_the_fetch_under_way),
	    cmocka_unit_test(test_cold_start_after_a_failed_fetch_within_interval_answers_at_once),
	    cmocka_unit_test(test_stale_set_with_the_kid_asks_without_waiting),
	    cmocka_unit_test(test_kid_usable_only_when_it_could_name_a_key),
	    cmocka_unit_test(test_refuted_kid_answers_only_for_its_set),
	    cmocka_unit_test(test_refuted_table_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
