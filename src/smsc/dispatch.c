/*
 * dispatch.c — the upstream thread: keeps every enabled connector's binds
 * up, leases due messages from the store, routes each to a carrier with a
 * bound connector that has room in its window, and records what happens
 * (submitted with the upstream's id, requeued with backoff, failed over to
 * the next carrier, or final).  Receipts find their message by
 * (carrier, upstream id) whatever base or case the upstream writes it in.
 *
 * Leases make several smsc processes on one PostgreSQL safe: a message is
 * taken by setting lease_owner (this process's id) and lease_until in one
 * UPDATE whose subquery skips rows another process holds (FOR UPDATE SKIP
 * LOCKED); every later write names the owner, so a process whose lease ran
 * out cannot overwrite the one that took the message over.  A process that
 * dies leaves its leases to run out ([smsc] lease) and the messages are taken
 * again: a message may then be submitted twice upstream, never lost.
 *
 * Each connector keeps a backlog: messages leased ahead of its window,
 * twice what it sent over the last tick (at least its windows' worth,
 * bounded, decision 0042).  A submit_sm_resp that frees a slot writes the
 * backlog's next submit_sm from the bind's read callback (smsc_out_refill),
 * so one bind's rate is set by the upstream's answers, not by the tick; the
 * tick leases, sizes the backlogs and drains them into binds a throttle or
 * the connector's throughput held back.  A backlog message is sent within
 * the first quarter of its lease (or goes back to the queue unsent), so its
 * lease still outlasts the response timeout; a connector whose last bind
 * drops, changes or stops gives its backlog back to the queue, due now.
 * After a crash a backlog is leased messages like any other: taken again
 * once the lease runs out.
 *
 * What this thread writes goes through a batching writer (writes.c): one
 * transaction for many messages, and no wait on the store per message.
 * What it reads stays here, a statement per tick for many rows: the lease,
 * the expiry sweep, the queue gauges, receipts not matched in memory
 * (matching.c).  None of it delays a customer's session (those live on the
 * session thread).
 */
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define TICK_MS 20
#define LEASE_BATCH 1024

/* Seconds: a receipt comes in milliseconds on a fast path and in hours
 * from a handset that was off. */
static const double e2e_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600};
#define NO_BIND_RETRY_MS 1000
#define BACKOFF_MAX_MS 300000
#define EXPIRE_EVERY_MS 1000
#define QUEUE_COUNT_MS 1000

#define LEASE_COLUMNS                                                                              \
	"RETURNING id, customer_id, source, source_ton, source_npi, destination, dest_ton, "       \
	"dest_npi, data_coding, esm_class, registered_delivery, body, expires_at, "                \
	"attempts, " SMSC_PARTS_SQL ", carriers_tried, error"
/* One statement a tick for up to LEASE_BATCH rows, read in order from the
 * partial index messages_pending (migration 0015), which SQLite's planner
 * would pass over for messages_due and a sort of every due row.  It sets no
 * indexed column (updated_at is messages_export's, migration 0023), so that
 * on PostgreSQL the row's new version can stay on its page without a new
 * entry in each of its indexes (a HOT update; migration 0031 leaves the
 * pages room for it; decision 0055): a lease is not a change of the
 * message, its updated_at stays the accept's until the message moves. */
#define LEASE_SQL(index, lock)                                                                     \
	"UPDATE messages SET lease_owner = $1, lease_until = $2 WHERE id IN "                      \
	"(SELECT id FROM messages " index " WHERE state IN ('accepted', 'queued') AND "            \
	"next_attempt_at <= $3 AND lease_until <= $3 AND expires_at > $3 ORDER BY "                \
	"next_attempt_at LIMIT $4" lock ") " LEASE_COLUMNS

/* ------------------------------------------------------------- store */

static int out_exec(struct smsc_out *o, const char *sql, const struct store_param *p, size_t n,
		    struct store_res **res)
{
	struct store_conn *c = store_conn(o->store);
	int rc = c ? store_exec(c, sql, p, n, res) : STORE_EDOWN;

	if (rc < 0)
		log_warn("smsc", "store: %s%s%s", store_strerror(rc), c ? ": " : "",
			 c ? store_conn_errmsg(c) : "");
	return rc;
}

int smsc_out_exec(struct smsc_out *o, const char *sql, const struct store_param *p, size_t n,
		  struct store_res **res)
{
	return out_exec(o, sql, p, n, res);
}

/* A message leaves this process: back to the queue at due, or final (then
 * through final.c, which also tells its group's webhooks when it ends). */
static void out_release(struct smsc_out *o, struct smsc_out_msg *m, const char *state,
			const char *error, int64_t due, bool attempted)
{
	int64_t now = time_wall_ms();

	if (strcmp(state, "queued") != 0) {
		struct smsc_final f = {.guard = SMSC_FINAL_LEASED,
				       .id = m->id,
				       .state = state,
				       .error = error,
				       .owner = o->owner,
				       .attempted = attempted,
				       .now = now};
		f.parts = m->parts;
		smsc_final_queue(o, &f, NULL, NULL);
	} else {
		struct store_param p[] = {
		    store_p_text(error),    store_p_int(due),	 store_p_int(now),
		    store_p_int(attempted), store_p_text(m->id), store_p_text(o->owner),
		};
		struct store_batch_stmt st = {
		    "UPDATE messages SET state = 'queued', error = $1, next_attempt_at = $2, "
		    "updated_at = $3, attempts = attempts + $4, lease_owner = NULL, "
		    "lease_until = 0 WHERE id = $5 AND lease_owner = $6",
		    p, 6};
		smsc_writes_add(o, m->id, m->parts, &st, 1, NULL);
	}
	metric_inc(metric_get(o->m_outcomes, state));
	free(m->body);
	free(m);
}

static void out_requeue(struct smsc_out *o, struct smsc_out_msg *m, const char *why)
{
	int64_t delay = 1000;
	for (int i = 0; i < m->attempts && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	out_release(o, m, "queued", why, time_wall_ms() + delay, true);
}

/* ----------------------------------------------------------- routing */

/* How a submit_sm came to be written (warp_smsc_upstream_sends_total). */
enum out_via { OUT_VIA_TICK, OUT_VIA_RESPONSE };

static struct smsc_conn *out_conn_for(struct smsc_out *o, const char *carrier_id, size_t *from)
{
	for (; *from < o->nconns; (*from)++)
		if (strcmp(o->conns[*from].cfg.carrier_id, carrier_id) == 0)
			return &o->conns[(*from)++];
	return NULL;
}

/* A ready bind of c, round robin. */
static struct smsc_upbind *out_conn_ready(struct smsc_conn *c, int64_t now_us)
{
	for (unsigned k = 0; k < c->cfg.binds; k++) {
		struct smsc_upbind *b = c->binds[(c->rr + k) % c->cfg.binds];
		if (b && smsc_upbind_ready(b, now_us)) {
			c->rr = (c->rr + k + 1) % c->cfg.binds;
			return b;
		}
	}
	return NULL;
}

static unsigned out_conn_bound(const struct smsc_conn *c)
{
	unsigned up = 0;
	for (unsigned k = 0; k < c->cfg.binds; k++)
		up += c->binds[k] && c->binds[k]->state == SMSC_UP_BOUND;
	return up;
}

/* Writes m's submit_sm on b; 0, or -EAGAIN (b's throughput) and m is still
 * the caller's. */
static int out_send(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m,
		    enum out_via via)
{
	int rc = smsc_upbind_submit(b, m);

	if (rc == 0) {
		snprintf(m->carrier_id, sizeof(m->carrier_id), "%s", b->cfg.carrier_id);
		if (b->conn)
			b->conn->backlog.sent++;
		metric_inc(o->m_sends[via]);
	}
	return rc;
}

/* Hands m to the carrier's first ready bind, else to the backlog of its
 * bound connector with the shortest one; false when no connector of the
 * carrier is bound (or every backlog is at its hard limit). */
static bool out_take(struct smsc_out *o, const char *carrier_id, struct smsc_out_msg *m,
		     enum out_via via)
{
	struct smsc_conn *c, *wait = NULL;
	int64_t now_us = time_mono_us();
	size_t from = 0;

	while ((c = out_conn_for(o, carrier_id, &from))) {
		struct smsc_upbind *b = out_conn_ready(c, now_us);
		if (b && c->backlog.n == 0 && out_send(o, b, m, via) == 0)
			return true;
		if (out_conn_bound(c) > 0 && c->backlog.n < SMSC_BACKLOG_HARD &&
		    (!wait || c->backlog.n < wait->backlog.n))
			wait = c;
	}
	if (!wait)
		return false;
	smsc_backlog_push(&wait->backlog, m);
	return true;
}

/* Hands m to the first carrier from m->carrier_pos on with a bound
 * connector: a busy carrier's connector keeps it in its backlog (the
 * route fails over on an error or an unbound carrier, not a full window). */
static void out_assign(struct smsc_out *o, const struct smsc_routes *snap, struct smsc_out_msg *m,
		       enum out_via via)
{
	const struct smsc_route *r = smsc_out_route(o, snap, m); /* filters: decision 0051 */
	const char *ids[SMSC_ROUTE_CARRIERS_MAX], *why = NULL;
	size_t n =
	    r ? smsc_route_order(o->s->o.rating, snap, r, m->dest, m->customer_id, ids, &why) : 0;

	if (!r || why) { /* why: an lcr route kept no carrier (decision 0038) */
		out_release(o, m, "rejected", r ? why : "no_route", 0, false);
		return;
	}
	if (smsc_failover_exhausted(o, m, ids, n)) { /* decision 0051 */
		out_release(o, m, "undeliverable", m->error, 0, false);
		return;
	}
	for (; m->carrier_pos < n; m->carrier_pos++)
		if (!smsc_failover_tried(m, ids[m->carrier_pos]) &&
		    out_take(o, ids[m->carrier_pos], m, via))
			return;
	/* No carrier of the route has a bound connector: try again soon. */
	out_release(o, m, "queued", "no_bound_connector", time_wall_ms() + NO_BIND_RETRY_MS, false);
}

/* ------------------------------------------------------------ backlog */

static void out_backlog_drain(struct smsc_out *o, struct smsc_conn *c, struct smsc_upbind *only,
			      enum out_via via)
{
	int64_t now = time_wall_ms(), now_us = time_mono_us();
	struct smsc_out_msg *m;

	/* Off the list before it is sent: a bind that failed on the write
	 * would hand m back as lost while its backlog is given back. */
	while ((m = smsc_backlog_pop(&c->backlog))) {
		if (now > m->send_by) {
			/* Its lease would not outlast a response timeout: back to
			 * the queue, never sent. */
			out_release(o, m, "queued", "lease_ran_short", now, false);
			continue;
		}
		struct smsc_upbind *b = only ? (smsc_upbind_ready(only, now_us) ? only : NULL)
					     : out_conn_ready(c, now_us);
		if (!b || out_send(o, b, m, via) != 0) {
			smsc_backlog_unpop(&c->backlog, m);
			return;
		}
	}
}

void smsc_out_refill(struct smsc_out *o, struct smsc_upbind *b)
{
	if (b->conn && b->conn->backlog.n > 0)
		out_backlog_drain(o, b->conn, b, OUT_VIA_RESPONSE);
}

/* A connector's backlog back to the queue, due now and not attempted, for
 * whoever can send it: this process's next lease (the route's next carrier
 * when this one stays down) or another process's. */
static void out_backlog_release(struct smsc_out *o, struct smsc_conn *c, const char *why)
{
	while (c->backlog.head)
		out_release(o, smsc_backlog_pop(&c->backlog), "queued", why, time_wall_ms(), false);
}

/* At the tick: every backlog into the binds that have room, and how many
 * each connector sent over the last tick (what the next lease sizes its
 * backlog by). */
static void out_backlogs_tick(struct smsc_out *o)
{
	for (size_t i = 0; i < o->nconns; i++) {
		struct smsc_conn *c = &o->conns[i];
		out_backlog_drain(o, c, NULL, OUT_VIA_TICK);
		c->backlog.sent_last = c->backlog.sent;
		c->backlog.sent = 0;
	}
}

/* ------------------------------------------------------------ leasing */

static uint8_t hex_nibble(char c)
{
	return (uint8_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

int smsc_hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex) / 2;

	if (!(*out = malloc(n + 1)))
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		(*out)[k] = (uint8_t)(hex_nibble(hex[2 * k]) << 4 | hex_nibble(hex[2 * k + 1]));
	*len = n;
	return 0;
}

static struct smsc_out_msg *out_msg_row(const struct store_res *r, size_t i)
{
	struct smsc_out_msg *m = calloc(1, sizeof(*m));

	if (!m || smsc_hex_decode(store_res_text(r, i, 11), &m->body, &m->body_len) < 0) {
		free(m);
		return NULL;
	}
	snprintf(m->id, sizeof(m->id), "%s", store_res_text(r, i, 0));
	snprintf(m->customer_id, sizeof(m->customer_id), "%s", store_res_text(r, i, 1));
	snprintf(m->source, sizeof(m->source), "%s", store_res_text(r, i, 2));
	m->source_ton = (uint8_t)store_res_int(r, i, 3);
	m->source_npi = (uint8_t)store_res_int(r, i, 4);
	snprintf(m->dest, sizeof(m->dest), "%s", store_res_text(r, i, 5));
	m->dest_ton = (uint8_t)store_res_int(r, i, 6);
	m->dest_npi = (uint8_t)store_res_int(r, i, 7);
	m->data_coding = (uint8_t)store_res_int(r, i, 8);
	m->esm_class = (uint8_t)store_res_int(r, i, 9);
	m->registered_delivery = (uint8_t)store_res_int(r, i, 10);
	m->expires_at = store_res_int(r, i, 12);
	m->attempts = (int)store_res_int(r, i, 13);
	m->parts = (int)store_res_int(r, i, 14);
	smsc_failover_row(m, store_res_text(r, i, 15), store_res_text(r, i, 16));
	return m;
}

static unsigned out_room(const struct smsc_out *o)
{
	unsigned room = 0;
	for (size_t i = 0; i < o->nconns; i++)
		room += smsc_backlog_want(&o->conns[i], TICK_MS);
	return room;
}

/* A lease must outlast a submit's response timeout: a lease that ran out
 * while the upstream still had the submit would let another process send
 * the message a second time.  So never shorter than twice the slowest
 * connector's response_timeout_ms, whatever [smsc] lease says. */
static int64_t out_lease_ms(const struct smsc_out *o, const struct smsc_routes *snap)
{
	int64_t ms = o->s->o.lease_ms;
	for (size_t i = 0; snap && i < snap->nconnectors; i++)
		if (2 * snap->connectors[i].response_timeout_ms > ms)
			ms = 2 * snap->connectors[i].response_timeout_ms;
	return ms;
}

static void out_lease(struct smsc_out *o, const struct smsc_routes *snap)
{
	unsigned room = out_room(o);
	struct store_res *r = NULL;
	int64_t now = time_wall_ms(), lease_ms = out_lease_ms(o, snap);

	/* A "submitted" row not yet committed when its lease runs out would let
	 * the message be taken and sent again: lease no more while the writers
	 * are behind (decision 0029). */
	if (room == 0 || smsc_writes_behind(o))
		return;
	struct store_param p[] = {store_p_text(o->owner), store_p_int(now + lease_ms),
				  store_p_int(now),
				  store_p_int(room < LEASE_BATCH ? room : LEASE_BATCH)};
	const char *sql = store_kind(o->store) == STORE_POSTGRES
			      ? LEASE_SQL("", " FOR UPDATE SKIP LOCKED")
			      : LEASE_SQL("INDEXED BY messages_pending", "");
	if (out_exec(o, sql, p, 4, &r) == 0)
		for (size_t i = 0; i < store_res_rows(r); i++) {
			struct smsc_out_msg *m = out_msg_row(r, i);
			if (!m || smsc_hold_take(o, m)) /* 10DLC throughput: decision 0050 */
				continue;
			/* Sent within the lease's first quarter, the lease left
			 * still outlasts the response timeout (out_lease_ms). */
			m->send_by = now + lease_ms / 4;
			out_assign(o, snap, m, OUT_VIA_TICK);
		}
	store_res_free(r);
}

#define EXPIRE_BATCH 256

/* Queued messages whose validity ended, EXPIRE_BATCH a round, each a
 * final move of its own (its group may end with it). */
static void out_expire(struct smsc_out *o)
{
	int64_t now = time_wall_ms();
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(now), store_p_int(EXPIRE_BATCH)};

	if (now - o->expired_at < EXPIRE_EVERY_MS)
		return;
	o->expired_at = now;
	if (out_exec(o,
		     "SELECT id, " SMSC_PARTS_SQL
		     " FROM messages WHERE state IN ('accepted', 'queued') AND "
		     "expires_at "
		     "<= $1 AND lease_until <= $1 ORDER BY expires_at LIMIT $2",
		     p, 2, &r) == 0)
		for (size_t i = 0; i < store_res_rows(r); i++) {
			struct smsc_final f = {.guard = SMSC_FINAL_EXPIRY,
					       .id = store_res_text(r, i, 0),
					       .state = "expired",
					       .error = "validity_period",
					       .now = now,
					       .parts = (int)store_res_int(r, i, 1)};
			smsc_final_queue(o, &f, NULL, NULL); /* counted once committed */
		}
	store_res_free(r);
}

/* ----------------------------------------------------- upstream's ids */

/* The form ids are stored and matched in: hex and decimal ids as the
 * decimal number (so "1A2B" in a submit_sm_resp matches "6699" in a
 * receipt), anything else, or a number too long, as lowercase text. */
void smsc_out_id_norm(struct str id, enum smsc_id_base base, char *out, size_t n)
{
	uint64_t v = 0;
	size_t i = 0;
	bool ok = id.len > 0 && id.len <= (base == SMSC_ID_HEX ? 16u : 19u);

	for (; ok && base != SMSC_ID_TEXT && i < id.len; i++) {
		char c = id.p[i];
		if (base == SMSC_ID_HEX && isxdigit((unsigned char)c))
			v = v * 16 + hex_nibble(c);
		else if (base == SMSC_ID_DEC && c >= '0' && c <= '9')
			v = v * 10 + (uint64_t)(c - '0');
		else
			ok = false;
	}
	if (ok && base != SMSC_ID_TEXT) {
		snprintf(out, n, "%" PRIu64, v);
		return;
	}
	for (i = 0; i < id.len && i + 1 < n; i++)
		out[i] = (char)tolower((unsigned char)id.p[i]);
	out[i] = '\0';
}

/* ------------------------------------------------- what binds report */

static bool status_retryable(uint32_t status)
{
	return status == SMPP_ESME_RTHROTTLED || status == SMPP_ESME_RMSGQFUL ||
	       status == SMPP_ESME_RSYSERR;
}

void smsc_out_submitted(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m,
			uint32_t status, struct str upstream_id)
{
	char id[SMPP_MESSAGE_ID_MAX + 1], why[48];

	if (status == SMPP_ESME_ROK) {
		smsc_out_id_norm(upstream_id, b->cfg.submit_id_base, id, sizeof(id));
		smsc_sent_record(o, b->cfg.carrier_id, id, m); /* sent.c: its row, its receipt */
		free(m->body);
		free(m);
		return;
	}
	snprintf(why, sizeof(why), "upstream_status_0x%08x", status);
	if (status_retryable(status)) {
		out_requeue(o, m, why);
		return;
	}
	/* Refused by this carrier: the route's next one may take it. */
	const struct smsc_routes *snap = snapshot_acquire(o->routes);
	const struct smsc_route *r = smsc_out_route(o, snap, m);
	const char *ids[SMSC_ROUTE_CARRIERS_MAX];

	m->carrier_pos++;
	if (r && m->carrier_pos <
		     smsc_route_order(o->s->o.rating, snap, r, m->dest, m->customer_id, ids, NULL))
		out_assign(o, snap, m, OUT_VIA_RESPONSE);
	else
		out_release(o, m, "rejected", why, 0, true);
	snapshot_release(o->routes, snap);
}

void smsc_out_lost(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m)
{
	(void)b;
	if (o->stopping) {
		/* Shutting down: back to the queue at once for whoever runs next. */
		out_release(o, m, "queued", "shutdown", time_wall_ms(), false);
		return;
	}
	out_requeue(o, m, "no_submit_sm_resp");
}

/* A connector whose last bind dropped gives its backlog back (the
 * messages were never sent): held here they would wait out the reconnect
 * backoff, while the queue lets the route's next carrier or another
 * process take them at once. */
void smsc_out_bind_changed(struct smsc_out *o)
{
	unsigned up = 0;
	for (size_t i = 0; i < o->nconns; i++) {
		unsigned n = out_conn_bound(&o->conns[i]);
		if (n == 0 && o->conns[i].backlog.n > 0)
			out_backlog_release(o, &o->conns[i], "no_bound_connector");
		up += n;
	}
	metric_set(o->m_binds_up, up);
}

/* Per connector: binds bound and submits in flight, set on every tick (a
 * removed connector's series stay at their last value until restart). */
static void out_connector_gauges(struct smsc_out *o)
{
	for (size_t i = 0; i < o->nconns; i++) {
		struct smsc_conn *c = &o->conns[i];
		int64_t up = 0, inflight = 0;
		metric_set(c->m_backlog, c->backlog.n);
		for (unsigned k = 0; k < c->cfg.binds; k++) {
			if (!c->binds[k])
				continue;
			up += c->binds[k]->state == SMSC_UP_BOUND;
			inflight += c->binds[k]->ninflight;
		}
		metric_set(c->m_binds, up);
		metric_set(c->m_window, inflight);
	}
}

/* The store's queue by state, every QUEUE_COUNT_MS: what operators alert on
 * (a growing 'queued' is an upstream problem, a growing 'accepted' ours). */
static void out_queue_gauges(struct smsc_out *o)
{
	static const char *const states[] = {"accepted", "queued", "submitted"};
	struct store_res *r = NULL;
	int64_t now = time_mono_ms();

	if (now - o->queue_counted_ms < QUEUE_COUNT_MS)
		return;
	o->queue_counted_ms = now;
	if (out_exec(o,
		     "SELECT state, count(*) FROM messages WHERE state IN ('accepted', 'queued', "
		     "'submitted') GROUP BY state",
		     NULL, 0, &r) == 0)
		for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			int64_t n = 0;
			for (size_t i = 0; i < store_res_rows(r); i++)
				if (strcmp(store_res_text(r, i, 0), states[k]) == 0)
					n = store_res_int(r, i, 1);
			metric_set(metric_get(o->m_queue, states[k]), n);
		}
	store_res_free(r);
}

/* --------------------------------------------------------- connectors */

/* Its binds close (their submits in flight requeued) and its backlog goes
 * back to the queue, due now. */
static void out_conn_fini(struct smsc_out *o, struct smsc_conn *c)
{
	for (unsigned k = 0; k < SMSC_CONNECTOR_BINDS_MAX; k++)
		smsc_upbind_free(c->binds[k]);
	out_backlog_release(o, c, o->stopping ? "shutdown" : "connector_changed");
	memset(c, 0, sizeof(*c));
}

static struct smsc_conn *out_conn_take(struct smsc_out *o, const struct smsc_connector_cfg *cfg)
{
	for (size_t i = 0; i < o->nconns; i++)
		if (strcmp(o->conns[i].cfg.id, cfg->id) == 0 &&
		    memcmp(&o->conns[i].cfg, cfg, sizeof(*cfg)) == 0)
			return &o->conns[i];
	return NULL;
}

/* Connectors as the snapshot has them: unchanged ones keep their binds,
 * changed and new ones bind afresh, removed ones are closed (their
 * submits in flight requeued). */
static void out_reconcile(struct smsc_out *o, const struct smsc_routes *snap)
{
	struct smsc_conn *next = calloc(snap->nconnectors + 1, sizeof(*next));

	if (!next)
		return;
	for (size_t i = 0; i < snap->nconnectors; i++) {
		struct smsc_conn *old = out_conn_take(o, &snap->connectors[i]);
		if (old) {
			next[i] = *old;
			memset(old, 0, sizeof(*old));
			continue;
		}
		next[i].cfg = snap->connectors[i];
		next[i].m_binds =
		    metric_get(o->m_conn_binds, next[i].cfg.id, next[i].cfg.carrier_id);
		next[i].m_window =
		    metric_get(o->m_conn_window, next[i].cfg.id, next[i].cfg.carrier_id);
		next[i].m_backlog =
		    metric_get(o->m_conn_backlog, next[i].cfg.id, next[i].cfg.carrier_id);
		for (unsigned k = 0; k < next[i].cfg.binds; k++)
			next[i].binds[k] = smsc_upbind_new(o, &next[i].cfg, k);
	}
	struct smsc_conn *old = o->conns;
	size_t nold = o->nconns;
	o->conns = next;
	o->nconns = snap->nconnectors;
	/* The binds point at their connector and own a copy of its
	 * configuration. */
	for (size_t i = 0; i < o->nconns; i++)
		for (unsigned k = 0; k < o->conns[i].cfg.binds; k++)
			if (o->conns[i].binds[k]) {
				o->conns[i].binds[k]->cfg = o->conns[i].cfg;
				o->conns[i].binds[k]->conn = &o->conns[i];
			}
	for (size_t i = 0; i < nold; i++)
		out_conn_fini(o, &old[i]);
	free(old);
	smsc_out_bind_changed(o);
}

static void out_tick(evutil_socket_t fd, short what, void *arg)
{
	struct smsc_out *o = arg;
	const struct smsc_routes *snap = snapshot_acquire(o->routes);

	(void)fd;
	(void)what;
	if (snap && snapshot_version(o->routes) != o->routes_version) {
		o->routes_version = snapshot_version(o->routes);
		out_reconcile(o, snap);
	}
	if (snap) {
		out_expire(o);
		out_backlogs_tick(o);
		out_lease(o, snap);
		smsc_match_tick(o);
		smsc_receipts_poll(o->s);
		smsc_sent_flush(o);
		smsc_receipts_flush(o);
		smsc_writes_settle(o);
		smsc_mo_tick(o);
		out_connector_gauges(o);
		out_queue_gauges(o);
	}
	snapshot_release(o->routes, snap);
}

static void out_metrics_init(struct smsc_out *o)
{
	struct metrics *r = metrics_default();
	struct metric_family *receipts =
	    metrics_counter(r, "warp_smsc_receipts_total",
			    "Receipts from upstreams, by whether a message took them.", "result");

	o->m_outcomes =
	    metrics_counter(r, "warp_smsc_upstream_outcomes_total",
			    "What became of messages handed upstream, by state.", "state");
	o->m_status = metrics_counter(r, "warp_smsc_message_status_total",
				      "message.status events written (a message's final status, "
				      "once per message), by status.",
				      "status");
	o->m_e2e =
	    metrics_histogram(r, "warp_smsc_message_seconds",
			      "From a message's acceptance (its first part's) to its final status "
			      "(all parts), by status.",
			      "status", e2e_bounds, sizeof(e2e_bounds) / sizeof(e2e_bounds[0]));
	o->m_receipts_matched = metric_get(receipts, "matched");
	o->m_receipts_unmatched = metric_get(receipts, "unmatched");
	o->m_binds_up = metric_get(metrics_gauge(r, "warp_smsc_upstream_binds_up",
						 "Upstream SMPP binds bound now.", NULL));
	o->m_queue = metrics_gauge(r, "warp_smsc_queue_messages",
				   "Messages in the store not yet final, by state.", "state");
	o->m_conn_binds =
	    metrics_gauge(r, "warp_smsc_connector_binds_up", "An SMPP connector's binds bound now.",
			  "connector,carrier");
	o->m_conn_window = metrics_gauge(r, "warp_smsc_connector_window_used",
					 "An SMPP connector's submits awaiting submit_sm_resp.",
					 "connector,carrier");
	o->m_conn_backlog =
	    metrics_gauge(r, "warp_smsc_connector_backlog",
			  "Messages leased ahead for an SMPP connector, waiting for a window slot.",
			  "connector,carrier");
	struct metric_family *sends = metrics_counter(
	    r, "warp_smsc_upstream_sends_total",
	    "submit_sm written to upstream binds, by what wrote it: the dispatcher's tick (a "
	    "lease, a backlog) or a submit_sm_resp that freed a window slot.",
	    "trigger");
	o->m_sends[OUT_VIA_TICK] = metric_get(sends, "tick");
	o->m_sends[OUT_VIA_RESPONSE] = metric_get(sends, "response");
}

struct smsc_out *smsc_out_new(struct smsc *s, struct event_base *base)
{
	struct store *store = s->o.store;
	struct snapshot_loader *loader = s->o.loader;
	struct smsc_out *o = calloc(1, sizeof(*o));
	struct timeval tv = {0, TICK_MS * 1000};

	if (!o)
		return NULL;
	o->s = s;
	o->base = base;
	o->store = store;
	o->routes_version = -1;
	out_metrics_init(o);
	o->routes = smsc_routes_register(loader);
	o->timer = event_new(base, -1, EV_PERSIST, out_tick, o);
	o->ids = smsc_ids_new();
	if (smsc_writes_open(o) < 0 || !o->ids || !o->routes || !o->timer ||
	    smsc_mo_prepare(o) < 0 || id_new("lease", o->owner, sizeof(o->owner)) < 0 ||
	    event_add(o->timer, &tv) < 0) {
		smsc_out_free(o);
		return NULL;
	}
	return o;
}

/* On the upstream thread (or before it ran): binds close and their
 * submits in flight go back to the queue for the next process. */
void smsc_out_free(struct smsc_out *o)
{
	if (!o)
		return;
	o->stopping = true;
	if (o->timer)
		event_free(o->timer);
	for (size_t i = 0; i < o->nconns; i++)
		out_conn_fini(o, &o->conns[i]);
	free(o->conns);
	o->conns = NULL;
	o->nconns = 0;
	smsc_mo_fini(o);
	smsc_sent_free(o);
	smsc_receipts_flush(o);
	smsc_writes_close(o); /* their answers find no bind: the upstreams resend */
	free(o->receipts_cleared);
	while (o->receivers) {
		struct smsc_receivers *r = o->receivers->next;
		free(o->receivers);
		o->receivers = r;
	}
	smsc_ids_free(o->ids);
	smsc_holds_free(o->holds);
	store_conn_release(o->store);
	free(o);
}
