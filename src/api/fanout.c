/*
 * fanout.c — the first step of a webhook dispatcher round (webhook_dispatch.c):
 * the outbox's new events become deliveries.
 *
 * Events with seq above a stream's cursor in webhook_dispatch are read in
 * seq order; for each event of a customer, one webhook_deliveries row is
 * inserted per enabled webhook of that customer whose event_types match
 * and that existed before the event.  For a message.status event of a
 * message sent with a callback_url (HTTP send), one message_callbacks row
 * is inserted too, with that URL (decision 0032).  Rows and the cursor
 * move commit in one transaction, rows with ON CONFLICT DO NOTHING: a
 * crash or a second dispatcher never loses or doubles a delivery.
 *
 * Config events (events) carry their seq: the config version, bumped under
 * that row's lock until commit, so a committed seq implies every lower one
 * has committed too and no gap needs handling.  Message events
 * (message_events, written by the smsc without touching the config
 * version) are a second stream that the fan-out numbers itself, under the
 * lock of the cursor row webhook_dispatch 2, as it finds them committed
 * (fanout_messages; decision 0026).
 */
#include <string.h>

#include "api/webhook_dispatch.h"

/* The two streams of the outbox: provisioning events (events, seq = the
 * config version) and message events (message_events, seq given by the
 * fan-out below).  Their seqs are apart, so a delivery names its stream and
 * a webhook receives each stream in its own seq order. */
static const char *const stream_names[] = {
    [API_STREAM_CONFIG] = "config", [API_STREAM_MESSAGE] = "message"};

/* A customer's enabled webhooks that existed before an event ($2): a config
 * event compares seqs with the webhook's own creation event, a message
 * event compares times, its seq being of the other order. */
static const char *const fanout_webhooks_sql[] = {
    [API_STREAM_CONFIG] = "SELECT w.id, w.event_types FROM webhooks w WHERE w.customer_id = $1"
			  " AND w.enabled = 1 AND COALESCE((SELECT MIN(e.seq) FROM events e"
			  " WHERE e.resource_id = w.id), 0) < $2",
    [API_STREAM_MESSAGE] = "SELECT w.id, w.event_types FROM webhooks w WHERE w.customer_id = $1"
			   " AND w.enabled = 1 AND w.created_at <= $2",
};

/* One event to be fanned out. */
struct fanout_event {
	enum api_fanout_stream stream;
	const char *id, *customer_id, *type;
	int64_t seq, after;   /* after: what fanout_webhooks_sql compares */
	const char *group_id; /* a message event's message; NULL for a config one */
};

/* The deliveries of one event: one per webhook of fanout_webhooks_sql
 * whose event_types match.  Inside the fan-out transaction. */
static int fanout_event(struct store_conn *c, const struct fanout_event *ev, int64_t now)
{
	struct store_res *w = NULL;
	struct store_param p[] = {store_p_text(ev->customer_id), store_p_int(ev->after)};
	int rc = store_exec(c, fanout_webhooks_sql[ev->stream], p, 2, &w);
	for (size_t i = 0; rc == 0 && i < store_res_rows(w); i++) {
		if (!api_webhook_dispatch_type_matches(store_res_text(w, i, 1), ev->type))
			continue;
		struct store_param q[] = {
		    store_p_text(ev->id), store_p_text(store_res_text(w, i, 0)), store_p_int(now),
		    store_p_int(ev->seq), store_p_text(stream_names[ev->stream])};
		rc = store_exec(
		    c,
		    "INSERT INTO webhook_deliveries (event_id, webhook_id, status, attempts,"
		    " next_attempt_at, seq, stream) VALUES ($1, $2, 'pending', 0, $3, $4, $5)"
		    " ON CONFLICT (event_id, webhook_id) DO NOTHING",
		    q, 5, NULL);
	}
	store_res_free(w);
	return rc;
}

/* A message.status event's callback delivery, when its message (the group)
 * was sent with a callback_url: the URL as the message's first part holds
 * it (every part holds the same), and only among that customer's rows, so
 * another customer's message never reaches it.  Inside the fan-out
 * transaction. */
static int fanout_callback(struct store_conn *c, const struct fanout_event *ev, int64_t now)
{
	if (strcmp(ev->type, "message.status") != 0)
		return 0;
	struct store_param p[] = {store_p_text(ev->id), store_p_int(now), store_p_int(ev->seq),
				  store_p_text(ev->group_id), store_p_text(ev->customer_id)};
	return store_exec(
	    c,
	    "INSERT INTO message_callbacks (event_id, customer_id, url, status, attempts,"
	    " next_attempt_at, seq) SELECT $1, customer_id, callback_url, 'pending', 0, $2, $3"
	    " FROM messages WHERE group_id = $4 AND customer_id = $5 AND callback_url IS NOT NULL"
	    " ORDER BY part_seq LIMIT 1 ON CONFLICT (event_id) DO NOTHING",
	    p, 5, NULL);
}

/* The seq a stream's fan-out has reached (webhook_dispatch row id). */
static int fanout_cursor(struct store_conn *c, int id, int64_t *last)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(id)};
	int rc = store_exec(c, "SELECT last_seq FROM webhook_dispatch WHERE id = $1", p, 1, &r);
	if (rc == 0 && store_res_rows(r) != 1)
		rc = STORE_ERR;
	*last = rc == 0 ? store_res_int(r, 0, 0) : 0;
	store_res_free(r);
	return rc;
}

static int fanout_cursor_move(struct store_conn *c, int id, int64_t last)
{
	struct store_param p[] = {store_p_int(last), store_p_int(id)};
	return store_exec(
	    c, "UPDATE webhook_dispatch SET last_seq = $1 WHERE id = $2 AND last_seq < $1", p, 2,
	    NULL);
}

/* Config events with seq above the cursor, in seq order; *n how many read. */
static int fanout_config(struct store_conn *c, int64_t now, size_t *n)
{
	struct store_res *ev = NULL;
	int64_t last = 0;
	int rc = fanout_cursor(c, 1, &last);
	struct store_param p[] = {store_p_int(last), store_p_int(API_FANOUT_BATCH)};
	rc = rc ? rc
		: store_exec(c,
			     "SELECT id, seq, customer_id, type FROM events WHERE seq > $1"
			     " ORDER BY seq LIMIT $2",
			     p, 2, &ev);
	*n = rc == 0 ? store_res_rows(ev) : 0;
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		if (store_res_isnull(ev, i, 2)) /* admin-only resources: no customer */
			continue;
		struct fanout_event e = {API_STREAM_CONFIG,
					 store_res_text(ev, i, 0),
					 store_res_text(ev, i, 2),
					 store_res_text(ev, i, 3),
					 store_res_int(ev, i, 1),
					 store_res_int(ev, i, 1),
					 NULL};
		rc = fanout_event(c, &e, now);
	}
	if (rc == 0 && *n > 0)
		rc = fanout_cursor_move(c, 1, store_res_int(ev, *n - 1, 1));
	store_res_free(ev);
	return rc;
}

/* Message events get their seq here, not from their writers (the smsc,
 * final.c), which so share no counter: the cursor row 2 is locked first (a
 * no-op UPDATE, for PostgreSQL; SQLite's BEGIN IMMEDIATE serializes
 * already), so one fan-out at a time numbers the committed rows still
 * without seq, in the order it finds them.  A row not yet committed is
 * invisible now and numbered by a later round: a visible seq never has a
 * lower one still to come, and no settle time is needed. */
static int fanout_messages(struct store_conn *c, int64_t now, size_t *n)
{
	struct store_res *ev = NULL;
	int64_t seq = 0;
	int rc = store_exec(c, "UPDATE webhook_dispatch SET last_seq = last_seq WHERE id = 2", NULL,
			    0, NULL);
	rc = rc ? rc : fanout_cursor(c, 2, &seq);
	struct store_param p[] = {store_p_int(API_FANOUT_BATCH)};
	rc =
	    rc ? rc
	       : store_exec(c,
			    "SELECT id, customer_id, type, created_at, group_id FROM message_events"
			    " WHERE seq IS NULL ORDER BY created_at, id LIMIT $1",
			    p, 1, &ev);
	*n = rc == 0 ? store_res_rows(ev) : 0;
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		struct fanout_event e = {API_STREAM_MESSAGE,
					 store_res_text(ev, i, 0),
					 store_res_text(ev, i, 1),
					 store_res_text(ev, i, 2),
					 ++seq,
					 store_res_int(ev, i, 3),
					 store_res_text(ev, i, 4)};
		struct store_param q[] = {store_p_int(seq), store_p_text(e.id)};
		rc = store_exec(c, "UPDATE message_events SET seq = $1 WHERE id = $2", q, 2, NULL);
		rc = rc ? rc : fanout_event(c, &e, now);
		rc = rc ? rc : fanout_callback(c, &e, now);
	}
	if (rc == 0 && *n > 0)
		rc = fanout_cursor_move(c, 2, seq);
	store_res_free(ev);
	return rc;
}

/* One batch of a stream's new events in one transaction; returns how many
 * were read or an error. */
int api_fanout_run(struct store_conn *c, enum api_fanout_stream stream)
{
	size_t n = 0;
	int64_t now = time_wall_ms();
	int rc = store_tx_begin(c);
	if (rc < 0)
		return rc;
	rc = stream == API_STREAM_CONFIG ? fanout_config(c, now, &n) : fanout_messages(c, now, &n);
	rc = rc == 0 ? store_tx_commit(c) : rc;
	if (rc < 0)
		store_tx_rollback(c);
	return rc < 0 ? rc : (int)n;
}
