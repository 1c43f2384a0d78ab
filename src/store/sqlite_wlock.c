/*
 * sqlite_wlock.c — the first-come, first-served write lock that every
 * connection of one SQLite store takes before it writes (why: the header
 * of sqlite_private.h).
 *
 * Each waiter queues a node on its own stack with its own condition
 * variable; release hands the lock to the oldest node (held stays true),
 * so the releasing thread cannot take it back ahead of the queue.  A
 * waiter that times out leaves the queue; if the lock was handed to it
 * meanwhile, it keeps it (granted wins over the timeout).
 */
#include "store/sqlite_private.h"

#include <errno.h>
#include <time.h>

struct sqlite_wlock_waiter {
	struct sqlite_wlock_waiter *next;
	pthread_cond_t cv;
	bool granted;
};

void sqlite_wlock_init(struct sqlite_wlock *l)
{
	pthread_mutex_init(&l->mu, NULL);
	l->held = false;
	l->head = l->tail = NULL;
}

void sqlite_wlock_fini(struct sqlite_wlock *l)
{
	pthread_mutex_destroy(&l->mu);
}

static void wlock_unlink(struct sqlite_wlock *l, struct sqlite_wlock_waiter *w)
{
	struct sqlite_wlock_waiter **pp = &l->head, *prev = NULL;

	while (*pp && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = w->next;
	if (l->tail == w)
		l->tail = prev;
}

void sqlite_deadline(struct timespec *ts, int64_t timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(timeout_ms / 1000);
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int sqlite_wlock_take(struct sqlite_wlock *l, int64_t timeout_ms)
{
	struct sqlite_wlock_waiter w = {.next = NULL, .granted = false};
	pthread_condattr_t attr;
	struct timespec ts;
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	if (!l->held) {
		l->held = true;
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &attr);
	pthread_condattr_destroy(&attr);
	if (l->tail)
		l->tail->next = &w;
	else
		l->head = &w;
	l->tail = &w;
	sqlite_deadline(&ts, timeout_ms);
	while (!w.granted && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w.cv, &l->mu, &ts);
	if (!w.granted)
		wlock_unlink(l, &w);
	pthread_mutex_unlock(&l->mu);
	pthread_cond_destroy(&w.cv);
	return w.granted ? 0 : -EBUSY;
}

void sqlite_wlock_give(struct sqlite_wlock *l)
{
	struct sqlite_wlock_waiter *w;

	pthread_mutex_lock(&l->mu);
	w = l->head;
	if (w) {
		l->head = w->next;
		if (!l->head)
			l->tail = NULL;
		w->granted = true; /* held stays true: the lock passes to w */
		pthread_cond_signal(&w->cv);
	} else {
		l->held = false;
	}
	pthread_mutex_unlock(&l->mu);
}
