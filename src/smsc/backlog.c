/*
 * backlog.c — a connector's backlog: messages leased ahead of its window,
 * oldest first, waiting for a free slot (decision 0042).  The dispatcher
 * (dispatch.c) fills it from each lease and drains it into the binds, at
 * each submit_sm_resp and at its tick; this file is the list and how much
 * the next lease should bring.  Upstream thread only.
 */
#include "smsc/smsc_private.h"

void smsc_backlog_push(struct smsc_backlog *q, struct smsc_out_msg *m)
{
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->n++;
}

void smsc_backlog_unpop(struct smsc_backlog *q, struct smsc_out_msg *m)
{
	m->next = q->head;
	q->head = m;
	if (!q->tail)
		q->tail = m;
	q->n++;
}

struct smsc_out_msg *smsc_backlog_pop(struct smsc_backlog *q)
{
	struct smsc_out_msg *m = q->head;

	if (m) {
		q->head = m->next;
		if (!q->head)
			q->tail = NULL;
		m->next = NULL;
		q->n--;
	}
	return m;
}

/* What c should hold ahead — its free window slots plus a backlog of twice
 * what it sent over the last tick (at least its windows' worth, at most
 * what its throughput takes in two ticks, at most SMSC_BACKLOG_MAX) — less
 * what its backlog already holds.  Twice the last tick's: a backlog that
 * ran dry within a tick doubles at the next, until it covers a tick. */
unsigned smsc_backlog_want(const struct smsc_conn *c, int64_t tick_ms)
{
	unsigned bound = 0, room = 0, want;

	for (unsigned k = 0; k < c->cfg.binds; k++)
		if (c->binds[k] && c->binds[k]->state == SMSC_UP_BOUND) {
			bound++;
			room += smsc_upbind_room(c->binds[k]);
		}
	if (bound == 0)
		return 0;
	want = 2 * c->backlog.sent_last;
	if (want < c->cfg.window * bound)
		want = c->cfg.window * bound;
	if (c->cfg.throughput > 0) {
		int64_t cap = c->cfg.throughput * bound * 2 * tick_ms / 1000 + 1;
		if (want > cap)
			want = (unsigned)cap;
	}
	if (want > SMSC_BACKLOG_MAX)
		want = SMSC_BACKLOG_MAX;
	want += room;
	return want > c->backlog.n ? want - c->backlog.n : 0;
}
