/* test_sip_limits.c — src/sip/limits.c: CPS token buckets, channel counts
 * (taken all or nothing, released), a customer's limit shared by its trunks,
 * flood bans and their expiry, and the ban table's bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

static int setup(void **state)
{
	*state = sip_limits_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	sip_limits_free(*state);
	return 0;
}

static int take1(struct sip_limits *l, struct sip_limit *e, bool cps, int64_t now)
{
	return sip_limits_take(l, &e, 1, cps, now, NULL);
}

static void test_cps_bucket_allows_a_second_of_burst(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 5, 0);

	for (int i = 0; i < 5; i++)
		assert_int_equal(take1(l, e, true, 1000), 0);
	assert_int_equal(take1(l, e, true, 1000), SIP_LIMIT_E_CPS);
}

static void test_cps_bucket_refills_at_the_rate(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 5, 0);

	for (int i = 0; i < 5; i++)
		assert_int_equal(take1(l, e, true, 1000), 0);
	/* 5 per second: one token every 200 ms. */
	assert_int_equal(take1(l, e, true, 1199), SIP_LIMIT_E_CPS);
	assert_int_equal(take1(l, e, true, 1200), 0);
	assert_int_equal(take1(l, e, true, 1200), SIP_LIMIT_E_CPS);
	/* Long idle: refilled to capacity, never beyond. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(take1(l, e, true, 100000), 0);
	assert_int_equal(take1(l, e, true, 100000), SIP_LIMIT_E_CPS);
}

static void test_zero_limits_are_unlimited(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 0);

	for (int i = 0; i < 1000; i++)
		assert_int_equal(take1(l, e, true, 1000), 0);
	assert_int_equal(sip_limit_channels(l, e), 1000);
}

static void test_channel_limit_hit_and_released(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 2);

	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL);
	assert_false(sip_limits_available(l, e, false, 0));
	sip_limits_release(l, &e, 1);
	assert_int_equal(sip_limit_channels(l, e), 1);
	assert_int_equal(take1(l, e, false, 0), 0);
}

static void test_customer_limit_shared_across_trunks(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *cus = sip_limits_entry(l, SIP_LIMIT_CUSTOMER, "cus_1", 0, 3);
	struct sip_limit *t1[2] = {sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 10), cus};
	struct sip_limit *t2[2] = {sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_2", 0, 10), cus};
	size_t failed = 99;

	assert_int_equal(sip_limits_take(l, t1, 2, false, 0, NULL), 0);
	assert_int_equal(sip_limits_take(l, t2, 2, false, 0, NULL), 0);
	assert_int_equal(sip_limits_take(l, t1, 2, false, 0, NULL), 0);
	assert_int_equal(sip_limits_take(l, t2, 2, false, 0, &failed), SIP_LIMIT_E_CHANNEL);
	assert_int_equal(failed, 1);
	/* All or nothing: the refused take left trk_2 at one channel. */
	assert_int_equal(sip_limit_channels(l, t2[0]), 1);
	sip_limits_release(l, t1, 2);
	assert_int_equal(sip_limits_take(l, t2, 2, false, 0, NULL), 0);
	assert_int_equal(sip_limit_channels(l, cus), 3);
}

static void test_customer_cps_shared_across_trunks(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *cus = sip_limits_entry(l, SIP_LIMIT_CUSTOMER, "cus_1", 2, 0);
	struct sip_limit *t1[2] = {sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 0), cus};
	struct sip_limit *t2[2] = {sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_2", 0, 0), cus};

	assert_int_equal(sip_limits_take(l, t1, 2, true, 0, NULL), 0);
	assert_int_equal(sip_limits_take(l, t2, 2, true, 0, NULL), 0);
	assert_int_equal(sip_limits_take(l, t1, 2, true, 0, NULL), SIP_LIMIT_E_CPS);
}

static void test_entry_kept_across_lookups(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *a = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 5);

	assert_int_equal(take1(l, a, false, 0), 0);
	/* A rebuild looks the entry up again: same counters, new limit. */
	assert_ptr_equal(sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 1), a);
	assert_int_equal(take1(l, a, false, 0), SIP_LIMIT_E_CHANNEL);
	/* Same id, other kind: another entry. */
	assert_ptr_not_equal(sip_limits_entry(l, SIP_LIMIT_CARRIER, "trk_1", 0, 1), a);
}

static void test_move_takes_the_new_carrier_and_gives_back_the_old(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *a = sip_limits_entry(l, SIP_LIMIT_CARRIER, "car_a", 0, 1);
	struct sip_limit *b = sip_limits_entry(l, SIP_LIMIT_CARRIER, "car_b", 0, 1);

	assert_int_equal(sip_limits_move(l, NULL, a, true, 0), 0);
	assert_int_equal(sip_limit_channels(l, a), 1);
	assert_int_equal(sip_limits_move(l, a, b, true, 0), 0);
	assert_int_equal(sip_limit_channels(l, a), 0);
	assert_int_equal(sip_limit_channels(l, b), 1);
}

static void test_move_refused_changes_nothing(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *a = sip_limits_entry(l, SIP_LIMIT_CARRIER, "car_a", 0, 1);
	struct sip_limit *b = sip_limits_entry(l, SIP_LIMIT_CARRIER, "car_b", 0, 1);

	assert_int_equal(sip_limits_move(l, NULL, a, true, 0), 0);
	assert_int_equal(take1(l, b, false, 0), 0); /* another call fills b */
	assert_int_equal(sip_limits_move(l, a, b, true, 0), SIP_LIMIT_E_CHANNEL);
	assert_int_equal(sip_limit_channels(l, a), 1);
	assert_int_equal(sip_limit_channels(l, b), 1);
}

static void test_move_to_the_same_entry_takes_only_a_token(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *a = sip_limits_entry(l, SIP_LIMIT_CARRIER, "car_a", 2, 1);

	assert_int_equal(sip_limits_move(l, NULL, a, true, 1000), 0);
	/* The channel limit is reached, but the call holds that channel. */
	assert_int_equal(sip_limits_move(l, a, a, true, 1000), 0);
	assert_int_equal(sip_limit_channels(l, a), 1);
	assert_int_equal(sip_limits_move(l, a, a, true, 1000), SIP_LIMIT_E_CPS);
	assert_int_equal(sip_limit_channels(l, a), 1);
}

/* ------------------------------------------------------------------ bans */

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(str_from_cstr(s), 5060, &a), 0);
	return a;
}

static void test_ban_after_refusals_in_window(void **state)
{
	struct sip_bans *b = sip_bans_new(64, 3, 1000, 5000);
	struct net_addr a = addr("203.0.113.9:5060"), other_port = addr("203.0.113.9:6000");

	assert_int_equal(sip_bans_note(b, &a, 0), 0);
	assert_int_equal(sip_bans_note(b, &a, 10), 0);
	assert_false(sip_bans_check(b, &a, 20));
	/* the port does not matter; the refusal that starts the ban says until when */
	assert_int_equal(sip_bans_note(b, &other_port, 20), 5020);
	assert_int_equal(sip_bans_banned(b, 21), 1);
	assert_int_equal(sip_bans_note(b, &a, 30), 0); /* banned: the ban does not grow */
	assert_true(sip_bans_check(b, &a, 21));
	assert_true(sip_bans_check(b, &other_port, 21));
	sip_bans_free(b);
}

static void test_refusals_outside_window_do_not_ban(void **state)
{
	struct sip_bans *b = sip_bans_new(64, 3, 1000, 5000);
	struct net_addr a = addr("203.0.113.9:5060");

	for (int i = 0; i < 6; i++)
		sip_bans_note(b, &a, (int64_t)i * 600); /* at most 2 in any window */
	assert_false(sip_bans_check(b, &a, 3001));
	sip_bans_free(b);
}

static void test_ban_expires(void **state)
{
	struct sip_bans *b = sip_bans_new(64, 2, 1000, 5000);
	struct net_addr a = addr("[2001:db8::9]:5060");

	sip_bans_note(b, &a, 100);
	sip_bans_note(b, &a, 200);
	assert_true(sip_bans_check(b, &a, 5199));
	assert_false(sip_bans_check(b, &a, 5200));
	sip_bans_note(b, &a, 6000); /* a new window starts from one */
	assert_false(sip_bans_check(b, &a, 6001));
	sip_bans_free(b);
}

static void test_v4_mapped_source_shares_the_ban(void **state)
{
	struct sip_bans *b = sip_bans_new(64, 1, 1000, 5000);
	struct net_addr v4 = addr("198.51.100.1:5060"), mapped = addr("[::ffff:198.51.100.1]:5060");

	sip_bans_note(b, &v4, 0);
	assert_true(sip_bans_check(b, &mapped, 1));
	sip_bans_free(b);
}

static void test_challenges_past_the_threshold_ban(void **state)
{
	struct sip_bans *b = sip_bans_new(64, 2, 1000, 5000);
	struct net_addr a = addr("203.0.113.20:5060"), pbx = addr("203.0.113.21:5060");

	/* the first two challenges are free, two more are refusals: the ban */
	assert_int_equal(sip_bans_note_challenge(b, &a, 0), 0);
	assert_int_equal(sip_bans_note_challenge(b, &a, 1), 0);
	assert_int_equal(sip_bans_note_challenge(b, &a, 2), 0);
	assert_int_equal(sip_bans_note_challenge(b, &a, 3), 5003);
	/* a source that authenticates after each challenge never gets there */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(sip_bans_note_challenge(b, &pbx, i), 0);
		sip_bans_note_authenticated(b, &pbx);
	}
	assert_false(sip_bans_check(b, &pbx, 11));
	sip_bans_free(b);
}

static void test_ban_table_stays_bounded(void **state)
{
	struct sip_bans *b = sip_bans_new(64, 2, 1000, 60000);
	struct net_addr banned = addr("192.0.2.1:5060");
	char ip[32];

	sip_bans_note(b, &banned, 0);
	sip_bans_note(b, &banned, 0);
	/* A scanner from 10 000 addresses, one refusal each. */
	for (int i = 0; i < 10000; i++) {
		struct net_addr a;

		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		a = addr(ip);
		sip_bans_note(b, &a, 1 + i / 100);
	}
	assert_true(sip_bans_used(b) <= 64);
	/* Unbanned one-off sources are evicted before a live ban. */
	assert_true(sip_bans_check(b, &banned, 200));
	sip_bans_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cps_bucket_allows_a_second_of_burst, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cps_bucket_refills_at_the_rate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_limits_are_unlimited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_channel_limit_hit_and_released, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_customer_limit_shared_across_trunks, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_customer_cps_shared_across_trunks, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_entry_kept_across_lookups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_takes_the_new_carrier_and_gives_back_the_old,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_refused_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_to_the_same_entry_takes_only_a_token, setup,
					    teardown),
	    cmocka_unit_test(test_ban_after_refusals_in_window),
	    cmocka_unit_test(test_refusals_outside_window_do_not_ban),
	    cmocka_unit_test(test_ban_expires),
	    cmocka_unit_test(test_v4_mapped_source_shares_the_ban),
	    cmocka_unit_test(test_challenges_past_the_threshold_ban),
	    cmocka_unit_test(test_ban_table_stays_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
