/*
 * refusals.c — refused credentials in the log, one line per source and
 * interval.
 *
 * A client guessing tokens is refused many times a second; a WARN line for
 * each let one client write tens of thousands of lines in seconds and fill
 * the disk.  The first refusal from a source is logged at once (the
 * operator learns of it), those that follow within API_REFUSAL_INTERVAL_MS
 * are only counted, and the count is logged as one line when the source's
 * next refusal after the interval comes (or another source takes its slot).
 * The table is fixed (a hash of the address picks the slot) and guarded by
 * its lock, as the HTTP workers share it; a source that shares a slot with
 * another merely gets its count written earlier.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

#define API_REFUSAL_SLOTS 256

struct refusal_slot {
	struct net_addr src;
	int64_t start_ms;
	uint64_t count;
	const char *reason; /* of the last refusal (static text) */
};

struct api_refusals {
	pthread_mutex_t lock; /* guards slots */
	struct refusal_slot slots[API_REFUSAL_SLOTS];
};

struct api_refusals *api_refusals_new(void)
{
	struct api_refusals *r = calloc(1, sizeof(*r));

	if (r)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

void api_refusals_free(struct api_refusals *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* FNV-1a over the IP's text: the port changes with every connection, the
 * source does not. */
static size_t refusal_slot_of(const struct net_addr *a)
{
	char ip[64] = "";
	uint64_t h = 0xcbf29ce484222325ull;

	net_addr_format_ip(a, ip, sizeof(ip));
	for (const char *c = ip; *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
	return (size_t)(h % API_REFUSAL_SLOTS);
}

static bool refusal_same_source(const struct net_addr *a, const struct net_addr *b)
{
	char x[64] = "", y[64] = "";

	net_addr_format_ip(a, x, sizeof(x));
	net_addr_format_ip(b, y, sizeof(y));
	return strcmp(x, y) == 0;
}

void api_refusals_note(struct api_refusals *r, const struct net_addr *src, const char *reason,
		       int64_t now_ms)
{
	struct refusal_slot old = {0}, *s = &r->slots[refusal_slot_of(src)];
	char ip[64] = "", old_ip[64] = "";

	pthread_mutex_lock(&r->lock);
	if (s->count && refusal_same_source(&s->src, src) &&
	    now_ms - s->start_ms < API_REFUSAL_INTERVAL_MS) {
		s->count++;
		s->reason = reason;
		pthread_mutex_unlock(&r->lock);
		return;
	}
	old = *s;
	*s = (struct refusal_slot){.src = *src, .start_ms = now_ms, .count = 1, .reason = reason};
	pthread_mutex_unlock(&r->lock);

	if (old.count > 1) {
		net_addr_format_ip(&old.src, old_ip, sizeof(old_ip));
		log_warn("api", "%" PRIu64 " more credentials refused from %s in %d s (last: %s)",
			 old.count - 1, old_ip, API_REFUSAL_INTERVAL_MS / 1000, old.reason);
	}
	net_addr_format_ip(src, ip, sizeof(ip));
	log_warn("api",
		 "credential refused from %s: %s (more from it within %d s are counted in one "
		 "line)",
		 ip, reason, API_REFUSAL_INTERVAL_MS / 1000);
}
