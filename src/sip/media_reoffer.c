/*
 * media_reoffer.c — offer/answer inside a relayed dialog (decision 0015).
 *
 * A re-INVITE or UPDATE with SDP from either party (hold, resume, a new
 * address or codec: RFC 3264 §8) is a new offer to the same engine, from
 * the sender's tag, and the response with SDP its answer, as Kamailio's
 * rtpengine_manage() does.  So is an UPDATE with SDP in the early dialog
 * a reliable 1xx opened (RFC 3311 §5.1; see media_early.c), once the
 * first offer/answer is complete (before, 491).
 *
 * The request waits in its own server transaction while the offer is at
 * the engine, so a retransmission is absorbed there (sip_server_tx_find, before
 * any routing) and never offered twice; the ng client retransmits the one
 * request under one cookie.  One exchange at a time per call: another
 * offer meanwhile, from either side, is answered 491 (RFC 3261 §14.2,
 * RFC 3311 §5.2), as a party in glare would answer it.
 *
 * A re-INVITE without SDP (RFC 3261 §14.1 with §13.2.1: the offer comes in
 * its 2xx, the answer in the ACK) is forwarded as it is, in its own server
 * transaction as above; its 2xx with SDP is an "offer" from the answering
 * party's tag and goes through the engine as a first late offer does
 * (media_late.c: held meanwhile, retransmissions rewritten alike, the
 * sender's ACK the "answer", an engine failing it lets the 2xx through).
 */
#include "ng/ng.h"
#include "sip/call_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char sip_media_re_reason[] =
    "Reason: SIP;cause=500;text=\"media relay refused the new offer\"\r\n";
/* rtpengine would take new local ports for a party whose port changed;
 * "port-latching" keeps the ones the other party was told, as WARP's relay
 * always does, so a re-offer never moves the relay's side of the call. */
static const char *const sip_media_re_flags[] = {"port-latching"};
static const char sip_media_re_ended[] = "Reason: SIP;cause=500;text=\"call ended\"\r\n";

void sip_media_re_free(struct sip_call *c)
{
	struct sip_media_re *re = c->media.re;
	if (!re)
		return;
	if (re->server_tx)
		re->server_tx->reoffer = NULL;
	free(re);
	c->media.re = NULL;
}

void sip_media_server_tx_gone(struct sip_server_tx *s)
{
	struct sip_call *c = s->reoffer;
	if (c->media.wait == SIP_MEDIA_REOFFER || c->media.wait == SIP_MEDIA_ANSWER ||
	    c->media.wait == SIP_MEDIA_LATE_OFFER || c->media.wait == SIP_MEDIA_LATE_ANSWER) {
		ng_client_cancel(c->w->ng, c->media.req);
		sip_media_waiting_remove(c);
		buf_reset(&c->media.held);
	}
	sip_media_re_free(c);
}

/* The call ends (its ng request cancelled) with an exchange in progress.
 * A re-offer (or a PRACK's answer) still at the engine was never
 * forwarded: its sender is answered 500.  A 2xx held for a re-INVITE's late offer goes up as it is
 * (its sender has answered, §16.7 step 5).  One being answered goes on
 * alone. */
void sip_media_re_end(struct sip_call *c)
{
	struct sip_server_tx *s = c->media.re ? c->media.re->server_tx : NULL;
	sip_media_re_free(c);
	if (s && (c->media.wait == SIP_MEDIA_REOFFER || c->media.wait == SIP_MEDIA_LATE_ANSWER))
		sip_server_tx_reply(s, NULL, 500, NULL, sip_media_re_ended);
	else if (s && c->media.wait == SIP_MEDIA_LATE_OFFER)
		sip_media_forward_bytes(c, s, NULL,
					(struct str){c->media.held.p, c->media.held.len});
}

/* The engine refused the new offer (or did not answer): the request is
 * answered 500 rather than forwarded.  A non-2xx leaves the session as it
 * was (RFC 3261 §14.1; RFC 3311 §5.1 for UPDATE), so the call goes on
 * through the relay with the media it had, and the sender may try again;
 * forwarding the SDP unrewritten instead would move the media off the
 * relay behind the engine's back (the relay is there for NAT and to hide
 * the parties from each other), and the engine's own state would no
 * longer match what the parties were told. */
static void sip_media_re_failed(struct sip_call *c, const char *why)
{
	struct sip_server_tx *s = c->media.re ? c->media.re->server_tx : NULL;
	log_warn("sip", "call %s: media engine refused the re-offer (%s): 500", c->cdr.call_id,
		 why);
	sip_media_re_free(c);
	if (s)
		sip_server_tx_reply(s, NULL, 500, NULL, sip_media_re_reason);
}

void sip_media_reoffer_done(void *arg, int status, const struct bencode_node *reply, struct str raw)
{
	struct sip_call *c = arg;
	struct sip_media_re *re = c->media.re;
	struct sip_msg m;
	struct str sdp;
	char why[128];
	(void)raw;
	sip_media_waiting_remove(c);
	if (!re)
		return;
	if (sip_media_reply_sdp(status, reply, &sdp, why, sizeof(why)) < 0) {
		sip_media_re_failed(c, why);
		return;
	}
	struct sip_server_tx *s = re->server_tx;
	if (sip_media_rebody_server_tx(s, sdp) < 0 ||
	    sip_msg_parse(&m, s->req.p, s->req.len) != 0 || /* re-parse: rebodied (media.c) */
	    sip_proxy_send_request(c->w, &m, &s->src, &re->dst, STR_NULL, re->drop, s) < 0)
		sip_media_re_failed(c, "rewritten request not sent");
}

/* The offer for m (tags from, to) from src; the request waits in s. */
static void sip_media_reoffer_send(struct sip_call *c, struct sip_server_tx *s, struct sip_msg *m,
				   const struct sip_peer *src, struct str from, struct str to)
{
	struct sip_via via;
	struct ng_params q = {
	    .from_tag = from,
	    .to_tag = to,
	    .via_branch = sip_msg_via(m, 0, &via) == 0 ? via.branch : STR_NULL,
	    .sdp = m->body,
	    .flags = sip_media_re_flags,
	    .nflags = 1,
	};
	int rc = sip_media_sdp_send(c, &q, &src->addr, ng_build_offer, sip_media_reoffer_done,
				    SIP_MEDIA_REOFFER);
	if (rc < 0)
		sip_media_re_failed(c, rc == -EHOSTUNREACH ? "no engine up" : strerror(-rc));
}

int sip_media_in_dialog(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
			const struct sip_peer *dst, size_t drop)
{
	struct sip_addr from, to;
	if (m->method == SIP_METHOD_ACK)
		return sip_media_late_ack(c, m, src, dst, drop);
	if (m->method == SIP_METHOD_PRACK)
		return sip_media_early_prack(c, m, src, dst, drop);
	bool late = m->method == SIP_METHOD_INVITE && m->body.len == 0;
	if (!c->media.on || !c->media.tags || !sip_media_dialog_open(c, m) ||
	    (m->method != SIP_METHOD_INVITE && m->method != SIP_METHOD_UPDATE) ||
	    (!late && !sip_media_has_sdp(m)) || sip_msg_from(m, &from) != 0 || !from.tag.p ||
	    sip_msg_to(m, &to) != 0 || !to.tag.p)
		return 0;
	struct sip_server_tx *s = sip_server_tx_new(c->w, m, src);
	if (!s)
		return 1; /* out of memory: dropped, the sender retransmits */
	/* §16.2: the engine may take a while */
	if (m->method == SIP_METHOD_INVITE)
		sip_reply(c->w, s, m, src, 100, NULL, NULL);
	struct sip_media_re *re = NULL;
	if (c->media.re || c->media.wait != SIP_MEDIA_IDLE || !sip_media_early_settled(c)) {
		sip_reply(c->w, s, m, src, 491, NULL, NULL);
		return 1;
	}
	if (!(re = calloc(1, sizeof(*re)))) {
		sip_reply(c->w, s, m, src, 500, NULL, sip_media_re_reason);
		return 1;
	}
	re->server_tx = s;
	re->src = *src;
	re->dst = *dst;
	re->drop = drop;
	str_copy(re->from, sizeof(re->from), from.tag);
	str_copy(re->to, sizeof(re->to), to.tag);
	re->late = late;
	s->reoffer = c;
	c->media.re = re;
	if (!late) {
		sip_media_reoffer_send(c, s, m, src, from.tag, to.tag);
	} else if (sip_proxy_send_request(c->w, m, src, dst, STR_NULL, drop, s) < 0) {
		sip_media_re_free(c);
		sip_server_tx_reply(s, m, 500, NULL, NULL);
	}
	return 1;
}

/* Forwards resp up s as it is; a final ends the exchange first. */
static void sip_media_re_pass(struct sip_call *c, struct sip_server_tx *s, struct sip_msg *resp)
{
	if (resp->status >= 200)
		sip_media_re_free(c);
	sip_response_forward(s, resp);
}

/* A response to a re-INVITE without SDP: its 2xx with SDP is an offer
 * from the answering party (re->to) to the sender (re->from), from where
 * the request went; the 2xx is held meanwhile, a repeat of it dropped. */
static void sip_media_late_reoffer(struct sip_call *c, struct sip_server_tx *s,
				   struct sip_msg *resp)
{
	struct sip_media_re *re = c->media.re;
	struct sip_addr to;
	if (c->media.wait == SIP_MEDIA_LATE_OFFER)
		return; /* the held 2xx goes up with the engine's SDP */
	if (resp->status < 200 || resp->status >= 300 || !sip_media_has_sdp(resp) ||
	    sip_msg_to(resp, &to) != 0 || !to.tag.p) {
		sip_media_re_pass(c, s, resp);
		return;
	}
	struct ng_params q = {
	    .from_tag = str_from_cstr(re->to),
	    .to_tag = str_from_cstr(re->from),
	    .flags = sip_media_re_flags,
	    .nflags = 1,
	};
	sip_media_late_offer_send(c, resp, to.tag, &q, &re->dst.addr);
}

bool sip_media_in_dialog_response(struct sip_server_tx *s, struct sip_msg *resp)
{
	struct sip_call *c = s->reoffer;
	struct sip_addr to;
	if (!c || !c->media.re)
		return false;
	struct sip_media_re *re = c->media.re;
	if (re->late) {
		sip_media_late_reoffer(c, s, resp);
		return true;
	}
	if (c->media.wait == SIP_MEDIA_ANSWER) {
		/* As for the first answer: a 2xx replaces the provisional held
		 * (it carries the same answer); a failure ends the exchange. */
		if (resp->status >= 300) {
			sip_media_server_tx_gone(s);
			sip_response_forward(s, resp);
		} else if (resp->status >= 200) {
			buf_reset(&c->media.held);
			buf_append_str(&c->media.held, resp->raw);
		}
		return true;
	}
	if (resp->status >= 300 || !sip_media_has_sdp(resp) || sip_msg_to(resp, &to) != 0 ||
	    !to.tag.p) {
		sip_media_re_pass(c, s, resp);
		return true;
	}
	uint64_t key = sip_media_key(to.tag, resp->body);
	if (key == c->media.answered && c->media.answer.len) {
		if (resp->status >= 200)
			sip_media_re_free(c);
		sip_media_forward_rewritten(c, s, NULL, resp);
		return true;
	}
	c->media.held_key = key;
	if (sip_media_answer_send(c, resp, str_from_cstr(re->from), str_from_cstr(re->to),
				  &re->dst.addr) < 0)
		sip_media_re_pass(c, s, resp); /* SDP unchanged, as on a failed answer */
	return true;
}
