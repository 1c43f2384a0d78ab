/*
 * test_auth_ratelimit.c — the in-process token buckets, with the clock
 * injected: bursts, 429 answers with Retry-After, refill, independence,
 * integer exactness, bounded memory and concurrent takers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#define T0 1700000000000LL

static struct ratelimit *rl_new(size_t max_buckets)
{
	struct ratelimit_opts o;
	char err[128];
	struct ratelimit *rl;

	ratelimit_opts_init(&o);
	if (max_buckets)
		o.max_buckets = max_buckets;
	rl = ratelimit_new(&o, err, sizeof(err));
	assert_non_null(rl);
	return rl;
}

static bool take(struct ratelimit *rl, const char *key, double rate, int64_t burst, int64_t now,
		 struct ratelimit_result *r)
{
	struct ratelimit_result scratch;

	assert_int_equal(ratelimit_take(rl, key, rate, burst, now, r ? r : &scratch), 0);
	return (r ? r : &scratch)->allowed;
}

static void test_burst_then_refused_with_retry_after(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct ratelimit_result r;

	for (int i = 0; i < 3; i++) {
		assert_true(take(rl, "k", 1, 3, T0, &r));
		assert_int_equal(r.limit, 3);
		assert_int_equal(r.remaining, 2 - i);
		assert_int_equal(r.retry_after_s, 0);
	}
	assert_false(take(rl, "k", 1, 3, T0, &r));
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.retry_after_s, 1);
	assert_int_equal(r.reset_s, 3);
	assert_false(r.degraded);
	ratelimit_free(rl);
}

static void test_retry_after_rounds_up_for_slow_rates(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct ratelimit_result r;

	assert_true(take(rl, "slow", 0.5, 1, T0, &r));
	assert_false(take(rl, "slow", 0.5, 1, T0 + 100, &r));
	assert_int_equal(r.retry_after_s, 2); /* 1.9 s to go */
	assert_false(take(rl, "slow", 0.5, 1, T0 + 1500, &r));
	assert_int_equal(r.retry_after_s, 1); /* 0.5 s to go */
	assert_true(take(rl, "slow", 0.5, 1, T0 + 2000, &r));
	ratelimit_free(rl);
}

static void test_refill_over_time(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct ratelimit_result r;

	assert_true(take(rl, "k", 10, 2, T0, NULL));
	assert_true(take(rl, "k", 10, 2, T0, NULL));
	assert_false(take(rl, "k", 10, 2, T0 + 99, NULL));
	assert_true(take(rl, "k", 10, 2, T0 + 100, &r));
	assert_int_equal(r.remaining, 0);
	/* Long idle: full again, never beyond the burst. */
	assert_true(take(rl, "k", 10, 2, T0 + 3600000, &r));
	assert_int_equal(r.remaining, 1);
	ratelimit_free(rl);
}

static void test_clock_going_backwards_refills_nothing(void **state)
{
	struct ratelimit *rl = rl_new(0);

	assert_true(take(rl, "k", 1, 1, T0, NULL));
	assert_false(take(rl, "k", 1, 1, T0 - 5000, NULL));
	assert_false(take(rl, "k", 1, 1, T0 + 999, NULL));
	assert_true(take(rl, "k", 1, 1, T0 + 1000, NULL));
	ratelimit_free(rl);
}

static void test_integer_math_has_no_drift(void **state)
{
	struct ratelimit *rl = rl_new(0);
	int allowed = 0;

	/* 3 tokens a second (333.3 ms each), polled every millisecond for
	 * 10 s: exactly the burst plus 30, however often we ask. */
	for (int64_t t = 0; t <= 10000; t++)
		allowed += take(rl, "k", 3, 5, T0 + t, NULL);
	assert_int_equal(allowed, 5 + 30);
	ratelimit_free(rl);
}

static void test_keys_are_independent(void **state)
{
	struct ratelimit *rl = rl_new(0);

	assert_true(take(rl, "a", 1, 1, T0, NULL));
	assert_false(take(rl, "a", 1, 1, T0, NULL));
	assert_true(take(rl, "b", 1, 1, T0, NULL));
	assert_false(take(rl, "b", 1, 1, T0, NULL));
	ratelimit_free(rl);
}

static void test_bad_arguments_refused(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct ratelimit_result r;
	char longkey[300];

	memset(longkey, 'x', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(ratelimit_take(rl, "k", 0, 1, T0, &r), -EINVAL);
	assert_int_equal(ratelimit_take(rl, "k", -1, 1, T0, &r), -EINVAL);
	assert_int_equal(ratelimit_take(rl, "k", 1, 0, T0, &r), -EINVAL);
	assert_int_equal(ratelimit_take(rl, "", 1, 1, T0, &r), -EINVAL);
	assert_int_equal(ratelimit_take(rl, longkey, 1, 1, T0, &r), -EINVAL);
	ratelimit_free(rl);
}

static void test_memory_is_bounded(void **state)
{
	struct ratelimit *rl = rl_new(64);
	char key[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "ip:10.0.%d.%d", i / 256, i % 256);
		take(rl, key, 1, 10, T0, NULL);
		assert_true(ratelimit_size(rl) <= 64);
	}
	assert_true(ratelimit_size(rl) > 0);
	ratelimit_free(rl);
}

static void test_idle_buckets_evicted_before_busy_ones(void **state)
{
	struct ratelimit *rl = rl_new(64); /* four buckets per shard */
	char key[32];

	assert_true(take(rl, "hot", 0.1, 1, T0, NULL));
	/* Strangers that each refill within 1 ms: idle by the next insert. */
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "stranger-%d", i);
		take(rl, key, 1000, 1, T0 + 2 * (i + 1), NULL);
	}
	/* "hot" is still drained: it was not dropped for a stranger. */
	assert_false(take(rl, "hot", 0.1, 1, T0 + 5000, NULL));
	ratelimit_free(rl);
}

static void test_identity_limits_and_role_defaults(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct auth_identity own = {
	    .kind = AUTH_KIND_API_KEY, .role = AUTH_ROLE_CUSTOMER, .rate_per_sec = 1, .burst = 2};
	struct auth_identity dflt = {.kind = AUTH_KIND_JWT, .role = AUTH_ROLE_CUSTOMER};
	struct ratelimit_result r;

	snprintf(own.subject, sizeof(own.subject), "key_own");
	snprintf(dflt.subject, sizeof(dflt.subject), "user-7");
	assert_int_equal(ratelimit_take_identity(rl, &own, T0, &r), 0);
	assert_int_equal(r.limit, 2);
	assert_int_equal(ratelimit_take_identity(rl, &dflt, T0, &r), 0);
	assert_int_equal(r.limit, 40); /* customer default burst */
	dflt.role = AUTH_ROLE_ADMIN;
	snprintf(dflt.subject, sizeof(dflt.subject), "admin-1");
	assert_int_equal(ratelimit_take_identity(rl, &dflt, T0, &r), 0);
	assert_int_equal(r.limit, 200);
	ratelimit_free(rl);
}

static void test_anonymous_limit_per_source_address(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct ratelimit_result r;
	struct net_addr a, b;
	int allowed = 0;

	assert_int_equal(net_addr_parse(STR_LIT("192.0.2.1:5000"), 0, &a), 0);
	assert_int_equal(net_addr_parse(STR_LIT("192.0.2.1:6000"), 0, &b), 0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(ratelimit_take_addr(rl, i % 2 ? &a : &b, T0, &r), 0);
		allowed += r.allowed;
	}
	assert_int_equal(allowed, 10); /* one budget for the address, any port */
	ratelimit_free(rl);
}

struct racer {
	struct ratelimit *rl;
	int allowed;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 1000; i++)
		r->allowed += take(r->rl, "shared", 0.001, 1000, T0, NULL);
	return NULL;
}

static void test_concurrent_takers_share_one_budget(void **state)
{
	struct ratelimit *rl = rl_new(0);
	struct racer racers[4];
	pthread_t th[4];
	int total = 0;

	for (int i = 0; i < 4; i++) {
		racers[i] = (struct racer){.rl = rl};
		pthread_create(&th[i], NULL, race, &racers[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += racers[i].allowed;
	}
	assert_int_equal(total, 1000);
	ratelimit_free(rl);
}

/* warp_ratelimit_requests_total{kind,backend="memory",result} now. */
static int64_t counted(const char *kind, const char *result)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_ratelimit_requests_total",
	    "API rate-limit decisions, by bucket kind, backend and result.", "kind,backend,result");

	assert_non_null(f);
	return metric_value(metric_get(f, kind, "memory", result));
}

static void test_decisions_counted_by_kind_and_result(void **state)
{
	struct ratelimit_opts o;
	char err[128];
	struct ratelimit *rl;
	struct ratelimit_result r;
	struct auth_identity id = {.role = AUTH_ROLE_CUSTOMER, .rate_per_sec = 1, .burst = 2};
	struct net_addr peer;
	int64_t cred_ok = counted("credential", "allowed"), cred_no = counted("credential", "limited");
	int64_t addr_ok = counted("address", "allowed"), addr_no = counted("address", "limited");

	ratelimit_opts_init(&o);
	o.anon_burst = 1;
	rl = ratelimit_new(&o, err, sizeof(err));
	assert_non_null(rl);
	snprintf(id.subject, sizeof(id.subject), "counted-1");
	assert_int_equal(net_addr_parse(STR_LIT("192.0.2.7"), 0, &peer), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimit_take_identity(rl, &id, T0, &r), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(ratelimit_take_addr(rl, &peer, T0, &r), 0);
	assert_int_equal(counted("credential", "allowed"), cred_ok + 2);
	assert_int_equal(counted("credential", "limited"), cred_no + 1);
	assert_int_equal(counted("address", "allowed"), addr_ok + 1);
	assert_int_equal(counted("address", "limited"), addr_no + 1);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refused_with_retry_after),
	    cmocka_unit_test(test_retry_after_rounds_up_for_slow_rates),
	    cmocka_unit_test(test_refill_over_time),
	    cmocka_unit_test(test_clock_going_backwards_refills_nothing),
	    cmocka_unit_test(test_integer_math_has_no_drift),
	    cmocka_unit_test(test_keys_are_independent),
	    cmocka_unit_test(test_bad_arguments_refused),
	    cmocka_unit_test(test_memory_is_bounded),
	    cmocka_unit_test(test_idle_buckets_evicted_before_busy_ones),
	    cmocka_unit_test(test_identity_limits_and_role_defaults),
	    cmocka_unit_test(test_anonymous_limit_per_source_address),
	    cmocka_unit_test(test_concurrent_takers_share_one_budget),
	    cmocka_unit_test(test_decisions_counted_by_kind_and_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
