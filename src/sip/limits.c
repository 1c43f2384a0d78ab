/*
 * limits.c — call admission counters of the SIP policy: a CPS token bucket
 * and a count of concurrent channels per trunk, per customer and per
 * carrier; and the flood/scanner ban table.
 *
 * Limit entries are keyed by (kind, id) and created when a snapshot is built,
 * so the call path only follows pointers.  Entries are never freed before the
 * table, so a call holding channels of a trunk that a rebuild dropped still
 * releases them safely.  Every read or change of a bucket or a count happens
 * under the table's one lock (`lock`): a take over several entries (trunk,
 * customer, carrier) must be all or nothing, and the critical section is a
 * few arithmetic operations.  A carrier's channel is held per attempt:
 * sip_limits_move hands a call's channel from the carrier it leaves to the
 * one it tries next under that same lock.
 *
 * The bucket holds up to one second of calls (capacity = cps_limit) and
 * refills continuously; amounts are kept in milli-tokens so that integer
 * arithmetic on millisecond clocks loses nothing.
 *
 * Cluster mode ([limits] backend = redis, decision 0046): the sync thread of
 * limits_redis.c sends Redis each limited entry's channels held here, the
 * CPS it used and whether calls asked for it since the last round, every
 * sync interval; Redis answers atomically with a reservation: channels and
 * CPS tokens this node may admit until the next round (nothing when no call
 * asked), taken out of the cluster's room, and the room it saw.  The call
 * path admits on the reservation; a node with none left may admit one call
 * on credit per round while the room it saw is not used up (the first call
 * of an idle node must not wait for a round).  Credits are how the cluster
 * may pass a limit: by at most nodes - 1 calls (decision 0046).
 * The call path still only reads this table.  While the backend is down, or
 * for an entry no round has reached yet, a node admits against its share of
 * each limit instead (sip_limit_share), in a local bucket and count, and
 * counts each such decision.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

#define LIMITS_BUCKETS 1024 /* hash chains of the limit table */
#define BANS_WAYS 8	    /* slots examined per address */

struct sip_limit {
	enum sip_limit_kind kind;
	char id[ID_MAX];
	int64_t cps_limit, channel_limit; /* 0: unlimited */
	int64_t tokens_milli, refill_ms;  /* the local bucket */
	int64_t channels;		  /* held on this node */
	/* Cluster mode: the last round's answer (viewed false: none yet).
	 * others: channels other nodes hold or reserved; room_milli: the
	 * bucket's milli-tokens the round left; allow_*: what this
	 * node reserved and has not used; grant_milli: the tokens that round
	 * reserved (given back at the next, less what was used); used_milli:
	 * tokens used since the last report; asked: a call checked this entry
	 * since the last report; credit_*: this round's credit call taken. */
	bool viewed, asked, credit_channel, credit_call;
	int64_t others, room_milli;
	int64_t allow_channels, allow_calls, grant_milli, used_milli;
	struct sip_limit *next;
};

struct sip_limits {
	pthread_mutex_t lock;
	struct sip_limit *buckets[LIMITS_BUCKETS];
	/* Cluster mode (sip_limits_cluster): nodes > 0; up while the sync
	 * thread's last round trip succeeded within its bound. */
	int nodes;
	atomic_bool up;
	struct metric *fallback; /* warp_sip_limits_fallback_total */
};

static uint64_t limits_hash(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	/* FNV-1a: short keys, no adversary controls provisioning ids. */
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

int64_t sip_limit_share(int64_t limit, int nodes)
{
	if (limit <= 0)
		return 0;
	if (nodes <= 1)
		return limit;
	return limit / nodes > 0 ? limit / nodes : 1;
}

struct sip_limits *sip_limits_new(void)
{
	struct sip_limits *l = calloc(1, sizeof(*l));

	if (l)
		pthread_mutex_init(&l->lock, NULL);
	return l;
}

void sip_limits_free(struct sip_limits *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < LIMITS_BUCKETS; i++) {
		struct sip_limit *e = l->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void sip_limits_cluster(struct sip_limits *l, int nodes, struct metric *fallback)
{
	pthread_mutex_lock(&l->lock);
	l->nodes = nodes > 0 ? nodes : 1;
	l->fallback = fallback;
	pthread_mutex_unlock(&l->lock);
}

struct sip_limit *sip_limits_entry(struct sip_limits *l, enum sip_limit_kind kind, const char *id,
				   int64_t cps_limit, int64_t channel_limit)
{
	uint64_t h = limits_hash(id, strlen(id), 0xcbf29ce484222325ULL + (uint64_t)kind);
	struct sip_limit **head = &l->buckets[h % LIMITS_BUCKETS], *e;

	pthread_mutex_lock(&l->lock);
	for (e = *head; e; e = e->next)
		if (e->kind == kind && strcmp(e->id, id) == 0)
			break;
	if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
		e->kind = kind;
		str_copy(e->id, sizeof(e->id), str_from_cstr(id));
		e->refill_ms = -1;
		e->next = *head;
		*head = e;
	}
	if (e) {
		/* A changed limit starts with a full bucket: at most one extra
		 * second of burst per provisioning change. */
		if (e->cps_limit != (cps_limit > 0 ? cps_limit : 0))
			e->tokens_milli = (cps_limit > 0 ? cps_limit : 0) * 1000;
		e->cps_limit = cps_limit > 0 ? cps_limit : 0;
		e->channel_limit = channel_limit > 0 ? channel_limit : 0;
	}
	pthread_mutex_unlock(&l->lock);
	return e;
}

/* Under lock: whether e is admitted on a cluster view (else on its share). */
static bool limit_viewed(struct sip_limits *l, const struct sip_limit *e)
{
	return l->nodes > 0 && e->viewed && atomic_load(&l->up);
}

/* Under lock: the local bucket's rate, calls a second (its capacity too). */
static int64_t limit_local_cps(const struct sip_limits *l, const struct sip_limit *e)
{
	return l->nodes > 0 ? sip_limit_share(e->cps_limit, l->nodes) : e->cps_limit;
}

/* Under lock: adds what has dripped in since the last refill. */
static void limit_refill(struct sip_limits *l, struct sip_limit *e, int64_t now_ms)
{
	int64_t rate = limit_local_cps(l, e), cap = rate * 1000;

	if (e->refill_ms < 0 || now_ms < e->refill_ms) {
		e->refill_ms = now_ms;
		if (e->tokens_milli > cap)
			e->tokens_milli = cap;
		return;
	}
	/* cps tokens a second = cps milli-tokens a millisecond. */
	int64_t add = (now_ms - e->refill_ms) * rate;

	e->tokens_milli = add >= cap - e->tokens_milli ? cap : e->tokens_milli + add;
	e->refill_ms = now_ms;
}

/* Under lock: whether e has a CPS token for a call now. */
static bool limit_cps_ok(struct sip_limits *l, struct sip_limit *e, int64_t now_ms)
{
	if (e->cps_limit <= 0)
		return true;
	if (limit_viewed(l, e))
		return e->allow_calls > 0 || (!e->credit_call && e->room_milli >= 1000);
	limit_refill(l, e, now_ms);
	return e->tokens_milli >= 1000;
}

static void limit_cps_take(struct sip_limits *l, struct sip_limit *e)
{
	if (e->cps_limit <= 0)
		return;
	if (limit_viewed(l, e)) {
		if (e->allow_calls > 0)
			e->allow_calls--;
		else
			e->credit_call = true; /* paid from the bucket at the next round */
		e->used_milli += 1000;
	} else {
		e->tokens_milli -= 1000;
	}
}

/* Under lock: whether e has a free channel for a call now. */
static bool limit_channel_ok(struct sip_limits *l, const struct sip_limit *e)
{
	if (e->channel_limit <= 0)
		return true;
	if (limit_viewed(l, e))
		return e->allow_channels > 0 ||
		       (!e->credit_channel && e->channels + e->others < e->channel_limit);
	return e->channels <
	       (l->nodes > 0 ? sip_limit_share(e->channel_limit, l->nodes) : e->channel_limit);
}

static void limit_channel_take(struct sip_limits *l, struct sip_limit *e)
{
	e->channels++;
	if (e->channel_limit <= 0 || !limit_viewed(l, e))
		return;
	if (e->allow_channels > 0)
		e->allow_channels--;
	else
		e->credit_channel = true;
}

static bool limit_limited(const struct sip_limit *e)
{
	return e->cps_limit > 0 || e->channel_limit > 0;
}

/* Under lock: 0 or why e cannot take a call now. */
static int limit_check(struct sip_limits *l, struct sip_limit *e, bool cps, int64_t now_ms)
{
	int rc = 0;

	e->asked = true;
	if (cps && !limit_cps_ok(l, e, now_ms))
		rc = SIP_LIMIT_E_CPS;
	else if (!limit_channel_ok(l, e))
		rc = SIP_LIMIT_E_CHANNEL;
	/* A decision made on the per-node share, not on a cluster view. */
	if (l->nodes > 0 && l->fallback && limit_limited(e) && !limit_viewed(l, e))
		metric_inc(l->fallback);
	return rc;
}

int sip_limits_take(struct sip_limits *l, struct sip_limit *const *e, size_t n, bool cps,
		    int64_t now_ms, size_t *failed)
{
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (e[i] && (rc = limit_check(l, e[i], cps, now_ms)) != 0 && failed)
			*failed = i;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!e[i])
			continue;
		limit_channel_take(l, e[i]);
		if (cps)
			limit_cps_take(l, e[i]);
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

int sip_limits_move(struct sip_limits *l, struct sip_limit *from, struct sip_limit *to, bool cps,
		    int64_t now_ms)
{
	int rc = 0;

	if (!to)
		return 0;
	pthread_mutex_lock(&l->lock);
	if (to == from) /* The call holds to's channel already: only the token. */
		rc = cps && !limit_cps_ok(l, to, now_ms) ? SIP_LIMIT_E_CPS : 0;
	else
		rc = limit_check(l, to, cps, now_ms);
	if (rc == 0 && cps)
		limit_cps_take(l, to);
	if (rc == 0 && to != from) {
		limit_channel_take(l, to);
		if (from && from->channels > 0)
			from->channels--;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void sip_limits_release(struct sip_limits *l, struct sip_limit *const *e, size_t n)
{
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < n; i++)
		if (e[i] && e[i]->channels > 0)
			e[i]->channels--;
	pthread_mutex_unlock(&l->lock);
}

bool sip_limits_available(struct sip_limits *l, struct sip_limit *e, bool cps, int64_t now_ms)
{
	int rc;

	pthread_mutex_lock(&l->lock);
	rc = limit_check(l, e, cps, now_ms);
	pthread_mutex_unlock(&l->lock);
	return rc == 0;
}

int64_t sip_limit_channels(struct sip_limits *l, const struct sip_limit *e)
{
	int64_t n;

	pthread_mutex_lock(&l->lock);
	n = e->channels;
	pthread_mutex_unlock(&l->lock);
	return n;
}

/* ---------------------------------------------------------- cluster view */

void sip_limits_backend_set(struct sip_limits *l, bool up)
{
	atomic_store(&l->up, up);
}

bool sip_limits_degraded(struct sip_limits *l)
{
	return l->nodes > 0 && !atomic_load(&l->up);
}

/* Under lock: the report of e; a call's asking is handed over with it. */
static void limit_report(struct sip_limit *e, struct sip_limit_report *r)
{
	*r = (struct sip_limit_report){.e = e,
				       .kind = e->kind,
				       .channels = e->channels,
				       .channel_limit = e->channel_limit,
				       .cps_limit = e->cps_limit,
				       .used_milli = e->used_milli,
				       .grant_milli = e->grant_milli,
				       .asked = e->asked};
	str_copy(r->id, sizeof(r->id), str_from_cstr(e->id));
	e->asked = false;
	/* Until the answer, only a credit call: what is left of the last
	 * reservation is not in the one this round makes. */
	e->allow_channels = e->allow_calls = 0;
}

size_t sip_limits_report(struct sip_limits *l, struct sip_limit_report *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < LIMITS_BUCKETS; i++)
		for (struct sip_limit *e = l->buckets[i]; e; e = e->next)
			n += limit_limited(e);
	if (n <= max) { /* all or nothing: a partial pass would lose asking */
		n = 0;
		for (size_t i = 0; i < LIMITS_BUCKETS; i++)
			for (struct sip_limit *e = l->buckets[i]; e; e = e->next)
				if (limit_limited(e))
					limit_report(e, &out[n++]);
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

void sip_limits_view(struct sip_limits *l, const struct sip_limit_report *r,
		     const struct sip_limit_answer *a)
{
	struct sip_limit *e = r->e;

	pthread_mutex_lock(&l->lock);
	/* What the report carried is in Redis now; later use is reported next. */
	e->used_milli -= r->used_milli;
	e->others = a->others > 0 ? a->others : 0;
	/* Reserved for this node: its channels at the report and the new
	 * reservation, less the channels it holds now (a credit call taken
	 * meanwhile is in the reservation; a release frees its channel). */
	e->allow_channels =
	    r->channels + (a->allow_channels > 0 ? a->allow_channels : 0) - e->channels;
	if (e->allow_channels < 0)
		e->allow_channels = 0;
	e->room_milli = a->room_milli;
	e->grant_milli = a->grant_milli > 0 ? a->grant_milli : 0;
	e->allow_calls = e->grant_milli / 1000;
	e->credit_channel = e->credit_call = false;
	e->viewed = true;
	pthread_mutex_unlock(&l->lock);
}

/* ------------------------------------------------------------------ bans */

struct ban_slot {
	_Atomic uint64_t key; /* hash of the address; 0: free */
	_Atomic int64_t banned_until;
	int64_t window_start; /* under lock */
	int refusals;	      /* under lock */
	int challenges;	      /* under lock: unanswered challenges in the window */
};

struct sip_bans {
	pthread_mutex_t lock;
	size_t nsets; /* slots = nsets * BANS_WAYS */
	int refusals, window_ms, ban_ms;
	struct ban_slot *slots;
};

/* A 64-bit key of the IP address alone; never 0 (0 marks a free slot).
 * IPv4-mapped IPv6 addresses key as their IPv4 address. */
static uint64_t bans_key(const struct net_addr *a)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
	uint64_t h = 0xcbf29ce484222325ULL;

	if (a->ss.ss_family == AF_INET)
		h = limits_hash(&v4->sin_addr, 4, h);
	else if (a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
		h = limits_hash(&v6->sin6_addr.s6_addr[12], 4, h);
	else if (a->ss.ss_family == AF_INET6)
		h = limits_hash(&v6->sin6_addr, 16, h ^ 6);
	h ^= h >> 29; /* FNV's low bits mix poorly; the set index uses them */
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h ? h : 1;
}

struct sip_bans *sip_bans_new(size_t size, int refusals, int window_ms, int ban_ms)
{
	struct sip_bans *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->nsets = size / BANS_WAYS ? size / BANS_WAYS : 1;
	b->slots = calloc(b->nsets * BANS_WAYS, sizeof(*b->slots));
	if (!b->slots) {
		free(b);
		return NULL;
	}
	b->refusals = refusals > 0 ? refusals : 1;
	b->window_ms = window_ms > 0 ? window_ms : 1;
	b->ban_ms = ban_ms > 0 ? ban_ms : 0;
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

void sip_bans_free(struct sip_bans *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->slots);
	free(b);
}

/* hot path: no allocation, no locks, no I/O */
bool sip_bans_check(struct sip_bans *b, const struct net_addr *src, int64_t now_ms)
{
	uint64_t key = bans_key(src);
	struct ban_slot *set = &b->slots[(key % b->nsets) * BANS_WAYS];

	for (size_t i = 0; i < BANS_WAYS; i++) {
		if (atomic_load_explicit(&set[i].key, memory_order_acquire) != key)
			continue;
		int64_t until = atomic_load_explicit(&set[i].banned_until, memory_order_acquire);

		if (atomic_load_explicit(&set[i].key, memory_order_acquire) != key)
			return false; /* recycled under us: the address is not tracked */
		return until > now_ms;
	}
	return false;
}

/* Under lock: the slot for key in its set, recycling one when needed. */
static struct ban_slot *bans_slot(struct sip_bans *b, uint64_t key, int64_t now_ms)
{
	struct ban_slot *set = &b->slots[(key % b->nsets) * BANS_WAYS], *victim = NULL;

	for (size_t i = 0; i < BANS_WAYS; i++)
		if (atomic_load(&set[i].key) == key)
			return &set[i];
	for (size_t i = 0; i < BANS_WAYS; i++) {
		struct ban_slot *s = &set[i];
		int64_t until = atomic_load(&s->banned_until);
		bool idle = atomic_load(&s->key) == 0 || until <= now_ms;

		if (atomic_load(&s->key) == 0) {
			victim = s;
			break;
		}
		if (!victim) {
			victim = s;
			continue;
		}
		int64_t vuntil = atomic_load(&victim->banned_until);
		bool vidle = vuntil <= now_ms;

		if ((idle && !vidle) || (idle && vidle && s->window_start < victim->window_start) ||
		    (!idle && !vidle && until < vuntil))
			victim = s;
	}
	atomic_store(&victim->banned_until, 0);
	atomic_store(&victim->key, key);
	victim->window_start = now_ms;
	victim->refusals = 0;
	victim->challenges = 0;
	return victim;
}

static int64_t bans_note(struct sip_bans *b, const struct net_addr *src, int64_t now_ms,
			 bool challenge)
{
	uint64_t key = bans_key(src);
	int64_t started = 0;
	struct ban_slot *s;

	pthread_mutex_lock(&b->lock);
	s = bans_slot(b, key, now_ms);
	if (atomic_load(&s->banned_until) > now_ms)
		goto out; /* already banned: the ban does not grow */
	if (now_ms - s->window_start >= b->window_ms) {
		s->window_start = now_ms;
		s->refusals = 0;
		s->challenges = 0;
	}
	if (challenge && ++s->challenges <= b->refusals)
		goto out; /* a real UA answers its first challenges: not yet a refusal */
	if (++s->refusals >= b->refusals && b->ban_ms > 0) {
		started = now_ms + b->ban_ms;
		atomic_store(&s->banned_until, started);
		s->refusals = 0;
		s->window_start = now_ms;
	}
out:
	pthread_mutex_unlock(&b->lock);
	return started;
}

int64_t sip_bans_note(struct sip_bans *b, const struct net_addr *src, int64_t now_ms)
{
	return bans_note(b, src, now_ms, false);
}

int64_t sip_bans_note_challenge(struct sip_bans *b, const struct net_addr *src, int64_t now_ms)
{
	return bans_note(b, src, now_ms, true);
}

/* Every authenticated request comes through here: only a source the table
 * tracks has anything to forget, so the others take neither a slot nor the
 * lock (a lock-free look first, as sip_bans_check). */
void sip_bans_note_authenticated(struct sip_bans *b, const struct net_addr *src)
{
	uint64_t key = bans_key(src);
	struct ban_slot *set = &b->slots[(key % b->nsets) * BANS_WAYS];
	bool tracked = false;

	for (size_t i = 0; i < BANS_WAYS && !tracked; i++)
		tracked = atomic_load_explicit(&set[i].key, memory_order_acquire) == key;
	if (!tracked)
		return;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < BANS_WAYS; i++)
		if (atomic_load(&set[i].key) == key)
			set[i].challenges = 0;
	pthread_mutex_unlock(&b->lock);
}

size_t sip_bans_banned(struct sip_bans *b, int64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < b->nsets * BANS_WAYS; i++)
		n += atomic_load(&b->slots[i].banned_until) > now_ms;
	return n;
}

size_t sip_bans_used(struct sip_bans *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->nsets * BANS_WAYS; i++)
		n += atomic_load(&b->slots[i].key) != 0;
	return n;
}
