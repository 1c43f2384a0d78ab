/*
 * backoff.c — how long a lane waits after a failed attempt: the base
 * doubled for each failure in a row up to the maximum, and a random part
 * ("equal jitter": half fixed, half random) so that processes that failed
 * together do not come back together.
 */
#include "export/export_private.h"

int64_t export_backoff_next(struct export_backoff *b, uint32_t rnd)
{
	int64_t d = b->base_ms;

	for (unsigned i = 0; i < b->failures && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	if (b->failures < 64)
		b->failures++;
	return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

void export_backoff_reset(struct export_backoff *b)
{
	b->failures = 0;
}
