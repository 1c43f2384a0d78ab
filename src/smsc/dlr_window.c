/*
 * dlr_window.c — a session's window for what WARP sends it as deliver_sm
 * (receipts and MO, receipts.c): at most the account's window (the same
 * bound its submits have, SMPP 3.4 §2.7 lets either side keep several
 * requests outstanding) unanswered at a time.  What the upstream thread
 * leases for the session while the window is full waits here in arrival
 * order and goes out as deliver_sm_resps come back.
 *
 * Nothing here is the only copy: every receipt and MO stays due in the
 * store until the ESME answered ESME_ROK (receipts.c).  So one that has
 * waited past its row's lease is dropped rather than sent (the upstream
 * thread leases it again and it comes back here, in order), and a
 * deliver_sm whose answer has not come within its lease no longer holds
 * the window: an ESME that stopped answering delays the others by a lease
 * at most, and none is lost.
 */
#include <stdlib.h>

#include "smsc/smsc_private.h"

/* The oldest unanswered deliver_sm gave up on: its lease ran out. */
static void window_expire(struct smsc_session *ss, int64_t now)
{
	struct smsc_dlr *d = ss->dlrs;

	if (!d || d->lease_until > now)
		return;
	ss->dlrs = d->next;
	if (ss->dlrs_last == d)
		ss->dlrs_last = NULL;
	smsc_dlr_free(d);
	smsc_dlr_window_answered(ss);
}

bool smsc_dlr_window_take(struct smsc_session *ss, struct smsc_dlr *d)
{
	window_expire(ss, time_wall_ms());
	if (!ss->dlr_wait && ss->ndlrs < ss->window) {
		ss->ndlrs++;
		return true;
	}
	smsc_dlr_append(&ss->dlr_wait, &ss->dlr_wait_last, d);
	return false;
}

void smsc_dlr_append(struct smsc_dlr **head, struct smsc_dlr **last, struct smsc_dlr *d)
{
	d->next = NULL;
	if (*last)
		(*last)->next = d;
	else
		*head = d;
	*last = d;
}

void smsc_dlr_window_answered(struct smsc_session *ss)
{
	if (ss->ndlrs > 0)
		ss->ndlrs--;
}

struct smsc_dlr *smsc_dlr_window_next(struct smsc_session *ss)
{
	int64_t now = time_wall_ms();

	window_expire(ss, now);
	while (ss->dlr_wait && ss->ndlrs < ss->window) {
		struct smsc_dlr *d = ss->dlr_wait;
		ss->dlr_wait = d->next;
		if (!ss->dlr_wait)
			ss->dlr_wait_last = NULL;
		if (d->lease_until <= now) {
			smsc_dlr_free(d); /* leased again, it comes back */
			continue;
		}
		ss->ndlrs++;
		return d;
	}
	return NULL;
}

void smsc_dlr_window_drop(struct smsc_session *ss)
{
	while (ss->dlr_wait) {
		struct smsc_dlr *d = ss->dlr_wait;
		ss->dlr_wait = d->next;
		smsc_dlr_free(d);
	}
	ss->dlr_wait_last = NULL;
	ss->ndlrs = 0;
}
