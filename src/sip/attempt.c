/*
 * attempt.c — the rules of a call's attempt sequence (attempt.h); call.c
 * applies them to transactions and timers.
 */
#include "sip/attempt.h"

int sip_attempt_next(struct sip_attempt_walk *w, const struct sip_call_plan *pl,
		     sip_attempt_skip_fn skip, void *arg)
{
	while (w->next < pl->ntargets && w->attempts < pl->max_attempts) {
		size_t i = w->next++;
		if (skip && skip(arg, i))
			continue;
		w->attempts++;
		return (int)i;
	}
	return -1;
}

static bool sip_target_stops(const struct sip_target *t, int code)
{
	for (size_t i = 0; i < t->nstop_codes; i++)
		if (t->stop_codes[i] == code)
			return true;
	return code >= 600;
}

enum sip_attempt_verdict sip_attempt_judge(const struct sip_target *t, int code, bool cancelled)
{
	bool failover = code == 408 || (code >= 500 && code < 600);

	if (code < 300)
		return SIP_ATTEMPT_ANSWERED;
	if (cancelled || !failover || sip_target_stops(t, code))
		return SIP_ATTEMPT_STOP;
	return SIP_ATTEMPT_FAILOVER;
}

/* 503 is told upstream as itself, though §16.7 would make it 500:
 * carriers expect it. */
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

bool sip_attempt_note_failure(struct sip_attempt_walk *w, int code)
{
	if (!sip_code_better(code, w->best_code))
		return false;
	w->best_code = code;
	return true;
}

int sip_attempt_exhausted_code(const struct sip_attempt_walk *w)
{
	return w->best_code ? w->best_code : 503;
}
