/*
 * ratelimit.c — token buckets, in process (this file) or in Redis
 * (ratelimit_redis.c) behind one API.
 *
 * A bucket holds up to `burst` tokens and gains `rate` a second; a request
 * takes one or is refused with the time until one is there.  In process, the
 * buckets live in RL_SHARDS hash tables, each behind its own mutex, with at
 * most max_buckets in all.  When a shard is full, buckets that have refilled
 * completely are dropped first: a full bucket is the same as no bucket, so
 * that loses nothing.  Only when none is full does the least recently used
 * one go, giving its key a fresh budget: bounded memory, paid for by
 * leniency rather than by refusing strangers.
 *
 * Every decision the gateway asks for is counted in
 * warp_ratelimit_requests_total{kind, backend, result}: kind "credential"
 * or "address", backend "memory" or "redis", result "allowed" or
 * "limited" (a decision taken without Redis counts as what it decided).
 */
#include "auth/ratelimit_private.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RL_SHARDS 16
#define RL_KEY_MAX 200
#define RL_RATE_MAX 1e9
#define RL_BURST_MAX 1000000000LL

struct rl_bucket {
	struct rl_bucket *next;
	uint64_t hash;
	int64_t tokens; /* micro-tokens at last_ms */
	int64_t last_ms;
	struct rl_params params; /* as last used: idleness is judged with them */
	char key[];
};

struct rl_shard {
	pthread_mutex_t lock;
	struct rl_bucket **heads;
	size_t nheads, count, max;
};

enum rl_kind { RL_KIND_CREDENTIAL, RL_KIND_ADDRESS, RL_KINDS };

struct ratelimit {
	struct ratelimit_opts o;
	struct rl_redis *redis;
	struct metric *counted[RL_KINDS][2]; /* [kind][allowed]; NULL if out of memory */
	struct rl_shard shards[RL_SHARDS];
};

/* ------------------------------------------------------------ arithmetic */

int rl_params_make(double rate_per_sec, int64_t burst, struct rl_params *p)
{
	if (!(rate_per_sec > 0 && rate_per_sec <= RL_RATE_MAX) || burst < 1 || burst > RL_BURST_MAX)
		return -EINVAL;
	p->rate_u = llround(rate_per_sec * 1000.0);
	if (p->rate_u < 1)
		return -EINVAL;
	p->cap_u = burst * RL_UNIT;
	return 0;
}

int64_t rl_refill(const struct rl_params *p, int64_t tokens, int64_t last_ms, int64_t now_ms)
{
	int64_t elapsed = now_ms - last_ms;

	if (tokens >= p->cap_u)
		return p->cap_u;
	if (elapsed <= 0)
		return tokens;
	/* Compare in time first, so the product cannot overflow. */
	if (elapsed >= (p->cap_u - tokens + p->rate_u - 1) / p->rate_u)
		return p->cap_u;
	return tokens + elapsed * p->rate_u;
}

static int64_t rl_ceil_s(int64_t micro_tokens, int64_t rate_u)
{
	int64_t ms = (micro_tokens + rate_u - 1) / rate_u;

	return (ms + 999) / 1000;
}

void rl_result_fill(const struct rl_params *p, int64_t tokens, bool allowed,
		    struct ratelimit_result *out)
{
	memset(out, 0, sizeof(*out));
	out->allowed = allowed;
	out->limit = p->cap_u / RL_UNIT;
	out->remaining = tokens / RL_UNIT;
	out->reset_s = rl_ceil_s(p->cap_u - tokens, p->rate_u);
	out->retry_after_s = allowed ? 0 : rl_ceil_s(RL_UNIT - tokens, p->rate_u);
}

/* ------------------------------------------------------------ in process */

static uint64_t rl_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
	return h;
}

/* Drops full buckets; if none, the least recently used.  Lock held. */
static void rl_shard_evict(struct rl_shard *s, int64_t now_ms)
{
	struct rl_bucket **oldest = NULL;

	for (size_t i = 0; i < s->nheads; i++) {
		struct rl_bucket **pp = &s->heads[i];
		while (*pp) {
			struct rl_bucket *b = *pp;
			if (rl_refill(&b->params, b->tokens, b->last_ms, now_ms) >=
			    b->params.cap_u) {
				*pp = b->next;
				free(b);
				s->count--;
				continue;
			}
			if (!oldest || b->last_ms < (*oldest)->last_ms)
				oldest = pp;
			pp = &b->next;
		}
	}
	if (s->count >= s->max && oldest) {
		struct rl_bucket *b = *oldest;
		*oldest = b->next;
		free(b);
		s->count--;
	}
}

static struct rl_bucket *rl_shard_find(struct rl_shard *s, const char *key, uint64_t h,
				       const struct rl_params *p, int64_t now_ms)
{
	struct rl_bucket **head = &s->heads[(h >> 8) % s->nheads];
	size_t klen = strlen(key);

	for (struct rl_bucket *b = *head; b; b = b->next)
		if (b->hash == h && strcmp(b->key, key) == 0)
			return b;
	if (s->count >= s->max)
		rl_shard_evict(s, now_ms);
	struct rl_bucket *b = malloc(sizeof(*b) + klen + 1);
	if (!b)
		return NULL;
	b->hash = h;
	b->tokens = p->cap_u;
	b->last_ms = now_ms;
	memcpy(b->key, key, klen + 1);
	head = &s->heads[(h >> 8) % s->nheads];
	b->next = *head;
	*head = b;
	s->count++;
	return b;
}

static int rl_mem_take(struct ratelimit *rl, const char *key, const struct rl_params *p,
		       int64_t now_ms, struct ratelimit_result *out)
{
	uint64_t h = rl_hash(key);
	struct rl_shard *s = &rl->shards[h % RL_SHARDS];
	struct rl_bucket *b;
	bool allowed = false;

	pthread_mutex_lock(&s->lock);
	b = rl_shard_find(s, key, h, p, now_ms);
	if (!b) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	/* A bucket whose limits changed keeps its level, capped to the new burst. */
	b->params = *p;
	b->tokens = rl_refill(p, b->tokens > p->cap_u ? p->cap_u : b->tokens, b->last_ms, now_ms);
	if (now_ms > b->last_ms)
		b->last_ms = now_ms;
	if (b->tokens >= RL_UNIT) {
		b->tokens -= RL_UNIT;
		allowed = true;
	}
	rl_result_fill(p, b->tokens, allowed, out);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ------------------------------------------------------------------- API */

void ratelimit_opts_init(struct ratelimit_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fail_open = true;
	o->max_buckets = 65536;
	o->timeout_ms = 200;
	o->redis_pool = 8;
	o->admin_rate = 100;
	o->admin_burst = 200;
	o->customer_rate = 20;
	o->customer_burst = 40;
	o->anon_rate = 5;
	o->anon_burst = 10;
}

static int rl_shards_init(struct ratelimit *rl)
{
	size_t per = rl->o.max_buckets / RL_SHARDS;

	if (per < 1)
		per = 1;
	for (int i = 0; i < RL_SHARDS; i++) {
		struct rl_shard *s = &rl->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->max = per;
		s->nheads = per < 64 ? 64 : per;
		s->heads = calloc(s->nheads, sizeof(s->heads[0]));
		if (!s->heads)
			return -ENOMEM;
	}
	return 0;
}

/* The children are made once here, so a decision costs one atomic add. */
static void rl_metrics_init(struct ratelimit *rl)
{
	static const char *const kinds[RL_KINDS] = {"credential", "address"};
	const char *backend = rl->redis ? "redis" : "memory";
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_ratelimit_requests_total",
	    "API rate-limit decisions, by bucket kind, backend and result.", "kind,backend,result");

	for (int k = 0; f && k < RL_KINDS; k++) {
		rl->counted[k][0] = metric_get(f, kinds[k], backend, "limited");
		rl->counted[k][1] = metric_get(f, kinds[k], backend, "allowed");
	}
}

struct ratelimit *ratelimit_new(const struct ratelimit_opts *o, char *err, size_t errlen)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rl->o = *o;
	rl->o.redis_url = NULL; /* not kept: the Redis backend copies what it needs */
	if (o->redis_url && *o->redis_url) {
		rl->redis = rl_redis_new(o, err, errlen);
		if (!rl->redis)
			goto fail;
	} else if (rl_shards_init(rl) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rl_metrics_init(rl);
	return rl;
fail:
	ratelimit_free(rl);
	return NULL;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	rl_redis_free(rl->redis);
	for (int i = 0; i < RL_SHARDS; i++) {
		struct rl_shard *s = &rl->shards[i];
		if (!s->heads)
			continue;
		for (size_t h = 0; h < s->nheads; h++)
			for (struct rl_bucket *b = s->heads[h], *next; b; b = next) {
				next = b->next;
				free(b);
			}
		free(s->heads);
		pthread_mutex_destroy(&s->lock);
	}
	free(rl);
}

int ratelimit_take(struct ratelimit *rl, const char *key, double rate_per_sec, int64_t burst,
		   int64_t now_ms, struct ratelimit_result *out)
{
	struct rl_params p;
	int rc;

	if (!key || !*key || strlen(key) > RL_KEY_MAX ||
	    rl_params_make(rate_per_sec, burst, &p) < 0)
		return -EINVAL;
	if (!rl->redis)
		return rl_mem_take(rl, key, &p, now_ms, out);
	rc = rl_redis_take(rl->redis, key, &p, out);
	if (rc < 0) {
		/* Logged and counted by the backend; here only the decision. */
		rl_result_fill(&p, p.cap_u, rl->o.fail_open, out);
		out->degraded = true;
		if (!rl->o.fail_open)
			out->retry_after_s = 1;
	}
	return 0;
}

static int rl_take_counted(struct ratelimit *rl, enum rl_kind kind, const char *key, int64_t rate,
			   int64_t burst, int64_t now_ms, struct ratelimit_result *out)
{
	int rc = ratelimit_take(rl, key, (double)rate, burst, now_ms, out);
	struct metric *m = rc == 0 ? rl->counted[kind][out->allowed] : NULL;

	if (m)
		metric_inc(m);
	return rc;
}

int ratelimit_take_identity(struct ratelimit *rl, const struct auth_identity *id, int64_t now_ms,
			    struct ratelimit_result *out)
{
	bool admin = id->role == AUTH_ROLE_ADMIN;
	int64_t rate = id->rate_per_sec > 0 ? id->rate_per_sec
		       : admin		    ? rl->o.admin_rate
					    : rl->o.customer_rate;
	int64_t burst = id->burst > 0 ? id->burst
			: admin	      ? rl->o.admin_burst
				      : rl->o.customer_burst;
	char key[RL_KEY_MAX];

	snprintf(key, sizeof(key), "cred:%s", id->subject);
	return rl_take_counted(rl, RL_KIND_CREDENTIAL, key, rate, burst, now_ms, out);
}

int ratelimit_take_addr(struct ratelimit *rl, const struct net_addr *peer, int64_t now_ms,
			struct ratelimit_result *out)
{
	char ip[NET_ADDR_STRLEN], key[RL_KEY_MAX];
	int rc = net_addr_format_ip(peer, ip, sizeof(ip));

	if (rc < 0)
		return rc;
	snprintf(key, sizeof(key), "ip:%s", ip);
	return rl_take_counted(rl, RL_KIND_ADDRESS, key, rl->o.anon_rate, rl->o.anon_burst, now_ms,
			       out);
}

size_t ratelimit_size(struct ratelimit *rl)
{
	size_t n = 0;

	if (rl->redis)
		return 0;
	for (int i = 0; i < RL_SHARDS; i++) {
		pthread_mutex_lock(&rl->shards[i].lock);
		n += rl->shards[i].count;
		pthread_mutex_unlock(&rl->shards[i].lock);
	}
	return n;
}
