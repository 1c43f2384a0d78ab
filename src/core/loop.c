/*
 * loop.c — per-thread libevent loops and the main thread's signal loop.
 *
 * A pool owns N worker threads, each running its own event_base.  Nothing
 * registered on a base is touched by another thread; the only way in from
 * outside is loop_pool_call, which appends to the worker's locked queue and
 * activates the worker's wake event (libevent's thread support turns that
 * into a notification of the sleeping base).  Bases run with
 * EVLOOP_NO_EXIT_ON_EMPTY so an idle worker waits instead of returning.
 *
 * Workers block SIGTERM, SIGINT and SIGHUP so those reach the main thread,
 * whose loop_main_run turns them into stop and reload.
 */
#include "core/core.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What loop_pool_call allocates: a task that frees itself after its call. */
struct loop_call {
	struct loop_task task;
	void (*fn)(void *arg);
	void *arg;
};

struct loop_worker {
	struct loop_pool *pool;
	unsigned index;
	struct event_base *base;
	struct event *wake;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards head/tail */
	struct loop_task *head, *tail;
};

struct loop_pool {
	char name[12];
	unsigned n;
	bool started;
	struct loop_worker *w;
};

static pthread_once_t loop_init_once = PTHREAD_ONCE_INIT;
static int loop_init_rc;

static void loop_global_init_once(void)
{
	loop_init_rc = evthread_use_pthreads() == 0 ? 0 : -ENOSYS;
}

int loop_global_init(void)
{
	pthread_once(&loop_init_once, loop_global_init_once);
	return loop_init_rc;
}

unsigned loop_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/* Takes the whole queue at once, then runs it unlocked so a task may
 * itself post; false when it was empty. */
static bool loop_worker_run_queue(struct loop_worker *w)
{
	struct loop_task *t;

	pthread_mutex_lock(&w->lock);
	t = w->head;
	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->lock);
	if (!t)
		return false;
	while (t) {
		struct loop_task *next = t->next; /* t->fn may free t */
		t->fn(t->arg);
		t = next;
	}
	return true;
}

/* Runs on the worker. */
static void loop_worker_wake(evutil_socket_t fd, short what, void *arg)
{
	loop_worker_run_queue(arg);
}

/* A worker's base.  With epoll, changes to a socket's events are batched
 * and applied once per loop iteration (the changelist): a request/response
 * cycle turns reading and writing on and off several times, and without it
 * each toggle is an epoll_ctl system call.  (The base keeps its lock:
 * loop_pool_call activates events on it from other threads.) */
static struct event_base *loop_worker_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;

	if (cfg && event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base ? base : event_base_new();
}

static int loop_worker_init(struct loop_pool *p, unsigned i)
{
	struct loop_worker *w = &p->w[i];

	w->pool = p;
	w->index = i;
	pthread_mutex_init(&w->lock, NULL);
	w->base = loop_worker_base_new();
	if (!w->base)
		return -ENOMEM;
	w->wake = event_new(w->base, -1, 0, loop_worker_wake, w);
	return w->wake ? 0 : -ENOMEM;
}

struct loop_pool *loop_pool_new(unsigned nthreads, const char *name)
{
	struct loop_pool *p;

	if (loop_global_init() < 0)
		return NULL;
	if (nthreads == 0)
		nthreads = loop_default_threads();
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	str_copy(p->name, sizeof(p->name), str_from_cstr(name ? name : "loop"));
	p->w = calloc(nthreads, sizeof(*p->w));
	if (!p->w)
		goto fail;
	for (unsigned i = 0; i < nthreads; i++) {
		p->n = i + 1;
		if (loop_worker_init(p, i) < 0)
			goto fail;
	}
	return p;
fail:
	loop_pool_free(p);
	return NULL;
}

unsigned loop_pool_size(const struct loop_pool *p)
{
	return p->n;
}

struct event_base *loop_pool_base(struct loop_pool *p, unsigned i)
{
	return i < p->n ? p->w[i].base : NULL;
}

static void *loop_worker_main(void *arg)
{
	struct loop_worker *w = arg;
	char tname[16];
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	snprintf(tname, sizeof(tname), "%s-%u", w->pool->name, w->index);
	pthread_setname_np(pthread_self(), tname);
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int loop_pool_start(struct loop_pool *p)
{
	int rc = 0;

	if (p->started)
		return -EALREADY;
	p->started = true;
	for (unsigned i = 0; i < p->n && rc == 0; i++) {
		rc = -pthread_create(&p->w[i].thread, NULL, loop_worker_main, &p->w[i]);
		p->w[i].running = rc == 0;
	}
	if (rc < 0)
		loop_pool_stop(p);
	return rc;
}

/* Only a post into an empty queue wakes the loop: one that finds tasks
 * queued is run by the wake they already asked for (the worker empties the
 * queue under the lock before it runs it).  A group commit resuming
 * hundreds of HTTP requests then costs each worker one wake-up, not one
 * eventfd write per request. */
void loop_pool_post(struct loop_pool *p, unsigned i, struct loop_task *t)
{
	struct loop_worker *w = &p->w[i];
	bool was_empty;

	t->next = NULL;
	pthread_mutex_lock(&w->lock);
	was_empty = !w->head;
	if (w->tail)
		w->tail->next = t;
	else
		w->head = t;
	w->tail = t;
	pthread_mutex_unlock(&w->lock);
	if (was_empty)
		event_active(w->wake, EV_READ, 0);
}

static void loop_call_run(void *arg)
{
	struct loop_call *c = arg;

	c->fn(c->arg);
	free(c);
}

int loop_pool_call(struct loop_pool *p, unsigned i, void (*fn)(void *arg), void *arg)
{
	struct loop_call *c;

	if (i >= p->n || !fn)
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->arg = arg;
	c->task.fn = loop_call_run;
	c->task.arg = c;
	loop_pool_post(p, i, &c->task);
	return 0;
}

struct loop_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	void (*fn)(void *arg);
	void *arg;
};

static void loop_wait_run(void *arg)
{
	struct loop_wait *w = arg;

	w->fn(w->arg);
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int loop_pool_call_wait(struct loop_pool *p, unsigned i, void (*fn)(void *arg), void *arg)
{
	struct loop_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, fn, arg};
	int rc = loop_pool_call(p, i, loop_wait_run, &w);

	pthread_mutex_lock(&w.mu);
	while (rc == 0 && !w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}

/* loopexit (not loopbreak) lets callbacks already active, such as queued
 * calls, finish first. */
void loop_pool_stop(struct loop_pool *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].running)
			event_base_loopexit(p->w[i].base, NULL);
	for (unsigned i = 0; i < p->n; i++) {
		if (!p->w[i].running)
			continue;
		pthread_join(p->w[i].thread, NULL);
		p->w[i].running = false;
	}
}

/* A task may post another (to any loop), so round again until a whole
 * round finds nothing. */
void loop_pool_drain(struct loop_pool *p)
{
	bool ran = true;

	while (ran) {
		ran = false;
		for (unsigned i = 0; i < p->n; i++)
			ran = loop_worker_run_queue(&p->w[i]) || ran;
	}
}

/* What is still queued is dropped, not run (loop_pool_drain runs it):
 * what loop_pool_call allocated is freed, a posted task is its owner's. */
void loop_pool_free(struct loop_pool *p)
{
	if (!p)
		return;
	loop_pool_stop(p);
	for (unsigned i = 0; p->w && i < p->n; i++) {
		struct loop_worker *w = &p->w[i];
		for (struct loop_task *t = w->head, *next; t; t = next) {
			next = t->next;
			if (t->fn == loop_call_run)
				free(t->arg);
		}
		if (w->wake)
			event_free(w->wake);
		if (w->base)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->lock);
	}
	free(p->w);
	free(p);
}
