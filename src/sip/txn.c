/*
 * txn.c — the worker's server and client transactions (RFC 3261 §17; see
 * txn.h): tm.c's machines given a libevent timer and the worker's sockets,
 * kept in the worker's tables by their keys (§17.2.3 for a server one, our
 * branch for a client one), and our own responses (stateful or not).
 *
 * Runs on the worker owning the transaction (decision 0012).
 * hot path: no locks; allocation only for the transaction and its bytes.
 */
#include "sip/txn.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_long sip_gauge_transactions;

int64_t sip_now(void)
{
	return time_mono_ms();
}

void sip_count_response(struct sip_proxy *p, int code)
{
	char s[8];
	snprintf(s, sizeof(s), "%d", code);
	metric_inc(metric_get(p->m_responses, s));
}

void sip_proxy_branch(struct sip_worker *w, char *out, size_t n)
{
	uint64_t r = 0;
	random_bytes(&r, sizeof(r));
	snprintf(out, n, SIP_BRANCH_PREFIX "%u-%016llx%llx", w->index, (unsigned long long)r,
		 (unsigned long long)++w->seq);
}

/* ------------------------------------------------------ transaction glue */

static void sip_tx_event(evutil_socket_t fd, short what, void *arg)
{
	struct sip_tx *t = arg;
	(void)fd;
	(void)what;
	sip_tx_timer(t, sip_now());
}

static void sip_tx_arm_event(struct event *ev, int64_t at)
{
	if (at < 0) {
		event_del(ev);
		return;
	}
	int64_t d = at - sip_now();
	if (d < 0)
		d = 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};
	event_add(ev, &tv);
}

static void sip_server_tx_send(struct sip_tx *t, struct str b)
{
	struct sip_server_tx *s = t->arg;
	sip_transport_send(s->w, &s->src, b);
}

static void sip_server_tx_timeout(struct sip_tx *t, enum sip_tx_timer which)
{
	(void)t;
	log_debug("sip", "server transaction: timer %c fired", (char)which);
}

static void sip_server_tx_terminated(struct sip_tx *t)
{
	struct sip_server_tx *s = t->arg;
	if (s->watch)
		*s->watch = NULL;
	s->w->p->txn_hooks->server_gone(s);
	sip_table_del(&s->w->server_txs, &s->e);
	if (s->peer)
		s->peer->peer = NULL;
	event_free(s->ev);
	sip_tx_fini(&s->tx);
	buf_fini(&s->req);
	free(s);
	atomic_fetch_sub(&sip_gauge_transactions, 1);
}

static void sip_server_tx_arm(struct sip_tx *t, int64_t at)
{
	sip_tx_arm_event(((struct sip_server_tx *)t->arg)->ev, at);
}

static const struct sip_tx_ops sip_server_tx_ops = {sip_server_tx_send, sip_server_tx_timeout,
						    sip_server_tx_terminated, sip_server_tx_arm};

static void sip_client_tx_send(struct sip_tx *t, struct str b)
{
	struct sip_client_tx *c = t->arg;
	sip_transport_send(c->w, &c->dst, b);
}

/* No final answer: timer B or F (408), or the transport failed (503,
 * §8.1.3.1).  The layer above hears of it; the peer hears that code, unless
 * this is an attempt of a call, which fails over or answers it itself. */
static void sip_client_tx_timeout(struct sip_tx *t, enum sip_tx_timer which)
{
	struct sip_client_tx *c = t->arg;
	int code = which == SIP_TX_TRANSPORT ? 503 : 408;
	if (c->peer && !c->call && c->peer->tx.state < SIP_TX_COMPLETED) {
		struct sip_msg m;
		struct buf out;
		buf_init(&out);
		/* re-parse of the request the peer keeps: a 408 or 503 is rare */
		if (sip_msg_parse(&m, c->peer->req.p, c->peer->req.len) == 0 &&
		    sip_build_response(&out, &m, code, NULL, code == 408 ? "t408" : "t503",
				       &c->peer->src, NULL) == 0) {
			sip_count_response(c->w->p, code);
			sip_tx_server_respond(&c->peer->tx, code, (struct str){out.p, out.len},
					      sip_now());
		}
		buf_fini(&out);
	}
	c->w->p->txn_hooks->client_failed(c, code);
}

static void sip_client_tx_terminated(struct sip_tx *t)
{
	struct sip_client_tx *c = t->arg;
	c->w->p->txn_hooks->client_gone(c);
	sip_table_del(&c->w->client_txs, &c->e);
	if (c->peer)
		c->peer->peer = NULL;
	event_free(c->ev);
	sip_tx_fini(&c->tx);
	free(c);
	atomic_fetch_sub(&sip_gauge_transactions, 1);
}

static void sip_client_tx_arm(struct sip_tx *t, int64_t at)
{
	sip_tx_arm_event(((struct sip_client_tx *)t->arg)->ev, at);
}

static const struct sip_tx_ops sip_client_tx_ops = {sip_client_tx_send, sip_client_tx_timeout,
						    sip_client_tx_terminated, sip_client_tx_arm};

/* Client transactions of w on connection conn_id: collected before any is
 * failed, as failing one may start the next attempt (a new entry). */
struct sip_conn_txs {
	uint64_t conn_id;
	size_t n;
	struct sip_client_tx *x[32];
};

static void sip_conn_txs_collect(struct sip_entry *e, void *arg)
{
	struct sip_conn_txs *t = arg;
	struct sip_client_tx *x = sip_container_of(e, struct sip_client_tx, e);
	if (x->dst.conn_id == t->conn_id && x->tx.state < SIP_TX_COMPLETED &&
	    t->n < sizeof(t->x) / sizeof(t->x[0]))
		t->x[t->n++] = x;
}

void sip_client_txs_transport_failed(struct sip_worker *w, uint64_t conn_id)
{
	struct sip_conn_txs t = {.conn_id = conn_id};
	/* bounded: each round fails what it found; a round finding none ends */
	for (int round = 0; round < 64; round++) {
		t.n = 0;
		sip_table_each(&w->client_txs, sip_conn_txs_collect, &t);
		if (t.n == 0)
			return;
		for (size_t i = 0; i < t.n; i++)
			sip_tx_client_transport_error(&t.x[i]->tx);
	}
}

/* Server transaction key (§17.2.3): branch, sent-by, method (ACK as INVITE). */
static int sip_server_tx_key(struct sip_msg *m, enum sip_method method, char *out, size_t n)
{
	struct sip_via v;
	struct sip_cseq cs;
	struct str cid;
	struct sip_addr from;
	if (sip_msg_via(m, 0, &v) != 0 || sip_msg_cseq(m, &cs) != 0)
		return -EINVAL;
	if (method == SIP_METHOD_ACK)
		method = SIP_METHOD_INVITE;
	if (sip_via_branch_is_rfc3261(&v)) {
		snprintf(out, n, "%.*s|%.*s:%u|%d", STR_FMT(v.branch), STR_FMT(v.host), v.port,
			 method);
		return 0;
	}
	/* RFC 2543 peers: Call-ID, CSeq number, From tag and top Via. */
	if (sip_msg_call_id(m, &cid) != 0 || sip_msg_from(m, &from) != 0)
		return -EINVAL;
	snprintf(out, n, "2543|%.*s|%u|%.*s|%.*s|%d", STR_FMT(cid), cs.number, STR_FMT(from.tag),
		 STR_FMT(v.raw), method);
	return 0;
}

struct sip_server_tx *sip_server_tx_find(struct sip_worker *w, struct sip_msg *m,
					 enum sip_method method)
{
	char key[SIP_KEY_MAX];
	if (sip_server_tx_key(m, method, key, sizeof(key)) < 0)
		return NULL;
	struct sip_entry *e = sip_table_find(&w->server_txs, str_from_cstr(key));
	return e ? sip_container_of(e, struct sip_server_tx, e) : NULL;
}

struct sip_server_tx *sip_server_tx_new(struct sip_worker *w, struct sip_msg *m,
					const struct sip_peer *src)
{
	char key[SIP_KEY_MAX];
	struct sip_server_tx *s = calloc(1, sizeof(*s));
	if (!s || sip_server_tx_key(m, m->method, key, sizeof(key)) < 0)
		goto fail;
	enum sip_tx_kind kind =
	    m->method == SIP_METHOD_INVITE ? SIP_TX_INVITE_SERVER : SIP_TX_NONINVITE_SERVER;
	sip_tx_init(&s->tx, kind, src->transport != SIP_TRANSPORT_UDP, &sip_server_tx_ops, s);
	buf_init(&s->req);
	s->w = w;
	s->src = *src;
	s->ev = evtimer_new(w->base, sip_tx_event, &s->tx);
	if (!s->ev || buf_append_str(&s->req, m->raw) < 0)
		goto fail_tx;
	if (sip_table_add(&w->server_txs, &s->e, str_from_cstr(key)) < 0)
		goto fail_tx;
	sip_tx_server_start(&s->tx, sip_now());
	atomic_fetch_add(&sip_gauge_transactions, 1);
	return s;
fail_tx:
	if (s->ev)
		event_free(s->ev);
	sip_tx_fini(&s->tx);
	buf_fini(&s->req);
fail:
	free(s);
	return NULL;
}

/* A client transaction for bytes to dst, keyed by our branch and method. */
struct sip_client_tx *sip_client_tx_new(struct sip_worker *w, struct str bytes,
					const struct sip_peer *dst, struct str branch,
					enum sip_method method)
{
	char key[SIP_KEY_MAX];
	struct sip_client_tx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	enum sip_tx_kind kind =
	    method == SIP_METHOD_INVITE ? SIP_TX_INVITE_CLIENT : SIP_TX_NONINVITE_CLIENT;
	sip_tx_init(&c->tx, kind, dst->transport != SIP_TRANSPORT_UDP, &sip_client_tx_ops, c);
	c->w = w;
	c->dst = *dst;
	c->ev = evtimer_new(w->base, sip_tx_event, &c->tx);
	if (!c->ev || buf_append_str(&c->tx.out, bytes) < 0)
		goto fail;
	snprintf(key, sizeof(key), "%.*s|%d", STR_FMT(branch), method);
	if (sip_table_add(&w->client_txs, &c->e, str_from_cstr(key)) < 0)
		goto fail;
	atomic_fetch_add(&sip_gauge_transactions, 1);
	return c;
fail:
	if (c->ev)
		event_free(c->ev);
	sip_tx_fini(&c->tx);
	free(c);
	return NULL;
}

int sip_proxy_send_new(struct sip_worker *w, struct str bytes, const struct sip_peer *dst,
		       struct str branch, enum sip_method method)
{
	struct sip_client_tx *c = sip_client_tx_new(w, bytes, dst, branch, method);
	if (!c)
		return -ENOMEM;
	sip_tx_client_start(&c->tx, sip_now());
	return 0;
}

/* ---------------------------------------------------------- responding */

/* A response of our own to m: through s when given, else stateless. */
void sip_reply(struct sip_worker *w, struct sip_server_tx *s, struct sip_msg *m,
	       const struct sip_peer *src, int code, const char *tag, const char *extra)
{
	char sl[48];
	struct buf out;
	buf_init(&out);
	if (!s && tag && code >= 300) {
		/* Stateless: mark the tag so that its ACK is known (sip_ack_ours). */
		snprintf(sl, sizeof(sl), "%s.%s", w->p->sl_tag, tag);
		tag = sl;
	}
	if (sip_build_response(&out, m, code, NULL, tag, src, extra) == 0) {
		sip_count_response(w->p, code);
		if (s)
			sip_tx_server_respond(&s->tx, code, (struct str){out.p, out.len},
					      sip_now());
		else
			sip_transport_send(w, src, (struct str){out.p, out.len});
	}
	buf_fini(&out);
}

void sip_server_tx_reply(struct sip_server_tx *s, struct sip_msg *m, int code, const char *tag,
			 const char *extra)
{
	struct sip_msg again;
	/* Once the receive buffer is gone only s->req is left, and a struct
	 * sip_msg (its header index) is larger than a call may keep: indexed
	 * again, on the paths that answer late (a failed setup, the engine). */
	if (!m && sip_msg_parse(&again, s->req.p, s->req.len) == 0)
		m = &again;
	if (m)
		sip_reply(s->w, s, m, &s->src, code, tag, extra);
}

void sip_server_tx_respond(struct sip_server_tx *s, int status, struct str bytes)
{
	if (s->tx.state >= SIP_TX_COMPLETED)
		return;
	sip_count_response(s->w->p, status);
	sip_tx_server_respond(&s->tx, status, bytes, sip_now());
}

/* ------------------------------------------------------------ stopping */

static void sip_tx_drop(struct sip_entry *e, void *arg)
{
	bool server = arg != NULL;
	if (server) {
		struct sip_server_tx *s = sip_container_of(e, struct sip_server_tx, e);
		s->call = NULL;
		sip_server_tx_terminated(&s->tx);
	} else {
		struct sip_client_tx *c = sip_container_of(e, struct sip_client_tx, e);
		c->call = NULL;
		sip_client_tx_terminated(&c->tx);
	}
}

void sip_txn_drain(struct sip_worker *w)
{
	sip_table_each(&w->client_txs, sip_tx_drop, NULL);
	sip_table_each(&w->server_txs, sip_tx_drop, w);
}
