/*
 * writes.c — the upstream thread's writes to the store, queued to a
 * batching writer instead of run on this thread (decision 0029): a
 * message's "submitted" row, its requeue, its final state with its group's
 * event (final.c), the receipts the ESMEs took.  Each write is a group of
 * statements that commits all or nothing; the writer commits many groups
 * in one transaction, so the upstream thread never waits on the store per
 * message, and the store sees one commit for many messages.
 *
 * Which writer: on SQLite the session thread's (s->insert, submit.c), so
 * that one thread writes the messages table — SQLite has one write lock,
 * and two writer threads would queue on it through the busy timeout's
 * sleeps; its FIFO also keeps a message's insert before its updates.  On
 * PostgreSQL SMSC_WRITE_LANES writers of this thread's own, each with its
 * connection, so that their round trips run side by side and beside the
 * session's inserts; a message's writes all take one lane.  Either way a
 * message's writes are one FIFO: its "submitted" row is committed before
 * (or with) its final state, so a receipt matched in memory (idtable.c)
 * may be queued at once.
 *
 * Writes not yet committed are lost with the process (kill -9): a lost
 * "submitted" row leaves the message leased until its lease runs out, and
 * it is then sent again.  So the writers are kept close behind: past
 * WRITES_BEHIND writes queued, the dispatcher leases nothing more until
 * they catch up (smsc_writes_behind).
 *
 * A write that wants its outcome back (a final's event, a receipt's
 * deliver_sm answered only once its state is durable) carries a settle
 * record: the writer's callback puts it on o->settled (the one list shared
 * between the threads, under o->settled_lock) and wakes the upstream
 * thread, which takes the list (smsc_writes_settle; its tick takes it too).
 *
 * A full queue (the store far behind) runs the write here, synchronously:
 * slower, never lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define WRITES_QUEUE 65536
#define WRITES_ROWS 1000
/* PostgreSQL lanes: classic group commit, what came during the previous
 * commit (decision 0042; a fixed 10 ms wait before, decision 0029). */
#define WRITES_DELAY_MS 0
/* Writes queued and not committed past which nothing more is leased: a
 * second or so of work for the writers, far inside the shortest lease. */
#define WRITES_BEHIND 4000

int smsc_writes_open(struct smsc_out *o)
{
	pthread_mutex_init(&o->settled_lock, NULL);
	atomic_init(&o->writes_queued, 0);
	if (store_kind(o->store) == STORE_SQLITE && o->s->insert) {
		o->writes[0] = o->s->insert;
		o->nwrites = 1;
		return 0;
	}
	o->writes_own = true;
	o->nwrites = store_kind(o->store) == STORE_POSTGRES ? SMSC_WRITE_LANES : 1;
	for (size_t i = 0; i < o->nwrites; i++)
		if (!(o->writes[i] = store_batch_new(o->store, "SELECT 1", 0, WRITES_QUEUE,
						     WRITES_ROWS, WRITES_DELAY_MS)))
			return -ENOMEM;
	return 0;
}

/* Everything queued is committed and settled (the upstream side stops). */
void smsc_writes_close(struct smsc_out *o)
{
	for (size_t i = 0; i < o->nwrites; i++)
		if (o->writes[i])
			store_batch_flush(o->writes[i]);
	smsc_writes_settle(o);
	for (size_t i = 0; o->writes_own && i < o->nwrites; i++)
		store_batch_free(o->writes[i]);
	memset(o->writes, 0, sizeof(o->writes));
	o->nwrites = 0;
	pthread_mutex_destroy(&o->settled_lock);
}

bool smsc_writes_behind(struct smsc_out *o)
{
	return atomic_load(&o->writes_queued) >= WRITES_BEHIND;
}

int smsc_writes_run(struct store_conn *c, const struct store_batch_stmt *st, size_t n,
		    int64_t *changes)
{
	int rc = c ? store_tx_begin(c) : STORE_EDOWN;

	for (size_t i = 0; i < n && rc == 0; i++) {
		struct store_res *r = NULL;
		rc = store_exec(c, st[i].sql, st[i].params, st[i].nparams, changes ? &r : NULL);
		if (rc == 0 && changes)
			changes[i] = store_res_changes(r);
		store_res_free(r);
	}
	if (rc == 0)
		rc = store_tx_commit(c);
	if (rc < 0 && c) {
		log_warn("smsc", "store: %s: %s", store_strerror(rc), store_conn_errmsg(c));
		store_tx_rollback(c);
	}
	return rc;
}

/* On the writer's thread (or this one, for a write run here). */
static void writes_counted(void *arg, int status)
{
	struct smsc_out *o = arg;

	(void)status; /* a failure is logged by the writer */
	atomic_fetch_sub(&o->writes_queued, 1);
}

/* On the upstream thread, soon after a commit: s->out is NULL once the
 * upstream side has stopped (smsc_stop_upstream), which runs on this
 * thread before any call queued after it. */
static void writes_wake(void *arg)
{
	struct smsc *s = arg;

	if (s->out)
		smsc_writes_settle(s->out);
}

/* t is a list (through next) when one write carried many moves (sent.c),
 * newest first like o->settled. */
static void writes_done(void *arg, int status)
{
	struct smsc_settle *t = arg, *last = t;
	struct smsc_out *o = t->o;
	bool first;

	atomic_fetch_sub(&o->writes_queued, 1);
	for (;; last = last->next) {
		last->status = status;
		if (!last->next)
			break;
	}
	pthread_mutex_lock(&o->settled_lock);
	first = o->settled == NULL;
	last->next = o->settled;
	o->settled = t;
	pthread_mutex_unlock(&o->settled_lock);
	/* Wake the upstream thread once per batch rather than wait for its
	 * tick: a receipt's deliver_sm is answered right after its commit. */
	if (first)
		loop_pool_call(o->s->pool, 1, writes_wake, o->s);
}

/* A message's writes all go to one lane, so they commit in the order they
 * were queued; the parts of a long message all to lane 0, so that two
 * lanes never lock one group's rows (final.c) against each other. */
size_t smsc_writes_lane(const struct smsc_out *o, const char *id, int parts)
{
	if (!id || parts != 1 || o->nwrites < 2)
		return 0;
	return smsc_ids_hash("", id) % o->nwrites;
}

int smsc_writes_add(struct smsc_out *o, const char *id, int parts,
		    const struct store_batch_stmt *st, size_t n, struct smsc_settle *t)
{
	return smsc_writes_add_lane(o, smsc_writes_lane(o, id, parts), st, n, t);
}

int smsc_writes_add_lane(struct smsc_out *o, size_t i, const struct store_batch_stmt *st, size_t n,
			 struct smsc_settle *t)
{
	struct store_batch *b = i < o->nwrites ? o->writes[i] : NULL;
	int rc = -EPIPE;

	atomic_fetch_add(&o->writes_queued, 1);
	if (b)
		rc = store_batch_add_group(b, st, n, t ? writes_done : writes_counted,
					   t ? (void *)t : (void *)o);
	if (rc == 0)
		return 0;
	rc = smsc_writes_run(store_conn(o->store), st, n, NULL);
	if (t)
		writes_done(t, rc);
	else
		writes_counted(o, rc);
	return rc;
}

/* A plan PostgreSQL makes once for a statement prepared on a connection
 * (its generic plan, from the sixth run on) is kept, and one made while
 * messages was small finds the rows of an id list or an array by scanning
 * the whole table — at every run, as the table grows (measured: 400 ms for
 * 56 rows of 5,000; the receipts' clearing UPDATE of 512 ids spent 90 us a
 * row).  With sequential scans off for these statements alone (local to
 * the transaction, set back after them) the plan reads the rows by their
 * primary key whatever the table's size when it was made (decision 0055). */
#define SEQSCAN_OFF "SELECT set_config('enable_seqscan', 'off', true)"
#define SEQSCAN_ON "SELECT set_config('enable_seqscan', 'on', true)"
#define BY_KEY_MAX 4

int smsc_writes_add_by_key(struct smsc_out *o, size_t lane, const struct store_batch_stmt *st,
			   size_t n, struct smsc_settle *t)
{
	struct store_batch_stmt all[BY_KEY_MAX + 2];

	if (store_kind(o->store) != STORE_POSTGRES || n > BY_KEY_MAX)
		return smsc_writes_add_lane(o, lane, st, n, t);
	all[0] = (struct store_batch_stmt){SEQSCAN_OFF, NULL, 0};
	memcpy(all + 1, st, n * sizeof(*st));
	all[n + 1] = (struct store_batch_stmt){SEQSCAN_ON, NULL, 0};
	return smsc_writes_add_lane(o, lane, all, n + 2, t);
}

/* A receipt's deliver_sm, answered now that its state is durable (or
 * ESME_RX_T_APPN when it could not be written: the upstream resends). */
static void writes_answer(struct smsc_out *o, const struct smsc_settle *t)
{
	struct smsc_upbind *b = smsc_bind_ref_find(o, &t->bind);

	if (b)
		smsc_upbind_respond(b, t->command_id, t->sequence_number,
				    t->status == 0 ? SMPP_ESME_ROK : SMSC_RX_T_APPN);
}

/* On the upstream thread: what the writer committed since the last call. */
void smsc_writes_settle(struct smsc_out *o)
{
	struct smsc_settle *t, *fifo = NULL, *chunk[SMSC_SETTLE_CHUNK];
	size_t n = 0;

	pthread_mutex_lock(&o->settled_lock);
	t = o->settled;
	o->settled = NULL;
	pthread_mutex_unlock(&o->settled_lock);
	while (t) { /* pushed newest first: answer in arrival order */
		struct smsc_settle *next = t->next;
		t->next = fifo;
		fifo = t;
		t = next;
	}
	for (t = fifo; t; t = t->next) {
		if (t->answer)
			writes_answer(o, t);
		if (t->status == 0 && t->evt[0])
			chunk[n++] = t;
		if (n == SMSC_SETTLE_CHUNK || (n > 0 && !t->next)) {
			smsc_final_settle(o, chunk, n);
			n = 0;
		}
	}
	while (fifo) {
		t = fifo->next;
		free(fifo);
		fifo = t;
	}
}
