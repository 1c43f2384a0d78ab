/*
 * call.c — a call's setup (RFC 3261 §16 for one INVITE): ask the policy for
 * a plan, try its targets one after the other (serial failover on 408, 5xx
 * and our setup timer), pass provisionals up, forward the answer or the best
 * failure (§16.7), CANCEL (§9.1, §16.10), and the 2xx that comes after the
 * caller has its final answer (decision 0014).  The established dialog is
 * dialog.c's.
 *
 * Runs on the worker owning the call's Call-ID (decision 0012).
 */
#include "sip/call_private.h"
#include "sip/prepaid.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ call setup */

static void sip_call_timer(evutil_socket_t fd, short what, void *arg);

void sip_call_arm(struct sip_call *c, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	event_add(c->timer, &tv);
}

void sip_client_tx_cancel(struct sip_client_tx *x)
{
	struct sip_msg inv;
	struct sip_via v;
	struct buf out;
	buf_init(&out);
	/* The INVITE we sent, indexed again: a CANCEL copies its Request-URI,
	 * top Via, Call-ID, From, To, CSeq number and Route (§9.1); rare. */
	if (sip_msg_parse(&inv, x->tx.out.p, x->tx.out.len) == 0 && sip_msg_via(&inv, 0, &v) == 0 &&
	    sip_build_cancel(&out, &inv) == 0) {
		struct sip_client_tx *c = sip_client_tx_new(x->w, (struct str){out.p, out.len},
							    &x->dst, v.branch, SIP_METHOD_CANCEL);
		if (c)
			sip_tx_client_start(&c->tx, sip_now());
	}
	x->cancel_pending = false;
	buf_fini(&out);
}

void sip_client_tx_detach_peer(struct sip_client_tx *x)
{
	if (x->peer && x->peer->peer == x)
		x->peer->peer = NULL;
	x->peer = NULL;
}

/* Lets go of the attempt in progress: CANCEL when it may (§9.1), else a
 * CANCEL as soon as it sends a provisional. */
void sip_call_abandon(struct sip_call *c)
{
	struct sip_client_tx *x = c->client_tx;
	sip_call_branches_abandon(c, 0);
	if (!x)
		return;
	c->client_tx = NULL;
	x->call = NULL;
	sip_client_tx_detach_peer(x);
	if (x->tx.state == SIP_TX_PROCEEDING)
		sip_client_tx_cancel(x);
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

static void sip_reply_reject(struct sip_server_tx *s, struct sip_msg *m,
			     const struct sip_call_plan *pl, const char *tag);

void sip_call_finish_setup(struct sip_call *c, int code, enum sip_hangup_side side)
{
	struct sip_server_tx *s = c->server_tx;
	if (s && s->tx.state < SIP_TX_COMPLETED) {
		if (c->plan.reject_code && c->plan.reject_code == code) {
			/* the policy's own answer (a carrier limit): its Reason */
			sip_reply_reject(s, NULL, &c->plan, c->to_tag);
		} else if (c->best.len && c->walk.best_code == code) {
			sip_count_response(c->w->p, code);
			sip_tx_server_respond(&s->tx, code, (struct str){c->best.p, c->best.len},
					      sip_now());
		} else {
			sip_server_tx_reply(s, NULL, code, c->to_tag, NULL);
		}
	}
	metric_inc(metric_get(c->w->p->m_calls, code == 487 ? "cancelled" : "failed"));
	sip_call_end(c, code, side);
}

/* A failure with no answer of the target's to forward (our timer's 408). */
void sip_call_attempt_failed(struct sip_call *c, int code)
{
	if (sip_attempt_note_failure(&c->walk, code))
		buf_reset(&c->best);
	sip_call_attempt_next(c, code);
}

/* After a failed attempt recorded as code: give up if cancelled, else on. */
void sip_call_attempt_next(struct sip_call *c, int code)
{
	sip_call_record_attempt(c, code);
	if (c->cancelled) {
		sip_call_finish_setup(c, 487, SIP_HANGUP_CALLER);
		return;
	}
	sip_call_try_next(c, NULL);
}

/* The attempt at target t: the caller's INVITE (m while it is in hand,
 * else NULL) forwarded with t's Request-URI (§16.6). */
int sip_call_forward(struct sip_call *c, const struct sip_target *t, struct sip_msg *m)
{
	char ruri[SIP_HOST_MAX + 96];
	struct sip_msg again;
	struct sip_peer dst = {.addr = t->addr,
			       .transport = t->transport,
			       .conn_worker = t->conn_worker,
			       .conn_id = t->conn_id};
	dst.listen = sip_transport_listen_for(c->w->p, &dst.addr);
	if (sip_build_uri(ruri, sizeof(ruri), t->user, t->host, t->port, t->transport) < 0)
		return -EINVAL;
	/* A failover attempt, or one after the engine's offer rewrote the body:
	 * the receive buffer is gone, and a struct sip_msg is larger than the
	 * per-call budget, so the kept bytes are indexed again (once per attempt). */
	if (!m && sip_msg_parse(&again, c->server_tx->req.p, c->server_tx->req.len) != 0)
		return -EINVAL;
	if (!m)
		m = &again;
	/* TLS: the connection opens now, checked against the host t names
	 * (RFC 5922 §4), which the transport would otherwise read from the bytes. */
	if (sip_transport_connect(c->w, &dst, str_from_cstr(t->host)) < 0)
		return -ECONNREFUSED;
	c->callee = dst;
	/* Hidden: the callee sees the caller's From and To with our host. */
	if (c->th && sip_th_target(c->th, c->w->p->listen[dst.listen].host) < 0)
		return -ENOSPC;
	return sip_proxy_send_request(c->w, m, &c->server_tx->src, &dst, str_from_cstr(ruri),
				      sip_route_count_ours(c->w->p, m), c->server_tx);
}

/* The CDR's entry for an attempt at t (none past SIP_ATTEMPTS_MAX, or
 * when out of memory: the call goes on without it). */
void sip_call_attempt_add(struct sip_call *c, const struct sip_target *t)
{
	struct sip_cdr *cdr = &c->cdr;
	if (cdr->nattempts >= SIP_ATTEMPTS_MAX)
		return;
	struct sip_cdr_attempt *a = realloc(cdr->attempts, (cdr->nattempts + 1) * sizeof(*a));
	if (!a)
		return;
	cdr->attempts = a;
	a = &a[cdr->nattempts++];
	memset(a, 0, sizeof(*a));
	snprintf(a->target_id, sizeof(a->target_id), "%s",
		 t->gateway_id[0] ? t->gateway_id : t->trunk_id);
	a->start_ms = time_wall_ms();
	a->has_buy_rate = t->has_buy_rate;
	a->buy_rate = t->buy_rate;
}

/* A carrier over its limit now is skipped: not an attempt. */
bool sip_call_target_limited(void *arg, size_t target)
{
	struct sip_call *c = arg;
	return sip_policy_attempt_start(c->w->p->policy, &c->plan, target, sip_now()) != 0;
}

void sip_call_try_next(struct sip_call *c, struct sip_msg *invite)
{
	const struct sip_call_plan *pl = &c->plan;
	int i;
	/* registered contacts ring together (fork.c); once forked, nothing is left */
	if (pl->fork && c->walk.attempts == 0 && c->server_tx && sip_call_fork(c, invite) == 0)
		return;
	while (c->server_tx &&
	       (i = sip_attempt_next(&c->walk, pl, sip_call_target_limited, c)) >= 0) {
		const struct sip_target *t = &pl->targets[i];
		c->provisional = false;
		sip_call_attempt_add(c, t);
		snprintf(c->cdr.carrier_id, sizeof(c->cdr.carrier_id), "%s", t->carrier_id);
		snprintf(c->cdr.gateway_id, sizeof(c->cdr.gateway_id), "%s", t->gateway_id);
		if (sip_call_forward(c, t, invite) == 0) {
			sip_call_arm(c, pl->setup_timeout_ms > 0 ? pl->setup_timeout_ms : 8000);
			return;
		}
		sip_call_record_attempt(c, 503);
	}
	int code = sip_attempt_exhausted_code(&c->walk);
	/* A failover code goes upstream as what it was, unless a 408 from our
	 * own timer: that one the caller sees as 408 too; or a carrier limit
	 * skipped a target: the policy's 503 with its Reason. */
	if (c->server_tx && sip_policy_attempts_exhausted(c->w->p->policy, &c->plan) != 0)
		code = c->plan.reject_code;
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
	sip_call_branches_abandon(c, 408);
	sip_call_abandon(c);
	sip_call_attempt_failed(c, 408);
}

static void sip_call_provisional(struct sip_call *c, struct sip_client_tx *x, struct sip_msg *resp)
{
	if (resp->status == 100)
		return;
	if (!c->provisional && c->cdr.pdd_ms == 0)
		c->cdr.pdd_ms = time_wall_ms() - c->cdr.start_ms;
	c->provisional = true;
	if (x->cancel_pending)
		sip_client_tx_cancel(x);
	/* Ringing: the setup timer gives way to RFC 3261's timer C (> 3 min). */
	sip_call_arm(c, 181000);
	sip_media_response(c, resp);
}

void sip_call_answered(struct sip_call *c, struct sip_msg *resp)
{
	metric_inc(metric_get(c->w->p->m_calls, "answered"));
	sip_dialog_answered(c, resp); /* reads the INVITE s still holds */
	sip_prepaid_answered(c);
	sip_media_response(c, resp);
}

static void sip_call_final(struct sip_call *c, struct sip_client_tx *x, struct sip_msg *resp)
{
	if (sip_call_branch_final(c, x, resp))
		return;
	int code = resp->status;
	const struct sip_target *t = &c->plan.targets[c->walk.next - 1];
	enum sip_attempt_verdict v = sip_attempt_judge(t, code, c->cancelled);
	c->client_tx = NULL;
	x->call = NULL;
	sip_client_tx_detach_peer(x);
	event_del(c->timer);
	if (c->cdr.pdd_ms == 0)
		c->cdr.pdd_ms = time_wall_ms() - c->cdr.start_ms;
	if (v == SIP_ATTEMPT_ANSWERED) {
		sip_call_record_attempt(c, code);
		sip_call_answered(c, resp);
		return;
	}
	if (v == SIP_ATTEMPT_STOP) {
		sip_call_record_attempt(c, code);
		c->walk.best_code = code;
		buf_reset(&c->best);
		sip_call_strip_via(c, c->server_tx, &c->best, resp);
		sip_call_finish_setup(c, code, c->cancelled ? SIP_HANGUP_CALLER : SIP_HANGUP_NONE);
		return;
	}
	/* The best failure's own bytes go upstream if no target answers. */
	if (sip_attempt_note_failure(&c->walk, code)) {
		buf_reset(&c->best);
		sip_call_strip_via(c, c->server_tx, &c->best, resp);
	}
	sip_call_attempt_next(c, code);
}

/* Hands a response to its client transaction; false when absorbed.  x may
 * be freed on return (a 2xx to INVITE, a final over a reliable transport). */
static bool sip_client_tx_response(struct sip_client_tx *x, struct sip_msg *resp)
{
	struct sip_msg inv;
	/* The ACK of a failed attempt copies the INVITE's headers (§17.1.1.3):
	 * the INVITE we sent is indexed again, once per failed attempt. */
	if (x->tx.kind == SIP_TX_INVITE_CLIENT && resp->status >= 300 && x->tx.ack.len == 0 &&
	    sip_msg_parse(&inv, x->tx.out.p, x->tx.out.len) == 0)
		sip_build_ack(&x->tx.ack, &inv, resp);
	return sip_tx_client_response(&x->tx, resp->status, sip_now());
}

static void sip_bye_answered(struct sip_worker *w, struct sip_msg *resp)
{
	struct sip_cseq cs;
	struct str cid;
	enum sip_th_side side;
	if (resp->status < 200 || sip_msg_cseq(resp, &cs) != 0 || cs.method != SIP_METHOD_BYE ||
	    sip_msg_call_id(resp, &cid) != 0)
		return;
	struct sip_call *c = sip_call_find(w, cid, &side);
	if (c && c->state == SIP_CALL_UP)
		sip_call_end(c, 200, c->cdr.hangup);
}

/* The dialog a late 2xx opened, from our side: From of the INVITE we sent,
 * To of the 2xx, its Contact and route set (§12.1.2). */
struct sip_late {
	char ruri[512], route[SIP_ROUTE_LEN], from[512], to[512], call_id[256];
	uint32_t cseq;
};

static int sip_late_dialog(struct sip_worker *w, struct sip_client_tx *x, struct sip_msg *resp,
			   struct sip_late *d)
{
	struct sip_msg inv;
	struct sip_addr contact;
	struct sip_cseq cs;
	struct str cid;
	const struct sip_hdr *from, *to;
	/* re-parse of the INVITE we sent: a late 2xx is rare (decision 0014) */
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
static void sip_late_answer_release(struct sip_worker *w, struct sip_client_tx *x,
				    struct sip_msg *resp)
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
		sip_proxy_send_new(w, (struct str){out.p, out.len}, &dst, str_from_cstr(branch),
				   SIP_METHOD_BYE);
	buf_fini(&out);
}

void sip_response_to_client_tx(struct sip_worker *w, struct sip_client_tx *x, struct sip_msg *resp)
{
	struct sip_call *c = x->call;
	struct sip_server_tx *peer = x->peer;
	if (!c && !peer && x->tx.kind == SIP_TX_INVITE_CLIENT && resp->status >= 200 &&
	    resp->status < 300 && x->tx.state <= SIP_TX_PROCEEDING) {
		sip_late_answer_release(w, x, resp);
		sip_client_tx_response(x, resp); /* x is freed: a 2xx ends it */
		return;
	}
	if (c && resp->status >= 200) {
		sip_call_final(c, x, resp); /* detaches x from c first */
		sip_client_tx_response(x, resp);
		return;
	}
	/* A final ends a transaction over TCP at once (no timer K): x is
	 * freed by then, so only a provisional may look at it afterwards. */
	bool provisional = resp->status < 200;
	bool up = sip_client_tx_response(x, resp);
	if (up && provisional && c && (c->client_tx == x || sip_call_is_branch(c, x)))
		sip_call_provisional(c, x, resp);
	else if (up && provisional && !c && x->cancel_pending)
		sip_client_tx_cancel(x);
	else if (up && peer) {
		if (!sip_media_in_dialog_response(peer, resp))
			sip_response_forward(peer, resp);
		sip_bye_answered(w, resp);
	}
}

void sip_request_cancel(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_server_tx *inv = sip_server_tx_find(w, m, SIP_METHOD_INVITE);
	if (!inv || !inv->call || inv->tx.state >= SIP_TX_COMPLETED) {
		sip_reply(w, NULL, m, src, 481, "c481", NULL);
		return;
	}
	struct sip_call *c = inv->call;
	sip_reply(w, NULL, m, src, 200, c->to_tag, NULL); /* §16.10 */
	/* Answered already: the 2xx is held while the media engine rewrites
	 * its SDP, and goes up next.  It must (§16.7 step 5: a 2xx is
	 * forwarded whatever crossed it), and the caller then ACKs and BYEs
	 * it (§9.1), as when CANCEL and 2xx cross on the wire.  Answering
	 * 487 here would end a call the callee has answered, leaving it with
	 * neither ACK nor BYE and the CDR saying cancelled. */
	if (c->state != SIP_CALL_SETUP)
		return;
	c->cancelled = true;
	sip_call_branches_abandon(c, 487); /* forked: each branch its CANCEL */
	/* With a provisional seen, the 487 the callee sends comes up to the
	 * caller; without one, nothing can be cancelled yet (§9.1): answer
	 * 487 now and CANCEL the attempt once it sends a provisional. */
	if (c->client_tx && c->client_tx->tx.state == SIP_TX_PROCEEDING) {
		sip_client_tx_cancel(c->client_tx);
		return;
	}
	sip_call_abandon(c);
	sip_call_finish_setup(c, 487, SIP_HANGUP_CALLER);
}

/* ------------------------------------------------------------ the INVITE */

static struct sip_call *sip_call_new(struct sip_worker *w, struct sip_server_tx *s, struct str cid)
{
	struct sip_call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->server_tx = s;
	s->call = c;
	c->caller = s->src;
	buf_init(&c->best);
	buf_init(&c->media.answer);
	buf_init(&c->media.held);
	buf_init(&c->media.ack_sdp);
	c->timer = evtimer_new(w->base, sip_call_timer, c);
	if (!c->timer || sip_table_add(&w->calls, &c->e, cid) < 0) {
		if (c->timer)
			event_free(c->timer);
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
	return c;
}

static void sip_reply_reject(struct sip_server_tx *s, struct sip_msg *m,
			     const struct sip_call_plan *pl, const char *tag)
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
	sip_server_tx_reply(s, m, pl->reject_code, tag, reason);
}

void sip_request_invite(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct str cid;
	if (sip_msg_call_id(m, &cid) != 0)
		return;
	if (sip_table_find(&w->calls, cid)) {
		sip_reply(w, NULL, m, src, 482, "l482", NULL); /* merged request (§8.2.2.2) */
		return;
	}
	struct sip_server_tx *s = sip_server_tx_new(w, m, src);
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
			sip_server_tx_reply(s, m, 500, c->to_tag, NULL);
		else
			sip_reply_reject(s, m, &c->plan, c->to_tag);
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
		c->plan.max_attempts = p->o.policy.max_attempts > 0 ? p->o.policy.max_attempts : 1;
	if (sip_prepaid_authorize(c) == 0) /* else it routes the call once paid for */
		sip_call_route(c, m);
}

void sip_call_route(struct sip_call *c, struct sip_msg *m)
{
	struct sip_server_tx *s = c->server_tx;
	struct sip_msg again;
	/* After an asynchronous step (prepaid) the receive buffer is gone:
	 * the INVITE the transaction keeps is indexed again. */
	if (!m && (!s || sip_msg_parse(&again, s->req.p, s->req.len) != 0)) {
		if (s)
			sip_server_tx_reply(s, NULL, 500, c->to_tag, NULL);
		sip_call_end(c, 500, SIP_HANGUP_NONE);
		return;
	}
	if (!m)
		m = &again;
	if (c->plan.topology_hiding && sip_call_hide(c, m) < 0) {
		sip_server_tx_reply(s, m, 500, c->to_tag, NULL);
		sip_call_end(c, 500, SIP_HANGUP_NONE);
		return;
	}
	if (sip_media_invite(c, m) == 0)
		sip_call_try_next(c, m);
}

void sip_call_refuse(struct sip_call *c, int code, const char *text)
{
	c->plan.reject_code = code;
	snprintf(c->plan.reject_reason, sizeof(c->plan.reject_reason), "%s", text);
	if (c->server_tx)
		sip_reply_reject(c->server_tx, NULL, &c->plan, c->to_tag);
	metric_inc(metric_get(c->w->p->m_calls, "rejected"));
	sip_call_end(c, code, SIP_HANGUP_NONE);
}

void sip_call_free(struct sip_call *c)
{
	sip_prepaid_call_free(c); /* settles: the CDR is durable by now */
	if (c->timer)
		event_free(c->timer);
	if (c->reaper)
		event_free(c->reaper);
	buf_fini(&c->best);
	sip_call_th_free(c);
	sip_media_call_free(c);
	sip_policy_plan_targets_free(&c->plan);
	free(c->cdr.attempts);
	free(c->branches); /* NULL by now: the call's end dropped them */
	free(c->dlg);
	free(c);
}

/* ------------------------------------------------------ transaction hooks */

static void sip_call_server_gone(struct sip_server_tx *s)
{
	if (s->reoffer)
		sip_media_server_tx_gone(s);
	if (s->call && s->call->server_tx == s)
		s->call->server_tx = NULL;
}

static void sip_call_client_gone(struct sip_client_tx *x)
{
	if (x->call && x->call->client_tx == x)
		x->call->client_tx = NULL;
	else if (x->call)
		sip_call_branch_gone(x->call, x);
}

static void sip_call_client_failed(struct sip_client_tx *x, int code)
{
	struct sip_call *c = x->call;
	if (c && sip_call_branch_failed(c, x, code))
		return;
	if (c && c->client_tx == x) {
		c->client_tx = NULL;
		sip_call_attempt_failed(c, code);
	}
}

const struct sip_txn_hooks sip_call_txn_hooks = {
    .server_gone = sip_call_server_gone,
    .client_gone = sip_call_client_gone,
    .client_failed = sip_call_client_failed,
};
