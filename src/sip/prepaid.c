/*
 * prepaid.c — a prepaid call's authorization, talk time and settlement, on
 * the call's worker (decision 0037; the store work is prepaid_store.c's).
 *
 *  - The INVITE is priced from the rating snapshot at now (no rate, or no
 *    sell deck at all: 403 with the reason; the call never reaches a
 *    carrier unpriced).
 *  - One quantum of talk time is reserved (or what is left, when that still
 *    buys the minimum billable duration; less: 402).  The call's maximum
 *    duration becomes what the reserved money buys, and the proxy's BYE
 *    (the call's max duration timer, dialog.c) ends it there.
 *  - Before that time runs out an answered call asks for the next quantum;
 *    refused, it ends at the limit it has.
 *  - When the call is freed (its CDR durable) the exact cost of its
 *    duration is settled on its first reservation under cdr:<id> and the
 *    others are released; an unanswered call releases them all.
 *
 * A call cut at its limit bills exactly what was reserved: the limit is
 * PP_GUARD_MS short of the last second bought, so a timer firing late by
 * less than that still ends the call within that second.
 */
#include "sip/prepaid.h"
#include "sip/call_private.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PP_GUARD_MS 500
#define PP_RSV_MAX 1000 /* reservations one call may take (quanta) */

struct sip_prepaid {
	uint64_t token;
	bool waiting; /* a reserve is out */
	char customer_id[ID_MAX];
	char cdr_id[ID_MAX];
	struct billing_rate row; /* destination and zone not kept (the snapshot's) */
	int64_t quantum_cost;	 /* what one quantum of talk time costs */
	int64_t at_least;	 /* the cost of the minimum billable duration */
	int64_t reserved;	 /* the sum of rsv */
	int64_t trunk_max_ms;	 /* the trunk's own limit; 0 none */
	int64_t limit_ms;	 /* the call's limit now, from the answer */
	char **rsv;
	size_t nrsv;
	struct event *ev; /* the reservation's deadline, then the next quantum's time */
};

static atomic_uint_fast64_t pp_tokens;

static void pp_timer(evutil_socket_t fd, short what, void *arg);

static void pp_arm(struct sip_prepaid *pp, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	event_add(pp->ev, &tv);
}

static void pp_refuse(struct sip_call *c, int code, const char *reason, const char *text)
{
	sip_prepaid_count_refusal(reason);
	sip_call_refuse(c, code, text);
}

/* The engine's job for c: a reserve of the next quantum. */
static struct sip_prepaid_job *pp_job(struct sip_call *c, enum sip_prepaid_op op)
{
	struct sip_prepaid *pp = c->prepaid;
	struct sip_prepaid_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->engine = c->w->p->prepaid;
	j->op = op;
	j->worker = c->w->index;
	j->token = pp->token;
	snprintf(j->call_id, sizeof(j->call_id), "%s", c->cdr.call_id);
	snprintf(j->customer_id, sizeof(j->customer_id), "%s", pp->customer_id);
	snprintf(j->cdr_id, sizeof(j->cdr_id), "%s", pp->cdr_id);
	j->amount = pp->quantum_cost;
	j->at_least = pp->at_least;
	return j;
}

/* What the money reserved buys, as a limit from the answer: the trunk's
 * own when shorter. */
static int64_t pp_limit_ms(const struct sip_prepaid *pp)
{
	int64_t s = 0, ms;

	if (billing_rate_max_duration_s(&pp->row, pp->reserved, &s) != 0 || s <= 0)
		s = 1;
	ms = s * 1000 - PP_GUARD_MS;
	return pp->trunk_max_ms > 0 && pp->trunk_max_ms < ms ? pp->trunk_max_ms : ms;
}

/* ------------------------------------------------------ authorization */

/* The sell row of c's call now; 0, or refused (403, the reason) and 1. */
static int pp_price(struct sip_call *c, const struct billing_rating *r, struct billing_rate *row)
{
	int err = billing_rating_sell(r, str_from_cstr(c->plan.customer_id),
				      str_from_cstr(c->plan.trunk_id), time_wall_ms(),
				      BILLING_VOICE, str_from_cstr(c->plan.normalized), row, NULL);
	char text[SIP_REASON_MAX];

	if (err == 0)
		return 0;
	/* No deck at all (neither the trunk's nor the customer's) is no price
	 * either: a prepaid call is never routed unpriced (decision 0052). */
	if (err == BILLING_PRICE_NO_DECK)
		snprintf(text, sizeof(text), "prepaid: no sell deck, so no price for the call");
	else
		snprintf(text, sizeof(text), "prepaid: %s for the dialled number",
			 err == BILLING_PRICE_NO_RATE ? "no rate" : billing_price_reason(err));
	pp_refuse(c, 403, billing_price_reason(err), text);
	return 1;
}

/* c's prepaid state with the first reservation asked for; 1 (waiting, or
 * refused). */
static int pp_start(struct sip_call *c, const struct billing_rate *row, int64_t quantum_cost,
		    int64_t at_least)
{
	const struct sip_prepaid_opts *o = sip_prepaid_engine_opts(c->w->p->prepaid);
	struct sip_prepaid *pp = calloc(1, sizeof(*pp));
	struct sip_prepaid_job *j = NULL;

	if (!pp || !(pp->ev = evtimer_new(c->w->base, pp_timer, c))) {
		free(pp);
		pp_refuse(c, 503, "store_error", "prepaid: out of memory");
		return 1;
	}
	c->prepaid = pp;
	pp->token = atomic_fetch_add(&pp_tokens, 1) + 1;
	pp->row = *row;
	pp->row.destination = pp->row.zone = NULL;
	pp->quantum_cost = quantum_cost;
	pp->at_least = at_least;
	pp->trunk_max_ms = c->plan.max_duration_ms;
	snprintf(pp->customer_id, sizeof(pp->customer_id), "%s", c->plan.customer_id);
	/* The CDR is named now: the reservation references it, and its
	 * charge is keyed by it (cdr:<id>). */
	if (id_new("cdr", pp->cdr_id, sizeof(pp->cdr_id)) < 0 || !(j = pp_job(c, SIP_PP_RESERVE))) {
		pp_refuse(c, 503, "store_error", "prepaid: out of memory");
		return 1;
	}
	c->cdr.id = pp->cdr_id;
	if (sip_prepaid_engine_submit(c->w->p->prepaid, j) < 0) {
		sip_prepaid_job_free(j);
		pp_refuse(c, 503, "overload", "prepaid authorization overloaded");
		return 1;
	}
	pp->waiting = true;
	pp_arm(pp, o->timeout_ms > 0 ? o->timeout_ms : 2000);
	return 1;
}

int sip_prepaid_authorize(struct sip_call *c)
{
	struct sip_prepaid_engine *e = c->w->p->prepaid;
	const struct billing_customer *cu;
	const struct billing_rating *r;
	struct billing_rate row;
	int64_t quantum_cost = 0, at_least = 0;
	int rc = 0;

	if (!e || c->plan.dir != SIP_DIR_TERMINATION || !c->plan.customer_id[0])
		return 0;
	const struct sip_prepaid_opts *o = sip_prepaid_engine_opts(e);
	if (!(r = snapshot_acquire(o->rating)))
		return 0;
	cu = billing_rating_customer(r, str_from_cstr(c->plan.customer_id));
	if (cu && cu->prepaid && (rc = pp_price(c, r, &row)) == 0 &&
	    (billing_rate_voice_cost(&row, o->quantum_s, &quantum_cost) != 0 ||
	     billing_rate_voice_cost(&row, 1, &at_least) != 0)) {
		pp_refuse(c, 403, "no_rate", "prepaid: the rate cannot price the call");
		rc = 1;
	}
	snapshot_release(o->rating, r);
	if (!cu || !cu->prepaid || rc)
		return rc;
	if (quantum_cost == 0)
		return 0; /* a free destination: nothing to hold, no limit */
	return pp_start(c, &row, quantum_cost, at_least);
}

/* ------------------------------------------------------------ answers */

static int pp_hold(struct sip_prepaid *pp, const struct sip_prepaid_job *j)
{
	char **v = pp->nrsv < PP_RSV_MAX ? realloc(pp->rsv, (pp->nrsv + 1) * sizeof(*v)) : NULL;
	char *id = v ? strdup(j->rsv_id) : NULL;

	if (v)
		pp->rsv = v;
	if (!id)
		return -ENOMEM;
	pp->rsv[pp->nrsv++] = id;
	pp->reserved += j->reserved;
	sip_prepaid_open_add(1);
	return 0;
}

/* When an answered call asks for its next quantum: ahead of its limit by
 * more than a store answer may take. */
static void pp_arm_next(struct sip_call *c)
{
	struct sip_prepaid *pp = c->prepaid;
	const struct sip_prepaid_opts *o = sip_prepaid_engine_opts(c->w->p->prepaid);
	int64_t lead = o->timeout_ms + 1000;
	int64_t elapsed = time_wall_ms() - c->cdr.answer_ms;

	if (pp->trunk_max_ms > 0 && pp->limit_ms >= pp->trunk_max_ms)
		return; /* the trunk's limit comes first: nothing more to buy */
	if (lead > pp->limit_ms / 2)
		lead = pp->limit_ms / 2;
	int64_t at = pp->limit_ms - lead - elapsed;
	pp_arm(pp, at > 0 ? at : 0);
}

/* A reservation nobody will use goes back: the job becomes its release
 * (the engine's now).  False when even that cannot be done: it expires. */
static bool pp_give_back(struct sip_prepaid_job *j)
{
	if (j->rc != 0)
		return false;
	j->rsv = calloc(1, sizeof(*j->rsv));
	if (!j->rsv || !(j->rsv[0] = strdup(j->rsv_id)))
		return false;
	j->nrsv = 1;
	j->op = SIP_PP_RELEASE;
	sip_prepaid_engine_submit(j->engine, j);
	return true;
}

/* The first reservation's answer: route the call, or refuse it.  1 when
 * the job became the release of a reservation the call could not keep. */
static int pp_authorized(struct sip_call *c, struct sip_prepaid_job *j)
{
	struct sip_prepaid *pp = c->prepaid;

	event_del(pp->ev);
	if (j->rc == 0 && pp_hold(pp, j) < 0) {
		pp_refuse(c, 503, "store_error", "prepaid: out of memory");
		return pp_give_back(j);
	}
	if (j->rc == BILLING_LEDGER_EFUNDS) {
		pp_refuse(c, 402, "insufficient_funds", "prepaid: insufficient balance");
		return 0;
	}
	if (j->rc == BILLING_LEDGER_ENOCUSTOMER) {
		pp_refuse(c, 403, "no_party", "prepaid: no such customer");
		return 0;
	}
	if (j->rc != 0) {
		log_warn("sip", "prepaid: reservation for %s failed: %s", c->cdr.call_id,
			 billing_ledger_strerror(j->rc));
		pp_refuse(c, 503, "store_error", "prepaid authorization unavailable");
		return 0;
	}
	pp->limit_ms = pp_limit_ms(pp);
	c->plan.max_duration_ms = pp->limit_ms;
	sip_call_route(c, NULL);
	return 0;
}

/* The next quantum's answer: the call's limit moves on, or stays.  1 as
 * pp_authorized. */
static int pp_extended(struct sip_call *c, struct sip_prepaid_job *j)
{
	struct sip_prepaid *pp = c->prepaid;

	if (j->rc != 0 || pp_hold(pp, j) < 0) {
		log_info("sip", "prepaid: call %s gets no more talk time (%s): ends at its limit",
			 c->cdr.call_id, j->rc ? billing_ledger_strerror(j->rc) : "out of memory");
		return pp_give_back(j);
	}
	pp->limit_ms = pp_limit_ms(pp);
	c->plan.max_duration_ms = pp->limit_ms;
	int64_t left = pp->limit_ms - (time_wall_ms() - c->cdr.answer_ms);
	struct timeval tv = {(time_t)((left > 0 ? left : 0) / 1000),
			     (suseconds_t)((left > 0 ? left : 0) % 1000) * 1000};
	event_add(c->timer, &tv);
	pp_arm_next(c);
	return 0;
}

void sip_prepaid_reply(void *arg)
{
	struct sip_prepaid_job *j = arg;
	struct sip_worker *w;
	struct sip_call *c;
	enum sip_th_side side;

	sip_prepaid_engine_replied(j->engine, j);
	w = &sip_prepaid_engine_proxy(j->engine)->w[j->worker];
	c = sip_call_find(w, str_from_cstr(j->call_id), &side);
	if (!c || !c->prepaid || c->prepaid->token != j->token || c->state == SIP_CALL_ENDING ||
	    !c->prepaid->waiting) {
		/* The call is gone (cancelled, timed out): its money goes back. */
		if (!pp_give_back(j))
			sip_prepaid_job_free(j);
		return;
	}
	c->prepaid->waiting = false;
	if ((j->extend ? pp_extended(c, j) : pp_authorized(c, j)) == 0)
		sip_prepaid_job_free(j);
}

/* ------------------------------------------------------------- timers */

/* Before the answer: the store did not answer in time (503).  After it:
 * the next quantum is asked for. */
static void pp_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sip_call *c = arg;
	struct sip_prepaid *pp = c->prepaid;
	(void)fd;
	(void)what;

	if (c->state == SIP_CALL_SETUP && pp->waiting) {
		pp->waiting = false; /* its answer, when it comes, is released */
		pp_refuse(c, 503, "timeout", "prepaid authorization timed out");
		return;
	}
	if (c->state != SIP_CALL_UP || pp->waiting)
		return;
	struct sip_prepaid_job *j = pp_job(c, SIP_PP_RESERVE);
	if (!j)
		return;
	j->extend = true;
	j->at_least = 1;
	if (sip_prepaid_engine_submit(c->w->p->prepaid, j) < 0) {
		sip_prepaid_job_free(j);
		return;
	}
	pp->waiting = true;
}

void sip_prepaid_answered(struct sip_call *c)
{
	if (c->prepaid && c->prepaid->nrsv)
		pp_arm_next(c);
}

/* ------------------------------------------------------------- the end */

void sip_prepaid_call_free(struct sip_call *c)
{
	struct sip_prepaid *pp = c->prepaid;
	struct sip_prepaid_job *j;

	if (!pp)
		return;
	c->prepaid = NULL;
	c->cdr.id = NULL;
	event_free(pp->ev);
	sip_prepaid_open_add(-(int64_t)pp->nrsv);
	if (pp->nrsv && (j = calloc(1, sizeof(*j)))) {
		int64_t cost = 0;
		int64_t s = billing_rate_seconds_from_ms(sip_cdr_duration_ms(&c->cdr));
		j->op = c->cdr.answer_ms > 0 && billing_rate_voice_cost(&pp->row, s, &cost) == 0
			    ? SIP_PP_SETTLE
			    : SIP_PP_RELEASE;
		j->cost = cost;
		j->rsv = pp->rsv;
		j->nrsv = pp->nrsv;
		pp->rsv = NULL;
		pp->nrsv = 0;
		snprintf(j->call_id, sizeof(j->call_id), "%s", c->cdr.call_id);
		sip_prepaid_engine_submit(c->w->p->prepaid, j);
	} else if (pp->nrsv) {
		log_error("sip", "prepaid: call %s: out of memory, its reservations expire",
			  c->cdr.call_id);
	}
	for (size_t i = 0; i < pp->nrsv; i++)
		free(pp->rsv[i]);
	free(pp->rsv);
	free(pp);
}
