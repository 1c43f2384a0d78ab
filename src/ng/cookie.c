/*
 * cookie.c — the ng retransmission cache.
 *
 * rtpengine's rule: the cookie identifies a request, and a request that
 * arrives again with a cookie already answered (the proxy retransmits over
 * UDP when a reply is slow or lost) gets the stored reply, byte for byte,
 * without being executed twice.  Entries live in a ring in arrival order,
 * indexed by a chained hash; the ring bounds memory (the oldest entry goes
 * first) and each entry also expires after the TTL.
 */
#include "ng/ng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ng_cookie_entry {
	char *cookie; /* one block: cookie bytes then reply bytes */
	size_t cookie_len, reply_len;
	int64_t expires;
	long next; /* hash chain, slot index or -1 */
	bool live;
};

struct ng_cookie_cache {
	size_t max, head, count, nbuckets;
	int64_t ttl_ms;
	long *buckets;
	struct ng_cookie_entry *ring;
};

/* FNV-1a */
static size_t ng_cookie_hash(struct str s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 1099511628211ull;
	return (size_t)(h % n);
}

struct ng_cookie_cache *ng_cookie_cache_new(size_t max, int64_t ttl_ms)
{
	struct ng_cookie_cache *c = calloc(1, sizeof(*c));

	if (!c || max == 0)
		goto fail;
	c->max = max;
	c->ttl_ms = ttl_ms;
	c->nbuckets = max * 2 + 1;
	c->buckets = malloc(c->nbuckets * sizeof(long));
	c->ring = calloc(max, sizeof(*c->ring));
	if (!c->buckets || !c->ring)
		goto fail;
	for (size_t i = 0; i < c->nbuckets; i++)
		c->buckets[i] = -1;
	return c;
fail:
	ng_cookie_cache_free(c);
	return NULL;
}

void ng_cookie_cache_free(struct ng_cookie_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->ring && i < c->max; i++)
		free(c->ring[i].cookie);
	free(c->ring);
	free(c->buckets);
	free(c);
}

static struct str ng_cookie_key(const struct ng_cookie_entry *e)
{
	return (struct str){e->cookie, e->cookie_len};
}

/* Removes slot i from its chain and frees it. */
static void ng_cookie_evict(struct ng_cookie_cache *c, size_t i)
{
	struct ng_cookie_entry *e = &c->ring[i];
	long *link;

	if (!e->live)
		return;
	link = &c->buckets[ng_cookie_hash(ng_cookie_key(e), c->nbuckets)];
	while (*link != -1 && *link != (long)i)
		link = &c->ring[*link].next;
	if (*link == (long)i)
		*link = e->next;
	free(e->cookie);
	memset(e, 0, sizeof(*e));
	c->count--;
}

int ng_cookie_cache_get(struct ng_cookie_cache *c, struct str cookie, int64_t now_ms,
			struct str *reply)
{
	long i = c->buckets[ng_cookie_hash(cookie, c->nbuckets)];

	for (; i != -1; i = c->ring[i].next) {
		struct ng_cookie_entry *e = &c->ring[i];

		if (!str_eq(ng_cookie_key(e), cookie))
			continue;
		if (now_ms >= e->expires) {
			ng_cookie_evict(c, (size_t)i);
			return -ENOENT;
		}
		*reply = (struct str){e->cookie + e->cookie_len, e->reply_len};
		return 0;
	}
	return -ENOENT;
}

int ng_cookie_cache_put(struct ng_cookie_cache *c, struct str cookie, struct str reply,
			int64_t now_ms)
{
	struct str old;
	char *block;

	if (ng_cookie_cache_get(c, cookie, now_ms, &old) == 0)
		return 0; /* first reply wins */
	block = malloc(cookie.len + reply.len + 1);
	if (!block)
		return -ENOMEM;
	memcpy(block, cookie.p, cookie.len);
	memcpy(block + cookie.len, reply.p, reply.len);
	ng_cookie_evict(c, c->head);
	struct ng_cookie_entry *e = &c->ring[c->head];
	size_t b = ng_cookie_hash(cookie, c->nbuckets);
	*e = (struct ng_cookie_entry){block,	     cookie.len, reply.len, now_ms + c->ttl_ms,
				      c->buckets[b], true};
	c->buckets[b] = (long)c->head;
	c->head = (c->head + 1) % c->max;
	c->count++;
	return 0;
}

size_t ng_cookie_cache_size(const struct ng_cookie_cache *c)
{
	return c->count;
}
