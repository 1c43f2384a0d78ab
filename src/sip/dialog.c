/*
 * dialog.c — established calls: what the proxy remembers of a dialog
 * (RFC 3261 §12) to count it, bound its duration, end it itself, and write
 * its CDR.  A proxy is not a dialog party, so it keeps only what it needs to
 * send a BYE each way: both Contacts, the From and To with their tags, and
 * the last CSeq each side used.  A call's memory is freed only once its CDR
 * is durable (DESIGN principle 2): sip_call_end submits the CDR and the
 * writer's callback hands the free back to the owning worker.
 */
#include "sip/call_private.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_long sip_gauge_dialogs;

static void sip_dialog_copy_contact(struct sip_msg *m, char *out, size_t n)
{
	struct sip_addr a;
	out[0] = '\0';
	if (sip_msg_addr(m, SIP_HDR_CONTACT, 0, &a) == 0 && !a.wildcard)
		str_copy(out, n, a.uri.raw);
}

enum {
	SIP_DLG_FROM,
	SIP_DLG_TO,
	SIP_DLG_CALLER_CONTACT,
	SIP_DLG_CALLEE_CONTACT,
	SIP_DLG_CALLEE_ROUTE,
	SIP_DLG_CALLER_ROUTE,
	SIP_DLG_N
};

/* One block: the struct, then the six strings each at its length. */
static struct sip_dialog_strs *sip_dialog_strs_pack(char v[SIP_DLG_N][SIP_ROUTE_LEN])
{
	size_t len[SIP_DLG_N], total = sizeof(struct sip_dialog_strs);
	for (int i = 0; i < SIP_DLG_N; i++)
		total += (len[i] = strlen(v[i])) + 1;
	struct sip_dialog_strs *d = malloc(total);
	if (!d)
		return NULL;
	const char **field[SIP_DLG_N] = {&d->from,	     &d->to,	       &d->caller_contact,
					 &d->callee_contact, &d->callee_route, &d->caller_route};
	char *at = (char *)(d + 1);
	for (int i = 0; i < SIP_DLG_N; i++) {
		memcpy(at, v[i], len[i] + 1);
		*field[i] = at;
		at += len[i] + 1;
	}
	return d;
}

/* What the dialog keeps for our own BYEs, from the INVITE the call's server
 * transaction still holds and the 2xx resp: From, To and Contact values are
 * cut at SIP_DIALOG_VALUE_MAX - 1 bytes, route sets at SIP_ROUTE_LEN - 1. */
static struct sip_dialog_strs *sip_dialog_strs_new(struct sip_call *c, struct sip_msg *resp)
{
	struct sip_proxy *p = c->w->p;
	char v[SIP_DLG_N][SIP_ROUTE_LEN];
	struct sip_msg inv = {0};
	struct sip_cseq cs;
	const struct sip_hdr *h;

	for (int i = 0; i < SIP_DLG_N; i++)
		v[i][0] = '\0';
	/* The caller's INVITE, indexed again once per answered call: its
	 * receive buffer is gone, and keeping its From, To and Contact from
	 * the start would cost every unanswered call the memory. */
	if (c->server_tx && sip_msg_parse(&inv, c->server_tx->req.p, c->server_tx->req.len) == 0) {
		if ((h = sip_msg_hdr_first(&inv, SIP_HDR_FROM)))
			str_copy(v[SIP_DLG_FROM], SIP_DIALOG_VALUE_MAX, h->value);
		if (sip_msg_cseq(&inv, &cs) == 0)
			c->caller_cseq = cs.number;
		sip_dialog_copy_contact(&inv, v[SIP_DLG_CALLER_CONTACT], SIP_DIALOG_VALUE_MAX);
	}
	if ((h = sip_msg_hdr_first(resp, SIP_HDR_TO)))
		str_copy(v[SIP_DLG_TO], SIP_DIALOG_VALUE_MAX, h->value);
	/* Hidden, the callee never saw the caller's Record-Route: the route
	 * set towards the caller is its INVITE's (the same entries, §12.1.1). */
	bool th_inv = c->th && c->server_tx && inv.raw.p;
	if (sip_build_route_set(v[SIP_DLG_CALLEE_ROUTE], SIP_ROUTE_LEN, p, resp, true) < 0 ||
	    sip_build_route_set(v[SIP_DLG_CALLER_ROUTE], SIP_ROUTE_LEN, p, th_inv ? &inv : resp,
				false) < 0)
		log_warn("sip", "dialog %s: route set too long for our own BYEs", c->cdr.call_id);
	sip_dialog_copy_contact(resp, v[SIP_DLG_CALLEE_CONTACT], SIP_DIALOG_VALUE_MAX);
	return sip_dialog_strs_pack(v);
}

static void sip_dialog_reap(evutil_socket_t fd, short what, void *arg)
{
	struct sip_call *c = arg;
	(void)fd;
	(void)what;
	log_warn("sip", "dialog %s outlived the ceiling: ended", c->cdr.call_id);
	sip_dialog_bye_both(c);
}

void sip_dialog_answered(struct sip_call *c, struct sip_msg *resp)
{
	struct sip_proxy *p = c->w->p;

	c->state = SIP_CALL_UP;
	c->cdr.answer_ms = time_wall_ms();
	atomic_fetch_add(&sip_gauge_dialogs, 1);
	sip_policy_call_answered(p->policy, &c->plan);
	sip_cdr_open(p->policy, &c->cdr);
	/* The setup's state goes now: a held call keeps only the dialog's. */
	sip_policy_plan_targets_free(&c->plan);
	buf_fini(&c->best);
	buf_init(&c->best);
	c->dlg = sip_dialog_strs_new(c, resp);
	if (!c->dlg)
		log_error("sip", "dialog %s: out of memory: no BYEs of our own", c->cdr.call_id);
	event_del(c->timer);
	if (c->plan.max_duration_ms > 0) {
		int64_t ms = c->plan.max_duration_ms;
		struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
		event_add(c->timer, &tv);
	}
	int64_t ceil = p->o.policy.dialog_ceiling_ms > 0 ? p->o.policy.dialog_ceiling_ms : 4 * 3600 * 1000;
	c->reaper = evtimer_new(c->w->base, sip_dialog_reap, c);
	if (c->reaper) {
		struct timeval tv = {(time_t)(ceil / 1000), (suseconds_t)(ceil % 1000) * 1000};
		event_add(c->reaper, &tv);
	}
}

/* True when m was sent by the caller: its From tag is the INVITE's. */
static bool sip_dialog_from_caller(struct sip_call *c, struct sip_msg *m)
{
	struct sip_addr from, ours;
	if (sip_msg_from(m, &from) != 0 || !from.tag.p)
		return true;
	if (!c->dlg || sip_addr_parse(str_from_cstr(c->dlg->from), &ours) != 0 || !ours.tag.p)
		return true;
	return str_eq(from.tag, ours.tag);
}

/* A target refresh request (re-INVITE, UPDATE) or its 2xx (§12.2). */
static bool sip_dialog_is_refresh(struct sip_msg *m)
{
	struct sip_cseq cs;
	if (m->is_request)
		return m->method == SIP_METHOD_INVITE || m->method == SIP_METHOD_UPDATE;
	return m->status >= 200 && m->status < 300 && sip_msg_cseq(m, &cs) == 0 &&
	       (cs.method == SIP_METHOD_INVITE || cs.method == SIP_METHOD_UPDATE);
}

void sip_dialog_retarget(struct sip_call *c, struct sip_msg *m, bool caller)
{
	char v[SIP_DLG_N][SIP_ROUTE_LEN];
	char contact[SIP_DIALOG_VALUE_MAX];
	const struct sip_dialog_strs *d = c->dlg;
	if (!c->th || !d || c->state != SIP_CALL_UP || !sip_dialog_is_refresh(m))
		return;
	sip_dialog_copy_contact(m, contact, sizeof(contact));
	if (!contact[0] || strcmp(contact, caller ? d->caller_contact : d->callee_contact) == 0)
		return;
	const char *cur[SIP_DLG_N] = {d->from,		 d->to,		  d->caller_contact,
				      d->callee_contact, d->callee_route, d->caller_route};
	for (int i = 0; i < SIP_DLG_N; i++)
		snprintf(v[i], sizeof(v[i]), "%s", cur[i]);
	snprintf(v[caller ? SIP_DLG_CALLER_CONTACT : SIP_DLG_CALLEE_CONTACT], SIP_ROUTE_LEN, "%s",
		 contact);
	struct sip_dialog_strs *n = sip_dialog_strs_pack(v);
	if (!n)
		return; /* the old target stays */
	free(c->dlg);
	c->dlg = n;
}

void sip_dialog_request(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_cseq cs;
	(void)src;
	if (c->state != SIP_CALL_UP || sip_msg_cseq(m, &cs) != 0)
		return;
	bool caller = sip_dialog_from_caller(c, m);
	if (m->method != SIP_METHOD_ACK && m->method != SIP_METHOD_CANCEL) {
		if (caller && cs.number > c->caller_cseq)
			c->caller_cseq = cs.number;
		else if (!caller && cs.number > c->callee_cseq)
			c->callee_cseq = cs.number;
	}
	if (m->method == SIP_METHOD_BYE && c->cdr.hangup == SIP_HANGUP_NONE)
		c->cdr.hangup = caller ? SIP_HANGUP_CALLER : SIP_HANGUP_CALLEE;
	sip_dialog_retarget(c, m, caller);
}

/* A BYE of the proxy's own towards one side (§15.1.1 on a party's behalf),
 * following that side's route set (§12.2.1.1).  Without one it goes where
 * that side's messages came from, which also gets through NAT. */
static void sip_dialog_bye(struct sip_call *c, enum sip_th_side toward, const char *ruri,
			   const char *route, const char *from, const char *to, uint32_t cseq)
{
	const struct sip_peer *side = toward == SIP_TH_CALLER ? &c->caller : &c->callee;
	struct sip_worker *w = c->w;
	struct sip_peer dst = *side;
	char branch[64];
	struct buf out;

	if (!ruri[0])
		return;
	if (route[0] && sip_proxy_next_hop(w->p, route, ruri, &dst) < 0)
		return;
	if (route[0] && net_addr_equal(&dst.addr, &side->addr))
		dst = *side; /* keep its connection */
	sip_proxy_branch(w, branch, sizeof(branch));
	buf_init(&out);
	struct sip_req r = {
	    .method = "BYE",
	    .ruri = ruri,
	    .route = route,
	    .from = from,
	    .to = to,
	    .call_id = c->cdr.call_id,
	    .cseq = cseq,
	    .via_at = &w->p->listen[dst.listen],
	    .transport = dst.transport,
	    .branch = branch,
	    .extra = "Reason: SIP;cause=200;text=\"call ended by the proxy\"\r\n",
	};
	if (sip_build_request(&out, &r) == 0)
		sip_call_send_own(c, toward, (struct str){out.p, out.len}, str_from_cstr(branch),
				  &dst);
	buf_fini(&out);
}

void sip_dialog_bye_both(struct sip_call *c)
{
	const struct sip_dialog_strs *d = c->dlg;
	if (c->state != SIP_CALL_UP)
		return;
	if (d) {
		sip_dialog_bye(c, SIP_TH_CALLEE, d->callee_contact, d->callee_route, d->from, d->to,
			       c->caller_cseq + 1);
		sip_dialog_bye(c, SIP_TH_CALLER, d->caller_contact, d->caller_route, d->to, d->from,
			       c->callee_cseq + 1);
	}
	sip_call_end(c, 200, SIP_HANGUP_PROXY);
}

void sip_call_reap(struct sip_worker *w)
{
	pthread_mutex_lock(&w->dead_lock);
	struct sip_call *c = w->dead;
	w->dead = NULL;
	pthread_mutex_unlock(&w->dead_lock);
	while (c) {
		struct sip_call *next = c->dead_next;
		sip_call_free(c);
		c = next;
	}
}

static void sip_call_reap_on_owner(void *arg)
{
	sip_call_reap(arg);
}

/* The writer's callback: the CDR is durable (or failed, logged), so the
 * call may go.  Its events belong to the owner's loop, so it is freed
 * there: put on the owner's dead list, and the owner woken to reap it.
 * When the pool has stopped, the wake-up never runs; sip_proxy_free reaps
 * the lists itself after the writer has flushed (a call queued only through
 * loop_pool_call would be lost then: the pool drops calls it never ran). */
static void sip_call_cdr_done(void *arg, int status)
{
	struct sip_call *c = arg;
	struct sip_worker *w = c->w;
	if (status != 0)
		log_error("sip", "CDR for %s not stored (%d)", c->cdr.call_id, status);
	pthread_mutex_lock(&w->dead_lock);
	c->dead_next = w->dead;
	w->dead = c;
	pthread_mutex_unlock(&w->dead_lock);
	loop_pool_call(w->p->pool, w->index, sip_call_reap_on_owner, w);
}

void sip_call_end(struct sip_call *c, int code, enum sip_hangup_side side)
{
	struct sip_proxy *p = c->w->p;
	if (c->state == SIP_CALL_ENDING)
		return;
	if (c->state == SIP_CALL_UP)
		atomic_fetch_sub(&sip_gauge_dialogs, 1);
	c->state = SIP_CALL_ENDING;
	sip_table_del(&c->w->calls, &c->e);
	sip_call_unhide(c);
	event_del(c->timer);
	if (c->reaper)
		event_del(c->reaper);
	if (c->server_tx)
		c->server_tx->call = NULL;
	if (c->client_tx)
		c->client_tx->call = NULL;
	sip_call_branches_drop(c);
	c->server_tx = NULL;
	c->client_tx = NULL;
	c->cdr.end_ms = time_wall_ms();
	c->cdr.final_code = c->cdr.answer_ms ? 200 : code;
	/* A policy refusal keeps its own words ("CPS limit", "destination blocked"). */
	snprintf(c->cdr.final_reason, sizeof(c->cdr.final_reason), "%s",
		 c->plan.reject_code && c->plan.reject_reason[0]
		     ? c->plan.reject_reason
		     : sip_reason_phrase(c->cdr.final_code));
	if (side != SIP_HANGUP_NONE &&
	    (c->cdr.hangup == SIP_HANGUP_NONE || side == SIP_HANGUP_PROXY))
		c->cdr.hangup = side;
	sip_policy_call_end(p->policy, &c->plan);
	if (sip_media_call_end(c) == 0) /* else once the engine gives the statistics */
		sip_call_cdr_write(c);
}

void sip_call_cdr_write(struct sip_call *c)
{
	int rc = sip_cdr_submit(c->w->p->policy, &c->cdr, sip_call_cdr_done, c);
	if (rc < 0) {
		log_error("sip", "CDR for %s not queued (%d)", c->cdr.call_id, rc);
		sip_call_free(c);
	}
}
