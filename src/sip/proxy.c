/*
 * proxy.c — the stateful proxy core (RFC 3261 §16 with §17 transactions):
 * where a received message goes, the server and client transactions that
 * carry it, and the setup of a call: ask the policy for a plan, try its
 * targets one after the other, forward the answer.
 *
 * Runs on the worker owning the message's Call-ID (decision 0012); a
 * message read by another worker arrives here through sip_proxy_dispatch.
 * hot path: no locks; allocation only for transaction and call state.
 */
#include "sip/core.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_long sip_gauge_transactions;
atomic_long sip_gauge_dialogs;

int64_t sip_now(void)
{
	return time_mono_ms();
}

unsigned sip_proxy_owner(const struct sip_proxy *p, struct str call_id)
{
	return (unsigned)(sip_hash(call_id) % p->nworkers);
}

static void sip_count_response(struct sip_proxy *p, int code)
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

static void sip_stx_send(struct sip_tx *t, struct str b)
{
	struct sip_stx *s = t->arg;
	sip_transport_send(s->w, &s->src, b);
}

static void sip_stx_timeout(struct sip_tx *t, enum sip_tx_timer which)
{
	(void)t;
	log_debug("sip", "server transaction: timer %c fired", (char)which);
}

static void sip_stx_terminated(struct sip_tx *t)
{
	struct sip_stx *s = t->arg;
	sip_table_del(&s->w->stx, &s->e);
	if (s->peer)
		s->peer->peer = NULL;
	if (s->call && s->call->stx == s)
		s->call->stx = NULL;
	event_free(s->ev);
	sip_tx_fini(&s->tx);
	buf_fini(&s->req);
	free(s);
	atomic_fetch_sub(&sip_gauge_transactions, 1);
}

static void sip_stx_arm(struct sip_tx *t, int64_t at)
{
	sip_tx_arm_event(((struct sip_stx *)t->arg)->ev, at);
}

static const struct sip_tx_ops sip_stx_ops = {sip_stx_send, sip_stx_timeout, sip_stx_terminated,
					      sip_stx_arm};

static void sip_ctx_send(struct sip_tx *t, struct str b)
{
	struct sip_ctx *c = t->arg;
	sip_transport_send(c->w, &c->dst, b);
}

static void sip_call_attempt_failed(struct sip_call *c, int code);

static void sip_ctx_timeout(struct sip_tx *t, enum sip_tx_timer which)
{
	struct sip_ctx *c = t->arg;
	(void)which;
	if (c->peer && c->peer->tx.state < SIP_TX_COMPLETED) {
		struct sip_msg m;
		struct buf out;
		buf_init(&out);
		if (sip_msg_parse(&m, c->peer->req.p, c->peer->req.len) == 0 &&
		    sip_build_response(&out, &m, 408, NULL, "t408", &c->peer->src, NULL) == 0) {
			sip_count_response(c->w->p, 408);
			sip_tx_server_respond(&c->peer->tx, 408, (struct str){out.p, out.len},
					      sip_now());
		}
		buf_fini(&out);
	}
	if (c->call && c->call->ctx == c) {
		c->call->ctx = NULL;
		sip_call_attempt_failed(c->call, 408);
	}
}

static void sip_ctx_terminated(struct sip_tx *t)
{
	struct sip_ctx *c = t->arg;
	sip_table_del(&c->w->ctx, &c->e);
	if (c->peer)
		c->peer->peer = NULL;
	if (c->call && c->call->ctx == c)
		c->call->ctx = NULL;
	event_free(c->ev);
	sip_tx_fini(&c->tx);
	free(c);
	atomic_fetch_sub(&sip_gauge_transactions, 1);
}

static void sip_ctx_arm(struct sip_tx *t, int64_t at)
{
	sip_tx_arm_event(((struct sip_ctx *)t->arg)->ev, at);
}

static const struct sip_tx_ops sip_ctx_ops = {sip_ctx_send, sip_ctx_timeout, sip_ctx_terminated,
					      sip_ctx_arm};

/* Server transaction key (§17.2.3): branch, sent-by, method (ACK as INVITE). */
static int sip_stx_key(struct sip_msg *m, enum sip_method method, char *out, size_t n)
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

static struct sip_stx *sip_stx_find(struct sip_worker *w, struct sip_msg *m, enum sip_method method)
{
	char key[SIP_KEY_MAX];
	if (sip_stx_key(m, method, key, sizeof(key)) < 0)
		return NULL;
	struct sip_entry *e = sip_table_find(&w->stx, str_from_cstr(key));
	return e ? sip_container_of(e, struct sip_stx, e) : NULL;
}

static struct sip_stx *sip_stx_new(struct sip_worker *w, struct sip_msg *m,
				   const struct sip_peer *src)
{
	char key[SIP_KEY_MAX];
	struct sip_stx *s = calloc(1, sizeof(*s));
	if (!s || sip_stx_key(m, m->method, key, sizeof(key)) < 0)
		goto fail;
	enum sip_tx_kind kind =
	    m->method == SIP_METHOD_INVITE ? SIP_TX_INVITE_SERVER : SIP_TX_NONINVITE_SERVER;
	sip_tx_init(&s->tx, kind, src->transport != SIP_TRANSPORT_UDP, &sip_stx_ops, s);
	buf_init(&s->req);
	s->w = w;
	s->src = *src;
	s->ev = evtimer_new(w->base, sip_tx_event, &s->tx);
	if (!s->ev || buf_append_str(&s->req, m->raw) < 0)
		goto fail_tx;
	sip_table_add(&w->stx, &s->e, str_from_cstr(key));
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
static struct sip_ctx *sip_ctx_new(struct sip_worker *w, struct str bytes,
				   const struct sip_peer *dst, struct str branch,
				   enum sip_method method)
{
	char key[SIP_KEY_MAX];
	struct sip_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	enum sip_tx_kind kind =
	    method == SIP_METHOD_INVITE ? SIP_TX_INVITE_CLIENT : SIP_TX_NONINVITE_CLIENT;
	sip_tx_init(&c->tx, kind, dst->transport != SIP_TRANSPORT_UDP, &sip_ctx_ops, c);
	c->w = w;
	c->dst = *dst;
	c->ev = evtimer_new(w->base, sip_tx_event, &c->tx);
	if (!c->ev || buf_append_str(&c->tx.out, bytes) < 0) {
		if (c->ev)
			event_free(c->ev);
		sip_tx_fini(&c->tx);
		free(c);
		return NULL;
	}
	snprintf(key, sizeof(key), "%.*s|%d", STR_FMT(branch), method);
	sip_table_add(&w->ctx, &c->e, str_from_cstr(key));
	atomic_fetch_add(&sip_gauge_transactions, 1);
	return c;
}

/* ---------------------------------------------------------- responding */

/* A response of our own to m: through s when given, else stateless. */
static void sip_reply(struct sip_worker *w, struct sip_stx *s, struct sip_msg *m,
		      const struct sip_peer *src, int code, const char *tag, const char *extra)
{
	struct buf out;
	buf_init(&out);
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

/* Our own response to the request s holds (it outlived the receive buffer). */
static void sip_stx_reply(struct sip_stx *s, int code, const char *tag, const char *extra)
{
	struct sip_msg m;
	if (sip_msg_parse(&m, s->req.p, s->req.len) == 0)
		sip_reply(s->w, s, &m, &s->src, code, tag, extra);
}

/* Forwards a response (our Via removed) through s. */
static void sip_stx_forward(struct sip_stx *s, struct sip_msg *resp)
{
	struct buf out;
	buf_init(&out);
	if (s->tx.state < SIP_TX_COMPLETED && sip_build_strip_via(&out, resp) == 0) {
		sip_count_response(s->w->p, resp->status);
		sip_tx_server_respond(&s->tx, resp->status, (struct str){out.p, out.len},
				      sip_now());
	}
	buf_fini(&out);
}

/* ------------------------------------------------------------ routing */

static int sip_peer_from_uri(const struct sip_proxy *p, const struct sip_uri *u,
			     struct sip_peer *out)
{
	char host[SIP_HOST_MAX];
	struct str tp;
	if (str_copy(host, sizeof(host), u->host) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (net_addr_parse(str_from_cstr(host), u->port ? u->port : 5060, &out->addr) < 0)
		return -EHOSTUNREACH; /* names are not resolved on the packet path */
	out->transport = SIP_TRANSPORT_UDP;
	if (sip_uri_param(u, "transport", &tp) == 0 && str_caseeq_cstr(tp, "tcp"))
		out->transport = SIP_TRANSPORT_TCP;
	out->listen = sip_transport_listen_for(p, &out->addr);
	return 0;
}

int sip_proxy_next_hop(const struct sip_proxy *p, const char *route, const char *ruri,
		       struct sip_peer *out)
{
	struct sip_addr a;
	struct sip_uri u;
	if (route && route[0]) {
		struct str r = str_from_cstr(route);
		ptrdiff_t close = str_index(r, '>');
		if (close < 0 || sip_addr_parse((struct str){r.p, (size_t)close + 1}, &a) != 0)
			return -EINVAL;
		return sip_peer_from_uri(p, &a.uri, out);
	}
	if (sip_uri_parse(str_from_cstr(ruri), &u) != 0)
		return -EINVAL;
	return sip_peer_from_uri(p, &u, out);
}

/* How many Route values at the top name us (§16.4). */
static size_t sip_routes_ours(const struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_addr a;
	size_t n = 0;
	while (sip_msg_addr(m, SIP_HDR_ROUTE, n, &a) == 0 && sip_uri_is_ours(p, &a.uri))
		n++;
	return n;
}

static int sip_next_hop(struct sip_proxy *p, struct sip_msg *m, size_t drop, struct sip_peer *dst)
{
	struct sip_addr a;
	struct sip_uri ruri;
	if (sip_msg_addr(m, SIP_HDR_ROUTE, drop, &a) == 0)
		return sip_peer_from_uri(p, &a.uri, dst);
	if (sip_msg_ruri(m, &ruri) != 0)
		return -EINVAL;
	return sip_peer_from_uri(p, &ruri, dst);
}

/* Forwards m statefully (s given) or statelessly (ACK) to dst. */
int sip_proxy_send_request(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			   const struct sip_peer *dst, struct str ruri, size_t drop_routes,
			   struct sip_stx *s)
{
	struct sip_proxy *p = w->p;
	char branch[64];
	int mf = 70;
	if (sip_msg_max_forwards(m, &mf) == 0)
		mf--;
	sip_proxy_branch(w, branch, sizeof(branch));
	bool rr = m->method == SIP_METHOD_INVITE &&
		  !(sip_msg_to(m, &(struct sip_addr){0}) == 0 && m->cache.to.tag.p);
	struct sip_fwd f = {
	    .ruri = ruri,
	    .via_at = &p->listen[dst->listen],
	    .via_transport = dst->transport,
	    .branch = str_from_cstr(branch),
	    .src = src,
	    .rr_in = rr ? &p->listen[src->listen] : NULL,
	    .rr_in_tp = src->transport,
	    .rr_out = rr ? &p->listen[dst->listen] : NULL,
	    .rr_out_tp = dst->transport,
	    .drop_routes = drop_routes,
	    .max_forwards = mf,
	};
	struct buf out;
	buf_init(&out);
	int rc = sip_build_forward(&out, m, &f);
	if (rc == 0 && !s) {
		rc = sip_transport_send(w, dst, (struct str){out.p, out.len});
	} else if (rc == 0) {
		struct sip_ctx *c = sip_ctx_new(w, (struct str){out.p, out.len}, dst,
						str_from_cstr(branch), m->method);
		rc = c ? 0 : -ENOMEM;
		if (c) {
			c->peer = s;
			s->peer = c;
			if (s->call && m->method == SIP_METHOD_INVITE && s->call->stx == s) {
				c->call = s->call;
				s->call->ctx = c;
			}
			sip_tx_client_start(&c->tx, sip_now());
		}
	}
	buf_fini(&out);
	return rc;
}

int sip_proxy_send_new(struct sip_worker *w, struct str bytes, const struct sip_peer *dst,
		       bool invite)
{
	struct sip_msg m;
	struct sip_via v;
	if (sip_msg_parse(&m, bytes.p, bytes.len) != 0 || sip_msg_via(&m, 0, &v) != 0)
		return -EINVAL;
	struct sip_ctx *c =
	    sip_ctx_new(w, bytes, dst, v.branch, invite ? SIP_METHOD_INVITE : m.method);
	if (!c)
		return -ENOMEM;
	sip_tx_client_start(&c->tx, sip_now());
	return 0;
}

/* ------------------------------------------------------------ call setup */

static void sip_call_timer(evutil_socket_t fd, short what, void *arg);
static void sip_call_try_next(struct sip_call *c);

static void sip_call_arm(struct sip_call *c, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	event_add(c->timer, &tv);
}

static void sip_ctx_cancel(struct sip_ctx *x)
{
	struct sip_msg inv;
	struct sip_via v;
	struct buf out;
	buf_init(&out);
	if (sip_msg_parse(&inv, x->tx.out.p, x->tx.out.len) == 0 && sip_msg_via(&inv, 0, &v) == 0 &&
	    sip_build_cancel(&out, &inv) == 0) {
		struct sip_ctx *c = sip_ctx_new(x->w, (struct str){out.p, out.len}, &x->dst,
						v.branch, SIP_METHOD_CANCEL);
		if (c)
			sip_tx_client_start(&c->tx, sip_now());
	}
	x->cancel_pending = false;
	buf_fini(&out);
}

static void sip_ctx_detach_peer(struct sip_ctx *x)
{
	if (x->peer && x->peer->peer == x)
		x->peer->peer = NULL;
	x->peer = NULL;
}

/* Lets go of the attempt in progress: CANCEL when it may (§9.1), else a
 * CANCEL as soon as it sends a provisional. */
static void sip_call_abandon(struct sip_call *c)
{
	struct sip_ctx *x = c->ctx;
	if (!x)
		return;
	c->ctx = NULL;
	x->call = NULL;
	sip_ctx_detach_peer(x);
	if (x->tx.state == SIP_TX_PROCEEDING)
		sip_ctx_cancel(x);
	else if (x->tx.state == SIP_TX_CALLING)
		x->cancel_pending = true;
}

static void sip_call_record_attempt(struct sip_call *c, int code)
{
	if (c->cdr.nattempts == 0)
		return;
	struct sip_cdr_attempt *a = &c->cdr.attempts[c->cdr.nattempts - 1];
	if (a->code == 0)
		a->code = code;
}

/* §16.7 step 6, kept simple: a 6xx wins, then the lowest class; 503 is
 * told upstream as 500 would be by RFC, but carriers expect it: kept. */
static bool sip_code_better(int code, int best)
{
	if (best == 0)
		return true;
	if (best >= 600)
		return false;
	if (code >= 600)
		return true;
	return code / 100 < best / 100;
}

static void sip_call_finish_setup(struct sip_call *c, int code, enum sip_hangup_side side)
{
	struct sip_stx *s = c->stx;
	if (s && s->tx.state < SIP_TX_COMPLETED) {
		if (c->best.len && c->best_code == code) {
			sip_count_response(c->w->p, code);
			sip_tx_server_respond(&s->tx, code, (struct str){c->best.p, c->best.len},
					      sip_now());
		} else {
			sip_stx_reply(s, code, c->to_tag, NULL);
		}
	}
	metric_inc(metric_get(c->w->p->m_calls, code == 487 ? "cancelled" : "failed"));
	sip_call_end(c, code, side);
}

static void sip_call_attempt_failed(struct sip_call *c, int code)
{
	sip_call_record_attempt(c, code);
	if (sip_code_better(code, c->best_code)) {
		c->best_code = code;
		buf_reset(&c->best);
	}
	if (c->cancelled) {
		sip_call_finish_setup(c, 487, SIP_HANGUP_CALLER);
		return;
	}
	sip_call_try_next(c);
}

static bool sip_target_stops(const struct sip_target *t, int code)
{
	for (size_t i = 0; i < t->nstop_codes; i++)
		if (t->stop_codes[i] == code)
			return true;
	return code >= 600;
}

static int sip_call_forward(struct sip_call *c, const struct sip_target *t)
{
	char ruri[SIP_HOST_MAX + 96];
	struct sip_msg m;
	struct sip_peer dst = {.addr = t->addr, .transport = t->transport};
	dst.listen = sip_transport_listen_for(c->w->p, &dst.addr);
	if (sip_build_uri(ruri, sizeof(ruri), t->user, t->host, t->port, t->transport) < 0 ||
	    sip_msg_parse(&m, c->stx->req.p, c->stx->req.len) != 0)
		return -EINVAL;
	c->callee = dst;
	return sip_proxy_send_request(c->w, &m, &c->stx->src, &dst, str_from_cstr(ruri),
				      sip_routes_ours(c->w->p, &m), c->stx);
}

static void sip_call_try_next(struct sip_call *c)
{
	const struct sip_call_plan *pl = &c->plan;
	while (c->next_target < pl->ntargets && c->attempts < pl->max_attempts && c->stx) {
		const struct sip_target *t = &pl->targets[c->next_target++];
		c->attempts++;
		c->provisional = false;
		if (c->cdr.nattempts < SIP_ATTEMPTS_MAX) {
			struct sip_cdr_attempt *a = &c->cdr.attempts[c->cdr.nattempts++];
			memset(a, 0, sizeof(*a));
			snprintf(a->gateway_id, sizeof(a->gateway_id), "%s",
				 t->gateway_id[0] ? t->gateway_id : t->trunk_id);
			a->start_ms = time_wall_ms();
		}
		snprintf(c->cdr.carrier_id, sizeof(c->cdr.carrier_id), "%s", t->carrier_id);
		snprintf(c->cdr.gateway_id, sizeof(c->cdr.gateway_id), "%s", t->gateway_id);
		if (sip_call_forward(c, t) == 0) {
			sip_call_arm(c, pl->setup_timeout_ms > 0 ? pl->setup_timeout_ms : 8000);
			return;
		}
		sip_call_record_attempt(c, 503);
	}
	int code = c->best_code ? c->best_code : 503;
	/* A failover code goes upstream as what it was, unless a 408 from our
	 * own timer: that one the caller sees as 408 too. */
	sip_call_finish_setup(c, code, SIP_HANGUP_NONE);
}

/* Timer C (setup_timeout per attempt), then the maximum duration. */
static void sip_call_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sip_call *c = arg;
	(void)fd;
	(void)what;
	if (c->state == SIP_CALL_UP) {
		log_info("sip", "maximum duration reached: BYE to both sides");
		sip_dialog_bye_both(c);
		return;
	}
	if (c->state != SIP_CALL_SETUP)
		return;
	sip_call_abandon(c);
	sip_call_attempt_failed(c, 408);
}

static void sip_call_provisional(struct sip_call *c, struct sip_ctx *x, struct sip_msg *resp)
{
	if (resp->status == 100)
		return;
	if (!c->provisional && c->cdr.pdd_ms == 0)
		c->cdr.pdd_ms = time_wall_ms() - c->cdr.start_ms;
	c->provisional = true;
	if (x->cancel_pending)
		sip_ctx_cancel(x);
	/* Ringing: the setup timer gives way to RFC 3261's timer C (> 3 min). */
	sip_call_arm(c, 181000);
	if (c->stx)
		sip_stx_forward(c->stx, resp);
}

static void sip_call_final(struct sip_call *c, struct sip_ctx *x, struct sip_msg *resp)
{
	int code = resp->status;
	const struct sip_target *t = &c->plan.targets[c->next_target - 1];
	c->ctx = NULL;
	x->call = NULL;
	sip_ctx_detach_peer(x);
	event_del(c->timer);
	if (c->cdr.pdd_ms == 0)
		c->cdr.pdd_ms = time_wall_ms() - c->cdr.start_ms;
	if (code < 300) {
		sip_call_record_attempt(c, code);
		metric_inc(metric_get(c->w->p->m_calls, "answered"));
		sip_dialog_answered(c, resp); /* reads the INVITE s still holds */
		if (c->stx)
			sip_stx_forward(c->stx, resp);
		return;
	}
	bool failover = code == 408 || (code >= 500 && code < 600);
	if (c->cancelled || !failover || sip_target_stops(t, code)) {
		sip_call_record_attempt(c, code);
		c->best_code = code;
		buf_reset(&c->best);
		sip_build_strip_via(&c->best, resp);
		sip_call_finish_setup(c, code, c->cancelled ? SIP_HANGUP_CALLER : SIP_HANGUP_NONE);
		return;
	}
	if (sip_code_better(code, c->best_code)) {
		buf_reset(&c->best);
		sip_build_strip_via(&c->best, resp);
	}
	sip_call_attempt_failed(c, code);
}

/* Hands a response to its client transaction; false when absorbed.  x may
 * be freed on return (a 2xx to INVITE, a final over a reliable transport). */
static bool sip_ctx_response(struct sip_ctx *x, struct sip_msg *resp)
{
	struct sip_msg inv;
	if (x->tx.kind == SIP_TX_INVITE_CLIENT && resp->status >= 300 && x->tx.ack.len == 0 &&
	    sip_msg_parse(&inv, x->tx.out.p, x->tx.out.len) == 0)
		sip_build_ack(&x->tx.ack, &inv, resp);
	return sip_tx_client_response(&x->tx, resp->status, sip_now());
}

static void sip_bye_answered(struct sip_worker *w, struct sip_msg *resp)
{
	struct sip_cseq cs;
	struct str cid;
	if (resp->status < 200 || sip_msg_cseq(resp, &cs) != 0 || cs.method != SIP_METHOD_BYE ||
	    sip_msg_call_id(resp, &cid) != 0)
		return;
	struct sip_entry *e = sip_table_find(&w->calls, cid);
	if (!e)
		return;
	struct sip_call *c = sip_container_of(e, struct sip_call, e);
	if (c->state == SIP_CALL_UP)
		sip_call_end(c, 200, c->cdr.hangup);
}

/* The dialog a late 2xx opened, from our side: From of the INVITE we sent,
 * To of the 2xx, its Contact and route set (§12.1.2). */
struct sip_late {
	char ruri[512], route[SIP_ROUTE_LEN], from[512], to[512], call_id[256];
	uint32_t cseq;
};

static int sip_late_dialog(struct sip_worker *w, struct sip_ctx *x, struct sip_msg *resp,
			   struct sip_late *d)
{
	struct sip_msg inv;
	struct sip_addr contact;
	struct sip_cseq cs;
	struct str cid;
	const struct sip_hdr *from, *to;
	if (sip_msg_parse(&inv, x->tx.out.p, x->tx.out.len) != 0 || sip_msg_cseq(&inv, &cs) != 0 ||
	    !(from = sip_msg_hdr_first(&inv, SIP_HDR_FROM)) ||
	    !(to = sip_msg_hdr_first(resp, SIP_HDR_TO)) ||
	    sip_msg_addr(resp, SIP_HDR_CONTACT, 0, &contact) != 0 ||
	    sip_msg_call_id(resp, &cid) != 0)
		return -EINVAL;
	if (str_copy(d->ruri, sizeof(d->ruri), contact.uri.raw) < 0 ||
	    str_copy(d->from, sizeof(d->from), from->value) < 0 ||
	    str_copy(d->to, sizeof(d->to), to->value) < 0 ||
	    str_copy(d->call_id, sizeof(d->call_id), cid) < 0)
		return -ENOSPC;
	d->cseq = cs.number;
	return sip_build_route_set(d->route, sizeof(d->route), w->p, resp, true);
}

/* A 2xx for an attempt the call has let go of (the caller cancelled before
 * any provisional and got its 487 from us, or our setup timer moved on):
 * nobody downstream of the caller will ACK it, and the caller cannot take it
 * any more, its INVITE transaction is over.  So the proxy ACKs it (§13.2.2.4)
 * and hangs up at once with a BYE (§15), as a cancelling UAC must (§9.1).
 * While the caller's transaction is still open a 2xx is forwarded instead
 * (§16.7) and the caller's UA does the same (see sip_call_final). */
static void sip_late_answer_release(struct sip_worker *w, struct sip_ctx *x, struct sip_msg *resp)
{
	struct sip_late d;
	struct sip_peer dst = x->dst;
	char branch[64];
	struct buf out;
	if (sip_late_dialog(w, x, resp, &d) < 0) {
		log_warn("sip", "a late 2xx could not be ACKed (no Contact?): dropped");
		return;
	}
	if (sip_proxy_next_hop(w->p, d.route, d.ruri, &dst) < 0 ||
	    net_addr_equal(&dst.addr, &x->dst.addr))
		dst = x->dst; /* unresolvable, or the same place: its connection */
	log_info("sip", "call %s: 2xx after the caller's final answer: ACK and BYE", d.call_id);
	struct sip_req r = {.method = "ACK",
			    .ruri = d.ruri,
			    .route = d.route,
			    .from = d.from,
			    .to = d.to,
			    .call_id = d.call_id,
			    .cseq = d.cseq,
			    .via_at = &w->p->listen[dst.listen],
			    .transport = dst.transport,
			    .branch = branch};
	buf_init(&out);
	sip_proxy_branch(w, branch, sizeof(branch));
	if (sip_build_request(&out, &r) == 0)
		sip_transport_send(w, &dst, (struct str){out.p, out.len});
	buf_reset(&out);
	r.method = "BYE";
	r.cseq = d.cseq + 1;
	r.extra = "Reason: SIP;cause=487;text=\"answered after the caller's final response\"\r\n";
	sip_proxy_branch(w, branch, sizeof(branch));
	if (sip_build_request(&out, &r) == 0)
		sip_proxy_send_new(w, (struct str){out.p, out.len}, &dst, false);
	buf_fini(&out);
}

static void sip_response_to_ctx(struct sip_worker *w, struct sip_ctx *x, struct sip_msg *resp)
{
	struct sip_call *c = x->call;
	struct sip_stx *peer = x->peer;
	if (!c && !peer && x->tx.kind == SIP_TX_INVITE_CLIENT && resp->status >= 200 &&
	    resp->status < 300 && x->tx.state <= SIP_TX_PROCEEDING) {
		sip_late_answer_release(w, x, resp);
		sip_ctx_response(x, resp); /* x is freed: a 2xx ends it */
		return;
	}
	if (c && resp->status >= 200) {
		sip_call_final(c, x, resp); /* detaches x from c first */
		sip_ctx_response(x, resp);
		return;
	}
	/* A final ends a transaction over TCP at once (no timer K): x is
	 * freed by then, so only a provisional may look at it afterwards. */
	bool provisional = resp->status < 200;
	bool up = sip_ctx_response(x, resp);
	if (up && provisional && c && c->ctx == x)
		sip_call_provisional(c, x, resp);
	else if (up && provisional && !c && x->cancel_pending)
		sip_ctx_cancel(x);
	else if (up && peer) {
		sip_stx_forward(peer, resp);
		sip_bye_answered(w, resp);
	}
}

/* ------------------------------------------------------------ requests */

static bool sip_addressed_to_us(struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_uri u;
	return sip_msg_ruri(m, &u) == 0 && sip_uri_is_ours(p, &u);
}

/* §16.3 step 4: our own Via came back with this very request: a loop.  Our
 * branches are random, so a Via of ours whose transaction is still open
 * here, for the same method and Request-URI, is this request again. */
static bool sip_loop_detected(struct sip_worker *w, struct sip_msg *m)
{
	struct sip_via v;
	char key[SIP_KEY_MAX];
	for (size_t i = 1; sip_msg_via(m, i, &v) == 0 && i < 64; i++) {
		if (!str_has_prefix(v.branch, STR_LIT(SIP_BRANCH_PREFIX)))
			continue;
		snprintf(key, sizeof(key), "%.*s|%d", STR_FMT(v.branch), m->method);
		if (sip_table_find(&w->ctx, str_from_cstr(key)))
			return true;
	}
	m->err = 0; /* running past the last Via is not the message's fault */
	return false;
}

static void sip_request_cancel(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_stx *inv = sip_stx_find(w, m, SIP_METHOD_INVITE);
	if (!inv || !inv->call || inv->tx.state >= SIP_TX_COMPLETED) {
		sip_reply(w, NULL, m, src, 481, "c481", NULL);
		return;
	}
	struct sip_call *c = inv->call;
	sip_reply(w, NULL, m, src, 200, c->to_tag, NULL); /* §16.10 */
	c->cancelled = true;
	/* With a provisional seen, the 487 the callee sends comes up to the
	 * caller; without one, nothing can be cancelled yet (§9.1): answer
	 * 487 now and CANCEL the attempt once it sends a provisional. */
	if (c->ctx && c->ctx->tx.state == SIP_TX_PROCEEDING) {
		sip_ctx_cancel(c->ctx);
		return;
	}
	sip_call_abandon(c);
	sip_call_finish_setup(c, 487, SIP_HANGUP_CALLER);
}

static void sip_request_invite(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src);

/* In-dialog requests follow their Route set (§16.4, §16.12 loose routing). */
static void sip_request_in_dialog(struct sip_worker *w, struct sip_msg *m,
				  const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct sip_peer dst;
	struct str cid;
	size_t drop = sip_routes_ours(p, m);
	if (drop == 0 && !sip_addressed_to_us(p, m)) {
		if (m->method != SIP_METHOD_ACK)
			sip_reply(w, NULL, m, src, 403, "d403", NULL);
		return;
	}
	if (sip_next_hop(p, m, drop, &dst) < 0) {
		if (m->method != SIP_METHOD_ACK)
			sip_reply(w, NULL, m, src, 404, "d404", NULL);
		return;
	}
	struct sip_entry *e = sip_msg_call_id(m, &cid) == 0 ? sip_table_find(&w->calls, cid) : NULL;
	struct sip_call *c = e ? sip_container_of(e, struct sip_call, e) : NULL;
	if (c) {
		sip_dialog_request(c, m, src);
		/* Send towards a side over the connection it came in on. */
		if (net_addr_equal(&dst.addr, &c->caller.addr))
			dst = c->caller;
		else if (net_addr_equal(&dst.addr, &c->callee.addr))
			dst = c->callee;
	}
	if (m->method == SIP_METHOD_ACK) {
		sip_proxy_send_request(w, m, src, &dst, STR_NULL, drop, NULL);
		return;
	}
	struct sip_stx *s = sip_stx_new(w, m, src);
	if (!s || sip_proxy_send_request(w, m, src, &dst, STR_NULL, drop, s) < 0) {
		if (s)
			sip_reply(w, s, m, src, 500, "d500", NULL);
	}
}

static void sip_request_out_of_dialog(struct sip_worker *w, struct sip_msg *m,
				      const struct sip_peer *src, int mf)
{
	struct sip_proxy *p = w->p;
	if (!sip_policy_source_known(p->policy, &src->addr)) {
		sip_policy_note_refused(p->policy, &src->addr, sip_now());
		sip_reply(w, NULL, m, src, 403, "u403",
			  "Reason: SIP;cause=403;text=\"unknown source\"\r\n");
		return;
	}
	if (m->method == SIP_METHOD_OPTIONS && (mf == 0 || sip_addressed_to_us(p, m))) {
		sip_reply(w, NULL, m, src, 200, "o200",
			  "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO\r\n");
		return;
	}
	if (mf == 0) {
		sip_reply(w, NULL, m, src, 483, "m483", NULL);
		return;
	}
	if (m->method == SIP_METHOD_INVITE) {
		sip_request_invite(w, m, src);
		return;
	}
	sip_reply(w, NULL, m, src, 405, "n405",
		  "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO\r\n");
}

static void sip_handle_request(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_stx *s;
	struct sip_addr to;
	int mf = 70;

	if (m->method == SIP_METHOD_ACK && (s = sip_stx_find(w, m, SIP_METHOD_ACK))) {
		sip_tx_server_ack(&s->tx, sip_now());
		return;
	}
	if (m->method != SIP_METHOD_ACK && (s = sip_stx_find(w, m, m->method))) {
		sip_tx_server_retransmit(&s->tx); /* §17.2.1, §17.2.2 */
		return;
	}
	if (m->method == SIP_METHOD_CANCEL) {
		sip_request_cancel(w, m, src);
		return;
	}
	if (sip_msg_max_forwards(m, &mf) == SIP_E_MISSING)
		mf = 70;
	if (sip_loop_detected(w, m)) {
		sip_reply(w, NULL, m, src, 482, "l482", NULL);
		return;
	}
	bool in_dialog = sip_msg_to(m, &to) == 0 && to.tag.p != NULL;
	if (in_dialog && mf > 0) {
		sip_request_in_dialog(w, m, src);
		return;
	}
	if (in_dialog && m->method != SIP_METHOD_ACK) {
		sip_reply(w, NULL, m, src, 483, "m483", NULL);
		return;
	}
	if (!in_dialog)
		sip_request_out_of_dialog(w, m, src, mf);
}

/* ------------------------------------------------------------ the INVITE */

static struct sip_call *sip_call_new(struct sip_worker *w, struct sip_stx *s, struct str cid)
{
	struct sip_call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->stx = s;
	s->call = c;
	c->caller = s->src;
	buf_init(&c->best);
	c->timer = evtimer_new(w->base, sip_call_timer, c);
	if (!c->timer) {
		free(c);
		s->call = NULL;
		return NULL;
	}
	uint64_t r = 0;
	random_bytes(&r, sizeof(r));
	snprintf(c->to_tag, sizeof(c->to_tag), "w%016llx", (unsigned long long)r);
	str_copy(c->cdr.call_id, sizeof(c->cdr.call_id), cid);
	net_addr_format(&s->src.addr, c->cdr.source, sizeof(c->cdr.source));
	c->cdr.start_ms = time_wall_ms();
	c->cdr.plan = &c->plan;
	for (int i = 0; i < 2; i++)
		c->cdr.rtp_packets[i] = c->cdr.rtp_lost[i] = c->cdr.rtp_jitter_us[i] = -1;
	sip_table_add(&w->calls, &c->e, cid);
	return c;
}

static void sip_reply_reject(struct sip_stx *s, const struct sip_call_plan *pl, const char *tag)
{
	char reason[SIP_REASON_MAX + 64];
	char text[SIP_REASON_MAX];
	size_t j = 0;
	/* The reason goes inside a quoted-string: no quotes or backslashes. */
	for (size_t i = 0; pl->reject_reason[i] && j + 1 < sizeof(text); i++)
		if (pl->reject_reason[i] != '"' && pl->reject_reason[i] != '\\')
			text[j++] = pl->reject_reason[i];
	text[j] = '\0';
	snprintf(reason, sizeof(reason), "Reason: SIP;cause=%d;text=\"%s\"\r\n", pl->reject_code,
		 text);
	sip_stx_reply(s, pl->reject_code, tag, reason);
}

static void sip_request_invite(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct str cid;
	if (sip_msg_call_id(m, &cid) != 0)
		return;
	if (sip_table_find(&w->calls, cid)) {
		sip_reply(w, NULL, m, src, 482, "l482", NULL); /* merged request (§8.2.2.2) */
		return;
	}
	struct sip_stx *s = sip_stx_new(w, m, src);
	if (!s)
		return;
	sip_reply(w, s, m, src, 100, NULL, NULL); /* §16.2: at once, we may take a while */
	struct sip_call *c = sip_call_new(w, s, cid);
	if (!c) {
		sip_reply(w, s, m, src, 500, "e500", NULL);
		return;
	}
	int rc = sip_policy_plan_invite(p->policy, m, &src->addr, sip_now(), &c->plan);
	if (rc < 0 || c->plan.reject_code) {
		if (rc < 0)
			sip_stx_reply(s, 500, c->to_tag, NULL);
		else
			sip_reply_reject(s, &c->plan, c->to_tag);
		if (rc == 0 && c->plan.reject_code == 403)
			sip_policy_note_refused(p->policy, &src->addr, sip_now());
		metric_inc(metric_get(p->m_calls, "rejected"));
		/* A refusal of a known customer's call (limits, blocked prefix,
		 * no route, unknown number) is a CDR: it answers "why did my call
		 * fail".  Strangers' attempts are not: scanners would fill the table. */
		if (rc == 0 && c->plan.customer_id[0]) {
			sip_call_end(c, c->plan.reject_code, SIP_HANGUP_NONE);
			return;
		}
		s->call = NULL;
		sip_table_del(&w->calls, &c->e);
		sip_call_free(c);
		return;
	}
	if (c->plan.max_attempts <= 0)
		c->plan.max_attempts = p->o.max_attempts > 0 ? p->o.max_attempts : 1;
	sip_call_try_next(c);
}

void sip_call_free(struct sip_call *c)
{
	if (c->timer)
		event_free(c->timer);
	if (c->reaper)
		event_free(c->reaper);
	buf_fini(&c->best);
	free(c);
}

/* ----------------------------------------------------------- responses */

/* Where a response goes once our Via is off (§18.2.2, RFC 3581 §4): the
 * next Via's received and rport, as we wrote them when forwarding the
 * request; over the connection of the call's side it names. */
static int sip_response_dst(struct sip_proxy *p, struct sip_msg *m, const struct sip_call *c,
			    struct sip_peer *out)
{
	struct sip_via v;
	char host[SIP_HOST_MAX];
	if (sip_msg_via(m, 1, &v) != 0 ||
	    str_copy(host, sizeof(host), v.received.len ? v.received : v.host) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (net_addr_parse(str_from_cstr(host),
			   v.rport_port ? v.rport_port
			   : v.port	? v.port
					: 5060,
			   &out->addr) < 0)
		return -EINVAL;
	if (net_addr_equal(&out->addr, &c->caller.addr)) {
		*out = c->caller;
	} else if (net_addr_equal(&out->addr, &c->callee.addr)) {
		*out = c->callee;
	} else {
		out->transport =
		    str_caseeq_cstr(v.transport, "TCP") ? SIP_TRANSPORT_TCP : SIP_TRANSPORT_UDP;
		out->listen = sip_transport_listen_for(p, &out->addr);
	}
	return 0;
}

static void sip_handle_response(struct sip_worker *w, struct sip_msg *m)
{
	struct sip_via v;
	struct sip_cseq cs;
	char key[SIP_KEY_MAX];
	if (sip_msg_via(m, 0, &v) != 0 || sip_msg_cseq(m, &cs) != 0)
		return;
	snprintf(key, sizeof(key), "%.*s|%d", STR_FMT(v.branch), cs.method);
	struct sip_entry *e = sip_table_find(&w->ctx, str_from_cstr(key));
	if (e) {
		sip_response_to_ctx(w, sip_container_of(e, struct sip_ctx, e), m);
		return;
	}
	/* §16.7 step 1 (no transaction): a retransmitted 2xx to INVITE goes on
	 * statelessly, to whoever sent the INVITE (the caller, or the callee
	 * for its re-INVITE); anything else stops here. */
	struct str cid;
	struct sip_peer dst;
	if (cs.method != SIP_METHOD_INVITE || m->status < 200 || m->status >= 300 ||
	    sip_msg_call_id(m, &cid) != 0 || !str_has_prefix(v.branch, STR_LIT(SIP_BRANCH_PREFIX)))
		return;
	e = sip_table_find(&w->calls, cid);
	if (!e || sip_response_dst(w->p, m, sip_container_of(e, struct sip_call, e), &dst) < 0)
		return;
	struct buf out;
	buf_init(&out);
	if (sip_build_strip_via(&out, m) == 0)
		sip_transport_send(w, &dst, (struct str){out.p, out.len});
	buf_fini(&out);
}

/* ------------------------------------------------------------- receive */

struct sip_handoff {
	struct sip_worker *w;
	struct sip_peer src;
	size_t len;
	char bytes[];
};

static void sip_proxy_handle(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	if (!m->is_request) {
		sip_handle_response(w, m);
		return;
	}
	char name[32] = "OTHER";
	if (m->method != SIP_METHOD_OTHER)
		str_copy(name, sizeof(name), m->method_name);
	metric_inc(metric_get(w->p->m_requests, name));
	sip_handle_request(w, m, src);
}

static void sip_handoff_run(void *arg)
{
	struct sip_handoff *h = arg;
	struct sip_msg m;
	if (sip_msg_parse(&m, h->bytes, h->len) == 0 && sip_msg_validate(&m) == 0)
		sip_proxy_handle(h->w, &m, &h->src);
	free(h);
}

/* Which worker a message belongs to: our branch names it in responses. */
static unsigned sip_msg_owner(struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_via v;
	struct str cid;
	if (!m->is_request && sip_msg_via(m, 0, &v) == 0 &&
	    str_has_prefix(v.branch, STR_LIT(SIP_BRANCH_PREFIX))) {
		uint64_t n;
		struct str rest = {v.branch.p + 8, v.branch.len - 8};
		ptrdiff_t dash = str_index(rest, '-');
		if (dash > 0 && str_to_u64((struct str){rest.p, (size_t)dash}, &n) == 0 &&
		    n < p->nworkers)
			return (unsigned)n;
	}
	return sip_msg_call_id(m, &cid) == 0 ? sip_proxy_owner(p, cid) : 0;
}

static void sip_reject_malformed(struct sip_worker *w, struct sip_msg *m,
				 const struct sip_peer *src)
{
	char warn[160];
	metric_inc(w->p->m_parse_errors);
	if (!m->is_request || !sip_msg_can_reply(m))
		return;
	int code = sip_err_status(sip_msg_error_code(m));
	snprintf(warn, sizeof(warn), "Warning: 399 warp \"%s\"\r\n",
		 sip_msg_error(m) ? sip_msg_error(m) : "malformed");
	sip_reply(w, NULL, m, src, code ? code : 400, "x400", warn);
}

void sip_proxy_receive(struct sip_worker *w, const char *buf, size_t len,
		       const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct sip_msg m;
	if (sip_policy_source_banned(p->policy, &src->addr, sip_now()))
		return; /* silently: a scanner learns nothing */
	if (sip_msg_parse(&m, buf, len) != 0 || sip_msg_validate(&m) != 0) {
		sip_reject_malformed(w, &m, src);
		return;
	}
	unsigned owner = sip_msg_owner(p, &m);
	if (owner == w->index) {
		sip_proxy_handle(w, &m, src);
		return;
	}
	struct sip_handoff *h = malloc(sizeof(*h) + len);
	if (!h)
		return;
	h->w = &p->w[owner];
	h->src = *src;
	h->len = len;
	memcpy(h->bytes, buf, len);
	if (loop_pool_call(p->pool, owner, sip_handoff_run, h) < 0)
		free(h);
}

/* ------------------------------------------------------------ lifecycle */

static int64_t sip_read_transactions(void *arg)
{
	(void)arg;
	return atomic_load(&sip_gauge_transactions);
}

static int64_t sip_read_dialogs(void *arg)
{
	(void)arg;
	return atomic_load(&sip_gauge_dialogs);
}

static void sip_proxy_metrics(struct sip_proxy *p)
{
	struct metrics *r = metrics_default();
	p->m_requests =
	    metrics_counter(r, "warp_sip_requests_total", "SIP requests received.", "method");
	p->m_responses =
	    metrics_counter(r, "warp_sip_responses_total", "SIP responses sent.", "code");
	p->m_calls = metrics_counter(r, "warp_sip_calls_total", "Calls by outcome.", "outcome");
	struct metric_family *pe = metrics_counter(r, "warp_sip_parse_errors_total",
						   "SIP messages that failed to parse.", NULL);
	p->m_parse_errors = pe ? metric_get(pe) : NULL;
	/* Registered once per process; a second proxy in a test reuses them. */
	metrics_gauge_fn(r, "warp_sip_transactions", "SIP transactions open.",
			 sip_read_transactions, NULL);
	metrics_gauge_fn(r, "warp_sip_active_dialogs", "Established SIP dialogs.", sip_read_dialogs,
			 NULL);
}

static int sip_proxy_listens(struct sip_proxy *p, const struct sip_proxy_opts *o)
{
	for (size_t i = 0; i < o->nlisten && i < SIP_LISTEN_MAX; i++) {
		struct sip_listen *l = &p->listen[i];
		char ip[NET_ADDR_STRLEN];
		l->addr = o->listen[i];
		l->port = net_addr_port(&l->addr);
		if (net_addr_format_ip(&l->addr, ip, sizeof(ip)) < 0)
			return -EINVAL;
		snprintf(l->host, sizeof(l->host),
			 net_addr_family(&l->addr) == AF_INET6 ? "[%s]" : "%s", ip);
		p->nlisten++;
	}
	return p->nlisten ? 0 : -EINVAL;
}

static struct sip_policy *sip_proxy_policy(const struct sip_proxy_opts *o, char *err, size_t errlen)
{
	struct sip_policy_opts po = {
	    .store = o->store,
	    .loader = o->loader,
	    .setup_timeout_ms = o->setup_timeout_ms,
	    .max_attempts = o->max_attempts,
	    .dialog_ceiling_ms = o->dialog_ceiling_ms,
	    .flood_refusals = o->flood_refusals,
	    .flood_window_ms = o->flood_window_ms,
	    .flood_ban_ms = o->flood_ban_ms,
	    .flood_table_size = o->flood_table_size,
	    .probe_interval_ms = o->probe_interval_ms,
	};
	return sip_policy_new(&po, err, errlen);
}

struct sip_proxy *sip_proxy_new(const struct sip_proxy_opts *o, char *err, size_t errlen)
{
	struct sip_proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->o = *o;
	if (sip_proxy_listens(p, o) < 0) {
		snprintf(err, errlen, "no usable listen address");
		goto fail;
	}
	sip_proxy_metrics(p);
	p->policy = sip_proxy_policy(o, err, errlen);
	if (!p->policy)
		goto fail;
	p->pool = loop_pool_new(o->threads, "sip");
	p->nworkers = p->pool ? loop_pool_size(p->pool) : 0;
	p->w = p->nworkers ? calloc(p->nworkers, sizeof(*p->w)) : NULL;
	if (!p->w) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct sip_worker *w = &p->w[i];
		w->p = p;
		w->index = i;
		w->base = loop_pool_base(p->pool, i);
		for (size_t j = 0; j < SIP_LISTEN_MAX; j++)
			w->udp_fd[j] = -1;
		pthread_mutex_init(&w->dead_lock, NULL);
	}
	for (unsigned i = 0; i < p->nworkers; i++)
		if (sip_transport_open(&p->w[i], err, errlen) < 0)
			goto fail;
	return p;
fail:
	sip_proxy_free(p);
	return NULL;
}

int sip_proxy_start(struct sip_proxy *p)
{
	int rc = sip_policy_start(p->policy);
	if (rc == 0)
		rc = loop_pool_start(p->pool);
	p->started = rc == 0;
	return rc;
}

static void sip_call_drop(struct sip_entry *e, void *arg)
{
	struct sip_worker *w = arg;
	struct sip_call *c = sip_container_of(e, struct sip_call, e);
	(void)w;
	/* Stopping: nobody would end these calls any more, so the parties are
	 * told now (one try each: the transactions go with the worker). */
	if (c->state == SIP_CALL_UP) {
		sip_dialog_bye_both(c);
		return;
	}
	sip_call_abandon(c);
	sip_call_finish_setup(c, 503, SIP_HANGUP_PROXY);
}

static void sip_tx_drop(struct sip_entry *e, void *arg)
{
	bool server = arg != NULL;
	if (server) {
		struct sip_stx *s = sip_container_of(e, struct sip_stx, e);
		s->call = NULL;
		sip_stx_terminated(&s->tx);
	} else {
		struct sip_ctx *c = sip_container_of(e, struct sip_ctx, e);
		c->call = NULL;
		sip_ctx_terminated(&c->tx);
	}
}

/* Runs on each worker before its loop stops: calls up are ended (their
 * CDRs submitted) and transactions freed. */
static void sip_worker_drain(void *arg)
{
	struct sip_worker *w = arg;
	sip_table_each(&w->calls, sip_call_drop, w);
	sip_table_each(&w->ctx, sip_tx_drop, NULL);
	sip_table_each(&w->stx, sip_tx_drop, w);
	sip_transport_close(w);
}

void sip_proxy_stop(struct sip_proxy *p)
{
	if (!p || !p->started)
		return;
	for (unsigned i = 0; i < p->nworkers; i++)
		loop_pool_call(p->pool, i, sip_worker_drain, &p->w[i]);
	loop_pool_stop(p->pool);
	sip_policy_stop(p->policy);
	p->started = false;
}

void sip_proxy_free(struct sip_proxy *p)
{
	if (!p)
		return;
	sip_proxy_stop(p);
	for (unsigned i = 0; p->w && i < p->nworkers; i++)
		sip_worker_drain(&p->w[i]);
	/* The policy's CDR writer flushes first: its callbacks still reach
	 * the workers' dead lists, which are reaped while the bases live. */
	sip_policy_free(p->policy);
	for (unsigned i = 0; p->w && i < p->nworkers; i++) {
		sip_call_reap(&p->w[i]);
		pthread_mutex_destroy(&p->w[i].dead_lock);
	}
	free(p->w);
	loop_pool_free(p->pool);
	free(p);
}
