/*
 * dispatch.c — the webhook dispatcher: delivers the events outbox to the
 * customers' webhooks.
 *
 * One thread, with its own store connection and a libcurl multi handle, runs
 * rounds every [webhooks] poll:
 *
 *  1. Fan-out.  Events with seq above the cursor in webhook_dispatch are read
 *     in seq order; for each event of a customer, one webhook_deliveries row
 *     is inserted per enabled webhook of that customer whose event_types
 *     match and that existed before the event (its creation event has a
 *     lower seq).  Rows and the cursor move commit in one transaction, rows
 *     with ON CONFLICT DO NOTHING: a crash or a second dispatcher never loses
 *     or doubles a delivery.  seq needs no gap handling: it is the config
 *     version, bumped under that row's lock until commit, so a committed seq
 *     implies every lower one has committed too.
 *     Message events (message.status, written by the smsc into
 *     message_events without touching the config version) are a second
 *     stream: the fan-out numbers them itself, under the lock of the cursor
 *     row webhook_dispatch 2, as it finds them committed, and fans them out
 *     the same way (fanout_messages; decision 0026).
 *  2. Delivery.  The head of each webhook and stream — its pending delivery
 *     with the lowest seq — is attempted when due; the deliveries behind it
 *     wait, so a webhook sees each stream's events in seq (commit) order.
 *     Up to concurrency heads (at most one per webhook and stream) are in
 *     flight at once.  Each is claimed first by moving next_attempt_at
 *     forward past the request's timeout (a lease), so another dispatcher
 *     skips it and a crash only delays it.
 *  3. Outcome.  2xx: delivered.  Anything else, a timeout or a connection
 *     error: attempted again after api_dispatch_backoff_ms, or marked failed
 *     after max_attempts — and the next delivery of that webhook moves up.
 *
 * Delivery is at least once: a request that reached the receiver but whose
 * answer was lost (crash, stop, timeout) is sent again with the same event id.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "api/dispatch.h"

#define DISPATCH_COMPONENT "webhooks"
#define FANOUT_BATCH 256
#define CONCURRENCY_MAX 64
/* A claimed delivery is left alone by other dispatchers this much longer
 * than its request may take. */
#define LEASE_MARGIN_MS 2000
/* How often an in-flight round looks at the stop flag (curl_multi_wakeup
 * usually wakes it sooner). */
#define MULTI_POLL_MS 100
#define ERROR_TEXT_MAX 200

/* One attempt in flight. */
struct delivery {
	char event_id[ID_MAX];
	char webhook_id[ID_MAX];
	int64_t attempts; /* before this one */
	int64_t old_next; /* next_attempt_at before the claim */
	char *url;
	struct buf payload; /* "<ts>." followed by the body: signed whole, sent from body */
	size_t body_off;
	struct curl_slist *headers;
	CURL *easy;
	bool done;
	CURLcode cc;
	long status;
	char errbuf[CURL_ERROR_SIZE];
	/* The non-public address the host resolved to, when the connection to
	 * it was refused ("" otherwise). */
	char refused[INET6_ADDRSTRLEN];
};

struct api_dispatch {
	struct api_dispatch_opts o;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards the sleep only */
	pthread_cond_t wake;
	CURLM *multi;
	struct delivery *slots; /* o.concurrency of them */
	bool store_failing;	/* logged once per outage */
	struct metric *m_delivered, *m_retried, *m_failed, *m_errors, *m_pending;
};

/* ------------------------------------------------------------ pure parts */

int api_dispatch_sign(struct str secret, int64_t ts, struct str body, char *out, size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	struct buf msg;
	int rc = 0;

	buf_init(&msg);
	if (buf_printf(&msg, "%" PRId64 ".", ts) < 0 || buf_append_str(&msg, body) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (!HMAC(EVP_sha256(), secret.p, (int)secret.len, (const unsigned char *)msg.p, msg.len,
		  mac, &maclen)) {
		rc = -EIO;
		goto out;
	}
	hex_encode(mac, maclen, hex);
	int w = snprintf(out, n, "t=%" PRId64 ",v1=%s", ts, hex);
	rc = w < 0 || (size_t)w >= n ? -ENOSPC : 0;
out:
	buf_fini(&msg);
	return rc;
}

int64_t api_dispatch_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t n, uint32_t r)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int64_t i = 1; i < n && d < max_ms; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > max_ms)
		d = max_ms;
	return d - (int64_t)(r % (uint64_t)(d / 4 + 1));
}

static bool pattern_matches(const char *pat, const char *type)
{
	size_t len = strlen(pat);
	if (strcmp(pat, "*") == 0)
		return true;
	/* "trunk.*": every type in the "trunk." family, not "trunks.x". */
	if (len >= 2 && strcmp(pat + len - 2, ".*") == 0)
		return strncmp(type, pat, len - 1) == 0;
	return strcmp(pat, type) == 0;
}

bool api_dispatch_type_matches(const char *event_types_json, const char *type)
{
	json_t *list = json_loads(event_types_json, 0, NULL);
	bool hit = false;
	size_t i;
	json_t *v;

	if (json_is_array(list))
		json_array_foreach(list, i, v)
		{
			if (json_is_string(v) && pattern_matches(json_string_value(v), type)) {
				hit = true;
				break;
			}
		}
	json_decref(list);
	return hit;
}

void api_dispatch_opts_init(struct api_dispatch_opts *o)
{
	*o = (struct api_dispatch_opts){
	    .poll_ms = 500,
	    .timeout_ms = 5000,
	    .max_attempts = 10,
	    .backoff_base_ms = 5000,
	    .backoff_max_ms = 3600000,
	    .concurrency = 8,
	};
}

/* ----------------------------------------------------------- store errors */

static void dispatch_store_error(struct api_dispatch *d, struct store_conn *c, const char *what,
				 int rc)
{
	metric_inc(d->m_errors);
	if (!d->store_failing)
		log_warn(DISPATCH_COMPONENT, "%s: %s (%s); retrying every poll", what,
			 store_strerror(rc), c ? store_conn_errmsg(c) : "no connection");
	d->store_failing = true;
}

static void dispatch_store_ok(struct api_dispatch *d)
{
	if (d->store_failing)
		log_info(DISPATCH_COMPONENT, "store answers again");
	d->store_failing = false;
}

/* --------------------------------------------------------------- fan-out */

/* The two streams of the outbox: provisioning events (events, seq = the
 * config version) and message events (message_events, seq given by the
 * fan-out below).  Their seqs are apart, so a delivery names its stream and
 * a webhook receives each stream in its own seq order. */
enum fanout_stream { STREAM_CONFIG, STREAM_MESSAGE };

static const char *const stream_names[] = {
    [STREAM_CONFIG] = "config", [STREAM_MESSAGE] = "message"};

/* A customer's enabled webhooks that existed before an event ($2): a config
 * event compares seqs with the webhook's own creation event, a message
 * event compares times, its seq being of the other order. */
static const char *const fanout_webhooks_sql[] = {
    [STREAM_CONFIG] = "SELECT w.id, w.event_types FROM webhooks w WHERE w.customer_id = $1"
		      " AND w.enabled = 1 AND COALESCE((SELECT MIN(e.seq) FROM events e"
		      " WHERE e.resource_id = w.id), 0) < $2",
    [STREAM_MESSAGE] = "SELECT w.id, w.event_types FROM webhooks w WHERE w.customer_id = $1"
		       " AND w.enabled = 1 AND w.created_at <= $2",
};

/* One event to be fanned out. */
struct fanout_event {
	enum fanout_stream stream;
	const char *id, *customer_id, *type;
	int64_t seq, after; /* after: what fanout_webhooks_sql compares */
};

/* The deliveries of one event: one per webhook of fanout_webhooks_sql
 * whose event_types match.  Inside the fan-out transaction. */
static int fanout_event(struct store_conn *c, const struct fanout_event *ev, int64_t now)
{
	struct store_res *w = NULL;
	struct store_param p[] = {store_p_text(ev->customer_id), store_p_int(ev->after)};
	int rc = store_exec(c, fanout_webhooks_sql[ev->stream], p, 2, &w);
	for (size_t i = 0; rc == 0 && i < store_res_rows(w); i++) {
		if (!api_dispatch_type_matches(store_res_text(w, i, 1), ev->type))
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
	struct store_param p[] = {store_p_int(last), store_p_int(FANOUT_BATCH)};
	rc = rc ? rc
		: store_exec(c,
			     "SELECT id, seq, customer_id, type FROM events WHERE seq > $1"
			     " ORDER BY seq LIMIT $2",
			     p, 2, &ev);
	*n = rc == 0 ? store_res_rows(ev) : 0;
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		if (store_res_isnull(ev, i, 2)) /* admin-only resources: no customer */
			continue;
		struct fanout_event e = {STREAM_CONFIG,
					 store_res_text(ev, i, 0),
					 store_res_text(ev, i, 2),
					 store_res_text(ev, i, 3),
					 store_res_int(ev, i, 1),
					 store_res_int(ev, i, 1)};
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
	struct store_param p[] = {store_p_int(FANOUT_BATCH)};
	rc = rc ? rc
		: store_exec(c,
			     "SELECT id, customer_id, type, created_at FROM message_events"
			     " WHERE seq IS NULL ORDER BY created_at, id LIMIT $1",
			     p, 1, &ev);
	*n = rc == 0 ? store_res_rows(ev) : 0;
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		struct fanout_event e = {STREAM_MESSAGE,
					 store_res_text(ev, i, 0),
					 store_res_text(ev, i, 1),
					 store_res_text(ev, i, 2),
					 ++seq,
					 store_res_int(ev, i, 3)};
		struct store_param q[] = {store_p_int(seq), store_p_text(e.id)};
		rc = store_exec(c, "UPDATE message_events SET seq = $1 WHERE id = $2", q, 2, NULL);
		rc = rc ? rc : fanout_event(c, &e, now);
	}
	if (rc == 0 && *n > 0)
		rc = fanout_cursor_move(c, 2, seq);
	store_res_free(ev);
	return rc;
}

/* One batch of a stream's new events in one transaction; returns how many
 * were read or an error. */
static int dispatch_fanout(struct store_conn *c, enum fanout_stream stream)
{
	size_t n = 0;
	int64_t now = time_wall_ms();
	int rc = store_tx_begin(c);
	if (rc < 0)
		return rc;
	rc = stream == STREAM_CONFIG ? fanout_config(c, now, &n) : fanout_messages(c, now, &n);
	rc = rc == 0 ? store_tx_commit(c) : rc;
	if (rc < 0)
		store_tx_rollback(c);
	return rc < 0 ? rc : (int)n;
}

/* ------------------------------------------------------- building a request */

/* The event as GET /api/v1/events/{id} shows it. */
static char *event_body(const struct store_res *r, size_t row)
{
	json_t *data = json_loads(store_res_text(r, row, 8), JSON_DECODE_ANY, NULL);
	json_t *o = json_pack(
	    "{s:s,s:I,s:s,s:I,s:s,s:s,s:o}", "id", store_res_text(r, row, 0), "seq",
	    (json_int_t)store_res_int(r, row, 4), "type", store_res_text(r, row, 6), "created_at",
	    (json_int_t)store_res_int(r, row, 9), "customer_id", store_res_text(r, row, 5),
	    "resource_id", store_res_text(r, row, 7), "data", data ? data : json_null());
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

/* "Name: value", or "Name:" when value is NULL (curl then drops its own). */
static int header_add(struct curl_slist **list, const char *name, const char *value)
{
	char line[512];
	int w = value ? snprintf(line, sizeof(line), "%s: %s", name, value)
		      : snprintf(line, sizeof(line), "%s:", name);
	if (w < 0 || (size_t)w >= sizeof(line))
		return -ENOSPC;
	struct curl_slist *l = curl_slist_append(*list, line);
	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

/* Signs body for secret at ts and sets the delivery's headers. */
static int delivery_headers(struct delivery *dl, const char *type, const char *secret,
			    const char *body)
{
	char sig[API_DISPATCH_SIG_MAX], ts_text[24];
	int64_t ts = time_wall_ms() / 1000;

	snprintf(ts_text, sizeof(ts_text), "%" PRId64, ts);
	int rc = buf_printf(&dl->payload, "%s.", ts_text);
	dl->body_off = dl->payload.len;
	rc = rc ? rc : buf_append_cstr(&dl->payload, body);
	rc = rc ? rc
		: api_dispatch_sign(
		      str_from_cstr(secret), ts,
		      (struct str){dl->payload.p + dl->body_off, dl->payload.len - dl->body_off},
		      sig, sizeof(sig));
	rc = rc ? rc : header_add(&dl->headers, "Content-Type", "application/json");
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	rc = rc ? rc : header_add(&dl->headers, "Expect", NULL);
	rc = rc ? rc : header_add(&dl->headers, "User-Agent", "warp-webhooks/" WARP_VERSION);
	rc = rc ? rc : header_add(&dl->headers, "Warp-Event-Id", dl->event_id);
	rc = rc ? rc : header_add(&dl->headers, "Warp-Event-Type", type);
	rc = rc ? rc : header_add(&dl->headers, "Warp-Timestamp", ts_text);
	rc = rc ? rc : header_add(&dl->headers, "Warp-Signature", sig);
	return rc;
}

static size_t discard_body(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* Called by curl for each address the URL's host resolved to, just before
 * connecting: the check happens after DNS, so a name that resolves (or is
 * re-pointed, DNS rebinding) to a private address is never connected to.
 * Refusing one address lets curl try the host's others. */
static curl_socket_t delivery_socket_open(void *arg, curlsocktype purpose,
					  struct curl_sockaddr *a)
{
	struct delivery *dl = arg;
	if (purpose == CURLSOCKTYPE_IPCXN && api_webhook_addr_private(&a->addr)) {
		const void *in = a->family == AF_INET6
				     ? (const void *)&((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr
				     : (const void *)&((struct sockaddr_in *)(void *)&a->addr)->sin_addr;
		if (!inet_ntop(a->family, in, dl->refused, sizeof(dl->refused)))
			str_copy(dl->refused, sizeof(dl->refused), str_from_cstr("?"));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int delivery_easy(struct api_dispatch *d, struct delivery *dl)
{
	CURL *e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	dl->easy = e;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, dl->url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is a failure */
	/* No proxy from the environment (http_proxy and the like): through one,
	 * the address check below would judge the proxy, not the receiver. */
	bad |= curl_easy_setopt(e, CURLOPT_PROXY, "");
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->o.timeout_ms);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, dl->headers);
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, dl->payload.p + dl->body_off);
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				(curl_off_t)(dl->payload.len - dl->body_off));
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, dl->errbuf);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, dl);
	if (!d->o.allow_private) {
		bad |= curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, delivery_socket_open);
		bad |= curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, dl);
	}
	return bad ? -EINVAL : 0;
}

static void delivery_reset(struct api_dispatch *d, struct delivery *dl)
{
	if (dl->easy) {
		curl_multi_remove_handle(d->multi, dl->easy);
		curl_easy_cleanup(dl->easy);
	}
	curl_slist_free_all(dl->headers);
	free(dl->url);
	buf_fini(&dl->payload);
	memset(dl, 0, sizeof(*dl));
}

/* --------------------------------------------------------------- claiming */

/* Takes the delivery for this dispatcher unless another has (0 or -EALREADY). */
static int delivery_claim(struct api_dispatch *d, struct store_conn *c, struct delivery *dl)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(time_wall_ms() + d->o.timeout_ms + LEASE_MARGIN_MS),
				  store_p_text(dl->event_id), store_p_text(dl->webhook_id),
				  store_p_int(dl->old_next)};
	int rc = store_exec(c,
			    "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE event_id = $2"
			    " AND webhook_id = $3 AND status = 'pending' AND next_attempt_at = $4",
			    p, 4, &r);
	if (rc == 0 && store_res_changes(r) != 1)
		rc = -EALREADY;
	store_res_free(r);
	return rc;
}

/* Gives a claimed but unsent (or abandoned) delivery back, due at once. */
static void delivery_unclaim(struct store_conn *c, const struct delivery *dl)
{
	struct store_param p[] = {store_p_int(dl->old_next), store_p_text(dl->event_id),
				  store_p_text(dl->webhook_id)};
	store_exec(c,
		   "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE event_id = $2"
		   " AND webhook_id = $3 AND status = 'pending'",
		   p, 3, NULL);
}

/* Columns: 0 event_id, 1 webhook_id, 2 attempts, 3 next_attempt_at, 4 seq,
 * 5 customer_id, 6 type, 7 resource_id, 8 data, 9 created_at, 10 url, 11 secret. */
static int delivery_prepare(struct api_dispatch *d, struct store_conn *c, struct delivery *dl,
			    const struct store_res *r, size_t row)
{
	str_copy(dl->event_id, sizeof(dl->event_id), str_from_cstr(store_res_text(r, row, 0)));
	str_copy(dl->webhook_id, sizeof(dl->webhook_id), str_from_cstr(store_res_text(r, row, 1)));
	dl->attempts = store_res_int(r, row, 2);
	dl->old_next = store_res_int(r, row, 3);
	dl->url = str_dup(str_from_cstr(store_res_text(r, row, 10)));
	char *body = event_body(r, row);
	int rc = dl->url && body ? 0 : -ENOMEM;
	rc = rc ? rc
		: delivery_headers(dl, store_res_text(r, row, 6), store_res_text(r, row, 11), body);
	rc = rc ? rc : delivery_easy(d, dl);
	rc = rc ? rc : delivery_claim(d, c, dl);
	if (rc == 0 && curl_multi_add_handle(d->multi, dl->easy) != CURLM_OK) {
		delivery_unclaim(c, dl);
		rc = -ENOMEM;
	}
	free(body);
	return rc;
}

/* ------------------------------------------------------------- outcomes */

/* What last_error says about a failed attempt. */
static void delivery_error_text(const struct delivery *dl, char *err, size_t n)
{
	if (dl->cc != CURLE_OK && dl->refused[0])
		snprintf(err, n,
			 "refused: the host resolved to %s, a non-public address"
			 " ([webhooks] allow_private = false)",
			 dl->refused);
	else if (dl->cc != CURLE_OK)
		snprintf(err, n, "%.*s", (int)n - 1,
			 dl->errbuf[0] ? dl->errbuf : curl_easy_strerror(dl->cc));
	else
		snprintf(err, n, "HTTP %ld", dl->status);
}

static void delivery_record(struct api_dispatch *d, struct store_conn *c, struct delivery *dl)
{
	int64_t now = time_wall_ms();
	int64_t n = dl->attempts + 1;
	char err[ERROR_TEXT_MAX];
	bool ok = dl->cc == CURLE_OK && dl->status >= 200 && dl->status < 300;
	/* A refused address is refused again on every retry: give up at once. */
	bool refused = dl->cc != CURLE_OK && dl->refused[0];
	bool final = ok || refused || n >= d->o.max_attempts;
	uint32_t jitter = 0;

	delivery_error_text(dl, err, sizeof(err));
	random_bytes(&jitter, sizeof(jitter));
	int64_t next = final ? now
			     : now + api_dispatch_backoff_ms(d->o.backoff_base_ms,
							     d->o.backoff_max_ms, n, jitter);
	struct store_param p[] = {store_p_text(ok      ? "delivered"
					       : final ? "failed"
						       : "pending"),
				  store_p_int(n),
				  store_p_int(next),
				  ok ? store_p_null() : store_p_text(err),
				  ok ? store_p_int(now) : store_p_null(),
				  dl->cc == CURLE_OK ? store_p_int(dl->status) : store_p_null(),
				  store_p_text(dl->event_id),
				  store_p_text(dl->webhook_id)};
	int rc = store_exec(c,
			    "UPDATE webhook_deliveries SET status = $1, attempts = $2,"
			    " next_attempt_at = $3, last_error = $4, delivered_at = $5,"
			    " last_status = $6 WHERE event_id = $7 AND webhook_id = $8",
			    p, 8, NULL);
	if (rc < 0)
		dispatch_store_error(d, c, "recording a delivery", rc);
	metric_inc(ok ? d->m_delivered : final ? d->m_failed : d->m_retried);
	if (!ok)
		log_warn(DISPATCH_COMPONENT,
			 "event %s to webhook %s: attempt %" PRId64 " failed (%s)%s", dl->event_id,
			 dl->webhook_id, n, err, final ? ": giving up" : "");
	else
		log_debug(DISPATCH_COMPONENT, "event %s delivered to webhook %s", dl->event_id,
			  dl->webhook_id);
}

/* Runs the transfers until all are done or the dispatcher stops. */
static void dispatch_transfer(struct api_dispatch *d, size_t n)
{
	int running = 1, left;
	if (n == 0)
		return;
	while (running > 0 && !atomic_load(&d->stop)) {
		if (curl_multi_perform(d->multi, &running) != CURLM_OK)
			break;
		CURLMsg *m;
		while ((m = curl_multi_info_read(d->multi, &left))) {
			struct delivery *dl = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&dl);
			dl->done = true;
			dl->cc = m->data.result;
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &dl->status);
		}
		if (running > 0)
			curl_multi_poll(d->multi, NULL, 0, MULTI_POLL_MS, NULL);
	}
}

/* --------------------------------------------------------------- a round */

/* The event of a delivery from the table of its stream: two LEFT JOINs on
 * primary keys rather than a UNION view, which SQLite would scan whole. */
#define HEADS_SQL                                                                                  \
	"SELECT d.event_id, d.webhook_id, d.attempts, d.next_attempt_at, d.seq,"                   \
	" COALESCE(e.customer_id, m.customer_id), COALESCE(e.type, m.type),"                       \
	" COALESCE(e.resource_id, m.group_id), COALESCE(e.data, m.data),"                          \
	" COALESCE(e.created_at, m.created_at), w.url, w.secret"                                   \
	" FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"                        \
	" LEFT JOIN events e ON d.stream = 'config' AND e.id = d.event_id"                         \
	" LEFT JOIN message_events m ON d.stream = 'message' AND m.id = d.event_id"                \
	" WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled = 1"                \
	" AND NOT EXISTS (SELECT 1 FROM webhook_deliveries h WHERE h.webhook_id = d.webhook_id"    \
	" AND h.status = 'pending' AND h.stream = d.stream AND h.seq < d.seq)"                     \
	" ORDER BY d.seq LIMIT $2"

/* Attempts the due heads; returns how many were attempted or an error. */
static int dispatch_deliver(struct api_dispatch *d, struct store_conn *c)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(time_wall_ms()), store_p_int(d->o.concurrency)};
	int rc = store_exec(c, HEADS_SQL, p, 2, &r);
	size_t n = 0;

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct delivery *dl = &d->slots[n];
		if (delivery_prepare(d, c, dl, r, i) == 0)
			n++;
		else
			delivery_reset(d, dl);
	}
	store_res_free(r);
	if (rc < 0)
		return rc;
	dispatch_transfer(d, n);
	for (size_t i = 0; i < n; i++) {
		struct delivery *dl = &d->slots[i];
		if (dl->done)
			delivery_record(d, c, dl);
		else /* stopping: abandoned mid-flight, due again at once after a restart */
			delivery_unclaim(c, dl);
		delivery_reset(d, dl);
	}
	return (int)n;
}

static void dispatch_pending_update(struct api_dispatch *d, struct store_conn *c)
{
	struct store_res *r = NULL;
	if (store_exec(c, "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'", NULL,
		       0, &r) == 0)
		metric_set(d->m_pending, store_res_int(r, 0, 0));
	store_res_free(r);
}

/* One round; true when there may be more work right away. */
static bool dispatch_round(struct api_dispatch *d)
{
	struct store_conn *c = store_conn(d->o.store);
	if (!c) {
		dispatch_store_error(d, NULL, "store", STORE_EDOWN);
		return false;
	}
	int fanned = dispatch_fanout(c, STREAM_CONFIG);
	int messages = fanned < 0 ? 0 : dispatch_fanout(c, STREAM_MESSAGE);
	if (messages < 0)
		fanned = messages;
	if (fanned < 0) {
		dispatch_store_error(d, c, "fan-out", fanned);
		return false;
	}
	int sent = dispatch_deliver(d, c);
	if (sent < 0) {
		dispatch_store_error(d, c, "reading due deliveries", sent);
		return false;
	}
	dispatch_store_ok(d);
	dispatch_pending_update(d, c);
	return fanned == FANOUT_BATCH || messages == FANOUT_BATCH || sent > 0;
}

static void dispatch_sleep(struct api_dispatch *d, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->lock);
	if (!atomic_load(&d->stop))
		pthread_cond_timedwait(&d->wake, &d->lock, &ts);
	pthread_mutex_unlock(&d->lock);
}

static void *dispatch_main(void *arg)
{
	struct api_dispatch *d = arg;
	log_context_set("webhooks");
	while (!atomic_load(&d->stop))
		if (!dispatch_round(d))
			dispatch_sleep(d, d->o.poll_ms);
	store_conn_release(d->o.store);
	log_context_set(NULL);
	return NULL;
}

/* -------------------------------------------------------- start and stop */

static pthread_once_t dispatch_curl_once = PTHREAD_ONCE_INIT;

static void dispatch_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int dispatch_metrics(struct api_dispatch *d)
{
	struct metrics *m = metrics_default();
	struct metric_family *total =
	    metrics_counter(m, "warp_webhook_deliveries_total",
			    "Webhook delivery attempts by result: delivered, retried (will be "
			    "attempted again), failed (gave up).",
			    "result");
	struct metric_family *errors = metrics_counter(
	    m, "warp_webhook_dispatch_errors_total",
	    "Store errors of the webhook dispatcher (the round is retried on the next poll).",
	    NULL);
	struct metric_family *pending = metrics_gauge(
	    m, "warp_webhook_pending", "Webhook deliveries not yet delivered or failed.", NULL);
	if (!total || !errors || !pending)
		return -EINVAL;
	d->m_delivered = metric_get(total, "delivered");
	d->m_retried = metric_get(total, "retried");
	d->m_failed = metric_get(total, "failed");
	d->m_errors = metric_get(errors);
	d->m_pending = metric_get(pending);
	return d->m_delivered && d->m_retried && d->m_failed && d->m_errors && d->m_pending
		   ? 0
		   : -ENOMEM;
}

static int dispatch_sync_init(struct api_dispatch *d)
{
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&d->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -rc;
	if (pthread_mutex_init(&d->lock, NULL) != 0) {
		pthread_cond_destroy(&d->wake);
		return -ENOMEM;
	}
	return 0;
}

struct api_dispatch *api_dispatch_start_opts(const struct api_dispatch_opts *o, char *err,
					     size_t errlen)
{
	struct api_dispatch *d = NULL;
	if (!o->store || o->concurrency < 1 || o->concurrency > CONCURRENCY_MAX ||
	    o->max_attempts < 1 || o->poll_ms < 1 || o->timeout_ms < 1) {
		snprintf(err, errlen, "webhook dispatcher: invalid options");
		return NULL;
	}
	pthread_once(&dispatch_curl_once, dispatch_curl_init);
	d = calloc(1, sizeof(*d));
	if (!d || dispatch_sync_init(d) < 0) {
		free(d);
		snprintf(err, errlen, "webhook dispatcher: out of memory");
		return NULL;
	}
	d->o = *o;
	d->slots = calloc(o->concurrency, sizeof(*d->slots));
	d->multi = curl_multi_init();
	if (!d->slots || !d->multi || dispatch_metrics(d) < 0 ||
	    pthread_create(&d->thread, NULL, dispatch_main, d) != 0) {
		snprintf(err, errlen, "webhook dispatcher: cannot start");
		api_dispatch_stop(d);
		return NULL;
	}
	d->started = true;
	return d;
}

void api_dispatch_stop(struct api_dispatch *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	atomic_store(&d->stop, true);
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
	if (d->multi)
		curl_multi_wakeup(d->multi);
	if (d->started)
		pthread_join(d->thread, NULL);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	free(d->slots);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct api_dispatch *api_dispatch_start(struct store *s, const struct config *cfg, char *err,
					size_t errlen)
{
	struct api_dispatch_opts o;
	api_dispatch_opts_init(&o);
	o.store = s;
	o.poll_ms = config_duration_ms(cfg, "webhooks", "poll");
	o.timeout_ms = config_duration_ms(cfg, "webhooks", "timeout");
	o.max_attempts = config_int(cfg, "webhooks", "max_attempts");
	o.backoff_base_ms = config_duration_ms(cfg, "webhooks", "backoff_base");
	o.backoff_max_ms = config_duration_ms(cfg, "webhooks", "backoff_max");
	o.concurrency = (unsigned)config_int(cfg, "webhooks", "concurrency");
	o.allow_private = config_bool(cfg, "webhooks", "allow_private");
	return api_dispatch_start_opts(&o, err, errlen);
}
