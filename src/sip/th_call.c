/*
 * th_call.c — topology hiding for a call (decision 0028): the state a
 * hidden call keeps (th.c's struct sip_th, made from the caller's first
 * INVITE), how a message of either side finds its call and the side it
 * goes to, and the hooks the proxy core calls where it forwards requests,
 * strips our Via from responses and sends requests of its own.
 *
 * Which side a message comes from is told by its Call-ID: the caller's
 * own, or the hidden one the callee was given.  A request or response goes
 * to the other side, rewritten by th.c for it.
 *
 * Runs on the worker owning the call (decision 0012): the hidden Call-ID
 * names that worker, so sip_proxy_owner sends the callee's messages there.
 */
#include "sip/call_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sip_call *sip_call_find(struct sip_worker *w, struct str cid, enum sip_th_side *side)
{
	struct sip_entry *e = sip_table_find(&w->calls, cid);
	*side = SIP_TH_CALLER;
	if (e)
		return sip_container_of(e, struct sip_call, e);
	e = sip_table_find(&w->th_calls, cid);
	*side = SIP_TH_CALLEE;
	return e ? sip_container_of(e, struct sip_th, e)->call : NULL;
}

int sip_call_hide(struct sip_call *c, struct sip_msg *invite)
{
	struct sip_th *th = calloc(1, sizeof(*th));
	if (!th)
		return -ENOMEM;
	int rc = sip_th_init(th, invite, &c->caller, c->w->p->th_key, c->w->index);
	if (rc == 0)
		rc = sip_table_add(&c->w->th_calls, &th->e,
				   str_from_cstr(th->call_id[SIP_TH_CALLEE]));
	if (rc < 0) {
		log_warn("sip", "call %s: topology hiding state not made (%d): refused",
			 c->cdr.call_id, rc);
		sip_th_fini(th);
		free(th);
		return rc;
	}
	th->call = c;
	c->th = th;
	return 0;
}

void sip_call_unhide(struct sip_call *c)
{
	if (c->th && c->th->call) {
		sip_table_del(&c->w->th_calls, &c->th->e);
		c->th->call = NULL;
	}
}

void sip_call_th_free(struct sip_call *c)
{
	if (!c->th)
		return;
	sip_call_unhide(c);
	sip_th_fini(c->th);
	free(c->th);
	c->th = NULL;
}

/* The call m belongs to when it hides topology, and the side m goes to. */
static struct sip_call *sip_call_hidden(struct sip_worker *w, struct sip_msg *m,
					enum sip_th_side *toward)
{
	struct str cid;
	enum sip_th_side side;
	struct sip_call *c = sip_msg_call_id(m, &cid) == 0 ? sip_call_find(w, cid, &side) : NULL;
	if (!c || !c->th)
		return NULL;
	*toward = side == SIP_TH_CALLER ? SIP_TH_CALLEE : SIP_TH_CALLER;
	return c;
}

int sip_call_th_forward(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *dst,
			struct sip_fwd *f, struct sip_th_view *view, char *contact, size_t n)
{
	enum sip_th_side toward;
	struct sip_addr to;
	struct sip_call *c = sip_call_hidden(w, m, &toward);
	if (!c)
		return 0;
	/* Safe by default: a hidden call's request goes hidden or not at all. */
	if (sip_th_contact(contact, n, c->th, &w->p->listen[dst->listen], dst->transport) < 0)
		return -ENOSPC;
	*view = (struct sip_th_view){.th = c->th, .toward = toward, .contact = contact};
	f->th = view;
	f->th_route = "";
	bool in_dialog = sip_msg_to(m, &to) == 0 && to.tag.p;
	const struct sip_dialog_strs *d = c->dlg;
	if (!in_dialog)
		return 0; /* the first INVITE: its target is given */
	if (!d) {
		/* The early dialog (§13.2.2.4 PRACK, RFC 3311 UPDATE): to the
		 * Contact that side gave, where its messages came from. */
		if (c->th->contact[toward][0] && f->ruri.len == 0)
			f->ruri = str_from_cstr(c->th->contact[toward]);
		return 0;
	}
	const char *ruri = toward == SIP_TH_CALLER ? d->caller_contact : d->callee_contact;
	/* §12.2.1.1 on the sender's behalf: it knows only us. */
	if (ruri[0] && f->ruri.len == 0)
		f->ruri = str_from_cstr(ruri);
	f->th_route = toward == SIP_TH_CALLER ? d->caller_route : d->callee_route;
	return 0;
}

void sip_call_th_next_hop(struct sip_call *c, enum sip_th_side toward, struct sip_peer *dst)
{
	const struct sip_peer *side = toward == SIP_TH_CALLER ? &c->caller : &c->callee;
	const struct sip_dialog_strs *d = c->dlg;
	struct sip_peer hop;
	*dst = *side;
	if (!d)
		return; /* an early dialog: where that side's messages came from */
	const char *ruri = toward == SIP_TH_CALLER ? d->caller_contact : d->callee_contact;
	const char *route = toward == SIP_TH_CALLER ? d->caller_route : d->callee_route;
	if (ruri[0] && sip_proxy_next_hop(c->w->p, route, ruri, &hop) == 0 &&
	    !net_addr_equal(&hop.addr, &side->addr))
		*dst = hop;
}

/* The response's own CSeq number when it answers an INVITE, else 0. */
static uint32_t sip_th_invite_cseq(struct sip_msg *resp)
{
	struct sip_cseq cs;
	if (resp->status < 200 || resp->status >= 300 || sip_msg_cseq(resp, &cs) != 0 ||
	    cs.method != SIP_METHOD_INVITE)
		return 0;
	return cs.number;
}

/* resp as side toward sees it, through s (its request) or, for the first
 * INVITE, the caller's lines kept in th. */
static int sip_th_strip(struct sip_call *c, struct sip_server_tx *s, struct buf *out,
			struct sip_msg *resp, enum sip_th_side toward)
{
	struct sip_proxy *p = c->w->p;
	struct sip_th_up up, *use = &c->th->caller_up;
	struct sip_msg req;
	char contact[SIP_HOST_MAX + 64];
	const struct sip_peer *to = s ? &s->src : toward == SIP_TH_CALLER ? &c->caller : &c->callee;
	bool own = s && s != c->server_tx;
	if (!s && toward != SIP_TH_CALLER)
		return -EINVAL; /* only the first INVITE's lines outlive their transaction */
	/* re-parse of an in-dialog request s keeps, for the Via and
	 * Record-Route lines its sender sees again: kept as bytes, not as
	 * lines, so that transactions that are never answered by us pay nothing. */
	if (own && (sip_msg_parse(&req, s->req.p, s->req.len) != 0 ||
		    sip_th_up_init(&up, &req, &s->src) < 0))
		return -EINVAL;
	if (own)
		use = &up;
	int rc =
	    sip_th_contact(contact, sizeof(contact), c->th, &p->listen[to->listen], to->transport);
	struct sip_th_view v = {.th = c->th,
				.toward = toward,
				.contact = contact,
				.at = &p->listen[to->listen],
				.tp = to->transport};
	rc = rc ? rc : sip_th_build_response(out, resp, &v, use);
	if (own)
		sip_th_up_fini(&up);
	return rc;
}

/* A 1xx or 2xx of the callee before the dialog is up: its Contact is
 * where the caller's early-dialog requests go (§12.1.2). */
static void sip_call_th_early_contact(struct sip_call *c, enum sip_th_side side,
				      struct sip_msg *resp)
{
	char contact[SIP_TH_VALUE_MAX];
	struct sip_addr to;
	if (side != SIP_TH_CALLEE || c->dlg || resp->status <= 100 || resp->status >= 300 ||
	    sip_msg_to(resp, &to) != 0 || !to.tag.p)
		return;
	sip_th_contact_of(contact, sizeof(contact), resp);
	if (contact[0] && sip_th_set_contact(c->th, SIP_TH_CALLEE, contact) < 0)
		log_warn("sip", "call %s: the callee's Contact not kept", c->cdr.call_id);
}

int sip_call_strip_via(struct sip_call *c, struct sip_server_tx *s, struct buf *out,
		       struct sip_msg *resp)
{
	struct str cid;
	enum sip_th_side side;
	if (!c || !c->th || sip_msg_call_id(resp, &cid) != 0 || !sip_call_find(c->w, cid, &side))
		return sip_build_strip_via(out, resp);
	enum sip_th_side toward = side == SIP_TH_CALLER ? SIP_TH_CALLEE : SIP_TH_CALLER;
	size_t from = out->len;
	sip_call_th_early_contact(c, side, resp);
	sip_dialog_retarget(c, resp, side == SIP_TH_CALLER);
	int rc = sip_th_strip(c, s, out, resp, toward);
	if (rc < 0 && s)
		log_warn("sip", "call %s: a %d could not be hidden (%d): not forwarded",
			 c->cdr.call_id, resp->status, rc);
	uint32_t n = rc == 0 ? sip_th_invite_cseq(resp) : 0;
	if (n) {
		buf_reset(&c->th->sent_2xx[toward]);
		if (buf_append(&c->th->sent_2xx[toward], out->p + from, out->len - from) == 0)
			c->th->sent_cseq[toward] = n;
	}
	return rc;
}

void sip_call_th_acked(struct sip_call *c, enum sip_th_side side, struct sip_msg *ack)
{
	struct sip_cseq cs;
	if (c->th && sip_msg_cseq(ack, &cs) == 0)
		sip_th_acked(c->th, side, cs.number);
}

void sip_call_th_resend_2xx(struct sip_call *c, enum sip_th_side side, struct sip_msg *resp)
{
	enum sip_th_side toward = side == SIP_TH_CALLER ? SIP_TH_CALLEE : SIP_TH_CALLER;
	const struct buf *b = &c->th->sent_2xx[toward];
	uint32_t n = sip_th_invite_cseq(resp);
	if (n && b->len && c->th->sent_cseq[toward] == n)
		sip_transport_send(c->w, toward == SIP_TH_CALLER ? &c->caller : &c->callee,
				   (struct str){b->p, b->len});
}

void sip_call_send_own(struct sip_call *c, enum sip_th_side toward, struct str bytes,
		       struct str branch, const struct sip_peer *dst)
{
	struct sip_msg m;
	struct buf out;
	if (!c->th) {
		sip_proxy_send_new(c->w, bytes, dst, branch, SIP_METHOD_BYE);
		return;
	}
	struct sip_th_view v = {.th = c->th, .toward = toward};
	buf_init(&out);
	/* A re-parse of bytes we built: th.c rewrites a message, and this one
	 * (a BYE of our own, rare) is not worth a second builder. */
	if (sip_msg_parse(&m, bytes.p, bytes.len) == 0 && sip_th_build_copy(&out, &m, &v) == 0)
		sip_proxy_send_new(c->w, (struct str){out.p, out.len}, dst, branch, SIP_METHOD_BYE);
	buf_fini(&out);
}
