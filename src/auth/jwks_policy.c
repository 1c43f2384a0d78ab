/*
 * jwks_policy.c — when a request may ask for a JWKS fetch, and whether it
 * waits for it.  Pure functions over the facts jwks.c gathers under the
 * fetcher's lock, so every case is unit-tested without threads or sockets
 * (tests/unit/test_auth_jwks_policy.c).
 *
 * The limits act before a fetch, not after: a token whose kid the set lacks
 * may ask for one refetch only when none is under way and the last one
 * started at least min_refetch_ms ago (one interval for the whole process,
 * whatever the number of kids or sources), and not at all when its kid was
 * already looked for in a set fetched for it (the refuted table below) or
 * cannot name any key (empty, or longer than any kid we keep).  Otherwise it
 * is refused at once, without waiting.  Only a request with no set loaded
 * yet, or the one that asked for the refetch (unless the issuer's last fetch
 * failed), waits, and at most jwks_wait.
 *
 * The refuted table remembers kids that a set fetched while they waited did
 * not hold, each stamped with that set's generation: it answers only for
 * the current set, so the next set (a max-age refresh, another kid's
 * refetch) gives every kid a fresh chance.  Direct-mapped on a hash of the
 * kid: fixed memory, a colliding kid replaces the older one.
 */
#include "auth/auth_private.h"

#include <string.h>

static bool jwks_policy_fetch_allowed(const struct jwks_need *n)
{
	return !n->fetched || n->now_ms - n->last_fetch_ms >= n->min_refetch_ms;
}

unsigned jwks_policy_decide(const struct jwks_need *n)
{
	bool can_ask = !n->in_flight && jwks_policy_fetch_allowed(n);

	if (n->found)
		return n->stale && can_ask ? JWKS_ACT_ASK : JWKS_ACT_NONE;
	if (n->refuted)
		return JWKS_ACT_NONE;
	/* No set yet: any token may be valid and only a fetch can tell, so
	 * joining the fetch under way is worth the (bounded) wait. */
	if (!n->loaded && n->in_flight)
		return JWKS_ACT_WAIT;
	/* A set without the kid: a fetch under way or too recent is not
	 * waited for; a flood of made-up kids then costs nothing. */
	if (!can_ask)
		return JWKS_ACT_NONE;
	/* An issuer whose last fetch failed would most likely hold the worker
	 * for the whole wait: ask, and answer with the set there is. */
	return n->loaded && n->failing ? JWKS_ACT_ASK : JWKS_ACT_ASK | JWKS_ACT_WAIT;
}

bool jwks_kid_usable(struct str kid)
{
	return kid.len > 0 && kid.len < JWKS_KID_MAX;
}

/* FNV-1a: kids come from tokens, but a collision only evicts an entry. */
static size_t jwks_refuted_slot(struct str kid)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < kid.len; i++)
		h = (h ^ (unsigned char)kid.p[i]) * 16777619u;
	return h % JWKS_REFUTED_SLOTS;
}

void jwks_refuted_note(struct jwks_refuted *t, struct str kid, uint64_t generation)
{
	struct jwks_refuted *e;

	if (!jwks_kid_usable(kid) || generation == 0)
		return;
	e = &t[jwks_refuted_slot(kid)];
	memcpy(e->kid, kid.p, kid.len);
	e->kid[kid.len] = '\0';
	e->generation = generation;
}

bool jwks_refuted_has(const struct jwks_refuted *t, struct str kid, uint64_t generation)
{
	const struct jwks_refuted *e;

	if (!jwks_kid_usable(kid) || generation == 0)
		return false;
	e = &t[jwks_refuted_slot(kid)];
	return e->generation == generation && str_eq_cstr(kid, e->kid);
}
