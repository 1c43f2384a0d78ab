/*
 * role_pipe.c — the billing role's backlog on SQLite with two threads
 * (decision 0052): a reader with a connection of its own takes the next
 * pending CDRs after a cursor and prices them while the role's thread
 * writes the batch before — its ledger postings and rating rows, in one
 * transaction.  The reader sees the batch being written as still pending
 * (WAL readers see the last commit) and passes over it by the cursor; the
 * writer takes only the rows still as they were read (role_cdr_commit), so
 * a re-rating asked for meanwhile is rated by a later pass, never from a
 * stale read.  One batch waits between them at most.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "role_private.h"

struct pipe {
	const struct billing_role_opts *o;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	struct role_cdr_batch *slot; /* read and priced, waiting for the writer */
	bool done;		     /* the reader has stopped */
	bool stop;		     /* the writer asks the reader to stop */
	int rc;			     /* the reader's */
};

/* Hands b to the writer once the slot is free; false when told to stop. */
static bool pipe_put(struct pipe *p, struct role_cdr_batch *b)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	while (p->slot && !p->stop)
		pthread_cond_wait(&p->cond, &p->lock);
	ok = !p->stop;
	if (ok)
		p->slot = b;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void *pipe_reader(void *arg)
{
	struct pipe *p = arg;
	struct store_conn *c = store_conn(p->o->store);
	int64_t cursor[2] = {-1, 0};
	bool full = true;
	int rc = c ? store_exec(c, ROLE_SQLITE_CACHE, NULL, 0, NULL) : STORE_EDOWN;

	while (rc == 0 && full) {
		const struct billing_rating *r = snapshot_acquire(p->o->rating);
		int64_t version = snapshot_version(p->o->rating);
		struct role_cdr_batch *b = NULL;

		rc = r ? role_cdr_read(c, r, version, p->o->batch, cursor, &b, &full) : -EAGAIN;
		if (r)
			snapshot_release(p->o->rating, r);
		if (b && !pipe_put(p, b)) {
			role_cdr_batch_free(b);
			break;
		}
	}
	store_conn_release(p->o->store);
	pthread_mutex_lock(&p->lock);
	p->done = true;
	p->rc = rc;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* The next batch for the writer; NULL once the reader is done. */
static struct role_cdr_batch *pipe_take(struct pipe *p)
{
	struct role_cdr_batch *b;

	pthread_mutex_lock(&p->lock);
	while (!p->slot && !p->done)
		pthread_cond_wait(&p->cond, &p->lock);
	b = p->slot;
	p->slot = NULL;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return b;
}

static void pipe_stop(struct pipe *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int role_pipe_drain(const struct billing_role_opts *o, struct store_conn *c, bool (*stop)(void *),
		    void *arg, int64_t *written)
{
	struct pipe p = {.o = o};
	struct role_cdr_batch *b;
	pthread_t t;
	int rc = 0;

	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	if (pthread_create(&t, NULL, pipe_reader, &p) != 0) {
		rc = -EAGAIN;
		goto out;
	}
	while ((b = pipe_take(&p))) {
		struct role_pass cdr = {0}, msg = {0};

		rc = rc || stop(arg) ? rc : role_cdr_commit(c, o, b, &cdr);
		role_cdr_batch_free(b);
		if (rc || stop(arg))
			pipe_stop(&p);
		cdr.full = true;
		role_pass_metrics(&cdr, &msg);
		*written += cdr.rated + cdr.quarantined;
	}
	pthread_join(t, NULL);
	rc = rc ? rc : p.rc;
out:
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	return rc;
}
