/*
 * ratelimit_private.h — private to src/auth: the token-bucket arithmetic
 * both backends share, and the Redis backend's entry points.
 *
 * Tokens are counted in micro-tokens (RL_UNIT a token) and time in
 * milliseconds, and a rate is micro-tokens per millisecond (= milli-tokens a
 * second), so a refill is one exact integer product: no drift however often
 * a bucket is touched.
 */
#ifndef WARP_AUTH_RATELIMIT_PRIVATE_H
#define WARP_AUTH_RATELIMIT_PRIVATE_H

#include "auth/auth.h"

#define RL_UNIT 1000000LL

struct rl_params {
	int64_t rate_u; /* micro-tokens per millisecond, >= 1 */
	int64_t cap_u;	/* burst in micro-tokens */
};

int rl_params_make(double rate_per_sec, int64_t burst, struct rl_params *p);
/* tokens after refilling from last_ms to now_ms (never backwards). */
int64_t rl_refill(const struct rl_params *p, int64_t tokens, int64_t last_ms, int64_t now_ms);
/* Fills out from the bucket's level after the decision. */
void rl_result_fill(const struct rl_params *p, int64_t tokens, bool allowed,
		    struct ratelimit_result *out);

struct rl_redis;

struct rl_redis *rl_redis_new(const struct ratelimit_opts *o, char *err, size_t errlen);
void rl_redis_free(struct rl_redis *r);
/* 0 with out filled, or a negative code when Redis failed (the caller
 * applies fail_open).  Takes no time: the bucket runs on Redis's clock. */
int rl_redis_take(struct rl_redis *r, const char *key, const struct rl_params *p,
		  struct ratelimit_result *out);

#endif
