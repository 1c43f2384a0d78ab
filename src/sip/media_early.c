/*
 * media_early.c — offer/answer in an early dialog through the media engine
 * (decision 0015).
 *
 * A late offer (an INVITE without SDP) whose callee offers in a reliable
 * provisional response (RFC 3262: Require: 100rel, RSeq) is answered by the
 * caller in the PRACK, not the ACK (RFC 3262 §5).  The 1xx's SDP goes to
 * the engine as the late offer in a 2xx does (media_late.c: "offer" from
 * the callee's tag, the 1xx held meanwhile, its retransmissions carrying
 * the same rewritten SDP); the PRACK with SDP is the "answer" from the
 * caller's tag.  The PRACK waits in its own server transaction, which
 * absorbs its retransmissions, and goes on rewritten; its 200 carries no
 * SDP of ours to handle.  The 2xx that follows repeats the 1xx's SDP or
 * has none (RFC 3261 §13.2.1, RFC 3262 §5), and media.c finds it already
 * rewritten under its key: no second offer.
 *
 * An UPDATE with SDP inside the early dialog (RFC 3311 §5.1, once the
 * first offer/answer is complete) is a re-offer like one inside the
 * confirmed dialog (media_reoffer.c); its answer is not kept as the
 * call's answer, so the 2xx to the INVITE, repeating the SDP of the
 * reliable 1xx, still finds that one's rewritten body.
 */
#include "sip/call_private.h"

/* RFC 3262 §3: a reliable provisional response names 100rel in Require
 * and carries RSeq. */
bool sip_media_reliable(const struct sip_msg *m)
{
	if (m->status < 101 || m->status >= 200 || !sip_msg_hdr_first(m, SIP_HDR_RSEQ))
		return false;
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_REQUIRE); h;
	     h = sip_msg_hdr_next(m, h)) {
		struct str v = h->value;
		for (int guard = 0; v.len > 0 && guard < 64; guard++) {
			ptrdiff_t i = str_index(v, ',');
			size_t n = i < 0 ? v.len : (size_t)i;
			if (str_caseeq_cstr(str_trim((struct str){v.p, n}), "100rel"))
				return true;
			v = i < 0 ? STR_NULL : (struct str){v.p + n + 1, v.len - n - 1};
		}
	}
	return false;
}

bool sip_media_dialog_open(const struct sip_call *c, const struct sip_msg *m)
{
	return c->state == SIP_CALL_UP ||
	       (c->state == SIP_CALL_SETUP && m->method == SIP_METHOD_UPDATE);
}

bool sip_media_early_settled(const struct sip_call *c)
{
	if (c->state == SIP_CALL_UP)
		return true;
	/* RFC 3311 §5.1: no new offer before the first one is answered. */
	return c->media.answered != 0 && (!c->media.late || c->media.acked != 0);
}

int sip_media_early_prack(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
			  const struct sip_peer *dst, size_t drop)
{
	struct sip_addr from;
	if (!c->media.late || !c->media.on || !c->media.tags || c->state == SIP_CALL_ENDING ||
	    !c->media.answered || !sip_media_has_sdp(m) || sip_msg_from(m, &from) != 0 ||
	    !from.tag.p || !str_eq_cstr(from.tag, c->media.tags->from))
		return 0;
	/* Only the answer to the 1xx's offer: anything after it is not ours. */
	if (c->media.acked || c->media.re || c->media.wait != SIP_MEDIA_IDLE)
		return 0;
	struct sip_server_tx *s = sip_server_tx_new(c->w, m, src);
	if (!s)
		return 1; /* out of memory: dropped, the caller retransmits */
	if (sip_media_late_answer_send(c, m, s, src, dst, drop) < 0 &&
	    sip_proxy_send_request(c->w, m, src, dst, STR_NULL, drop, s) < 0)
		sip_server_tx_reply(s, m, 500, NULL, NULL); /* sent unchanged, as a failed answer */
	return 1;
}
