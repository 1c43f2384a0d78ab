/*
 * prepaid_store.c — the prepaid engine: a few threads, each with its own
 * store connection, doing the reservations, settles and releases the sip
 * workers hand them (decision 0037), and sweeping reservations that a dead
 * process left open (billing_reservations_expire, bounded per sweep).
 *
 * The workers never wait on the store: a job is queued under the engine's
 * lock (bounded: a full queue refuses the call 503 at once) and a reserve's
 * answer goes back to the worker that asked with loop_pool_post, the job
 * itself carrying the loop task so that handing it over cannot fail.  The
 * answers out are kept on a list until their worker takes them: when the
 * pool stopped first (shutdown), the engine releases what they reserved.
 *
 * Lock: e->mu guards the queue, the answers-out list and stopping.
 */
#include "sip/prepaid.h"
#include "sip/proxy_private.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define PP_THREADS_MAX 16
#define PP_QUEUE_MAX 10000
#define PP_SWEEP_LIMIT 200 /* reservations expired per sweep */

struct sip_prepaid_engine {
	struct sip_prepaid_opts o;
	struct sip_proxy *p;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Queued: reserves (a call waits on each) before settles and
	 * releases (nobody does), so a burst of call ends never delays an
	 * INVITE. */
	struct pp_queue {
		struct sip_prepaid_job *head, *tail;
		size_t n;
	} urgent, later;
	struct sip_prepaid_job *out; /* answered, not yet taken by a worker */
	bool stopping;
	int64_t next_sweep_ms;
	pthread_t threads[PP_THREADS_MAX];
	unsigned nthreads;
	struct metric *m_latency;
	struct metric_family *m_jobs;
};

static atomic_long pp_open; /* reservations held by this process's calls */

void sip_prepaid_open_add(int64_t n)
{
	atomic_fetch_add(&pp_open, n);
}

static int64_t pp_open_read(void *arg)
{
	(void)arg;
	return atomic_load(&pp_open);
}

void sip_prepaid_count_refusal(const char *reason)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_sip_prepaid_refusals_total",
	    "Prepaid calls refused before routing, by reason: no_rate, no_deck, no_party, "
	    "currency_mismatch, insufficient_funds, timeout (the store did not answer in time), "
	    "overload (queue full), store_error.",
	    "reason");

	if (f)
		metric_inc(metric_get(f, reason));
}

void sip_prepaid_job_free(struct sip_prepaid_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->nrsv; i++)
		free(j->rsv[i]);
	free(j->rsv);
	free(j);
}

/* ----------------------------------------------------------- the work */

/* The amount wanted, or when it is not covered what is left (at least
 * j->at_least): a call may use all its balance buys, and parallel calls
 * never hold more than there is (billing_reserve's conditional UPDATE). */
static int pp_reserve(struct sip_prepaid_engine *e, struct store_conn *c, struct sip_prepaid_job *j)
{
	struct billing_reservation r = {0};
	struct billing_balance b;
	int rc;

	snprintf(r.customer_id, sizeof(r.customer_id), "%s", j->customer_id);
	snprintf(r.reference_type, sizeof(r.reference_type), "cdr");
	snprintf(r.reference_id, sizeof(r.reference_id), "%s", j->cdr_id);
	r.amount = j->amount;
	rc = billing_reserve(c, &r, e->o.ttl_ms);
	/* Less than the quantum is left: take what there is, once; a parallel
	 * call taking it first makes this one EFUNDS again. */
	if (rc == BILLING_LEDGER_EFUNDS &&
	    billing_balance_get(c, &e->o.ledger, j->customer_id, &b) == 0 &&
	    b.available >= j->at_least && b.available > 0 && b.available < j->amount) {
		r.amount = b.available;
		rc = billing_reserve(c, &r, e->o.ttl_ms);
	}
	if (rc == 0) {
		snprintf(j->rsv_id, sizeof(j->rsv_id), "%s", r.id);
		j->reserved = r.amount;
	}
	return rc;
}

/* The exact cost on the first reservation (its charge keyed cdr:<id>),
 * the others released; failures are logged: the reservations expire and
 * the billing role charges the CDR by the same key. */
static void pp_settle(struct sip_prepaid_engine *e, struct store_conn *c, struct sip_prepaid_job *j)
{
	struct billing_entry ent;
	bool replayed;

	for (size_t i = 0; i < j->nrsv; i++) {
		int rc =
		    i == 0 && j->op == SIP_PP_SETTLE
			? billing_reservation_settle(c, &e->o.ledger, j->rsv[0],
						     BILLING_CALL_CHARGE, j->cost, &ent, &replayed)
			: billing_reservation_release(c, j->rsv[i]);
		if (rc < 0)
			log_warn("sip", "prepaid: %s of %s (call %s) failed: %s; it expires",
				 i == 0 && j->op == SIP_PP_SETTLE ? "settle" : "release", j->rsv[i],
				 j->call_id, billing_ledger_strerror(rc));
	}
}

static void pp_release_one(struct store_conn *c, const char *id)
{
	int rc = billing_reservation_release(c, id);

	if (rc < 0)
		log_warn("sip", "prepaid: release of %s failed: %s; it expires", id,
			 billing_ledger_strerror(rc));
}

/* ------------------------------------------------------------ answers */

/* A reserve's answer to its worker, kept on the answers-out list until it
 * is taken; after stopping, nobody will take it: released here. */
static void pp_answer(struct sip_prepaid_engine *e, struct store_conn *c, struct sip_prepaid_job *j)
{
	pthread_mutex_lock(&e->mu);
	bool gone = e->stopping; /* set once the pool is freed */
	if (!gone) {
		j->prev = NULL;
		j->next = e->out;
		if (e->out)
			e->out->prev = j;
		e->out = j;
	}
	pthread_mutex_unlock(&e->mu);
	if (gone) {
		if (j->rc == 0)
			pp_release_one(c, j->rsv_id);
		sip_prepaid_job_free(j);
		return;
	}
	j->task.fn = sip_prepaid_reply;
	j->task.arg = j;
	loop_pool_post(e->p->pool, j->worker, &j->task);
}

void sip_prepaid_engine_replied(struct sip_prepaid_engine *e, struct sip_prepaid_job *j)
{
	pthread_mutex_lock(&e->mu);
	if (j->prev)
		j->prev->next = j->next;
	else
		e->out = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->next = j->prev = NULL;
	pthread_mutex_unlock(&e->mu);
	metric_observe(e->m_latency, (double)(time_mono_us() - j->posted_us) / 1e6);
}

/* ------------------------------------------------------------ threads */

static void pp_run(struct sip_prepaid_engine *e, struct store_conn *c, struct sip_prepaid_job *j)
{
	const char *what = j->op == SIP_PP_RESERVE  ? "reserve"
			   : j->op == SIP_PP_SETTLE ? "settle"
						    : "release";

	metric_inc(metric_get(e->m_jobs, what));
	if (j->op != SIP_PP_RESERVE) {
		pp_settle(e, c, j);
		sip_prepaid_job_free(j);
		return;
	}
	j->rc = c ? pp_reserve(e, c, j) : STORE_EDOWN;
	pp_answer(e, c, j);
}

/* Up to PP_SWEEP_LIMIT expired reservations, by one thread at a time,
 * every sweep_interval_ms; any process may sweep any customer's (the
 * conditional UPDATE ends each once). */
static void pp_sweep(struct sip_prepaid_engine *e, struct store_conn *c)
{
	int n = c ? billing_reservations_expire(c, time_wall_ms(), PP_SWEEP_LIMIT) : 0;

	if (n > 0)
		log_info("sip", "prepaid: %d expired reservations released", n);
	else if (n < 0)
		log_warn("sip", "prepaid: expiry sweep failed: %s", billing_ledger_strerror(n));
}

/* Waits for a job, or for the next sweep when it is this thread's turn. */
static struct sip_prepaid_job *pp_next(struct sip_prepaid_engine *e, bool *sweep)
{
	struct sip_prepaid_job *j = NULL;

	pthread_mutex_lock(&e->mu);
	while (!e->urgent.head && !e->later.head && !e->stopping) {
		int64_t now = time_mono_ms();
		if (now >= e->next_sweep_ms) {
			e->next_sweep_ms = now + e->o.sweep_interval_ms;
			*sweep = true;
			break;
		}
		int64_t wake = time_wall_ms() + (e->next_sweep_ms - now);
		struct timespec ts = {(time_t)(wake / 1000), (long)(wake % 1000) * 1000000};
		pthread_cond_timedwait(&e->cv, &e->mu, &ts);
	}
	struct pp_queue *q = e->urgent.head ? &e->urgent : &e->later;
	if (q->head) {
		j = q->head;
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	pthread_mutex_unlock(&e->mu);
	return j;
}

static void *pp_thread(void *arg)
{
	struct sip_prepaid_engine *e = arg;

	for (;;) {
		bool sweep = false;
		struct sip_prepaid_job *j = pp_next(e, &sweep);
		struct store_conn *c = store_conn(e->o.store);
		if (sweep)
			pp_sweep(e, c);
		if (j)
			pp_run(e, c, j);
		else if (!sweep)
			break; /* stopping, and the queue is empty */
	}
	store_conn_release(e->o.store);
	return NULL;
}

int sip_prepaid_engine_submit(struct sip_prepaid_engine *e, struct sip_prepaid_job *j)
{
	int rc = 0;

	j->next = NULL;
	j->posted_us = time_mono_us();
	pthread_mutex_lock(&e->mu);
	struct pp_queue *q = j->op == SIP_PP_RESERVE ? &e->urgent : &e->later;
	if (q == &e->urgent && q->n >= PP_QUEUE_MAX) {
		rc = -EAGAIN; /* settles and releases always queue: money is owed */
	} else {
		if (q->tail)
			q->tail->next = j;
		else
			q->head = j;
		q->tail = j;
		q->n++;
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* ---------------------------------------------------------- lifecycle */

static void pp_metrics(struct sip_prepaid_engine *e)
{
	static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
					0.05,	0.1,   0.25,  0.5,   1,	   2.5};
	struct metrics *r = metrics_default();

	e->m_latency = metric_get(metrics_histogram(
	    r, "warp_sip_prepaid_authorization_seconds",
	    "Time from an INVITE's (or a call's next quantum's) reservation request to its "
	    "answer on the call's worker.",
	    NULL, bounds, sizeof(bounds) / sizeof(bounds[0])));
	e->m_jobs = metrics_counter(r, "warp_sip_prepaid_jobs_total",
				    "Prepaid store work done: reserve, settle, release.", "op");
	metrics_gauge_fn(r, "warp_sip_prepaid_reservations",
			 "Reservations this process's prepaid calls hold open.", pp_open_read,
			 NULL);
}

struct sip_prepaid_engine *sip_prepaid_engine_new(const struct sip_prepaid_opts *o,
						  struct sip_proxy *p, char *err, size_t errlen)
{
	struct sip_prepaid_engine *e = calloc(1, sizeof(*e));

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->o = *o;
	e->p = p;
	/* SQLite has one writer at a time: a second thread would only wait
	 * for the first in SQLite's busy handler, which sleeps milliseconds. */
	if (e->o.threads == 0)
		e->o.threads = store_kind(o->store) == STORE_SQLITE ? 1 : 2;
	if (e->o.threads > PP_THREADS_MAX)
		e->o.threads = PP_THREADS_MAX;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	e->next_sweep_ms = time_mono_ms() + e->o.sweep_interval_ms;
	pp_metrics(e);
	for (unsigned i = 0; i < e->o.threads; i++) {
		if (pthread_create(&e->threads[i], NULL, pp_thread, e) != 0) {
			snprintf(err, errlen, "cannot start the prepaid threads");
			sip_prepaid_engine_free(e);
			return NULL;
		}
		e->nthreads++;
	}
	return e;
}

const struct sip_prepaid_opts *sip_prepaid_engine_opts(const struct sip_prepaid_engine *e)
{
	return &e->o;
}

struct sip_proxy *sip_prepaid_engine_proxy(const struct sip_prepaid_engine *e)
{
	return e->p;
}

void sip_prepaid_engine_free(struct sip_prepaid_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	for (unsigned i = 0; i < e->nthreads; i++)
		pthread_join(e->threads[i], NULL);
	/* Answers the stopped pool dropped: what they hold goes back. */
	struct store_conn *c = e->out ? store_conn(e->o.store) : NULL;
	while (e->out) {
		struct sip_prepaid_job *j = e->out;
		e->out = j->next;
		if (j->rc == 0 && c)
			pp_release_one(c, j->rsv_id);
		sip_prepaid_job_free(j);
	}
	if (c)
		store_conn_release(e->o.store);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
