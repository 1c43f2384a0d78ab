/*
 * keycache.c — a short-lived cache of API-key lookups.
 *
 * Hot paths must not hit the store on every request (principle 1 of
 * docs/ARCHITECTURE.md), so a lookup's answer (an identity, or "unknown"/"revoked") is kept for
 * ttl_ms.  The price: a revoked key keeps working for at most ttl_ms (5 s by
 * default) on each replica that cached it.  Negative answers are cached too,
 * so a flood of made-up keys costs one query per key per TTL.
 *
 * The table is direct-mapped on the secret hash (already uniformly random),
 * a power of two in size: memory is fixed at init, a colliding key simply
 * replaces the older entry.  One mutex guards it; it is held only to copy an
 * entry in or out.
 */
#include "auth/auth_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEYCACHE_MIN 16
#define KEYCACHE_MAX (1u << 20)

int keycache_init(struct keycache *c, size_t size, int64_t ttl_ms)
{
	size_t n = KEYCACHE_MIN;

	while (n < size && n < KEYCACHE_MAX)
		n <<= 1;
	memset(c, 0, sizeof(*c));
	c->slots = calloc(n, sizeof(c->slots[0]));
	if (!c->slots)
		return -ENOMEM;
	c->mask = n - 1;
	c->ttl_ms = ttl_ms;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void keycache_fini(struct keycache *c)
{
	if (!c->slots)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	c->slots = NULL;
}

/* The first 8 hex digits of a SHA-256 pick the slot. */
static size_t keycache_slot(const struct keycache *c, const char *hash)
{
	size_t h = 0;

	for (int i = 0; i < 8 && hash[i]; i++)
		h = (h << 4) |
		    (size_t)(hash[i] <= '9' ? hash[i] - '0' : (hash[i] | 0x20) - 'a' + 10);
	return h & c->mask;
}

bool keycache_get(struct keycache *c, const char *hash, int64_t now_ms, int *result,
		  struct auth_identity *id)
{
	struct keycache_entry *e;
	bool hit = false;

	if (c->ttl_ms <= 0)
		return false;
	pthread_mutex_lock(&c->lock);
	e = &c->slots[keycache_slot(c, hash)];
	if (now_ms < e->expires_ms && auth_key_hash_equal(e->hash, hash)) {
		*result = e->result;
		*id = e->id;
		hit = true;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void keycache_put(struct keycache *c, const char *hash, int64_t now_ms, int result,
		  const struct auth_identity *id)
{
	struct keycache_entry *e;

	if (c->ttl_ms <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	e = &c->slots[keycache_slot(c, hash)];
	memcpy(e->hash, hash, AUTH_KEY_HASH_LEN);
	e->expires_ms = now_ms + c->ttl_ms;
	e->result = result;
	if (id)
		e->id = *id;
	else
		memset(&e->id, 0, sizeof(e->id));
	pthread_mutex_unlock(&c->lock);
}
