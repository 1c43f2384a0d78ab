/*
 * ngserver.c — the ng control server: one UDP socket on the control thread.
 *
 * Each datagram is "<cookie> <bencoded dictionary>" and gets one reply with
 * the same cookie.  A cookie seen before is answered from the cookie cache
 * and not executed again (a proxy retransmits when our reply is late).  The
 * commands are rtpengine's: ping, offer, answer, delete, query, list and
 * statistics.  A 500 ms tick ends calls whose media stopped (timeout) or
 * that reached final-timeout.
 */
#include "media/media_private.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#define NG_DGRAM_MAX 65536
#define NG_READS_PER_WAKE 64
#define NG_LIST_DEFAULT 32
#define NG_TICK_MS 500

struct ng_ctx {
	struct media *m;
	const struct bencode_node *req;
	struct buf *out;
	const char *why; /* set: the reply is an error */
	const char *warning;
};

/* --------------------------------------------------------------- commands */

static int ng_ok_begin(struct ng_ctx *x)
{
	int rc = bencode_put_dict_begin(x->out);
	return rc ? rc : bencode_put_kv_str(x->out, "result", STR_LIT("ok"));
}

static int ng_cmd_ping(struct ng_ctx *x)
{
	int rc = bencode_put_dict_begin(x->out);
	rc = rc ? rc : bencode_put_kv_str(x->out, "result", STR_LIT("pong"));
	return rc ? rc : bencode_put_end(x->out);
}

static struct str ng_req_str(const struct ng_ctx *x, const char *key)
{
	struct str v = STR_NULL;

	return media_dict_str(x->req, key, &v) == 0 ? v : STR_NULL;
}

static struct media_call *ng_call(struct ng_ctx *x)
{
	struct str id;
	if (media_dict_str(x->req, "call-id", &id) < 0)
		return NULL;
	return media_call_find(x->m, id);
}

static int ng_cmd_offer(struct ng_ctx *x, bool answer)
{
	const char *why = NULL;
	int rc = media_offer(x->m, x->req, answer, x->out, &why);
	struct media_call *c = rc == 0 ? ng_call(x) : NULL;

	if (rc < 0)
		x->why = why ? why : "Internal error";
	if (!c)
		return 0;
	/* Signalling goes on: a pending delete-delay is called off. */
	c->delete_at_mono_ms = 0;
	/* Each answering to-tag is a dialogue of its own (forking). */
	if (answer &&
	    media_dialogue_answered(c, ng_req_str(x, "to-tag"), ng_req_str(x, "via-branch")) < 0)
		log_warn("media", "call %s: answerer not remembered", c->callid);
	return 0;
}

struct ng_query_job {
	struct media_call *c;
	struct buf *out;
	int rc;
};

static void ng_query_on_worker(void *arg)
{
	struct ng_query_job *j = arg;
	j->rc = media_query_put(j->c, j->out);
}

static int ng_cmd_query(struct ng_ctx *x)
{
	struct ng_query_job j = {ng_call(x), x->out, 0};
	int rc;

	if (!j.c) {
		x->why = "Unknown call-id";
		return 0;
	}
	rc = ng_ok_begin(x);
	rc = rc ? rc : media_worker_sync(x->m, j.c->worker, ng_query_on_worker, &j);
	rc = rc ? rc : j.rc;
	return rc ? rc : bencode_put_end(x->out);
}

/* rtpengine's words for a delete whose call-id or tags match nothing. */
#define NG_DELETE_NO_MATCH "Call-ID not found or tags didn't match"

/* What the delete's tags name in call c (see dialogue.c). */
static int ng_delete_match(struct ng_ctx *x, struct media_call *c, struct media_branch **b)
{
	if (!c)
		return -ENOENT;
	return media_dialogue_match(c, ng_req_str(x, "from-tag"), ng_req_str(x, "to-tag"),
				    ng_req_str(x, "via-branch"), b);
}

/* delete-delay: the call stays (query still finds it, media still flows)
 * and the tick ends it; 0 or absent ends it now.  rtpengine's own default
 * is its --delete-delay (30 s); WARP's is 0, as a proxy that wants a delay
 * says so. */
static void ng_call_delete(struct ng_ctx *x, struct media_call *c)
{
	const struct bencode_node *d = media_dict_get(x->req, "delete-delay");

	if (d && d->type == BENCODE_INT && d->num > 0) {
		int64_t ms = d->num < INT32_MAX ? d->num * 1000 : (int64_t)INT32_MAX * 1000;
		c->delete_at_mono_ms = time_mono_ms() + ms;
		return;
	}
	x->m->stats.deleted++;
	media_call_end(c, "deleted");
}

static int ng_cmd_delete(struct ng_ctx *x)
{
	const struct bencode_node *flags = media_dict_get(x->req, "flags");
	struct ng_query_job j = {ng_call(x), x->out, 0};
	struct media_branch *b = NULL;
	int what = ng_delete_match(x, j.c, &b), rc;

	if (what < 0 && media_flags_has(flags, "fatal")) {
		x->why = NG_DELETE_NO_MATCH;
		return 0;
	}
	rc = ng_ok_begin(x);
	if (what < 0) {
		/* Not an error for rtpengine: the proxy may delete twice. */
		rc = rc ? rc : bencode_put_kv_str(x->out, "warning", STR_LIT(NG_DELETE_NO_MATCH));
		return rc ? rc : bencode_put_end(x->out);
	}
	if (!media_flags_has(flags, "fast")) {
		rc = rc ? rc : media_worker_sync(x->m, j.c->worker, ng_query_on_worker, &j);
		rc = rc ? rc : j.rc;
	}
	if (what == MEDIA_DEL_DIALOGUE)
		media_dialogue_end(j.c, b);
	else
		ng_call_delete(x, j.c);
	return rc ? rc : bencode_put_end(x->out);
}

static int ng_put_ended(struct buf *out, const struct media *m)
{
	size_t n = m->nended < MEDIA_ENDED_MAX ? m->nended : MEDIA_ENDED_MAX;
	int rc = bencode_put_cstr(out, "ended");

	rc = rc ? rc : bencode_put_list_begin(out);
	for (size_t k = 0; k < n && rc == 0; k++) {
		const struct media_ended *e = &m->ended[(m->nended - 1 - k) % MEDIA_ENDED_MAX];
		rc = bencode_put_dict_begin(out);
		rc = rc ? rc : bencode_put_kv_str(out, "call-id", str_from_cstr(e->callid));
		rc = rc ? rc : bencode_put_kv_str(out, "reason", str_from_cstr(e->reason));
		rc = rc ? rc : bencode_put_kv_int(out, "ended", e->ended_s);
		rc = rc ? rc : bencode_put_end(out);
	}
	return rc ? rc : bencode_put_end(out);
}

/* rtpengine's reply has "calls"; "ended" (most recent first, with why) is
 * WARP's, so that a timed-out call can be told from a deleted one. */
static int ng_cmd_list(struct ng_ctx *x)
{
	int64_t limit = NG_LIST_DEFAULT;
	struct media_call *calls[256];
	size_t n;
	int rc;

	if (bencode_dict_get_int(x->req, "limit", &limit) == 0 && limit <= 0) {
		x->why = "Invalid limit";
		return 0;
	}
	n = media_call_list(x->m, calls, limit < 256 ? (size_t)limit : 256);
	rc = ng_ok_begin(x);
	rc = rc ? rc : bencode_put_cstr(x->out, "calls");
	rc = rc ? rc : bencode_put_list_begin(x->out);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bencode_put_cstr(x->out, calls[i]->callid);
	rc = rc ? rc : bencode_put_end(x->out);
	rc = rc ? rc : ng_put_ended(x->out, x->m);
	return rc ? rc : bencode_put_end(x->out);
}

static int ng_cmd_statistics(struct ng_ctx *x)
{
	const struct media_stats *s = &x->m->stats;
	struct buf *o = x->out;
	int rc = ng_ok_begin(x);

	rc = rc ? rc : bencode_put_cstr(o, "statistics");
	rc = rc ? rc : bencode_put_dict_begin(o);
	rc = rc ? rc : bencode_put_cstr(o, "currentstatistics");
	rc = rc ? rc : bencode_put_dict_begin(o);
	rc = rc ? rc : bencode_put_kv_int(o, "sessionsown", (int64_t)x->m->ncalls);
	rc = rc ? rc : bencode_put_kv_int(o, "sessionsforeign", 0);
	rc = rc ? rc : bencode_put_kv_int(o, "sessionstotal", (int64_t)x->m->ncalls);
	rc = rc ? rc : bencode_put_end(o);
	rc = rc ? rc : bencode_put_cstr(o, "totalstatistics");
	rc = rc ? rc : bencode_put_dict_begin(o);
	rc = rc ? rc : bencode_put_kv_int(o, "managedsessions", (int64_t)s->managed);
	rc = rc ? rc : bencode_put_kv_int(o, "timeoutsessions", (int64_t)s->timeouts);
	rc = rc ? rc : bencode_put_kv_int(o, "finaltimeoutsessions", (int64_t)s->final_timeouts);
	rc = rc ? rc : bencode_put_kv_int(o, "regularterminatedsessions", (int64_t)s->deleted);
	rc = rc ? rc : bencode_put_kv_int(o, "relayedpackets", (int64_t)atomic_load(&s->relayed));
	rc = rc ? rc
		: bencode_put_kv_int(o, "relayedpacketerrors",
				     (int64_t)atomic_load(&s->relay_errors));
	rc = rc ? rc : bencode_put_end(o);
	rc = rc ? rc : bencode_put_end(o);
	return rc ? rc : bencode_put_end(o);
}

static const char *const ng_commands[] = {"ping",  "offer", "answer",	 "delete",
					  "query", "list",  "statistics"};

static int ng_dispatch(struct ng_ctx *x, struct str cmd, const char **name)
{
	*name = "unknown";
	for (size_t i = 0; i < sizeof(ng_commands) / sizeof(ng_commands[0]); i++)
		if (media_flag_eq(cmd, ng_commands[i]))
			*name = ng_commands[i];
	if (!strcmp(*name, "ping"))
		return ng_cmd_ping(x);
	if (!strcmp(*name, "offer") || !strcmp(*name, "answer"))
		return ng_cmd_offer(x, (*name)[0] == 'a');
	if (!strcmp(*name, "delete"))
		return ng_cmd_delete(x);
	if (!strcmp(*name, "query"))
		return ng_cmd_query(x);
	if (!strcmp(*name, "list"))
		return ng_cmd_list(x);
	if (!strcmp(*name, "statistics"))
		return ng_cmd_statistics(x);
	x->why = "Unrecognized command";
	return 0;
}

/* ---------------------------------------------------------------- socket */

static void ng_count(struct media *m, const char *cmd, const char *result)
{
	struct metric *mt = m->m_cmds ? metric_get(m->m_cmds, cmd, result) : NULL;
	if (mt)
		metric_inc(mt);
}

/* Every line logged for a request names its call. */
static void ng_log_context(const struct bencode_node *req)
{
	char ctx[MEDIA_CALLID_MAX];
	struct str id;

	if (media_dict_str(req, "call-id", &id) == 0 && str_copy(ctx, sizeof(ctx), id) == 0)
		log_context_set(ctx);
}

/* Fills m->reply with the whole reply datagram for one request. */
static void ng_handle(struct media *m, struct str cookie, struct str body)
{
	static __thread struct bencode_node nodes[BENCODE_NODES_DEFAULT];
	struct bencode_doc doc;
	const struct bencode_node *root;
	struct ng_ctx x = {m, NULL, &m->reply, NULL, NULL};
	const char *name = "invalid";
	struct str cmd;

	buf_reset(&m->reply);
	bencode_doc_init(&doc, nodes, BENCODE_NODES_DEFAULT);
	if (bencode_decode(&doc, body, &root) < 0 || root->type != BENCODE_DICT) {
		x.why = "Could not decode dictionary";
	} else if (bencode_dict_get_str(root, "command", &cmd) < 0) {
		x.why = "No command in message";
	} else {
		ng_log_context(root);
		x.req = root;
		buf_append_str(&m->reply, cookie);
		buf_append_char(&m->reply, ' ');
		if (ng_dispatch(&x, cmd, &name) < 0)
			x.why = "Internal error";
	}
	if (x.why) {
		buf_reset(&m->reply);
		ng_reply_error(&m->reply, cookie, x.why);
		log_info("media", "ng %s: error: %s", name, x.why);
	}
	ng_count(m, name, x.why ? "error" : "ok");
	log_context_set(NULL);
}

int media_ng_process(struct media *m, struct str dgram, int64_t now_ms, struct str *reply)
{
	struct str cookie, body, cached;

	if (ng_msg_split(dgram, &cookie, &body) < 0)
		return -EINVAL;
	if (ng_cookie_cache_get(m->cookies, cookie, now_ms, &cached) == 0) {
		*reply = cached;
		return 0;
	}
	ng_handle(m, cookie, body);
	*reply = (struct str){m->reply.p, m->reply.len};
	ng_cookie_cache_put(m->cookies, cookie, *reply, now_ms);
	return 0;
}

static void ng_readable(evutil_socket_t fd, short what, void *arg)
{
	static __thread char dgram[NG_DGRAM_MAX];
	struct media *m = arg;

	for (int i = 0; i < NG_READS_PER_WAKE; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, dgram, sizeof(dgram), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &flen);
		struct str reply;

		if (n < 0)
			break;
		if (media_ng_process(m, (struct str){dgram, (size_t)n}, time_mono_ms(), &reply) <
		    0) {
			log_warn("media", "ng: datagram without a cookie dropped");
			continue;
		}
		sendto(fd, reply.p, reply.len, 0, (struct sockaddr *)&from, flen);
	}
}

/* ------------------------------------------------------------- timeouts */

static int64_t ng_call_last_media(const struct media_call *c)
{
	int64_t last = c->last_signal_mono_ms ? c->last_signal_mono_ms : c->created_mono_ms;

	for (size_t s = 0; s < c->nsect; s++) {
		for (int i = 0; i < 2; i++) {
			int64_t a = atomic_load_explicit(&c->sect[s].side[i].rtp.last_mono_ms,
							 memory_order_relaxed);
			int64_t b = atomic_load_explicit(&c->sect[s].side[i].rtcp.last_mono_ms,
							 memory_order_relaxed);
			last = a > last ? a : last;
			last = b > last ? b : last;
		}
	}
	return last;
}

static const char *ng_call_expired(const struct media *m, const struct media_call *c, int64_t now)
{
	if (c->delete_at_mono_ms && now >= c->delete_at_mono_ms)
		return "deleted";
	if (m->o.final_timeout_ms > 0 && now - c->created_mono_ms >= m->o.final_timeout_ms)
		return "final-timeout";
	if (m->o.timeout_ms > 0 && now - ng_call_last_media(c) >= m->o.timeout_ms)
		return "timeout";
	return NULL;
}

static void ng_tick(evutil_socket_t fd, short what, void *arg)
{
	struct media *m = arg;
	int64_t now = time_mono_ms();

	for (size_t b = 0; b < m->nbuckets; b++) {
		struct media_call *c = m->table[b];
		while (c) {
			struct media_call *next = c->next;
			const char *why = ng_call_expired(m, c, now);
			if (why && why[0] == 'd') {
				m->stats.deleted++;
				media_call_end(c, why);
			} else if (why) {
				if (why[0] == 'f')
					m->stats.final_timeouts++;
				else
					m->stats.timeouts++;
				if (m->m_timeouts)
					metric_inc(m->m_timeouts);
				media_call_end(c, why);
			}
			c = next;
		}
	}
}

/* ----------------------------------------------------------------- setup */

int media_ng_open(struct media *m, char *err, size_t errlen)
{
	char where[NET_ADDR_STRLEN];

	m->ng_fd = net_socket_bind(&m->o.ng_listen, SOCK_DGRAM, false);
	if (m->ng_fd < 0) {
		net_addr_format(&m->o.ng_listen, where, sizeof(where));
		snprintf(err, errlen, "ng listener %s: %s", where, strerror(-m->ng_fd));
		return m->ng_fd;
	}
	return 0;
}

int media_ng_start(struct media *m)
{
	struct event_base *base = loop_pool_base(m->ctl, 0);
	struct timeval tv = {0, NG_TICK_MS * 1000};

	m->ng_ev = event_new(base, m->ng_fd, EV_READ | EV_PERSIST, ng_readable, m);
	m->tick = event_new(base, -1, EV_PERSIST, ng_tick, m);
	if (!m->ng_ev || !m->tick || event_add(m->ng_ev, NULL) < 0 || event_add(m->tick, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void media_ng_stop(struct media *m)
{
	if (m->ng_ev)
		event_free(m->ng_ev);
	if (m->tick)
		event_free(m->tick);
	m->ng_ev = m->tick = NULL;
}
