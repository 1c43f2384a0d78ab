/*
 * ports.c — the UDP port pairs of one media interface.
 *
 * RTP takes an even port and RTCP the odd one above it (RFC 3550 §11).  The
 * allocator hands pairs out round-robin from a cursor, so a pair just freed
 * is the last to come back, and it also refuses a pair until it has rested
 * for the quiet delay: packets still in flight to an ended call must not
 * land in a new one.  Running out is an answer (-ENOSPC, which the ng
 * server turns into "Ran out of ports"), never a crash.
 */
#include "media/media.h"

#include <errno.h>
#include <stdlib.h>

struct media_ports_pair {
	bool used;
	int64_t free_at; /* monotonic ms from which the pair may be reused */
};

struct media_ports {
	uint16_t first; /* even */
	size_t npairs;
	size_t cursor;
	int64_t quiet_ms;
	struct media_ports_pair pairs[];
};

struct media_ports *media_ports_new(uint16_t min, uint16_t max, int64_t quiet_ms)
{
	uint32_t first = (min + 1u) & ~1u;
	size_t n = max > first ? (size_t)(max - first + 1) / 2 : 0;
	struct media_ports *p;

	if (n == 0 || quiet_ms < 0)
		return NULL;
	p = calloc(1, sizeof(*p) + n * sizeof(p->pairs[0]));
	if (!p)
		return NULL;
	p->first = (uint16_t)first;
	p->npairs = n;
	p->quiet_ms = quiet_ms;
	for (size_t i = 0; i < n; i++)
		p->pairs[i].free_at = INT64_MIN;
	return p;
}

void media_ports_free(struct media_ports *p)
{
	free(p);
}

static bool media_ports_pair_free(const struct media_ports_pair *pp, int64_t now_ms)
{
	return !pp->used && now_ms >= pp->free_at;
}

int media_ports_alloc(struct media_ports *p, int64_t now_ms, uint16_t *rtp)
{
	for (size_t k = 0; k < p->npairs; k++) {
		size_t i = (p->cursor + k) % p->npairs;

		if (media_ports_pair_free(&p->pairs[i], now_ms)) {
			p->pairs[i].used = true;
			p->cursor = (i + 1) % p->npairs;
			*rtp = (uint16_t)(p->first + 2 * i);
			return 0;
		}
	}
	return -ENOSPC;
}

void media_ports_release(struct media_ports *p, uint16_t rtp, int64_t now_ms)
{
	if (rtp < p->first || (rtp - p->first) % 2)
		return;
	size_t i = (size_t)(rtp - p->first) / 2;
	if (i >= p->npairs)
		return;
	p->pairs[i].used = false;
	p->pairs[i].free_at = now_ms + p->quiet_ms;
}

size_t media_ports_free_count(const struct media_ports *p, int64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < p->npairs; i++)
		n += media_ports_pair_free(&p->pairs[i], now_ms);
	return n;
}
