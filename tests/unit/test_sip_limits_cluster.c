/* test_sip_limits_cluster.c — cluster mode of src/sip/limits.c and the pure
 * half of src/sip/limits_redis.c (decision 0046): a node's share of a limit,
 * admission on a round's answer (reserved channels and tokens, one credit
 * call a round) and on the share while the backend is down, what a round
 * reports, and the script's key and arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

static int setup(void **state)
{
	struct sip_limits *l = sip_limits_new();

	if (!l)
		return -1;
	sip_limits_cluster(l, 2, NULL);
	*state = l;
	return 0;
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

static void test_share_is_the_limit_over_nodes_rounded_down_at_least_one(void **state)
{
	(void)state;
	assert_int_equal(sip_limit_share(10, 2), 5);
	assert_int_equal(sip_limit_share(10, 3), 3);
	assert_int_equal(sip_limit_share(1, 4), 1);
	assert_int_equal(sip_limit_share(7, 1), 7);
	assert_int_equal(sip_limit_share(0, 2), 0); /* unlimited stays so */
}

static void view(struct sip_limits *l, struct sip_limit *e, int64_t others, int64_t allow,
		 int64_t room_milli, int64_t grant_milli)
{
	struct sip_limit_report r;
	const struct sip_limit_answer a = {others, allow, room_milli, grant_milli};

	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	assert_ptr_equal(r.e, e);
	sip_limits_view(l, &r, &a);
}

static void test_a_node_admits_its_reservation_then_one_credit_call(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 10);

	sip_limits_backend_set(l, true);
	view(l, e, 6, 2, -1, 0);
	/* Two reserved, then one on credit: 3 here, 6 elsewhere, under 10. */
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL); /* one credit a round */
	view(l, e, 6, 0, -1, 0);
	assert_int_equal(take1(l, e, false, 0), 0); /* 4 + 6: the last channel */
	view(l, e, 6, 0, -1, 0);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL); /* no credit past it */
	assert_int_equal(sip_limit_channels(l, e), 4);
	assert_false(sip_limits_degraded(l));
}

static void test_a_call_during_the_round_is_charged_to_the_next_reservation(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 10);
	struct sip_limit_report r;

	sip_limits_backend_set(l, true);
	view(l, e, 0, 3, -1, 0);
	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	/* The round is under way: the last reservation is gone, a credit is not. */
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL);
	/* Two reserved on 0 held: the credit call is one of them. */
	sip_limits_view(l, &r, &(struct sip_limit_answer){0, 2, -1, 0});
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), 0); /* this round's credit */
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL);
	assert_int_equal(sip_limit_channels(l, e), 3);
}

static void test_a_report_says_whether_a_call_asked(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 10);
	struct sip_limit_report r;

	sip_limits_backend_set(l, true);
	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	assert_false(r.asked);
	assert_int_equal(r.channel_limit, 10);
	sip_limits_available(l, e, false, 0);
	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	assert_true(r.asked);
	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	assert_false(r.asked); /* forgotten once reported */
}

static void test_a_grant_is_spent_and_reported(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_CUSTOMER, "cus_1", 10, 0);
	struct sip_limit_report r;

	sip_limits_backend_set(l, true);
	view(l, e, 0, 0, 500, 2000); /* 2 tokens granted, half a token left */
	assert_int_equal(take1(l, e, true, 0), 0);
	assert_int_equal(take1(l, e, true, 0), 0);
	assert_int_equal(take1(l, e, true, 0), SIP_LIMIT_E_CPS); /* no credit under a token */
	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	assert_int_equal(r.used_milli, 2000);
	assert_int_equal(r.grant_milli, 2000);
	assert_int_equal(r.kind, SIP_LIMIT_CUSTOMER);
	assert_string_equal(r.id, "cus_1");
	/* Once the round carried it, the use is not reported again. */
	sip_limits_view(l, &r, &(struct sip_limit_answer){0, 0, 1000, 0});
	assert_int_equal(take1(l, e, true, 0), 0); /* a token left: one on credit */
	assert_int_equal(take1(l, e, true, 0), SIP_LIMIT_E_CPS);
	assert_int_equal(sip_limits_report(l, &r, 1), 1);
	assert_int_equal(r.used_milli, 1000);
	assert_int_equal(r.grant_milli, 0);
}

static void test_backend_down_admits_on_the_share(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 10, 10);

	sip_limits_backend_set(l, true);
	view(l, e, 0, 5, 5000, 5000);
	sip_limits_backend_set(l, false);
	assert_true(sip_limits_degraded(l));
	/* 10 / 2 nodes: 5 channels, and a local bucket of 5 a second. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(take1(l, e, true, 1000), 0);
	assert_int_equal(take1(l, e, true, 1000), SIP_LIMIT_E_CPS);
	assert_int_equal(take1(l, e, false, 1000), SIP_LIMIT_E_CHANNEL);
	sip_limits_release(l, &e, 1);
	assert_int_equal(take1(l, e, true, 1200), 0); /* one token per 200 ms */
}

static void test_an_entry_no_view_reached_admits_on_the_share(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_CARRIER, "car_1", 0, 3);

	sip_limits_backend_set(l, true);
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL); /* 3 / 2 */
}

static void test_unlimited_entries_are_not_reported(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit_report r[1];

	sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_free", 0, 0);
	sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_a", 0, 5);
	sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_b", 5, 0);
	/* Two limited entries, room for one: the count says grow. */
	assert_int_equal(sip_limits_report(l, r, 1), 2);
}

static void test_memory_mode_is_never_degraded(void **state)
{
	struct sip_limits *l = sip_limits_new();

	(void)state;
	assert_non_null(l);
	assert_false(sip_limits_degraded(l));
	sip_limits_free(l);
}

static void test_script_arguments_name_the_entity_and_this_node(void **state)
{
	struct sip_limit_report r = {.kind = SIP_LIMIT_CARRIER,
				     .channels = 3,
				     .channel_limit = 10,
				     .cps_limit = 20,
				     .used_milli = 2000,
				     .grant_milli = 4000,
				     .asked = true};
	char key[SIP_LIMITS_KEY_MAX], argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX];

	(void)state;
	snprintf(r.id, sizeof(r.id), "car_x1");
	assert_int_equal(sip_limits_redis_args(&r, "host-12-0badcafe", 3000, 2, key, argv), 0);
	assert_string_equal(key, "warp:sip:limit:{carrier:car_x1}");
	const char *want[SIP_LIMITS_ARGS] = {
	    "host-12-0badcafe", "3", "3000", "10", "2", "1", "20", "2000", "4000"};
	for (size_t i = 0; i < SIP_LIMITS_ARGS; i++)
		assert_string_equal(argv[i], want[i]);
	r.kind = SIP_LIMIT_TRUNK;
	r.channels = -1; /* never below zero on the wire */
	r.asked = false;
	assert_int_equal(sip_limits_redis_args(&r, "n", 3000, 0, key, argv), 0);
	assert_string_equal(key, "warp:sip:limit:{trunk:car_x1}");
	assert_string_equal(argv[1], "0");
	assert_string_equal(argv[4], "1"); /* at least one node */
	assert_string_equal(argv[5], "0");
}

static void test_script_arguments_refuse_a_node_name_too_long(void **state)
{
	struct sip_limit_report r = {.kind = SIP_LIMIT_TRUNK};
	char key[SIP_LIMITS_KEY_MAX], argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX];
	char node[SIP_LIMITS_ARG_MAX + 8];

	(void)state;
	memset(node, 'n', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0';
	assert_int_equal(sip_limits_redis_args(&r, node, 1000, 2, key, argv), -ENOSPC);
	assert_int_equal(sip_limits_redis_args(&r, "", 1000, 2, key, argv), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_share_is_the_limit_over_nodes_rounded_down_at_least_one),
	    cmocka_unit_test_setup_teardown(test_a_node_admits_its_reservation_then_one_credit_call,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_call_during_the_round_is_charged_to_the_next_reservation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_report_says_whether_a_call_asked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_grant_is_spent_and_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backend_down_admits_on_the_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_entry_no_view_reached_admits_on_the_share,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unlimited_entries_are_not_reported, setup,
					    teardown),
	    cmocka_unit_test(test_memory_mode_is_never_degraded),
	    cmocka_unit_test(test_script_arguments_name_the_entity_and_this_node),
	    cmocka_unit_test(test_script_arguments_refuse_a_node_name_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
