/*
 * jwks_fetcher.c — the auth module's one fetcher thread.
 *
 * Every read of a JWKS file and every transfer from a JWKS URL after
 * startup happens here, so an issuer that answers slowly holds this thread
 * only (issue 8 §6): HTTP workers ask for a fetch (jwks_fetcher_ask, as
 * jwks_policy.c allows), go on with the set they have, or wait for the end
 * of the fetch on a condition variable for at most [auth] jwks_wait.  One
 * fetch at a time; a request asked while one is under way is not queued (the
 * policy does not ask then).  Stopping sets the cancel flag the transfer's
 * progress callback reads, wakes every waiter and joins the thread.
 */
#include "auth/auth_private.h"

#include <errno.h>
#include <time.h>

static void *jwks_fetcher_main(void *arg)
{
	struct jwks *j = arg;
	struct jwks_fetcher *f = &j->fetcher;

	log_context_set("jwks");
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->want && !f->stop)
			pthread_cond_wait(&f->wake, &f->lock);
		if (f->stop)
			break;
		int64_t now_ms = f->want_now_ms;
		f->want = false;
		f->in_flight = true;
		pthread_mutex_unlock(&f->lock);
		int rc = jwks_load(j, now_ms);
		if (rc != -ECANCELED)
			metric_inc(rc == 0 ? f->m_fetch_ok : f->m_fetch_failed);
		pthread_mutex_lock(&f->lock);
		f->in_flight = false;
		f->last_rc = rc;
		f->completed++;
		pthread_cond_broadcast(&f->done);
	}
	pthread_mutex_unlock(&f->lock);
	log_context_set(NULL);
	return NULL;
}

/* `done` runs on CLOCK_MONOTONIC: a wall-clock step must not stretch or
 * cut a request's wait. */
static int jwks_fetcher_sync_init(struct jwks_fetcher *f)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&f->done, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -rc;
	pthread_cond_init(&f->wake, NULL);
	pthread_mutex_init(&f->lock, NULL);
	return 0;
}

/* Made once here, so the fetcher and a waiter each pay one atomic add. */
static void jwks_fetcher_metrics_init(struct jwks_fetcher *f)
{
	struct metrics *m = metrics_default();
	struct metric_family *fetches = metrics_counter(
	    m, "warp_auth_jwks_fetches_total",
	    "JWKS reads and fetches by the auth fetcher thread, by result: ok or failed.",
	    "result");
	struct metric_family *waits = metrics_counter(
	    m, "warp_auth_jwks_waits_total",
	    "Requests that waited for a JWKS fetch, by result: arrived or timeout (jwks_wait).",
	    "result");

	f->m_fetch_ok = fetches ? metric_get(fetches, "ok") : NULL;
	f->m_fetch_failed = fetches ? metric_get(fetches, "failed") : NULL;
	f->m_wait_arrived = waits ? metric_get(waits, "arrived") : NULL;
	f->m_wait_timeout = waits ? metric_get(waits, "timeout") : NULL;
}

int jwks_fetcher_start(struct jwks *j)
{
	struct jwks_fetcher *f = &j->fetcher;
	int rc = jwks_fetcher_sync_init(f);

	if (rc < 0)
		return rc;
	jwks_fetcher_metrics_init(f);
	atomic_store(&f->cancel, false);
	rc = pthread_create(&f->thread, NULL, jwks_fetcher_main, j);
	if (rc != 0) {
		pthread_cond_destroy(&f->done);
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
		return -rc;
	}
	f->running = true;
	return 0;
}

void jwks_fetcher_stop(struct jwks *j)
{
	struct jwks_fetcher *f = &j->fetcher;

	if (!f->running)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	atomic_store(&f->cancel, true);
	pthread_cond_signal(&f->wake);
	pthread_cond_broadcast(&f->done);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	f->running = false;
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
}

void jwks_fetcher_ask(struct jwks *j, int64_t now_ms)
{
	struct jwks_fetcher *f = &j->fetcher;

	f->want = true;
	f->want_now_ms = now_ms;
	f->fetched = true;
	f->last_fetch_ms = now_ms;
	atomic_fetch_add(&j->fetches, 1);
	pthread_cond_signal(&f->wake);
}

bool jwks_fetcher_wait(struct jwks *j, int64_t wait_ms)
{
	struct jwks_fetcher *f = &j->fetcher;
	uint64_t start = f->completed;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(wait_ms / 1000);
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (f->completed == start && !f->stop)
		if (pthread_cond_timedwait(&f->done, &f->lock, &ts) == ETIMEDOUT)
			break;
	metric_inc(f->completed != start ? f->m_wait_arrived : f->m_wait_timeout);
	return f->completed != start;
}
