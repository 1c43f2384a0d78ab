/*
 * fork.c — a call's setup forked to every target at once (RFC 3261 §16.7),
 * for a plan that asks for it (plan.fork: the contacts a trunk's PBXes
 * registered, decision 0047): one client transaction per branch, the first
 * 2xx answers the call and the other branches are cancelled (§16.7 step
 * 10), a 6xx ends the setup at once and cancels them too (step 5), any
 * other failure waits for the rest and the best failure goes up once none
 * is left (step 6).  Provisionals of every branch go up (step 5).
 *
 * The branches are a small array the call allocates when it forks and lets
 * go when the setup ends; c->client_tx stays NULL meanwhile, so everything
 * that knows one attempt (call.c) still reads as before for other calls.
 *
 * Runs on the worker owning the call's Call-ID.
 */
#include "sip/call_private.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

static struct sip_call_branch *sip_branch_find(const struct sip_call *c,
					       const struct sip_client_tx *x)
{
	for (size_t i = 0; x && i < c->nbranches; i++)
		if (c->branches[i].x == x)
			return &c->branches[i];
	return NULL;
}

bool sip_call_is_branch(const struct sip_call *c, const struct sip_client_tx *x)
{
	return sip_branch_find(c, x) != NULL;
}

/* The CDR's attempt of branch b gets code (once). */
static void sip_branch_record(struct sip_call *c, const struct sip_call_branch *b, int code)
{
	if (b->attempt < c->cdr.nattempts && c->cdr.attempts[b->attempt].code == 0)
		c->cdr.attempts[b->attempt].code = code;
}

/* b leaves the call (its transaction goes on alone, or is gone). */
static void sip_branch_remove(struct sip_call *c, struct sip_call_branch *b)
{
	if (b->x) {
		b->x->call = NULL;
		sip_client_tx_detach_peer(b->x);
	}
	*b = c->branches[--c->nbranches];
	if (c->nbranches == 0) {
		free(c->branches);
		c->branches = NULL;
	}
}

/* Every branch lets go: CANCEL where it may (§9.1), else at its first
 * provisional; their attempts recorded as code. */
void sip_call_branches_abandon(struct sip_call *c, int code)
{
	while (c->nbranches) {
		struct sip_call_branch *b = &c->branches[c->nbranches - 1];
		struct sip_client_tx *x = b->x;
		sip_branch_record(c, b, code);
		sip_branch_remove(c, b);
		if (x && x->tx.state == SIP_TX_PROCEEDING)
			sip_client_tx_cancel(x);
		else if (x && x->tx.state == SIP_TX_CALLING)
			x->cancel_pending = true;
	}
}

void sip_call_branches_drop(struct sip_call *c)
{
	while (c->nbranches)
		sip_branch_remove(c, &c->branches[c->nbranches - 1]);
}

int sip_call_fork(struct sip_call *c, struct sip_msg *invite)
{
	const struct sip_call_plan *pl = &c->plan;
	size_t cap = pl->ntargets;
	int i;

	c->branches = calloc(cap, sizeof(*c->branches));
	if (!c->branches)
		return -ENOMEM;
	while (c->nbranches < cap &&
	       (i = sip_attempt_next(&c->walk, pl, sip_call_target_limited, c)) >= 0) {
		const struct sip_target *t = &pl->targets[i];
		struct sip_call_branch *b = &c->branches[c->nbranches];
		sip_call_attempt_add(c, t);
		b->attempt = c->cdr.nattempts ? c->cdr.nattempts - 1 : SIZE_MAX;
		if (sip_call_forward(c, t, invite) != 0 || !c->client_tx) {
			if (b->attempt != SIZE_MAX)
				c->cdr.attempts[b->attempt].code = 503;
			continue;
		}
		b->x = c->client_tx; /* route.c made it the call's attempt */
		c->client_tx = NULL;
		c->nbranches++;
	}
	if (c->nbranches == 0) {
		free(c->branches);
		c->branches = NULL;
		return -ECONNREFUSED;
	}
	sip_call_arm(c, pl->setup_timeout_ms > 0 ? pl->setup_timeout_ms : 8000);
	return 0;
}

/* The last branch failed: the best failure goes up (or 487 when cancelled). */
static void sip_branches_exhausted(struct sip_call *c, int code)
{
	event_del(c->timer);
	sip_call_attempt_next(c, code); /* no target is left: it finishes */
}

bool sip_call_branch_final(struct sip_call *c, struct sip_client_tx *x, struct sip_msg *resp)
{
	struct sip_call_branch *b = sip_branch_find(c, x);
	int code = resp->status;

	if (!b)
		return false;
	sip_branch_record(c, b, code);
	sip_branch_remove(c, b);
	if (c->cdr.pdd_ms == 0)
		c->cdr.pdd_ms = time_wall_ms() - c->cdr.start_ms;
	if (code < 300) { /* §16.7 step 10: the others are cancelled */
		event_del(c->timer);
		sip_call_branches_abandon(c, 487);
		c->callee = x->dst;
		sip_call_answered(c, resp);
		return true;
	}
	if (sip_attempt_note_failure(&c->walk, code)) {
		buf_reset(&c->best);
		sip_call_strip_via(c, c->server_tx, &c->best, resp);
	}
	if (code >= 600) { /* §16.7 step 5: a 6xx ends the setup */
		event_del(c->timer);
		sip_call_branches_abandon(c, 487);
		c->walk.best_code = code;
		sip_call_finish_setup(c, code, SIP_HANGUP_NONE);
		return true;
	}
	if (c->nbranches == 0)
		sip_branches_exhausted(c, code);
	return true;
}

bool sip_call_branch_failed(struct sip_call *c, struct sip_client_tx *x, int code)
{
	struct sip_call_branch *b = sip_branch_find(c, x);

	if (!b)
		return false;
	sip_branch_record(c, b, code);
	b->x = NULL; /* going: the transaction layer frees it */
	sip_branch_remove(c, b);
	if (sip_attempt_note_failure(&c->walk, code))
		buf_reset(&c->best);
	if (c->nbranches == 0)
		sip_branches_exhausted(c, code);
	return true;
}

void sip_call_branch_gone(struct sip_call *c, struct sip_client_tx *x)
{
	struct sip_call_branch *b = sip_branch_find(c, x);

	if (b) {
		b->x = NULL;
		sip_branch_remove(c, b);
	}
}
