/* Tests for src/core/loop*.c: worker pool, cross-thread calls, stop, and
 * the main loop's signal handling. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/core.h"

struct probe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	pthread_t thread;
};

static void probe_init(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

static void probe_fini(struct probe *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}

/* Runs on the worker: records the thread it ran on. */
static void probe_run(void *arg)
{
	struct probe *p = arg;

	pthread_mutex_lock(&p->lock);
	p->thread = pthread_self();
	p->done++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void probe_wait(struct probe *p, int n)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&p->lock);
	while (p->done < n)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) != 0)
			break;
	pthread_mutex_unlock(&p->lock);
	assert_int_equal(p->done, n);
}

static void test_loop_pool_has_a_base_per_thread(void **state)
{
	struct loop_pool *pool;

	assert_int_equal(loop_global_init(), 0);
	pool = loop_pool_new(3, "t");
	assert_non_null(pool);
	assert_int_equal(loop_pool_size(pool), 3);
	assert_non_null(loop_pool_base(pool, 0));
	assert_ptr_not_equal(loop_pool_base(pool, 0), loop_pool_base(pool, 1));
	assert_null(loop_pool_base(pool, 3));
	loop_pool_free(pool);
}

static void test_loop_pool_call_runs_on_worker_thread(void **state)
{
	struct loop_pool *pool = loop_pool_new(2, "t");
	struct probe a, b;

	probe_init(&a);
	probe_init(&b);
	assert_int_equal(loop_pool_start(pool), 0);
	assert_int_equal(loop_pool_call(pool, 0, probe_run, &a), 0);
	assert_int_equal(loop_pool_call(pool, 1, probe_run, &b), 0);
	probe_wait(&a, 1);
	probe_wait(&b, 1);
	assert_false(pthread_equal(a.thread, pthread_self()));
	assert_false(pthread_equal(b.thread, pthread_self()));
	assert_false(pthread_equal(a.thread, b.thread));
	/* The same index always lands on the same thread. */
	pthread_t first = a.thread;
	loop_pool_call(pool, 0, probe_run, &a);
	probe_wait(&a, 2);
	assert_true(pthread_equal(a.thread, first));
	loop_pool_stop(pool);
	loop_pool_free(pool);
	probe_fini(&a);
	probe_fini(&b);
}

static void test_loop_pool_call_before_start_runs_after_start(void **state)
{
	struct loop_pool *pool = loop_pool_new(1, "t");
	struct probe a;

	probe_init(&a);
	assert_int_equal(loop_pool_call(pool, 0, probe_run, &a), 0);
	assert_int_equal(a.done, 0);
	loop_pool_start(pool);
	probe_wait(&a, 1);
	loop_pool_free(pool);
	probe_fini(&a);
}

static void test_loop_pool_call_rejects_bad_index(void **state)
{
	struct loop_pool *pool = loop_pool_new(1, "t");

	assert_int_equal(loop_pool_call(pool, 1, probe_run, NULL), -EINVAL);
	loop_pool_free(pool);
}

static atomic_int stopped_runs;

static void count_run(void *arg)
{
	atomic_fetch_add(&stopped_runs, 1);
}

static void test_loop_pool_stop_joins_idle_threads(void **state)
{
	struct loop_pool *pool = loop_pool_new(4, "t");
	int64_t t0;

	atomic_store(&stopped_runs, 0);
	loop_pool_start(pool);
	usleep(20000); /* idle loops must stay up (EVLOOP_NO_EXIT_ON_EMPTY) */
	for (unsigned i = 0; i < 4; i++)
		loop_pool_call(pool, i, count_run, NULL);
	t0 = time_mono_ms();
	loop_pool_stop(pool);
	assert_true(time_mono_ms() - t0 < 2000);
	assert_int_equal(atomic_load(&stopped_runs), 4);
	loop_pool_free(pool);
}

/* A task in the caller's storage runs on its loop's thread. */
static void test_loop_pool_post_runs_caller_owned_task(void **state)
{
	struct loop_pool *pool = loop_pool_new(2, "t");
	struct probe a;
	struct loop_task t = {.fn = probe_run, .arg = &a};

	probe_init(&a);
	assert_int_equal(loop_pool_start(pool), 0);
	loop_pool_post(pool, 1, &t);
	probe_wait(&a, 1);
	assert_false(pthread_equal(a.thread, pthread_self()));
	loop_pool_free(pool);
	probe_fini(&a);
}

/* A task that posts another to the next loop, until hops is spent. */
struct hop {
	struct loop_pool *pool;
	struct loop_task task;
	unsigned at;
	int hops;
};

static void hop_run(void *arg)
{
	struct hop *h = arg;

	atomic_fetch_add(&stopped_runs, 1);
	if (--h->hops > 0) {
		h->at = (h->at + 1) % loop_pool_size(h->pool);
		loop_pool_post(h->pool, h->at, &h->task);
	}
}

/* Handed over after the loops stopped: loop_pool_drain runs it, and what it
 * posts in turn, on the calling thread; loop_pool_free alone would drop it. */
static void test_loop_pool_drain_runs_what_came_after_stop(void **state)
{
	struct loop_pool *pool = loop_pool_new(2, "t");
	struct hop h = {.pool = pool, .at = 0, .hops = 3};
	struct probe a;

	probe_init(&a);
	h.task = (struct loop_task){.fn = hop_run, .arg = &h};
	atomic_store(&stopped_runs, 0);
	assert_int_equal(loop_pool_start(pool), 0);
	loop_pool_stop(pool);
	loop_pool_post(pool, 0, &h.task);
	assert_int_equal(loop_pool_call(pool, 1, probe_run, &a), 0);
	loop_pool_drain(pool);
	assert_int_equal(atomic_load(&stopped_runs), 3);
	assert_int_equal(a.done, 1);
	assert_true(pthread_equal(a.thread, pthread_self()));
	assert_int_equal(loop_pool_call(pool, 0, probe_run, &a), 0); /* freed unrun */
	loop_pool_free(pool);
	assert_int_equal(a.done, 1);
	probe_fini(&a);
}

struct main_ctx {
	int reloads;
	int stops;
	int reloads_at_stop;
};

static void on_reload(void *arg)
{
	((struct main_ctx *)arg)->reloads++;
}

static void on_stop(void *arg)
{
	struct main_ctx *m = arg;

	m->stops++;
	m->reloads_at_stop = m->reloads;
}

static void raise_hup(evutil_socket_t fd, short what, void *arg)
{
	raise(SIGHUP);
}

static void raise_term(evutil_socket_t fd, short what, void *arg)
{
	raise(*(int *)arg);
}

static void run_main_until(int sig, struct main_ctx *m)
{
	struct event_base *base = event_base_new();
	struct loop_main_hooks hooks = {on_reload, on_stop, m};
	struct timeval t10 = {0, 10000}, t50 = {0, 50000};

	event_base_once(base, -1, EV_TIMEOUT, raise_hup, NULL, &t10);
	event_base_once(base, -1, EV_TIMEOUT, raise_term, &sig, &t50);
	assert_int_equal(loop_main_run(base, &hooks), 0);
	event_base_free(base);
}

static void test_loop_main_sighup_reloads_and_sigterm_stops(void **state)
{
	struct main_ctx m = {0};

	run_main_until(SIGTERM, &m);
	assert_int_equal(m.reloads, 1);
	assert_int_equal(m.stops, 1);
	assert_int_equal(m.reloads_at_stop, 1);
}

static void test_loop_main_sigint_stops(void **state)
{
	struct main_ctx m = {0};

	run_main_until(SIGINT, &m);
	assert_int_equal(m.stops, 1);
}

static void *stop_later(void *arg)
{
	usleep(20000);
	loop_main_stop(arg);
	return NULL;
}

static void test_loop_main_stop_from_other_thread(void **state)
{
	struct event_base *base = event_base_new();
	pthread_t t;

	pthread_create(&t, NULL, stop_later, base);
	assert_int_equal(loop_main_run(base, NULL), 0);
	pthread_join(t, NULL);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop_pool_has_a_base_per_thread),
	    cmocka_unit_test(test_loop_pool_call_runs_on_worker_thread),
	    cmocka_unit_test(test_loop_pool_call_before_start_runs_after_start),
	    cmocka_unit_test(test_loop_pool_call_rejects_bad_index),
	    cmocka_unit_test(test_loop_pool_stop_joins_idle_threads),
	    cmocka_unit_test(test_loop_pool_post_runs_caller_owned_task),
	    cmocka_unit_test(test_loop_pool_drain_runs_what_came_after_stop),
	    cmocka_unit_test(test_loop_main_sighup_reloads_and_sigterm_stops),
	    cmocka_unit_test(test_loop_main_sigint_stops),
	    cmocka_unit_test(test_loop_main_stop_from_other_thread),
	};
	log_setup(LOG_ERROR, LOG_FORMAT_TEXT, NULL);
	loop_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
