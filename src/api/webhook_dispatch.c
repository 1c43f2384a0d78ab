/*
 * webhook_dispatch.c — the webhook dispatcher: delivers the events outbox to the
 * customers' webhooks and to the callback URLs of their messages.
 *
 * One thread, with its own store connection and a libcurl multi handle, runs
 * rounds every [webhooks] poll:
 *
 *  1. Fan-out (fanout.c).  New events of each stream — provisioning events
 *     and message events — become webhook_deliveries rows, one per matching
 *     webhook, and a message.status event of a message sent with a
 *     callback_url also a message_callbacks row (decision 0032).
 *  2. Delivery.  The head of each webhook and stream — its pending delivery
 *     with the lowest seq — is attempted when due; the deliveries behind it
 *     wait, so a webhook sees each stream's events in seq (commit) order.
 *     A callback delivery has no order to keep (its URL belongs to one
 *     message) and is attempted when due.  Up to concurrency of them are in
 *     flight at once.  Each is claimed first by moving next_attempt_at
 *     forward past the request's timeout (a lease), so another dispatcher
 *     skips it and a crash only delays it.  Both kinds are signed the same
 *     way: a webhook's with its secret, a callback with its customer's
 *     callback secret (callback_secret.c).
 *  3. Outcome.  2xx: delivered.  Anything else, a timeout or a connection
 *     error: attempted again after api_webhook_dispatch_backoff_ms, or marked failed
 *     after max_attempts — and the next delivery of that webhook moves up.
 *  4. Retention (retention.c), at most every min(message_retention, 1 min):
 *     message events older than [webhooks] message_retention that no
 *     delivery waits for are deleted with their deliveries, a batch a round.
 *
 * Delivery is at least once: a request that reached the receiver but whose
 * answer was lost (crash, stop, timeout) is sent again with the same event id.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "api/webhook_dispatch.h"

#define DISPATCH_COMPONENT "webhooks"
#define CONCURRENCY_MAX 64
/* The retention sweep runs at most this often (or every retention, when
 * that is shorter), and again at the next round after a full batch. */
#define RETENTION_EVERY_MS 60000
/* A claimed delivery is left alone by other dispatchers this much longer
 * than its request may take. */
#define LEASE_MARGIN_MS 2000
/* How often an in-flight round looks at the stop flag (curl_multi_wakeup
 * usually wakes it sooner). */
#define MULTI_POLL_MS 100
#define ERROR_TEXT_MAX 200

/* Where a delivery goes: a webhook (webhook_deliveries, a row per event and
 * webhook) or the callback URL of the event's message (message_callbacks, a
 * row per event and its customer; decision 0032). */
enum dispatch_target { TARGET_WEBHOOK, TARGET_CALLBACK, TARGET_COUNT };

/* An outcome, as warp_webhook_deliveries_total and
 * warp_message_callbacks_total count them. */
enum dispatch_result { RESULT_DELIVERED, RESULT_RETRIED, RESULT_FAILED, RESULT_COUNT };

/* One attempt in flight. */
struct delivery {
	enum dispatch_target target;
	char event_id[ID_MAX];
	char target_id[ID_MAX]; /* the webhook, or the callback's customer */
	int64_t attempts;	/* before this one */
	int64_t old_next;	/* next_attempt_at before the claim */
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

struct api_webhook_dispatch {
	struct api_webhook_dispatch_opts o;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards the sleep only */
	pthread_cond_t wake;
	CURLM *multi;
	struct delivery *slots; /* o.concurrency of them */
	bool store_failing;	/* logged once per outage */
	int64_t retention_due;	/* when the next retention sweep may run */
	unsigned rounds;	/* odd rounds serve callbacks first */
	struct metric *m_results[TARGET_COUNT][RESULT_COUNT];
	struct metric *m_errors, *m_pending, *m_pruned;
};

void api_webhook_dispatch_opts_init(struct api_webhook_dispatch_opts *o)
{
	*o = (struct api_webhook_dispatch_opts){
	    .poll_ms = 500,
	    .timeout_ms = 5000,
	    .max_attempts = 10,
	    .backoff_base_ms = 5000,
	    .backoff_max_ms = 3600000,
	    .concurrency = 8,
	    .message_retention_ms = 7 * 24 * 3600000LL,
	};
}

/* ----------------------------------------------------------- store errors */

static void dispatch_store_error(struct api_webhook_dispatch *d, struct store_conn *c, const char *what,
				 int rc)
{
	metric_inc(d->m_errors);
	if (!d->store_failing)
		log_warn(DISPATCH_COMPONENT, "%s: %s (%s); retrying every poll", what,
			 store_strerror(rc), c ? store_conn_errmsg(c) : "no connection");
	d->store_failing = true;
}

static void dispatch_store_ok(struct api_webhook_dispatch *d)
{
	if (d->store_failing)
		log_info(DISPATCH_COMPONENT, "store answers again");
	d->store_failing = false;
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
		: api_webhook_dispatch_sign(
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
static curl_socket_t delivery_socket_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct delivery *dl = arg;
	if (purpose == CURLSOCKTYPE_IPCXN && api_webhook_addr_private(&a->addr)) {
		const void *in =
		    a->family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr
			: (const void *)&((struct sockaddr_in *)(void *)&a->addr)->sin_addr;
		if (!inet_ntop(a->family, in, dl->refused, sizeof(dl->refused)))
			str_copy(dl->refused, sizeof(dl->refused), str_from_cstr("?"));
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int delivery_easy(struct api_webhook_dispatch *d, struct delivery *dl)
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

static void delivery_reset(struct api_webhook_dispatch *d, struct delivery *dl)
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

/* ------------------------------------------------------- the two tables */

/* The event of a webhook delivery from the table of its stream: two LEFT
 * JOINs on primary keys rather than a UNION view, which SQLite would scan
 * whole.  Only each webhook's and stream's head. */
#define WEBHOOK_HEADS_SQL                                                                          \
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

/* The same columns for callbacks: every due one (no order to keep), signed
 * with the customer's callback secret — NULL when it has none. */
#define CALLBACK_HEADS_SQL                                                                         \
	"SELECT d.event_id, d.customer_id, d.attempts, d.next_attempt_at, d.seq, m.customer_id,"   \
	" m.type, m.group_id, m.data, m.created_at, d.url, s.secret"                               \
	" FROM message_callbacks d JOIN message_events m ON m.id = d.event_id"                     \
	" LEFT JOIN callback_secrets s ON s.customer_id = d.customer_id"                           \
	" WHERE d.status = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.seq LIMIT $2"

/* message_callbacks has webhook_deliveries' columns where the dispatcher
 * touches them, customer_id standing for webhook_id, so each statement is
 * written once for both. */
#define CLAIM_SQL(table, key)                                                                      \
	"UPDATE " table " SET next_attempt_at = $1 WHERE event_id = $2 AND " key " = $3"           \
	" AND status = 'pending' AND next_attempt_at = $4"
#define UNCLAIM_SQL(table, key)                                                                    \
	"UPDATE " table " SET next_attempt_at = $1 WHERE event_id = $2 AND " key " = $3"           \
	" AND status = 'pending'"
#define RECORD_SQL(table, key)                                                                     \
	"UPDATE " table " SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4,"  \
	" delivered_at = $5, last_status = $6 WHERE event_id = $7 AND " key " = $8"
#define TARGET_SQL(table, key)                                                                     \
	CLAIM_SQL(table, key), UNCLAIM_SQL(table, key), RECORD_SQL(table, key)

static const struct {
	const char *name; /* in logs: "event … to <name> <target_id>" */
	const char *heads, *claim, *unclaim, *record;
} targets[TARGET_COUNT] = {
    [TARGET_WEBHOOK] = {"webhook", WEBHOOK_HEADS_SQL,
			TARGET_SQL("webhook_deliveries", "webhook_id")},
    [TARGET_CALLBACK] = {"the callback URL of customer", CALLBACK_HEADS_SQL,
			 TARGET_SQL("message_callbacks", "customer_id")},
};

/* --------------------------------------------------------------- claiming */

/* Takes the delivery for this dispatcher unless another has (0 or -EALREADY). */
static int delivery_claim(struct api_webhook_dispatch *d, struct store_conn *c, struct delivery *dl)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(time_wall_ms() + d->o.timeout_ms + LEASE_MARGIN_MS),
				  store_p_text(dl->event_id), store_p_text(dl->target_id),
				  store_p_int(dl->old_next)};
	int rc = store_exec(c, targets[dl->target].claim, p, 4, &r);
	if (rc == 0 && store_res_changes(r) != 1)
		rc = -EALREADY;
	store_res_free(r);
	return rc;
}

/* Gives a claimed but unsent (or abandoned) delivery back, due at once. */
static void delivery_unclaim(struct store_conn *c, const struct delivery *dl)
{
	struct store_param p[] = {store_p_int(dl->old_next), store_p_text(dl->event_id),
				  store_p_text(dl->target_id)};
	store_exec(c, targets[dl->target].unclaim, p, 3, NULL);
}

/* A callback whose customer has set no callback secret is not sent
 * unsigned: the attempt fails with this error, and retries with backoff
 * until one is set or the attempts run out. */
static void delivery_unsent(struct delivery *dl, const char *customer)
{
	dl->done = true;
	dl->cc = CURLE_LOGIN_DENIED;
	snprintf(dl->errbuf, sizeof(dl->errbuf),
		 "no callback secret: set one with POST /api/v1/customers/%s/callback-secret",
		 customer);
}

/* Columns: 0 event_id, 1 target id, 2 attempts, 3 next_attempt_at, 4 seq,
 * 5 customer_id, 6 type, 7 resource_id, 8 data, 9 created_at, 10 url, 11 secret. */
static int delivery_prepare(struct api_webhook_dispatch *d, struct store_conn *c, struct delivery *dl,
			    const struct store_res *r, size_t row)
{
	bool no_secret = store_res_isnull(r, row, 11);
	str_copy(dl->event_id, sizeof(dl->event_id), str_from_cstr(store_res_text(r, row, 0)));
	str_copy(dl->target_id, sizeof(dl->target_id), str_from_cstr(store_res_text(r, row, 1)));
	dl->attempts = store_res_int(r, row, 2);
	dl->old_next = store_res_int(r, row, 3);
	if (no_secret) {
		delivery_unsent(dl, store_res_text(r, row, 5));
		return delivery_claim(d, c, dl);
	}
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

static void delivery_record(struct api_webhook_dispatch *d, struct store_conn *c, struct delivery *dl)
{
	int64_t now = time_wall_ms();
	int64_t n = dl->attempts + 1;
	char err[ERROR_TEXT_MAX];
	bool ok = dl->cc == CURLE_OK && dl->status >= 200 && dl->status < 300;
	/* A refused address is refused again on every retry: give up at once. */
	bool refused = dl->cc != CURLE_OK && dl->refused[0];
	bool final = ok || refused || n >= d->o.max_attempts;
	enum dispatch_result res = ok ? RESULT_DELIVERED : final ? RESULT_FAILED : RESULT_RETRIED;
	static const char *const states[RESULT_COUNT] = {"delivered", "pending", "failed"};
	uint32_t jitter = 0;

	delivery_error_text(dl, err, sizeof(err));
	random_bytes(&jitter, sizeof(jitter));
	int64_t next = final ? now
			     : now + api_webhook_dispatch_backoff_ms(d->o.backoff_base_ms,
							     d->o.backoff_max_ms, n, jitter);
	struct store_param p[] = {store_p_text(states[res]),
				  store_p_int(n),
				  store_p_int(next),
				  ok ? store_p_null() : store_p_text(err),
				  ok ? store_p_int(now) : store_p_null(),
				  dl->cc == CURLE_OK ? store_p_int(dl->status) : store_p_null(),
				  store_p_text(dl->event_id),
				  store_p_text(dl->target_id)};
	int rc = store_exec(c, targets[dl->target].record, p, 8, NULL);
	if (rc < 0)
		dispatch_store_error(d, c, "recording a delivery", rc);
	metric_inc(d->m_results[dl->target][res]);
	if (!ok)
		log_warn(DISPATCH_COMPONENT, "event %s to %s %s: attempt %" PRId64 " failed (%s)%s",
			 dl->event_id, targets[dl->target].name, dl->target_id, n, err,
			 final ? ": giving up" : "");
	else
		log_debug(DISPATCH_COMPONENT, "event %s delivered to %s %s", dl->event_id,
			  targets[dl->target].name, dl->target_id);
}

/* Runs the transfers until all are done or the dispatcher stops. */
static void dispatch_transfer(struct api_webhook_dispatch *d, size_t n)
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

/* Prepares the due deliveries of target into the free slots from *n on. */
static int dispatch_heads(struct api_webhook_dispatch *d, struct store_conn *c, enum dispatch_target target,
			  size_t *n)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(time_wall_ms()),
				  store_p_int(d->o.concurrency - (int64_t)*n)};
	int rc = *n < (size_t)d->o.concurrency ? store_exec(c, targets[target].heads, p, 2, &r) : 0;

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct delivery *dl = &d->slots[*n];
		dl->target = target;
		if (delivery_prepare(d, c, dl, r, i) == 0)
			(*n)++;
		else
			delivery_reset(d, dl);
	}
	store_res_free(r);
	return rc;
}

/* Attempts the due deliveries, webhooks' and callbacks' in turn first (so
 * neither kind can keep the other's out of the slots); returns how many
 * were attempted or an error. */
static int dispatch_deliver(struct api_webhook_dispatch *d, struct store_conn *c)
{
	enum dispatch_target first = d->rounds++ % 2 ? TARGET_CALLBACK : TARGET_WEBHOOK;
	size_t n = 0;
	int rc = dispatch_heads(d, c, first, &n);
	rc = rc ? rc : dispatch_heads(d, c, (enum dispatch_target)(1 - first), &n);

	dispatch_transfer(d, n);
	for (size_t i = 0; i < n; i++) {
		struct delivery *dl = &d->slots[i];
		if (dl->done)
			delivery_record(d, c, dl);
		else /* stopping: abandoned mid-flight, due again at once after a restart */
			delivery_unclaim(c, dl);
		delivery_reset(d, dl);
	}
	return rc < 0 ? rc : (int)n;
}

static void dispatch_pending_update(struct api_webhook_dispatch *d, struct store_conn *c)
{
	struct store_res *r = NULL;
	if (store_exec(c,
		       "SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') +"
		       " (SELECT COUNT(*) FROM message_callbacks WHERE status = 'pending')",
		       NULL, 0, &r) == 0)
		metric_set(d->m_pending, store_res_int(r, 0, 0));
	store_res_free(r);
}

/* Deletes a batch of message events past their retention when one is due:
 * at most every RETENTION_EVERY_MS (or every retention, when shorter), at
 * once again after a full batch. */
static void dispatch_retention(struct api_webhook_dispatch *d, struct store_conn *c)
{
	int64_t now = time_wall_ms();
	int64_t every = d->o.message_retention_ms < RETENTION_EVERY_MS ? d->o.message_retention_ms
								       : RETENTION_EVERY_MS;
	if (now < d->retention_due)
		return;
	int n = api_retention_prune(c, now - d->o.message_retention_ms, API_RETENTION_BATCH);
	d->retention_due = n == API_RETENTION_BATCH ? now : now + every;
	if (n < 0) {
		dispatch_store_error(d, c, "deleting old message events", n);
		return;
	}
	metric_add(d->m_pruned, n);
	if (n > 0)
		log_debug(DISPATCH_COMPONENT, "%d message events past retention deleted", n);
}

/* One round; true when there may be more work right away. */
static bool dispatch_round(struct api_webhook_dispatch *d)
{
	struct store_conn *c = store_conn(d->o.store);
	if (!c) {
		dispatch_store_error(d, NULL, "store", STORE_EDOWN);
		return false;
	}
	int fanned = api_fanout_run(c, API_STREAM_CONFIG);
	int messages = fanned < 0 ? 0 : api_fanout_run(c, API_STREAM_MESSAGE);
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
	dispatch_retention(d, c);
	return fanned == API_FANOUT_BATCH || messages == API_FANOUT_BATCH || sent > 0;
}

static void dispatch_sleep(struct api_webhook_dispatch *d, int64_t ms)
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
	struct api_webhook_dispatch *d = arg;
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

/* The three results of one family, by enum dispatch_result. */
static int dispatch_results(struct metric_family *f, struct metric **out)
{
	static const char *const names[RESULT_COUNT] = {"delivered", "retried", "failed"};
	for (int i = 0; f && i < RESULT_COUNT; i++)
		if (!(out[i] = metric_get(f, names[i])))
			return -ENOMEM;
	return f ? 0 : -EINVAL;
}

static int dispatch_metrics(struct api_webhook_dispatch *d)
{
	struct metrics *m = metrics_default();
	struct metric_family *webhooks =
	    metrics_counter(m, "warp_webhook_deliveries_total",
			    "Webhook delivery attempts by result: delivered, retried (will be "
			    "attempted again), failed (gave up).",
			    "result");
	struct metric_family *callbacks = metrics_counter(
	    m, "warp_message_callbacks_total",
	    "Delivery attempts to messages' callback URLs by result: delivered, retried, failed.",
	    "result");
	struct metric_family *errors = metrics_counter(
	    m, "warp_webhook_dispatch_errors_total",
	    "Store errors of the webhook dispatcher (the round is retried on the next poll).",
	    NULL);
	struct metric_family *pending =
	    metrics_gauge(m, "warp_webhook_pending",
			  "Webhook and callback deliveries not yet delivered or failed.", NULL);
	struct metric_family *pruned = metrics_counter(
	    m, "warp_message_events_pruned_total",
	    "Message events deleted with their deliveries after [webhooks] message_retention.",
	    NULL);
	int rc = dispatch_results(webhooks, d->m_results[TARGET_WEBHOOK]);
	rc = rc ? rc : dispatch_results(callbacks, d->m_results[TARGET_CALLBACK]);
	if (rc < 0 || !errors || !pending || !pruned)
		return rc < 0 ? rc : -EINVAL;
	d->m_errors = metric_get(errors);
	d->m_pending = metric_get(pending);
	d->m_pruned = metric_get(pruned);
	return d->m_errors && d->m_pending && d->m_pruned ? 0 : -ENOMEM;
}

static int dispatch_sync_init(struct api_webhook_dispatch *d)
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

struct api_webhook_dispatch *api_webhook_dispatch_start_opts(const struct api_webhook_dispatch_opts *o, char *err,
					     size_t errlen)
{
	struct api_webhook_dispatch *d = NULL;
	if (!o->store || o->concurrency < 1 || o->concurrency > CONCURRENCY_MAX ||
	    o->max_attempts < 1 || o->poll_ms < 1 || o->timeout_ms < 1 ||
	    o->message_retention_ms < 1) {
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
	d->slots = calloc((size_t)o->concurrency, sizeof(*d->slots));
	d->multi = curl_multi_init();
	if (!d->slots || !d->multi || dispatch_metrics(d) < 0 ||
	    pthread_create(&d->thread, NULL, dispatch_main, d) != 0) {
		snprintf(err, errlen, "webhook dispatcher: cannot start");
		api_webhook_dispatch_stop(d);
		return NULL;
	}
	d->started = true;
	return d;
}

void api_webhook_dispatch_stop(struct api_webhook_dispatch *d)
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

/* The [webhooks] keys and where each goes in the options: the one place a
 * key is read, so a new one is a row here and a member there. */
enum dispatch_key_type { KEY_DURATION, KEY_INT, KEY_BOOL };

static const struct {
	const char *key;
	enum dispatch_key_type type;
	size_t at; /* offsetof the member: int64_t, or bool for KEY_BOOL */
} dispatch_keys[] = {
    {"poll", KEY_DURATION, offsetof(struct api_webhook_dispatch_opts, poll_ms)},
    {"timeout", KEY_DURATION, offsetof(struct api_webhook_dispatch_opts, timeout_ms)},
    {"max_attempts", KEY_INT, offsetof(struct api_webhook_dispatch_opts, max_attempts)},
    {"backoff_base", KEY_DURATION, offsetof(struct api_webhook_dispatch_opts, backoff_base_ms)},
    {"backoff_max", KEY_DURATION, offsetof(struct api_webhook_dispatch_opts, backoff_max_ms)},
    {"concurrency", KEY_INT, offsetof(struct api_webhook_dispatch_opts, concurrency)},
    {"allow_private", KEY_BOOL, offsetof(struct api_webhook_dispatch_opts, allow_private)},
    {"message_retention", KEY_DURATION, offsetof(struct api_webhook_dispatch_opts, message_retention_ms)},
};

struct api_webhook_dispatch *api_webhook_dispatch_start(struct store *s, const struct config *cfg, char *err,
					size_t errlen)
{
	struct api_webhook_dispatch_opts o;
	api_webhook_dispatch_opts_init(&o);
	o.store = s;
	for (size_t i = 0; i < sizeof(dispatch_keys) / sizeof(dispatch_keys[0]); i++) {
		char *at = (char *)&o + dispatch_keys[i].at;
		const char *key = dispatch_keys[i].key;
		if (dispatch_keys[i].type == KEY_BOOL)
			*(bool *)(void *)at = config_bool(cfg, "webhooks", key);
		else
			*(int64_t *)(void *)at = dispatch_keys[i].type == KEY_INT
						     ? config_int(cfg, "webhooks", key)
						     : config_duration_ms(cfg, "webhooks", key);
	}
	return api_webhook_dispatch_start_opts(&o, err, errlen);
}
