/*
 * media_late.c — a late offer through the media engine (decision 0015).
 *
 * An INVITE without SDP (RFC 3261 §13.2.1, RFC 3264 §4): the callee's
 * first 2xx carries the offer and the caller's ACK the answer.  The 2xx is
 * an "offer" from the callee's tag (to-tag: the caller's) and is held as a
 * first answer's response is; the engine's SDP is kept in media.answer
 * under the 2xx's key, so the 2xx's retransmissions on the stateless path
 * (sip_media_strip_via) carry the same SDP.  The ACK with SDP is the
 * "answer" from the caller's tag: it waits (a sip_media_re without a
 * transaction says where it goes), goes on rewritten, and the engine's
 * SDP is kept for the ACKs the caller repeats on each 2xx retransmission.
 * The late offer in a reliable 1xx is answered in the PRACK instead (RFC
 * 3262 §5; media_early.c): the same answer, the PRACK waiting in its own
 * server transaction.
 *
 * An engine failing the 2xx's offer does not fail the call.  The callee
 * has answered, and a proxy forwards a 2xx at once (§16.7 step 5): holding
 * it, or answering the caller 500 and BYEing the callee, would turn an
 * engine outage into calls cut at answer on every late-offer trunk, which
 * a carrier's customers see as dropped calls and its billing as answered
 * seconds lost.  The 2xx goes up unchanged instead (media directly between
 * the parties, as after a failed first answer), a warning says so, and the
 * call is no longer relayed (no answer on the ACK, no delete).  The first
 * offer is different: refused 503 before anyone answered, the caller can
 * still route the call elsewhere.  An engine failing the ACK's answer lets
 * the ACK go on unchanged too: the call is up, and nothing answers an ACK
 * to report a failure with.
 *
 * A re-INVITE without SDP in a relayed call (RFC 3261 §14.1) is the same
 * exchange inside the dialog, from either party: media_reoffer.c offers
 * its 2xx from the answering party's tag (the call's existing ports kept)
 * and this file takes it from there, with the ACK of the re-INVITE's
 * sender as the answer (media.ack_callee says whose).  An engine failing
 * that offer lets the 2xx up unchanged as well, and the ACK after it; the
 * call still holds its engine state, so it is still deleted at the end
 * (statistics up to then in the CDR), and a later re-offer with SDP goes
 * to the engine again, which may take the media back onto the relay.
 */
#include "ng/ng.h"
#include "sip/call_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The late offer failed: the 2xx (bytes, our Via on) goes up as it is, up
 * the INVITE's transaction, or the re-INVITE's (which ends the exchange). */
static void sip_media_late_bypass(struct sip_call *c, const char *why, struct str bytes)
{
	struct sip_server_tx *s = c->media.re ? c->media.re->server_tx : c->server_tx;
	log_warn("sip", "call %s: media engine refused the late offer (%s): 2xx not relayed",
		 c->cdr.call_id, why);
	c->media.late = false; /* the ACK goes on unchanged */
	if (!c->media.re)
		c->media.on = false; /* the first offer: nothing to delete */
	const struct sip_peer *up = c->media.re ? NULL : &c->caller;
	sip_media_re_free(c);
	sip_media_forward_bytes(c, s, up, bytes);
}

/* The engine's SDP (in media.answer) goes up in the held 2xx m; for a
 * re-INVITE the ACK to come is its sender's, the answer to be asked for. */
static void sip_media_late_offered(struct sip_call *c, struct sip_msg *m)
{
	struct sip_media_re *re = c->media.re;
	struct sip_server_tx *s = re ? re->server_tx : c->server_tx;
	c->media.answered = c->media.held_key;
	if (re) {
		c->media.late = true;
		c->media.ack_callee = str_eq_cstr(str_from_cstr(re->from), c->media.tags->to);
		c->media.acked = 0;
		buf_reset(&c->media.ack_sdp);
	}
	const struct sip_peer *up = re ? NULL : &c->caller;
	sip_media_re_free(c); /* before the 2xx ends s */
	sip_media_forward_rewritten(c, s, up, m);
}

void sip_media_late_offer_done(void *arg, int status, const struct bencode_node *reply,
			       struct str raw)
{
	struct sip_call *c = arg;
	struct str sdp, held = {c->media.held.p, c->media.held.len};
	struct sip_msg m;
	char why[128];
	(void)raw;
	sip_media_waiting_remove(c);
	if (sip_media_reply_sdp(status, reply, &sdp, why, sizeof(why)) < 0) {
		sip_media_late_bypass(c, why, held);
	} else if (sip_msg_parse(&m, held.p, held.len) == 0) { /* re-parse: held (media.c) */
		buf_reset(&c->media.answer);
		if (buf_append_str(&c->media.answer, sdp) == 0) {
			sip_media_late_offered(c, &m);
		} else {
			sip_media_late_bypass(c, strerror(ENOMEM), held);
		}
	}
	buf_reset(&c->media.held);
}

void sip_media_late_offer_send(struct sip_call *c, struct sip_msg *resp, struct str to_tag,
			       struct ng_params *q, const struct net_addr *from)
{
	q->sdp = resp->body;
	c->media.held_key = sip_media_key(to_tag, resp->body);
	int rc = buf_append_str(&c->media.held, resp->raw);
	if (rc == 0)
		rc = sip_media_sdp_send(c, q, from, ng_build_offer, sip_media_late_offer_done,
					SIP_MEDIA_LATE_OFFER);
	if (rc < 0) {
		buf_reset(&c->media.held);
		sip_media_late_bypass(c, rc == -EHOSTUNREACH ? "no engine up" : strerror(-rc),
				      resp->raw);
	}
}

void sip_media_late_offer(struct sip_call *c, struct sip_msg *resp, struct str to_tag)
{
	struct sip_media_tags *t = c->media.tags;
	str_copy(t->to, sizeof(t->to), to_tag);
	struct ng_params q = {.from_tag = str_from_cstr(t->to), .to_tag = str_from_cstr(t->from)};
	c->media.on = true;
	sip_media_late_offer_send(c, resp, to_tag, &q, &c->callee.addr);
}

/* Forwards the caller's ACK with sdp in place of its own (as it is when
 * sdp.p is NULL). */
static void sip_media_ack_forward(struct sip_call *c, struct sip_msg *ack,
				  const struct sip_peer *src, const struct sip_peer *dst,
				  size_t drop, struct str sdp)
{
	struct sip_msg re;
	struct buf out;
	buf_init(&out);
	if (!sdp.p)
		sip_proxy_send_request(c->w, ack, src, dst, STR_NULL, drop, NULL);
	else if (sip_media_rebody(&out, ack, sdp) == 0 &&
		 sip_msg_parse(&re, out.p, out.len) == 0) /* re-parse: rebodied (media.c) */
		sip_proxy_send_request(c->w, &re, src, dst, STR_NULL, drop, NULL);
	buf_fini(&out);
}

/* The answer's request goes on with sdp in place of its own (as it is when
 * sdp.p is NULL): an ACK straight to where it goes, a PRACK in its own
 * server transaction (a 500 there when it cannot be sent). */
static void sip_media_late_answer_forward(struct sip_call *c, struct sip_media_re *re,
					  struct sip_msg *m, struct str sdp)
{
	struct sip_server_tx *s = re->server_tx;
	struct sip_msg fwd;
	if (!s) {
		sip_media_ack_forward(c, m, &re->src, &re->dst, re->drop, sdp);
		return;
	}
	/* The PRACK waited in s while the engine answered: its bytes (now with
	 * the engine's SDP) are indexed again to be forwarded. */
	if ((sdp.p && sip_media_rebody_server_tx(s, sdp) < 0) ||
	    sip_msg_parse(&fwd, s->req.p, s->req.len) != 0 ||
	    sip_proxy_send_request(c->w, &fwd, &s->src, &re->dst, STR_NULL, re->drop, s) < 0)
		sip_server_tx_reply(s, NULL, 500, NULL, NULL);
}

void sip_media_late_answer_done(void *arg, int status, const struct bencode_node *reply,
				struct str raw)
{
	struct sip_call *c = arg;
	char why[128];
	struct str sdp;
	bool ok = sip_media_reply_sdp(status, reply, &sdp, why, sizeof(why)) == 0;
	struct sip_media_re *re = c->media.re;
	struct sip_msg m;
	(void)raw;
	c->media.re = NULL; /* the exchange is over, whatever happens next */
	if (re && re->server_tx)
		re->server_tx->reoffer = NULL;
	sip_media_waiting_remove(c);
	if (re && sip_msg_parse(&m, c->media.held.p, c->media.held.len) == 0) { /* re-parse: held */
		if (!ok) {
			log_warn("sip",
				 "call %s: media engine did not take the %.*s's answer (%s): "
				 "SDP passed through",
				 c->cdr.call_id, STR_FMT(m.method_name), why);
			sdp = STR_NULL;
		} else {
			buf_reset(&c->media.ack_sdp);
			if (buf_append_str(&c->media.ack_sdp, sdp) == 0)
				c->media.acked = c->media.held_key;
		}
		sip_media_late_answer_forward(c, re, &m, sdp);
	}
	free(re);
	buf_reset(&c->media.held);
}

int sip_media_late_answer_send(struct sip_call *c, struct sip_msg *m, struct sip_server_tx *s,
			       const struct sip_peer *src, const struct sip_peer *dst, size_t drop)
{
	struct sip_addr from;
	struct sip_media_re *re = NULL;
	if (sip_msg_from(m, &from) != 0 || !from.tag.p || !(re = calloc(1, sizeof(*re))))
		return -ENOMEM;
	*re = (struct sip_media_re){.server_tx = s, .src = *src, .dst = *dst, .drop = drop};
	/* The answer is the sender's, to the offer of the other party. */
	struct ng_params q = {
	    .from_tag =
		str_from_cstr(c->media.ack_callee ? c->media.tags->from : c->media.tags->to),
	    .to_tag = from.tag,
	    .sdp = m->body,
	};
	c->media.held_key = sip_media_key(from.tag, m->body);
	c->media.re = re;
	if (s)
		s->reoffer = c;
	int rc = buf_append_str(&c->media.held, m->raw);
	if (rc == 0)
		rc = sip_media_sdp_send(c, &q, &src->addr, ng_build_answer,
					sip_media_late_answer_done, SIP_MEDIA_LATE_ANSWER);
	if (rc < 0) {
		log_warn("sip",
			 "call %s: the %.*s's answer not sent to the engine: SDP passed through",
			 c->cdr.call_id, STR_FMT(m->method_name));
		buf_reset(&c->media.held);
		sip_media_re_free(c);
	}
	return rc;
}

/* The ACK m of a late offer's 2xx (the caller's, or the sender's of a
 * re-INVITE without SDP): 1 when media.c forwards it (the answer at the
 * engine first, or its SDP reused), else 0. */
int sip_media_late_ack(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
		       const struct sip_peer *dst, size_t drop)
{
	struct sip_addr from;
	if (!c->media.late || !c->media.on || c->state != SIP_CALL_UP || !sip_media_has_sdp(m) ||
	    sip_msg_from(m, &from) != 0 || !from.tag.p)
		return 0;
	const char *answerer = c->media.ack_callee ? c->media.tags->to : c->media.tags->from;
	if (!str_eq_cstr(from.tag, answerer))
		return 0;
	if (c->media.wait == SIP_MEDIA_LATE_ANSWER)
		return 1; /* a repeat of the ACK at the engine: that one goes on */
	uint64_t key = sip_media_key(from.tag, m->body);
	if (key == c->media.acked && c->media.ack_sdp.len) {
		sip_media_ack_forward(c, m, src, dst, drop,
				      (struct str){c->media.ack_sdp.p, c->media.ack_sdp.len});
		return 1;
	}
	if (c->media.acked || c->media.re || c->media.wait != SIP_MEDIA_IDLE)
		return 0; /* not the late offer's answer: not ours */
	return sip_media_late_answer_send(c, m, NULL, src, dst, drop) == 0;
}
