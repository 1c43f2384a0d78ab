/*
 * reg_store.c — the registrar's thread: each REGISTER's bindings applied to
 * the store in one transaction (RFC 3261 §10.3 steps 6-8), the answer with
 * the address of record's bindings posted back to the worker that holds
 * the REGISTER's transaction.
 *
 * A binding matches a contact by (+sip.instance, reg-id) when the contact
 * has an instance (RFC 5626 §6), else by its URI.  Within one Call-ID a
 * REGISTER whose CSeq is not above the binding's is out of order and
 * changes nothing (500, §10.3 step 7).  A refresh that changes nothing but
 * the expiry is not written while more than half of the granted time is
 * left in the store (migration 0021 says how that is read).  One thread:
 * REGISTERs are few next to calls, and one writer keeps a UA's refreshes in
 * order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"

#define REG_QUEUE_MAX 1024
#define REG_CONTACTS_DEFAULT 10
#define REG_ROWS_MAX 64 /* bindings read per AOR (the cap is far below) */
/* a binding is live until expires_at + expires_s / 2, in SQL */
#define REG_LIVE "expires_at + expires_s * 500"
/* The bindings table is read again from the store this often: other nodes'
 * bindings reach this node's calls within it (decision 0047). */
#define REG_TABLE_RELOAD_MS 2000
/* REGISTERs per AOR (reg_throttle.c): 20 at once, then 2 a second — a
 * refresh spends 2, a UA re-registering every 20 s behind NAT 0.1 a second. */
#define REG_THROTTLE_RATE 2
#define REG_THROTTLE_BURST 20
/* Closed connections waiting for the thread; more are logged and dropped
 * (their bindings then live until they expire). */
#define REG_LOST_MAX 1024

struct sip_registrar {
	struct sip_proxy *p;
	pthread_t thread;
	bool started, closed;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct sip_reg_job *head, *tail; /* queued (singly linked by next) */
	size_t queued;
	struct sip_reg_job *outstanding;   /* queued or answered, not done (prev/next) */
	struct sip_reg_table *table;	   /* live bindings for calls (reg_table.c) */
	struct sip_reg_throttle *throttle; /* REGISTERs per AOR (reg_throttle.c) */
	struct reg_ping_batch *batch;	   /* the last keep-alive round's pings */
	int64_t pinged_ms;		   /* monotonic: that round */
	struct metric *m_throttled, *m_dead, *m_closed;
	int64_t reloaded_ms; /* monotonic: the table's last reload */
	/* TCP/TLS connections closed, their bindings still to remove, oldest
	 * first; each waits for the jobs submitted before it (a REGISTER that
	 * came on the connection before it closed binds first, then goes). */
	struct reg_lost {
		unsigned worker;
		uint64_t conn_id;
		uint64_t after; /* submitted when it closed */
	} lost[REG_LOST_MAX];
	size_t nlost;
	uint64_t submitted, processed; /* jobs */
};

struct reg_row {
	char id[ID_MAX];
	char contact[SIP_REG_URI_MAX];
	char instance[128];
	int64_t reg_id, q, cseq, expires_s, expires_at;
	char call_id[256];
	char received[NET_ADDR_STRLEN + 8];
	char transport[8];
};

/* ------------------------------------------------------------ the store */

static int reg_rows(struct store_conn *c, const struct sip_reg_job *j, struct reg_row *rows,
		    size_t *n)
{
	const struct store_param p[] = {store_p_text(j->trunk_id), store_p_text(j->aor)};
	struct store_res *r = NULL;
	int rc =
	    store_exec(c,
		       "SELECT id, contact, instance, reg_id, q, call_id, cseq, expires_s, "
		       "expires_at, received, transport FROM registrations WHERE trunk_id = $1 "
		       "AND aor = $2 ORDER BY created_at, id",
		       p, 2, &r);

	*n = 0;
	for (size_t i = 0; rc == 0 && i < store_res_rows(r) && i < REG_ROWS_MAX; i++) {
		struct reg_row *w = &rows[(*n)++];
		snprintf(w->id, sizeof(w->id), "%s", store_res_text(r, i, 0));
		snprintf(w->contact, sizeof(w->contact), "%s", store_res_text(r, i, 1));
		snprintf(w->instance, sizeof(w->instance), "%s", store_res_text(r, i, 2));
		w->reg_id = store_res_int(r, i, 3);
		w->q = store_res_int(r, i, 4);
		snprintf(w->call_id, sizeof(w->call_id), "%s", store_res_text(r, i, 5));
		w->cseq = store_res_int(r, i, 6);
		w->expires_s = store_res_int(r, i, 7);
		w->expires_at = store_res_int(r, i, 8);
		snprintf(w->received, sizeof(w->received), "%s", store_res_text(r, i, 9));
		snprintf(w->transport, sizeof(w->transport), "%s", store_res_text(r, i, 10));
	}
	store_res_free(r);
	return rc;
}

static struct reg_row *reg_match(struct reg_row *rows, size_t n, const struct sip_reg_contact *k)
{
	for (size_t i = 0; i < n; i++) {
		bool same =
		    k->instance[0]
			? strcmp(rows[i].instance, k->instance) == 0 && rows[i].reg_id == k->reg_id
			: rows[i].instance[0] == '\0' && strcmp(rows[i].contact, k->uri) == 0;
		if (same)
			return &rows[i];
	}
	return NULL;
}

/* §10.3 step 7: the same Call-ID with a CSeq not above the binding's. */
static bool reg_out_of_order(const struct sip_reg_job *j, const struct reg_row *row)
{
	return row && strcmp(row->call_id, j->call_id) == 0 && j->cseq <= row->cseq;
}

static int reg_delete(struct store_conn *c, const char *id)
{
	const struct store_param p[] = {store_p_text(id)};
	return store_exec(c, "DELETE FROM registrations WHERE id = $1", p, 1, NULL);
}

/* Nothing but the expiry would change, and the store still has more than
 * half the granted time: the refresh is not written. */
static bool reg_unchanged(const struct sip_reg_job *j, const struct reg_row *row,
			  const struct sip_reg_contact *k, int64_t now)
{
	return strcmp(row->contact, k->uri) == 0 && row->q == k->q &&
	       row->expires_s == k->expires_s && strcmp(row->received, j->received) == 0 &&
	       strcmp(row->transport, j->transport) == 0 &&
	       row->expires_at >= now + k->expires_s * 500;
}

static int reg_write(struct store_conn *c, const struct sip_reg_job *j,
		     const struct sip_reg_contact *k, const struct reg_row *row, int64_t now)
{
	char id[ID_MAX];

	if (row)
		snprintf(id, sizeof(id), "%s", row->id);
	else if (id_new("reg", id, sizeof(id)) < 0)
		return -EIO;
	const struct store_param p[] = {store_p_text(id),
					store_p_text(j->trunk_id),
					store_p_text(j->aor),
					store_p_text(k->uri),
					store_p_text(k->instance),
					store_p_int(k->reg_id),
					store_p_int(k->q),
					store_p_text(j->received),
					store_p_text(j->transport),
					store_p_text(j->call_id),
					store_p_int(j->cseq),
					store_p_int(k->expires_s),
					store_p_int(now + k->expires_s * 1000),
					store_p_int(now)};
	if (row)
		return store_exec(c,
				  "UPDATE registrations SET contact = $4, q = $7, received = $8, "
				  "transport = $9, call_id = $10, cseq = $11, expires_s = $12, "
				  "expires_at = $13, updated_at = $14 WHERE id = $1 AND "
				  "trunk_id = $2 AND aor = $3 AND instance = $5 AND reg_id = $6",
				  p, 14, NULL);
	return store_exec(
	    c,
	    "INSERT INTO registrations (id, trunk_id, aor, contact, instance, reg_id, "
	    "q, received, transport, call_id, cseq, expires_s, expires_at, "
	    "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
	    "$11, $12, $13, $14, $14)",
	    p, 14, NULL);
}

/* Applies j's contacts to rows; a SIP code (500: out of order) or 0. */
static int reg_apply(struct store_conn *c, struct sip_reg_job *j, struct reg_row *rows, size_t n,
		     int64_t now)
{
	int rc = 0;

	for (size_t i = 0; j->wildcard && i < n && rc == 0; i++)
		rc = reg_out_of_order(j, &rows[i]) ? 500 : reg_delete(c, rows[i].id);
	for (size_t i = 0; !j->wildcard && i < j->ncontacts && rc == 0; i++) {
		const struct sip_reg_contact *k = &j->contacts[i];
		struct reg_row *row = reg_match(rows, n, k);
		if (reg_out_of_order(j, row))
			rc = 500;
		else if (k->expires_s == 0)
			rc = row ? reg_delete(c, row->id) : 0;
		else if (!row || !reg_unchanged(j, row, k, now))
			rc = reg_write(c, j, k, row, now);
	}
	return rc;
}

/* Live bindings of j's AOR after the change, the dead ones deleted. */
static int reg_count_live(struct store_conn *c, const struct sip_reg_job *j, int64_t now,
			  int64_t *live)
{
	const struct store_param p[] = {store_p_text(j->trunk_id), store_p_text(j->aor),
					store_p_int(now)};
	struct store_res *r = NULL;
	int rc = store_exec(
	    c, "DELETE FROM registrations WHERE trunk_id = $1 AND aor = $2 AND " REG_LIVE " <= $3",
	    p, 3, NULL);

	if (rc == 0)
		rc = store_exec(
		    c, "SELECT COUNT(*) FROM registrations WHERE trunk_id = $1 AND aor = $2", p, 2,
		    &r);
	*live = rc == 0 ? store_res_int(r, 0, 0) : 0;
	store_res_free(r);
	return rc;
}

/* ----------------------------------------------------------- the answer */

/* The seconds the UA is told a binding has: what this REGISTER granted
 * for its own contacts (a refresh not written included), else what the
 * store has left. */
static int64_t reg_told(const struct sip_reg_job *j, const struct reg_row *row, int64_t now)
{
	for (size_t i = 0; i < j->ncontacts; i++)
		if (reg_match((struct reg_row *)row, 1, &j->contacts[i]))
			return j->contacts[i].expires_s;
	return row->expires_at > now ? (row->expires_at - now + 999) / 1000 : 0;
}

/* The AOR's bindings as committed, into the calls' table; those that came
 * with this REGISTER keep its connection. */
static void reg_table_update(struct sip_registrar *r, const struct sip_reg_job *j,
			     const struct reg_row *rows, size_t n, int64_t now)
{
	struct sip_reg_binding b[SIP_REG_CONTACTS_MAX];
	size_t k = 0;

	for (size_t i = 0; i < n && k < SIP_REG_CONTACTS_MAX; i++) {
		const struct reg_row *w = &rows[i];
		if (sip_reg_binding_from_row(&b[k], w->contact, w->received, w->transport, w->q,
					     w->expires_at, w->expires_s) != 0 ||
		    b[k].live_until <= now)
			continue;
		if (strcmp(w->received, j->received) == 0 &&
		    strcmp(w->transport, j->transport) == 0) {
			b[k].conn_id = j->conn_id;
			b[k].conn_worker = j->conn_worker;
			b[k].local = true; /* this node pings it (keep-alive) */
		}
		k++;
	}
	sip_reg_table_put(r->table, j->trunk_id, j->aor, b, k);
}

/* §10.3 step 8: 200 with every binding of the AOR as a Contact. */
static void reg_answer_ok(struct sip_reg_job *j, const struct reg_row *rows, size_t n, int64_t now)
{
	size_t off = 0;

	j->code = 200;
	j->tag = "r200";
	j->extra[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct reg_row *w = &rows[i];
		char inst[200] = "";
		if (w->instance[0])
			snprintf(inst, sizeof(inst), ";+sip.instance=%s;reg-id=%lld", w->instance,
				 (long long)w->reg_id);
		int k = snprintf(j->extra + off, sizeof(j->extra) - off,
				 "Contact: <%s>;expires=%lld%s\r\n", w->contact,
				 (long long)reg_told(j, w, now), inst);
		if (k < 0 || (size_t)k >= sizeof(j->extra) - off) {
			j->extra[off] = '\0'; /* whole lines only */
			break;
		}
		off += (size_t)k;
	}
}

static void reg_refuse(struct sip_reg_job *j, int code, const char *tag, const char *reason)
{
	j->code = code;
	j->tag = tag;
	snprintf(j->extra, sizeof(j->extra), "Reason: SIP;cause=%d;text=\"%s\"\r\n", code, reason);
}

static void reg_process(struct sip_registrar *r, struct sip_reg_job *j)
{
	struct store_conn *c = store_conn(r->p->o.store);
	int max = r->p->o.register_max_contacts > 0 ? r->p->o.register_max_contacts
						    : REG_CONTACTS_DEFAULT;
	struct reg_row rows[REG_ROWS_MAX];
	int64_t now = time_wall_ms(), live = 0;
	size_t n = 0;
	int rc = !c || store_tx_begin(c) != 0 ? -EIO : reg_rows(c, j, rows, &n);

	if (rc == 0)
		rc = reg_apply(c, j, rows, n, now);
	if (rc == 0)
		rc = reg_count_live(c, j, now, &live);
	if (rc == 0 && live > max)
		rc = 403;
	if (rc == 0 && store_tx_commit_durable(c) == 0 && reg_rows(c, j, rows, &n) == 0) {
		reg_table_update(r, j, rows, n, now);
		reg_answer_ok(j, rows, n, now);
		return;
	}
	if (c)
		store_tx_rollback(c);
	if (rc == 500)
		reg_refuse(j, 500, "r500", "out of order");
	else if (rc == 403)
		reg_refuse(j, 403, "r403", "too many contacts");
	else
		reg_refuse(j, 503, "r503", "store unavailable");
}

/* ----------------------------------------------------------- the thread */

/* ----------------------------------------------------------- keep-alive */

/* One round's pings, sent by worker 0 (from the listen socket the
 * REGISTERs came to: the NAT's mapping is for it). */
struct reg_ping_batch {
	struct loop_task task;
	struct sip_proxy *p;
	struct sip_reg_ping *v;
	size_t n;
	atomic_bool done;
};

static void reg_ping_batch_run(void *arg)
{
	struct reg_ping_batch *b = arg;
	sip_registrar_pings_send(b->p, b->v, b->n);
	atomic_store(&b->done, true);
}

static void reg_ping_batch_free(struct reg_ping_batch *b)
{
	if (b)
		free(b->v);
	free(b);
}

/* Bindings taken out of the table go from the store (and so from every
 * node's table at its next reload), each counted in m. */
static void reg_bury(struct sip_registrar *r, const struct sip_reg_ping *dead, size_t n,
		     const char *why, struct metric *m)
{
	struct store_conn *c = n && r->p->o.store ? store_conn(r->p->o.store) : NULL;

	for (size_t i = 0; c && i < n; i++) {
		const struct store_param p[] = {store_p_text(dead[i].trunk_id),
						store_p_text(dead[i].aor),
						store_p_text(dead[i].contact)};
		log_info("sip", "registrar: %s of %s %s: removed", dead[i].contact, dead[i].aor,
			 why);
		if (store_exec(c,
			       "DELETE FROM registrations WHERE trunk_id = $1 AND aor = $2 AND "
			       "contact = $3",
			       p, 3, NULL) != 0)
			log_warn("sip", "registrar: a dead binding could not be removed");
		metric_inc(m);
	}
}

/* Called unlocked: the bindings of the connections closed since the last
 * time whose earlier jobs are done.  On this thread, so that no reload
 * puts them back in between. */
static void reg_lost_due(struct sip_registrar *r)
{
	struct reg_lost v[64];
	size_t n;

	do {
		pthread_mutex_lock(&r->lock);
		for (n = 0; n < 64 && n < r->nlost && r->lost[n].after <= r->processed; n++)
			v[n] = r->lost[n];
		r->nlost -= n;
		memmove(r->lost, r->lost + n, r->nlost * sizeof(*r->lost));
		pthread_mutex_unlock(&r->lock);
		for (size_t i = 0; i < n; i++) {
			size_t ndead = 0;
			struct sip_reg_ping *dead =
			    sip_reg_table_conn_lost(r->table, v[i].worker, v[i].conn_id, &ndead);
			reg_bury(r, dead, ndead, "lost its connection", r->m_closed);
			free(dead);
		}
	} while (n == 64);
}

void sip_registrar_conn_lost(struct sip_registrar *r, unsigned worker, uint64_t conn_id)
{
	bool full;

	pthread_mutex_lock(&r->lock);
	full = r->nlost == REG_LOST_MAX;
	if (!full) {
		r->lost[r->nlost++] = (struct reg_lost){worker, conn_id, r->submitted};
		pthread_cond_signal(&r->cv);
	}
	pthread_mutex_unlock(&r->lock);
	if (full)
		log_warn("sip", "registrar: too many closed connections at once: the bindings of "
				"one stay until they expire");
}

/* Called unlocked: a keep-alive round when one is due and the last one's
 * pings went out. */
static void reg_ping_due(struct sip_registrar *r)
{
	int64_t now = time_mono_ms(), every = r->p->o.register_keepalive_ms;
	struct sip_reg_ping *dead = NULL;
	size_t ndead = 0;

	if (every <= 0 || (r->pinged_ms && now - r->pinged_ms < every))
		return;
	if (r->batch && !atomic_load(&r->batch->done))
		return; /* the workers are busy or stopping: no misses counted */
	reg_ping_batch_free(r->batch);
	r->batch = calloc(1, sizeof(*r->batch));
	r->pinged_ms = now;
	if (!r->batch)
		return;
	r->batch->p = r->p;
	r->batch->v = sip_reg_table_ping_round(r->table, r->p->o.register_keepalive_misses,
					       &r->batch->n, &dead, &ndead);
	reg_bury(r, dead, ndead, "missed its keep-alives", r->m_dead);
	free(dead);
	r->batch->task.fn = reg_ping_batch_run;
	r->batch->task.arg = r->batch;
	loop_pool_post(r->p->pool, 0, &r->batch->task);
}

/* Called unlocked: the table from the store when it is due (on start too:
 * bindings outlive a restart). */
static void reg_table_due(struct sip_registrar *r)
{
	int64_t now = time_mono_ms();
	struct store_conn *c;

	if (r->reloaded_ms && now - r->reloaded_ms < REG_TABLE_RELOAD_MS)
		return;
	r->reloaded_ms = now;
	c = r->p->o.store ? store_conn(r->p->o.store) : NULL;
	if (c && sip_reg_table_reload(r->table, c, time_wall_ms()) != 0)
		log_warn("sip", "registrar: the bindings table could not be read again");
}

/* Waits (r->lock held) for a job, closing, or the next reload. */
static void reg_wait(struct sip_registrar *r)
{
	int64_t every = r->p->o.register_keepalive_ms, ms = REG_TABLE_RELOAD_MS;
	struct timespec ts;

	if (every > 0 && every < ms)
		ms = every; /* the next keep-alive round comes first */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!r->head && !r->nlost && !r->closed)
		if (pthread_cond_timedwait(&r->cv, &r->lock, &ts) != 0)
			break;
}

static void *reg_thread(void *arg)
{
	struct sip_registrar *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		pthread_mutex_unlock(&r->lock);
		reg_table_due(r);
		reg_ping_due(r);
		reg_lost_due(r);
		pthread_mutex_lock(&r->lock);
		reg_wait(r);
		struct sip_reg_job *j = r->head;
		if (!j && r->closed)
			break; /* closed, and every job queued is answered */
		if (!j)
			continue;
		r->head = j->qnext;
		if (!r->head)
			r->tail = NULL;
		r->queued--;
		pthread_mutex_unlock(&r->lock);
		reg_process(r, j);
		loop_pool_post(r->p->pool, j->w->index, &j->task);
		pthread_mutex_lock(&r->lock);
		r->processed++;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct sip_registrar *sip_registrar_new(struct sip_proxy *p)
{
	struct sip_registrar *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->p = p;
	r->table = sip_reg_table_new();
	r->throttle = sip_reg_throttle_new(REG_THROTTLE_RATE, REG_THROTTLE_BURST);
	if (!r->table || !r->throttle) {
		sip_reg_table_free(r->table);
		sip_reg_throttle_free(r->throttle);
		free(r);
		return NULL;
	}
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_sip_register_throttled_total",
	    "REGISTERs answered 503 because their address of record was over its rate.", NULL);
	r->m_throttled = f ? metric_get(f) : NULL;
	f = metrics_counter(metrics_default(), "warp_sip_register_keepalive_removed_total",
			    "Bindings removed after missing their keep-alive pings.", NULL);
	r->m_dead = f ? metric_get(f) : NULL;
	f = metrics_counter(metrics_default(), "warp_sip_register_connection_removed_total",
			    "Bindings removed because the TCP or TLS connection their REGISTER "
			    "came on closed.",
			    NULL);
	r->m_closed = f ? metric_get(f) : NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cv, NULL);
	return r;
}

int sip_registrar_start(struct sip_registrar *r)
{
	if (r->started)
		return 0;
	if (pthread_create(&r->thread, NULL, reg_thread, r) != 0)
		return -EAGAIN;
	r->started = true;
	return 0;
}

int sip_registrar_submit(struct sip_registrar *r, struct sip_reg_job *j)
{
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->closed || !r->started || !r->p->o.store)
		rc = -EPIPE;
	else if (r->queued >= REG_QUEUE_MAX)
		rc = -EAGAIN;
	if (rc == 0) {
		j->r = r;
		j->qnext = NULL;
		if (r->tail)
			r->tail->qnext = j;
		else
			r->head = j;
		r->tail = j;
		r->queued++;
		r->submitted++;
		j->next = r->outstanding;
		j->prev = NULL;
		if (r->outstanding)
			r->outstanding->prev = j;
		r->outstanding = j;
		pthread_cond_signal(&r->cv);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void sip_registrar_done(struct sip_reg_job *j)
{
	struct sip_registrar *r = j->r;

	pthread_mutex_lock(&r->lock);
	if (j->prev)
		j->prev->next = j->next;
	else
		r->outstanding = j->next;
	if (j->next)
		j->next->prev = j->prev;
	pthread_mutex_unlock(&r->lock);
	free(j);
}

void sip_registrar_close(struct sip_registrar *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->closed = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	r->started = false;
}

void sip_registrar_free(struct sip_registrar *r)
{
	if (!r)
		return;
	sip_registrar_close(r);
	/* the loops are stopped: answers posted and not run never will be */
	while (r->outstanding) {
		struct sip_reg_job *j = r->outstanding;
		r->outstanding = j->next;
		if (j->s)
			j->s->watch = NULL;
		free(j);
	}
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->lock);
	sip_reg_table_free(r->table);
	sip_reg_throttle_free(r->throttle);
	reg_ping_batch_free(r->batch); /* the loops are stopped: run or never */
	free(r);
}

struct sip_reg_table *sip_registrar_table(struct sip_registrar *r)
{
	return r->table;
}

int sip_registrar_throttle(struct sip_registrar *r, const char *aor)
{
	int retry = sip_reg_throttle_take(r->throttle, aor, time_mono_ms());
	if (retry)
		metric_inc(r->m_throttled);
	return retry;
}
