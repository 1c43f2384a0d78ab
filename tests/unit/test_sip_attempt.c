/*
 * test_sip_attempt.c — src/sip/attempt.c: a call's attempt sequence walked
 * from start to end with the answers given by the test — which target is
 * tried next, a carrier over its limit passed over without counting,
 * max_attempts, stop codes against failover codes, a cancel, and which
 * failure the caller is told.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sip/attempt.h"

#define NT 4

struct plan {
	struct sip_call_plan pl;
	struct sip_target t[NT];
	bool limited[NT]; /* the skip hook's answer per target */
};

static void plan_init(struct plan *p, size_t n, int max_attempts)
{
	memset(p, 0, sizeof(*p));
	p->pl.targets = p->t;
	p->pl.ntargets = n;
	p->pl.max_attempts = max_attempts;
	for (size_t i = 0; i < NT; i++) {
		p->t[i].stop_codes[0] = 404;
		p->t[i].stop_codes[1] = 486;
		p->t[i].nstop_codes = 2;
	}
}

static bool skip_limited(void *arg, size_t i)
{
	return ((struct plan *)arg)->limited[i];
}

/* Runs a setup: answers[k] is what the k-th attempted target says; the
 * result is the code the caller hears (2xx included), *tried the targets
 * in the order they were tried, ending with -1. */
static int run(struct plan *p, const int *answers, size_t nanswers, bool cancel_after_first,
	       int *tried)
{
	struct sip_attempt_walk w = {0};
	size_t k = 0;
	int i;

	while ((i = sip_attempt_next(&w, &p->pl, skip_limited, p)) >= 0) {
		assert_true(k < nanswers);
		tried[k] = i;
		int code = answers[k++];
		switch (sip_attempt_judge(&p->t[i], code, cancel_after_first && k > 1)) {
		case SIP_ATTEMPT_ANSWERED:
		case SIP_ATTEMPT_STOP:
			tried[k] = -1;
			return code;
		case SIP_ATTEMPT_FAILOVER:
			sip_attempt_note_failure(&w, code);
			break;
		}
	}
	tried[k] = -1;
	return sip_attempt_exhausted_code(&w);
}

static void test_failover_then_answer(void **state)
{
	struct plan p;
	int tried[NT + 1];
	(void)state;
	plan_init(&p, 3, 10);
	assert_int_equal(run(&p, (int[]){503, 408, 200}, 3, false, tried), 200);
	assert_memory_equal(tried, ((int[]){0, 1, 2, -1}), sizeof(int) * 4);
}

static void test_stop_code_ends_the_setup(void **state)
{
	struct plan p;
	int tried[NT + 1];
	(void)state;
	plan_init(&p, 3, 10);
	/* 486 is a stop code: the third target is never tried */
	assert_int_equal(run(&p, (int[]){500, 486}, 2, false, tried), 486);
	assert_memory_equal(tried, ((int[]){0, 1, -1}), sizeof(int) * 3);
	/* a 4xx that is not a failover code stops too, listed or not */
	assert_int_equal(run(&p, (int[]){403}, 1, false, tried), 403);
	/* a 6xx stops whatever the target lists */
	p.t[0].nstop_codes = 0;
	assert_int_equal(run(&p, (int[]){603}, 1, false, tried), 603);
	/* a 5xx the target lists as a stop code is not failed over */
	p.t[0].stop_codes[0] = 503;
	p.t[0].nstop_codes = 1;
	assert_int_equal(run(&p, (int[]){503}, 1, false, tried), 503);
}

static void test_exhausted_tells_the_best_failure(void **state)
{
	struct plan p;
	int tried[NT + 1];
	(void)state;
	plan_init(&p, 3, 10);
	/* the first of the lowest class: 408 (4xx) beats 503 and 500 */
	assert_int_equal(run(&p, (int[]){503, 408, 500}, 3, false, tried), 408);
	assert_int_equal(run(&p, (int[]){503, 500, 502}, 3, false, tried), 503);
	plan_init(&p, 0, 10);
	assert_int_equal(run(&p, NULL, 0, false, tried), 503); /* nothing to try */
	assert_int_equal(tried[0], -1);
}

static void test_limited_targets_are_not_attempts(void **state)
{
	struct plan p;
	int tried[NT + 1];
	(void)state;
	plan_init(&p, 4, 2);
	p.limited[0] = true;
	p.limited[2] = true;
	/* two attempts allowed: targets 1 and 3, the limited ones passed over */
	assert_int_equal(run(&p, (int[]){503, 502}, 2, false, tried), 503);
	assert_memory_equal(tried, ((int[]){1, 3, -1}), sizeof(int) * 3);
	/* max_attempts counts attempts, not targets */
	memset(p.limited, 0, sizeof(p.limited));
	assert_int_equal(run(&p, (int[]){503, 500}, 2, false, tried), 503);
	assert_memory_equal(tried, ((int[]){0, 1, -1}), sizeof(int) * 3);
}

static void test_cancel_stops_failover(void **state)
{
	struct plan p;
	int tried[NT + 1];
	(void)state;
	plan_init(&p, 3, 10);
	/* cancelled once the first attempt is out: its 487 ends the setup */
	assert_int_equal(run(&p, (int[]){503, 487}, 2, true, tried), 487);
	assert_memory_equal(tried, ((int[]){0, 1, -1}), sizeof(int) * 3);
}

static void test_best_failure_ordering(void **state)
{
	struct sip_attempt_walk w = {0};
	(void)state;
	assert_true(sip_attempt_note_failure(&w, 503));
	assert_false(sip_attempt_note_failure(&w, 500)); /* same class: the first kept */
	assert_true(sip_attempt_note_failure(&w, 480));
	assert_true(sip_attempt_note_failure(&w, 600)); /* a 6xx wins */
	assert_false(sip_attempt_note_failure(&w, 404));
	assert_false(sip_attempt_note_failure(&w, 603)); /* the first 6xx stays */
	assert_int_equal(sip_attempt_exhausted_code(&w), 600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failover_then_answer),
	    cmocka_unit_test(test_stop_code_ends_the_setup),
	    cmocka_unit_test(test_exhausted_tells_the_best_failure),
	    cmocka_unit_test(test_limited_targets_are_not_attempts),
	    cmocka_unit_test(test_cancel_stops_failover),
	    cmocka_unit_test(test_best_failure_ordering),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
