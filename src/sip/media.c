/*
 * media.c — a call's media leg through an ng engine (WARP's media role or
 * rtpengine), for trunks whose media_mode is relay (decision 0015).
 *
 * The proxy asks the engine, over ng (src/ng/ng.h), to stand between the
 * parties' RTP: "offer" with the caller's SDP before the INVITE goes out,
 * "answer" with the callee's SDP before the first response carrying it
 * goes up, "delete" when the call ends, whose reply carries the media
 * statistics the CDR keeps.  Each worker has its own ng client on its own
 * loop; every request is asynchronous, so the message it concerns waits:
 *
 *   - the INVITE is forwarded once the rewritten SDP is back (the engine's
 *     refusal or silence answers the caller 503 and writes the CDR);
 *   - a response with SDP is copied and held until the answer's reply; a
 *     later response with the same To tag and SDP reuses the rewritten
 *     body, so 2xx retransmissions (forwarded statelessly, §16.7) carry it;
 *   - the CDR is submitted from the delete's callback.
 *
 * NAT: the engine is given the signalling source as received-from and not
 * told to trust the SDP's addresses, and it latches on to where RTP really
 * comes from; origin and session connection are replaced, ICE removed (a
 * relay in the path makes the parties' candidates useless).
 *
 * Inside a relayed dialog, a re-INVITE or UPDATE with SDP from either
 * party (hold, resume, a new address or codec: RFC 3264 §8) is a new
 * offer to the same engine, from the sender's tag, and the response with
 * SDP its answer, as Kamailio's rtpengine_manage() does (see "in-dialog
 * offer/answer" in media_reoffer.c).  An INVITE without SDP (offer in the
 * 2xx, answer in the ACK: RFC 3261 §13.2.1) goes through the engine the
 * other way round: "offer" from the callee's tag on the 2xx, "answer" on
 * the ACK (media_late.c), or in a reliable 1xx and the PRACK, where an
 * UPDATE may also re-offer before the answer (media_early.c).  This file
 * has what they share, the first offer/answer, the delete and the
 * worker's ng client.  One allocation per message rewritten; none on the
 * packet path of calls in bypass.
 *
 * Parsing again: a message waiting on the engine (media.held, the request a
 * server transaction keeps) has outlived its receive buffer, and a struct
 * sip_msg is larger than a call may keep (≤ 4 KiB per call), so its bytes
 * are indexed again when the reply comes; so are the bytes made by putting
 * the engine's SDP in (sip_media_rebody), to be forwarded.  Each is marked
 * "re-parse: held" or "re-parse: rebodied" where it happens.
 */
#include "ng/ng.h"
#include "sip/call_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sip_media_replace[] = {"origin", "session-connection"};
static const char sip_media_reason[] = "Reason: SIP;cause=503;text=\"media relay unavailable\"\r\n";
static const char sip_media_reason_none[] =
    "Reason: SIP;cause=503;text=\"media relay not configured\"\r\n";

/* ------------------------------------------------------------- helpers */

bool sip_media_has_sdp(struct sip_msg *m)
{
	struct str type, params;
	return m->body.len > 0 && sip_msg_content_type(m, &type, &params) == 0 &&
	       str_caseeq_cstr(type, "application/sdp");
}

/* m's bytes with body in place of its own, Content-Length to match. */
int sip_media_rebody(struct buf *out, const struct sip_msg *m, struct str body)
{
	int rc = buf_append_str(out, m->start_line);
	rc = rc ? rc : buf_append(out, "\r\n", 2);
	for (size_t i = 0; i < m->nhdrs && rc == 0; i++)
		if (m->hdrs[i].id != SIP_HDR_CONTENT_LENGTH)
			rc = buf_append_str(out, m->hdrs[i].line);
	rc = rc ? rc : buf_printf(out, "Content-Length: %zu\r\n\r\n", body.len);
	return rc ? rc : buf_append_str(out, body);
}

uint64_t sip_media_key(struct str to_tag, struct str sdp)
{
	return sip_hash(to_tag) * 1000003u ^ sip_hash(sdp);
}

/* Calls waiting on the engine are listed on their worker, so that a
 * worker that stops can finish them (its client's callbacks never come). */
static void sip_media_wait(struct sip_call *c, enum sip_media_wait what, uint64_t id)
{
	struct sip_worker *w = c->w;
	c->media.wait = what;
	c->media.req = id;
	c->media.prev = NULL;
	c->media.next = w->media_waiting;
	if (w->media_waiting)
		w->media_waiting->media.prev = c;
	w->media_waiting = c;
}

void sip_media_waiting_remove(struct sip_call *c)
{
	struct sip_worker *w = c->w;
	if (c->media.wait == SIP_MEDIA_IDLE)
		return;
	if (c->media.prev)
		c->media.prev->media.next = c->media.next;
	else
		w->media_waiting = c->media.next;
	if (c->media.next)
		c->media.next->media.prev = c->media.prev;
	c->media.prev = c->media.next = NULL;
	c->media.wait = SIP_MEDIA_IDLE;
	c->media.req = 0;
}

static struct str sip_media_call_id(const struct sip_call *c)
{
	return str_from_cstr(c->cdr.call_id);
}

static void sip_media_ip(const struct net_addr *a, char *out, size_t n)
{
	if (net_addr_format_ip(a, out, n) < 0)
		out[0] = '\0';
}

/* Sends body for c; the reply comes to cb.  0 or -errno. */
static int sip_media_send(struct sip_call *c, struct buf *body, ng_client_cb *cb,
			  enum sip_media_wait what)
{
	uint64_t id = 0;
	int rc = ng_client_request(c->w->ng, sip_media_call_id(c), (struct str){body->p, body->len},
				   cb, c, &id);
	if (rc == 0)
		sip_media_wait(c, what, id);
	else
		log_warn("sip", "call %s: ng request not sent: %s", c->cdr.call_id, strerror(-rc));
	return rc;
}

/* An offer or answer (build) of q's SDP from the party at from, for c:
 * the parameters every one carries are set here.  0 or -errno. */
int sip_media_sdp_send(struct sip_call *c, struct ng_params *q, const struct net_addr *from,
		       int (*build)(struct buf *, const struct ng_params *), ng_client_cb *cb,
		       enum sip_media_wait what)
{
	char ip[NET_ADDR_STRLEN];
	struct buf body;
	sip_media_ip(from, ip, sizeof(ip));
	q->call_id = sip_media_call_id(c);
	q->replace = sip_media_replace;
	q->nreplace = 2;
	q->ice = "remove";
	q->received_from = str_from_cstr(ip);
	buf_init(&body);
	int rc = build(&body, q);
	if (rc == 0)
		rc = sip_media_send(c, &body, cb, what);
	buf_fini(&body);
	return rc;
}

/* ---------------------------------------------------------------- offer */

/* The caller's INVITE is answered 503 with reason (a Reason header). */
static void sip_media_refuse(struct sip_call *c, const char *reason)
{
	c->media.on = false; /* nothing to delete */
	if (c->server_tx)
		sip_server_tx_reply(c->server_tx, NULL, 503, c->to_tag, reason);
	sip_call_finish_setup(c, 503, SIP_HANGUP_NONE);
}

static void sip_media_offer_failed(struct sip_call *c, const char *why)
{
	log_warn("sip", "call %s: media engine refused the offer (%s): 503", c->cdr.call_id, why);
	sip_media_refuse(c, sip_media_reason);
}

/* The request kept in server transaction s (the caller's INVITE, or an
 * in-dialog offer) takes the engine's SDP: what is forwarded is these
 * bytes (every attempt, for an INVITE). */
int sip_media_rebody_server_tx(struct sip_server_tx *s, struct str sdp)
{
	struct sip_msg m;
	struct buf out;
	int rc;
	if (!s || sip_msg_parse(&m, s->req.p, s->req.len) != 0) /* re-parse: held */
		return -EINVAL;
	buf_init(&out);
	rc = sip_media_rebody(&out, &m, sdp);
	if (rc == 0) {
		buf_fini(&s->req);
		s->req = out;
	} else {
		buf_fini(&out);
	}
	return rc;
}

/* The engine's SDP from an offer's reply; else -1 and why in why. */
int sip_media_reply_sdp(int status, const struct bencode_node *reply, struct str *sdp, char *why,
			size_t n)
{
	struct str reason = STR_LIT("no SDP in the reply");
	if (status == NG_CLIENT_ERR_REPLY)
		bencode_dict_get_str(reply, "error-reason", &reason);
	if (status == 0 && bencode_dict_get_str(reply, "sdp", sdp) == 0)
		return 0;
	if (status != 0 && status != NG_CLIENT_ERR_REPLY)
		reason = str_from_cstr(ng_client_strerror(status));
	snprintf(why, n, "%.*s", STR_FMT(reason));
	return -1;
}

static void sip_media_offer_done(void *arg, int status, const struct bencode_node *reply,
				 struct str raw)
{
	struct sip_call *c = arg;
	struct str sdp;
	char why[128];
	(void)raw;
	sip_media_waiting_remove(c);
	if (sip_media_reply_sdp(status, reply, &sdp, why, sizeof(why)) < 0) {
		sip_media_offer_failed(c, why);
		return;
	}
	if (sip_media_rebody_server_tx(c->server_tx, sdp) < 0) {
		sip_media_offer_failed(c, "rewritten INVITE");
		return;
	}
	sip_call_try_next(c, NULL); /* its body is the engine's now */
}

int sip_media_invite(struct sip_call *c, struct sip_msg *m)
{
	struct sip_addr from;
	struct sip_via via;
	/* No body at all is a late offer; a body that is not SDP alone
	 * (multipart, SIP-I) is not ours to rewrite: bypass. */
	bool late = m->body.len == 0;
	if (!c->plan.media_relay || (!late && !sip_media_has_sdp(m)) ||
	    sip_msg_from(m, &from) != 0 || !from.tag.p || sip_msg_via(m, 0, &via) != 0)
		return 0;
	/* A sip process without engines (the roles split, [sip] media_engines
	 * left empty) must not let a relay trunk's call bypass the relay: the
	 * trunk's mode may change at runtime, so this is decided per call. */
	if (!c->w->ng) {
		log_warn("sip",
			 "call %s: trunk in relay mode, but [sip] media_engines is empty: 503",
			 c->cdr.call_id);
		sip_media_refuse(c, sip_media_reason_none);
		return 1;
	}
	if (!c->media.tags && !(c->media.tags = calloc(1, sizeof(*c->media.tags)))) {
		if (late)
			return 0; /* nothing offered yet: the call goes on in bypass */
		sip_media_offer_failed(c, strerror(ENOMEM));
		return 1;
	}
	str_copy(c->media.tags->from, sizeof(c->media.tags->from), from.tag);
	if (late) {
		c->media.late = true; /* the offer comes in the 2xx */
		return 0;
	}
	struct ng_params q = {
	    .from_tag = str_from_cstr(c->media.tags->from),
	    .via_branch = via.branch,
	    .sdp = m->body,
	};
	c->media.on = true;
	int rc = sip_media_sdp_send(c, &q, &c->caller.addr, ng_build_offer, sip_media_offer_done,
				    SIP_MEDIA_OFFER);
	if (rc < 0)
		sip_media_offer_failed(c, rc == -EHOSTUNREACH ? "no engine up" : strerror(-rc));
	return 1;
}

/* --------------------------------------------------------------- answer */

/* Sends bytes (a response with our Via on top) up through s; when s is
 * over, a 2xx goes statelessly to up (the caller), if given. */
void sip_media_forward_bytes(struct sip_call *c, struct sip_server_tx *s, const struct sip_peer *up,
			     struct str bytes)
{
	struct sip_msg m;
	struct buf out;
	if (sip_msg_parse(&m, bytes.p, bytes.len) != 0) /* re-parse: held or rebodied */
		return;
	if (s && s->tx.state < SIP_TX_COMPLETED) {
		sip_response_forward(s, &m);
		return;
	}
	if (!up || m.status < 200 || m.status >= 300)
		return;
	buf_init(&out); /* the caller's transaction is gone: a 2xx goes statelessly */
	if (sip_call_strip_via(c, NULL, &out, &m) == 0)
		sip_transport_send(c->w, up, (struct str){out.p, out.len});
	buf_fini(&out);
}

void sip_media_forward_sdp(struct sip_call *c, struct sip_server_tx *s, const struct sip_peer *up,
			   struct sip_msg *resp, struct str sdp)
{
	struct buf out;
	buf_init(&out);
	if (sip_media_rebody(&out, resp, sdp) == 0)
		sip_media_forward_bytes(c, s, up, (struct str){out.p, out.len});
	buf_fini(&out);
}

void sip_media_forward_rewritten(struct sip_call *c, struct sip_server_tx *s,
				 const struct sip_peer *up, struct sip_msg *resp)
{
	sip_media_forward_sdp(c, s, up, resp, (struct str){c->media.answer.p, c->media.answer.len});
}

static void sip_media_answer_done(void *arg, int status, const struct bencode_node *reply,
				  struct str raw)
{
	struct sip_call *c = arg;
	struct sip_msg held;
	struct str sdp;
	(void)raw;
	sip_media_waiting_remove(c);
	if (sip_msg_parse(&held, c->media.held.p, c->media.held.len) != 0) /* re-parse: held */
		goto out;
	/* The initial answer goes up the caller's INVITE transaction; a
	 * re-offer's up its own, which a final ends (re freed first, so the
	 * transaction's end does not come back here). */
	struct sip_server_tx *s = c->media.re ? c->media.re->server_tx : c->server_tx;
	const struct sip_peer *up = c->media.re ? NULL : &c->caller;
	/* An early dialog's UPDATE: its answer is not the call's, which the
	 * INVITE's 2xx (repeating the reliable 1xx's SDP) still needs. */
	bool early = c->media.re && c->state == SIP_CALL_SETUP;
	if (c->media.re && held.status >= 200)
		sip_media_re_free(c);
	if (status != 0 || bencode_dict_get_str(reply, "sdp", &sdp) != 0) {
		/* The response is on its way to the offerer already in the
		 * answerer's eyes; holding it back would fail an answered call
		 * (or, for a re-offer, a session the answerer has changed).
		 * Its SDP goes unchanged: media flows directly, if it can. */
		log_warn("sip",
			 "call %s: media engine did not take the answer (%s): SDP passed "
			 "through",
			 c->cdr.call_id, ng_client_strerror(status));
		sip_media_forward_bytes(c, s, up, (struct str){c->media.held.p, c->media.held.len});
		goto out;
	}
	if (early) {
		sip_media_forward_sdp(c, s, up, &held, sdp);
		goto out;
	}
	buf_reset(&c->media.answer);
	if (buf_append_str(&c->media.answer, sdp) == 0) {
		c->media.answered = c->media.held_key;
		sip_media_forward_rewritten(c, s, up, &held);
	}
out:
	buf_reset(&c->media.held);
}

/* An answer with resp's SDP, from the party at 'from' (tag to_tag) to the
 * offerer (tag from_tag); resp is held until the reply. */
int sip_media_answer_send(struct sip_call *c, struct sip_msg *resp, struct str from_tag,
			  struct str to_tag, const struct net_addr *from)
{
	struct ng_params q = {.from_tag = from_tag, .to_tag = to_tag, .sdp = resp->body};
	int rc = buf_append_str(&c->media.held, resp->raw);
	if (rc == 0)
		rc = sip_media_sdp_send(c, &q, from, ng_build_answer, sip_media_answer_done,
					SIP_MEDIA_ANSWER);
	if (rc < 0)
		buf_reset(&c->media.held);
	return rc;
}

/* resp goes up as it is, though the relay is on: its SDP is not an answer
 * the engine can take now. */
static void sip_media_response_unrelayed(struct sip_call *c, struct sip_msg *resp)
{
	log_warn("sip", "call %s: SDP in a %d not relayed (another offer/answer at the engine)",
		 c->cdr.call_id, resp->status);
	if (c->server_tx)
		sip_response_forward(c->server_tx, resp);
}

void sip_media_response(struct sip_call *c, struct sip_msg *resp)
{
	struct sip_addr to;
	/* A late offer comes in the 2xx or a reliable 1xx (RFC 3262 §5). */
	if (c->media.late && !c->media.on && (resp->status >= 200 || sip_media_reliable(resp)) &&
	    sip_media_has_sdp(resp) && sip_msg_to(resp, &to) == 0 && to.tag.p) {
		sip_media_late_offer(c, resp, to.tag);
		return;
	}
	if (!c->media.on || !sip_media_has_sdp(resp) || sip_msg_to(resp, &to) != 0 || !to.tag.p) {
		if (c->server_tx)
			sip_response_forward(c->server_tx, resp);
		return;
	}
	uint64_t key = sip_media_key(to.tag, resp->body);
	if (key == c->media.answered && c->media.answer.len) {
		sip_media_forward_rewritten(c, c->server_tx, &c->caller, resp);
		return;
	}
	if (!c->media.re &&
	    (c->media.wait == SIP_MEDIA_ANSWER || c->media.wait == SIP_MEDIA_LATE_OFFER)) {
		/* One answer (or late offer) at a time: a final replaces the
		 * response held (it will carry the same rewritten SDP); a
		 * provisional is dropped, as an unreliable one may be, and a
		 * reliable one is repeated by the callee. */
		if (resp->status >= 200) {
			buf_reset(&c->media.held);
			buf_append_str(&c->media.held, resp->raw);
		}
		return;
	}
	/* An early dialog's PRACK or UPDATE at the engine, or the callee,
	 * having offered, changing its offer (RFC 3261 §13.2.1 forbids it). */
	if (c->media.re || c->media.wait != SIP_MEDIA_IDLE || c->media.late) {
		sip_media_response_unrelayed(c, resp);
		return;
	}
	str_copy(c->media.tags->to, sizeof(c->media.tags->to), to.tag);
	c->media.held_key = key;
	if (sip_media_answer_send(c, resp, str_from_cstr(c->media.tags->from), to.tag,
				  &c->callee.addr) < 0 &&
	    c->server_tx)
		sip_response_forward(c->server_tx, resp); /* SDP unchanged, as on a failed answer */
}

int sip_media_strip_via(struct sip_call *c, struct buf *out, struct sip_msg *m)
{
	struct sip_addr to;
	struct sip_msg re;
	struct buf tmp;
	if (!c->media.on || !sip_media_has_sdp(m))
		return sip_call_strip_via(c, NULL, out, m);
	bool known = sip_msg_to(m, &to) == 0 && to.tag.p &&
		     sip_media_key(to.tag, m->body) == c->media.answered && c->media.answer.len;
	if (!known && (c->media.wait == SIP_MEDIA_ANSWER || c->media.wait == SIP_MEDIA_LATE_OFFER))
		return -EAGAIN; /* the held one goes up once the engine's SDP is back */
	if (!known)
		return sip_call_strip_via(c, NULL, out, m);
	buf_init(&tmp);
	int rc = sip_media_rebody(&tmp, m, (struct str){c->media.answer.p, c->media.answer.len});
	if (rc == 0) /* re-parse: rebodied */
		rc = sip_msg_parse(&re, tmp.p, tmp.len) == 0 ? sip_call_strip_via(c, NULL, out, &re)
							     : -EINVAL;
	buf_fini(&tmp);
	return rc;
}

/* --------------------------------------------------------------- delete */

/* rtpengine reports jitter in milliseconds (under "SSRC"), WARP's relay in
 * RTP timestamp units; G.711's 8 kHz clock is assumed for the latter. */
static int64_t sip_media_jitter_us(int64_t j, bool ms)
{
	if (j < 0)
		return -1;
	return ms ? j * 1000 : j * 125;
}

static void sip_media_stats(struct sip_call *c, const struct bencode_node *reply)
{
	struct ng_call_stats st;
	const struct ng_leg_stats *leg[2];
	bool ms = bencode_dict_get(reply, "SSRC") != NULL;
	if (ng_stats_parse(reply, &st) != 0)
		return;
	leg[0] = ng_stats_leg(&st, str_from_cstr(c->media.tags->from));
	leg[1] = c->media.tags->to[0] ? ng_stats_leg(&st, str_from_cstr(c->media.tags->to)) : NULL;
	for (size_t i = 0; !leg[1] && i < st.nlegs; i++)
		if (&st.leg[i] != leg[0])
			leg[1] = &st.leg[i];
	for (int k = 0; k < 2; k++) {
		if (!leg[k])
			continue;
		c->cdr.rtp_packets[k] = (int64_t)leg[k]->packets;
		c->cdr.rtp_lost[k] = leg[k]->lost;
		c->cdr.rtp_jitter_us[k] = sip_media_jitter_us(leg[k]->jitter, ms);
	}
}

static void sip_media_delete_done(void *arg, int status, const struct bencode_node *reply,
				  struct str raw)
{
	struct sip_call *c = arg;
	(void)raw;
	sip_media_waiting_remove(c);
	if (status == 0)
		sip_media_stats(c, reply);
	else
		log_warn("sip", "call %s: media delete: %s", c->cdr.call_id,
			 ng_client_strerror(status));
	ng_engine_set_forget(c->w->p->o.media_engines, sip_media_call_id(c));
	sip_call_cdr_write(c);
}

static void sip_media_ignore(void *arg, int status, const struct bencode_node *reply,
			     struct str raw)
{
	(void)arg;
	(void)status;
	(void)reply;
	(void)raw;
}

int sip_media_call_end(struct sip_call *c)
{
	struct buf body;
	if (!c->media.on)
		return 0;
	c->media.on = false;
	if (c->media.wait != SIP_MEDIA_IDLE) /* an offer or answer nobody awaits now */
		ng_client_cancel(c->w->ng, c->media.req);
	sip_media_re_end(c);
	sip_media_waiting_remove(c);
	buf_reset(&c->media.held);
	struct ng_params q = {.call_id = sip_media_call_id(c),
			      .from_tag = str_from_cstr(c->media.tags->from)};
	buf_init(&body);
	int rc = ng_build_delete(&body, &q);
	if (rc == 0 && c->w->draining) {
		/* Stopping: the reply would never be read; the delete is sent
		 * once and the CDR goes without statistics. */
		uint64_t id = 0;
		if (ng_client_request(c->w->ng, sip_media_call_id(c),
				      (struct str){body.p, body.len}, sip_media_ignore, NULL,
				      &id) == 0)
			ng_client_cancel(c->w->ng, id);
		ng_engine_set_forget(c->w->p->o.media_engines, sip_media_call_id(c));
		rc = -ECANCELED;
	} else if (rc == 0) {
		rc = sip_media_send(c, &body, sip_media_delete_done, SIP_MEDIA_DELETE);
	}
	buf_fini(&body);
	return rc == 0 ? 1 : 0;
}

/* ------------------------------------------------------------ lifecycle */

void sip_media_worker_drain(struct sip_worker *w)
{
	static const struct bencode_node none = {.type = BENCODE_DICT};
	w->draining = true;
	for (int guard = 0; w->media_waiting && guard < 1000000; guard++) {
		struct sip_call *c = w->media_waiting;
		enum sip_media_wait what = c->media.wait;
		ng_client_cancel(w->ng, c->media.req);
		if (what == SIP_MEDIA_OFFER)
			sip_media_offer_done(c, -ECANCELED, &none, STR_NULL);
		else if (what == SIP_MEDIA_REOFFER)
			sip_media_reoffer_done(c, -ECANCELED, &none, STR_NULL);
		else if (what == SIP_MEDIA_ANSWER)
			sip_media_answer_done(c, -ECANCELED, &none, STR_NULL);
		else if (what == SIP_MEDIA_LATE_OFFER)
			sip_media_late_offer_done(c, -ECANCELED, &none, STR_NULL);
		else if (what == SIP_MEDIA_LATE_ANSWER)
			sip_media_late_answer_done(c, -ECANCELED, &none, STR_NULL);
		else
			sip_media_delete_done(c, -ECANCELED, &none, STR_NULL);
	}
}

int sip_media_worker_open(struct sip_worker *w)
{
	const struct sip_proxy_opts *o = &w->p->o;
	if (!o->media_engines)
		return 0;
	int64_t t = o->media_timeout_ms > 0 ? o->media_timeout_ms : 1500;
	struct ng_client_opts co = {.retransmit_ms = t / 3 > 0 ? t / 3 : 1, .retransmits = 2};
	w->ng = ng_client_new(o->media_engines, w->base, &co);
	return w->ng ? 0 : -ENOMEM;
}

void sip_media_worker_close(struct sip_worker *w)
{
	ng_client_free(w->ng);
	w->ng = NULL;
}

void sip_media_call_free(struct sip_call *c)
{
	buf_fini(&c->media.answer);
	buf_fini(&c->media.held);
	buf_fini(&c->media.ack_sdp);
	free(c->media.tags);
	c->media.tags = NULL;
}
