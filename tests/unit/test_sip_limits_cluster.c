/* test_sip_limits_cluster.c — cluster mode of src/sip/limits.c and the pure
 * half of src/sip/limits_redis.c (decision 0046): a node's share of a limit,
 * the allowance a view gives, admission on views (other nodes' channels, the
 * shared bucket) and on the share while the backend is down, what a round
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

/* The report of e alone (the table's only limited entry in these tests). */
static struct sip_limit_report report1(struct sip_limits *l)
{
	struct sip_limit_report r[2];

	assert_int_equal(sip_limits_report(l, r, 2), 1);
	return r[0];
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

static void test_allowance_splits_the_headroom_between_nodes(void **state)
{
	(void)state;
	assert_int_equal(sip_limit_allowance(10, 2), 5);
	assert_int_equal(sip_limit_allowance(3, 2), 1);
	assert_int_equal(sip_limit_allowance(1, 3), 1);
	assert_int_equal(sip_limit_allowance(9, 1), 9);
	assert_int_equal(sip_limit_allowance(0, 2), 0);
	assert_int_equal(sip_limit_allowance(-4, 2), 0);
}

static void test_a_view_counts_the_other_nodes_channels(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 0, 10);

	sip_limits_backend_set(l, true);
	sip_limits_view(l, &(struct sip_limit_report){.e = e}, 6, -1);
	/* Headroom 4 over 2 nodes: 2 before the next view. */
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), 0);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL);
	sip_limits_view(l, &(struct sip_limit_report){.e = e}, 6, -1);
	assert_int_equal(take1(l, e, false, 0), 0);
	sip_limits_view(l, &(struct sip_limit_report){.e = e}, 6, -1);
	assert_int_equal(take1(l, e, false, 0), 0);
	/* 4 here and 6 elsewhere: the limit, whatever the allowance said. */
	sip_limits_view(l, &(struct sip_limit_report){.e = e}, 6, -1);
	assert_int_equal(take1(l, e, false, 0), SIP_LIMIT_E_CHANNEL);
	assert_int_equal(sip_limit_channels(l, e), 4);
	assert_false(sip_limits_degraded(l));
}

static void test_a_view_charges_the_shared_bucket(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_CUSTOMER, "cus_1", 10, 0);
	struct sip_limit_report r;

	sip_limits_backend_set(l, true);
	sip_limits_view(l, &(struct sip_limit_report){.e = e}, 0, 4000);
	assert_int_equal(take1(l, e, true, 0), 0);
	assert_int_equal(take1(l, e, true, 0), 0);
	assert_int_equal(take1(l, e, true, 0), SIP_LIMIT_E_CPS); /* 4 tokens / 2 nodes */
	r = report1(l);
	assert_int_equal(r.used_milli, 2000);
	assert_int_equal(r.kind, SIP_LIMIT_CUSTOMER);
	assert_string_equal(r.id, "cus_1");
	/* Once the round carried it, the use is not reported again. */
	sip_limits_view(l, &r, 0, 0);
	assert_int_equal(report1(l).used_milli, 0);
	assert_int_equal(take1(l, e, true, 0), SIP_LIMIT_E_CPS); /* the bucket is empty */
}

static void test_backend_down_admits_on_the_share(void **state)
{
	struct sip_limits *l = *state;
	struct sip_limit *e = sip_limits_entry(l, SIP_LIMIT_TRUNK, "trk_1", 10, 10);

	sip_limits_backend_set(l, true);
	sip_limits_view(l, &(struct sip_limit_report){.e = e}, 0, 10000);
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
	struct sip_limit_report r = {
	    .kind = SIP_LIMIT_CARRIER, .channels = 3, .cps_limit = 20, .used_milli = 2000};
	char key[SIP_LIMITS_KEY_MAX], argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX];

	(void)state;
	snprintf(r.id, sizeof(r.id), "car_x1");
	assert_int_equal(sip_limits_redis_args(&r, "host-12-0badcafe", 3000, key, argv), 0);
	assert_string_equal(key, "warp:sip:limit:{carrier:car_x1}");
	assert_string_equal(argv[0], "host-12-0badcafe");
	assert_string_equal(argv[1], "3");
	assert_string_equal(argv[2], "3000");
	assert_string_equal(argv[3], "20");
	assert_string_equal(argv[4], "2000");
	r.kind = SIP_LIMIT_TRUNK;
	r.channels = -1; /* never below zero on the wire */
	assert_int_equal(sip_limits_redis_args(&r, "n", 3000, key, argv), 0);
	assert_string_equal(key, "warp:sip:limit:{trunk:car_x1}");
	assert_string_equal(argv[1], "0");
}

static void test_script_arguments_refuse_a_node_name_too_long(void **state)
{
	struct sip_limit_report r = {.kind = SIP_LIMIT_TRUNK};
	char key[SIP_LIMITS_KEY_MAX], argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX];
	char node[SIP_LIMITS_ARG_MAX + 8];

	(void)state;
	memset(node, 'n', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0';
	assert_int_equal(sip_limits_redis_args(&r, node, 1000, key, argv), -ENOSPC);
	assert_int_equal(sip_limits_redis_args(&r, "", 1000, key, argv), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_share_is_the_limit_over_nodes_rounded_down_at_least_one),
	    cmocka_unit_test(test_allowance_splits_the_headroom_between_nodes),
	    cmocka_unit_test_setup_teardown(test_a_view_counts_the_other_nodes_channels, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_a_view_charges_the_shared_bucket, setup, teardown),
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
