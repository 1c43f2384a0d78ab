/*
 * limits.c — per-account state that outlives a session: how many binds the
 * account holds and its token bucket.  Every bind of an account shares one
 * bucket, so opening more binds does not buy more throughput.  Only the
 * session thread touches this list, so it needs no lock.
 */
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define MILLI 1000

struct smsc_live *smsc_live_get(struct smsc_live **list, const char *account_id)
{
	struct smsc_live *l;

	for (l = *list; l; l = l->next)
		if (strcmp(l->account_id, account_id) == 0)
			return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	snprintf(l->account_id, sizeof(l->account_id), "%s", account_id);
	l->tokens_milli = -1; /* full on first use */
	l->next = *list;
	*list = l;
	return l;
}

void smsc_live_free_all(struct smsc_live **list)
{
	while (*list) {
		struct smsc_live *next = (*list)->next;
		free(*list);
		*list = next;
	}
}

/* rate messages a second, up to burst in the bucket (burst 0: one second's
 * worth).  Thousandths of a message keep slow rates exact without floats. */
bool smsc_live_take(struct smsc_live *l, int64_t rate, int64_t burst, int64_t now_us)
{
	int64_t depth = (burst > 0 ? burst : rate) * MILLI;

	if (l->tokens_milli < 0) {
		l->tokens_milli = depth;
	} else if (now_us > l->refilled_us) {
		int64_t add = (now_us - l->refilled_us) * rate / 1000;
		l->tokens_milli = add >= depth - l->tokens_milli ? depth : l->tokens_milli + add;
	}
	l->refilled_us = now_us;
	if (l->tokens_milli < MILLI)
		return false;
	l->tokens_milli -= MILLI;
	return true;
}
