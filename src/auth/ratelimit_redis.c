/*
 * ratelimit_redis.c — token buckets in Redis, shared by gateway replicas.
 *
 * Each take is one EVALSHA of a Lua script that refills and takes from the
 * bucket atomically (Redis runs a script with nothing interleaved), so
 * replicas never race on a read-modify-write.  The bucket is a hash {t: micro-
 * tokens, ts: ms} with a PEXPIRE of the time to refill, after which a missing
 * key means a full bucket.  Time is the Redis server's (TIME inside the
 * script), never the caller's: replicas with skewed clocks still share one
 * budget and none can refill a bucket early.  Redis 7 replicates a script's
 * effects, not the script, so a non-deterministic TIME before a write is
 * allowed and replicas of Redis see the same HSET.  A stored ts ahead of
 * the server's clock (a failover to a Redis behind it) refills nothing
 * rather than going backwards.
 * Why a script and this layout: docs/decisions/0010-ratelimit-redis.md.
 *
 * Connections come from a small locked pool; a broken one is dropped.  When
 * Redis cannot be reached, connecting again waits RL_REDIS_BACKOFF_MS so
 * requests do not each pay a connect timeout; the caller then fails open or
 * closed.  Each failure is counted in warp_ratelimit_redis_errors_total and
 * the transition to and from "down" is logged once.
 */
#include "auth/ratelimit_private.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RL_LOG "ratelimit"
#define RL_REDIS_BACKOFF_MS 1000
#define RL_REDIS_POOL_MAX 64

/* KEYS[1] bucket; ARGV rate (µtokens/ms), capacity (µtokens), cost (µtokens).
 * No time in ARGV: TIME answers {seconds, microseconds} of the server. */
static const char rl_redis_script[] =
    "local rate = tonumber(ARGV[1])\n"
    "local cap = tonumber(ARGV[2])\n"
    "local cost = tonumber(ARGV[3])\n"
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "local v = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
    "local t = tonumber(v[1])\n"
    "local ts = tonumber(v[2])\n"
    "if t == nil or ts == nil then t = cap; ts = now end\n"
    "if t > cap then t = cap end\n"
    "if now > ts then\n"
    "  t = math.min(cap, t + (now - ts) * rate)\n"
    "  ts = now\n"
    "end\n"
    "local ok = 0\n"
    "if t >= cost then t = t - cost; ok = 1 end\n"
    "redis.call('HSET', KEYS[1], 't', string.format('%d', t), 'ts', string.format('%d', ts))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil((cap - t) / rate) + 1000)\n"
    "return {ok, t}\n";

struct rl_redis {
	struct redis_target target;
	int timeout_ms;
	char sha[41];
	pthread_mutex_t lock; /* guards idle, nidle, down_until_ms */
	redisContext *idle[RL_REDIS_POOL_MAX];
	size_t nidle, pool_max;
	int64_t down_until_ms;
	atomic_bool down;
	bool fail_open;
	struct metric *errors;
};

static void rl_redis_sha1(char out[41])
{
	unsigned char md[20];
	unsigned int len = 0;

	EVP_Digest(rl_redis_script, sizeof(rl_redis_script) - 1, md, &len, EVP_sha1(), NULL);
	hex_encode(md, sizeof(md), out);
}

struct rl_redis *rl_redis_new(const struct ratelimit_opts *o, char *err, size_t errlen)
{
	struct rl_redis *r = calloc(1, sizeof(*r));
	struct metric_family *f;

	if (!r || redis_target_parse(&r->target, o->redis_url) < 0) {
		snprintf(err, errlen, "bad Redis URL (want redis://[:password@]host[:port][/db])");
		rl_redis_free(r);
		return NULL;
	}
	r->timeout_ms = o->timeout_ms;
	r->fail_open = o->fail_open;
	r->pool_max = o->redis_pool < RL_REDIS_POOL_MAX ? o->redis_pool : RL_REDIS_POOL_MAX;
	rl_redis_sha1(r->sha);
	pthread_mutex_init(&r->lock, NULL);
	f = metrics_counter(metrics_default(), "warp_ratelimit_redis_errors_total",
			    "Rate-limit decisions made without Redis (fail open or closed).", NULL);
	r->errors = f ? metric_getv(f, NULL, 0) : NULL;
	return r;
}

void rl_redis_free(struct rl_redis *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nidle; i++)
		redisFree(r->idle[i]);
	if (r->sha[0])
		pthread_mutex_destroy(&r->lock);
	redis_target_fini(&r->target);
	free(r);
}

static redisContext *rl_redis_get(struct rl_redis *r)
{
	redisContext *c = NULL;
	bool backoff;

	pthread_mutex_lock(&r->lock);
	if (r->nidle > 0)
		c = r->idle[--r->nidle];
	backoff = time_mono_ms() < r->down_until_ms;
	pthread_mutex_unlock(&r->lock);
	if (c || backoff)
		return c;
	c = redis_target_connect(&r->target, r->timeout_ms);
	if (!c) {
		pthread_mutex_lock(&r->lock);
		r->down_until_ms = time_mono_ms() + RL_REDIS_BACKOFF_MS;
		pthread_mutex_unlock(&r->lock);
	}
	return c;
}

static void rl_redis_put(struct rl_redis *r, redisContext *c, bool healthy)
{
	if (healthy) {
		pthread_mutex_lock(&r->lock);
		if (r->nidle < r->pool_max) {
			r->idle[r->nidle++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&r->lock);
	}
	if (c)
		redisFree(c);
}

static redisReply *rl_redis_eval(struct rl_redis *r, redisContext *c, const char *key,
				 const struct rl_params *p)
{
	redisReply *rep = redisCommand(c, "EVALSHA %s 1 warp:rl:%s %lld %lld %lld", r->sha, key,
				       (long long)p->rate_u, (long long)p->cap_u, RL_UNIT);

	/* First use on this server (or after SCRIPT FLUSH): EVAL loads it. */
	if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(rep);
		rep = redisCommand(c, "EVAL %s 1 warp:rl:%s %lld %lld %lld", rl_redis_script, key,
				   (long long)p->rate_u, (long long)p->cap_u, RL_UNIT);
	}
	return rep;
}

static void rl_redis_health(struct rl_redis *r, bool ok, const char *why)
{
	bool was_down = atomic_exchange(&r->down, !ok);

	if (!ok) {
		if (r->errors)
			metric_inc(r->errors);
		if (!was_down)
			log_warn(RL_LOG, "Redis %s:%d unusable (%s): rate limits fail %s",
				 r->target.host, r->target.port, why,
				 r->fail_open ? "open" : "closed");
	} else if (was_down) {
		log_info(RL_LOG, "Redis %s:%d reachable again", r->target.host, r->target.port);
	}
}

int rl_redis_take(struct rl_redis *r, const char *key, const struct rl_params *p,
		  struct ratelimit_result *out)
{
	redisContext *c = rl_redis_get(r);
	redisReply *rep;
	bool ok;

	if (!c) {
		rl_redis_health(r, false, "cannot connect");
		return -ECONNREFUSED;
	}
	rep = rl_redis_eval(r, c, key, p);
	ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	     rep->element[0]->type == REDIS_REPLY_INTEGER &&
	     rep->element[1]->type == REDIS_REPLY_INTEGER;
	if (ok)
		rl_result_fill(p, rep->element[1]->integer, rep->element[0]->integer == 1, out);
	rl_redis_health(r, ok, rep ? "unexpected reply" : "connection failed");
	/* A context with an I/O error cannot be reused; an error reply can. */
	rl_redis_put(r, c, c->err == 0);
	if (rep)
		freeReplyObject(rep);
	return ok ? 0 : -EIO;
}
