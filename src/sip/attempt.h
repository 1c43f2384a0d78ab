/*
 * attempt.h — private to src/sip/: the rules of a call's attempt sequence,
 * apart from the I/O that carries them out (call.c): which target is tried
 * next, what a final answer from a target means for the setup, which of
 * the failures so far the caller is told.  No clock, no sockets, no
 * allocation: tests/unit/test_sip_attempt.c walks whole sequences.
 */
#ifndef WARP_SIP_ATTEMPT_H
#define WARP_SIP_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/policy.h"

/* Where a call's setup stands over its plan's targets. */
struct sip_attempt_walk {
	size_t next;   /* the index of the next target to consider */
	int attempts;  /* targets tried (a skipped one is not an attempt) */
	int best_code; /* the best final failure so far, 0 before any */
};

/* Asked for each candidate target: true to pass over it without an attempt
 * (a carrier over its limit at this moment). */
typedef bool (*sip_attempt_skip_fn)(void *arg, size_t target);

/* The index of the next target to try, counted as an attempt; -1 when none
 * is left or the plan's max_attempts are used. */
int sip_attempt_next(struct sip_attempt_walk *w, const struct sip_call_plan *pl,
		     sip_attempt_skip_fn skip, void *arg);

enum sip_attempt_verdict {
	SIP_ATTEMPT_ANSWERED, /* 2xx: the call is up */
	SIP_ATTEMPT_FAILOVER, /* try the next target */
	SIP_ATTEMPT_STOP,     /* this answer goes to the caller as it is */
};

/* What a final answer `code` from target t means: 408 and 5xx fail over
 * unless the target lists the code as a stop code; 6xx and every other
 * failure stop (RFC 3261 §16.7 does not say; carriers expect it), and so
 * does anything once the caller has cancelled. */
enum sip_attempt_verdict sip_attempt_judge(const struct sip_target *t, int code, bool cancelled);

/* Records a failure in w->best_code when it is better for the caller to
 * hear (§16.7 step 6, kept simple: a 6xx wins, then the lowest class, the
 * first of a class kept); true when it became the best. */
bool sip_attempt_note_failure(struct sip_attempt_walk *w, int code);

/* The code the caller is told once no target is left: the best failure,
 * 503 when no attempt answered at all. */
int sip_attempt_exhausted_code(const struct sip_attempt_walk *w);

#endif
