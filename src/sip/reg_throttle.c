/*
 * reg_throttle.c — REGISTER floods against one address of record (issue
 * 14): a token bucket per AOR, in memory, shared by the workers (the
 * REGISTERs of one AOR reach different workers when their Call-IDs differ).
 * A UA refreshing normally spends two tokens a refresh (the 401 and the
 * answered REGISTER); a flood spends the burst and is answered 503 with
 * Retry-After (RFC 3261 §21.5.4) before its digest is checked or the store
 * is touched.
 *
 * The table has a fixed number of slots, one AOR each, found by hash: an
 * AOR whose slot another holds takes it over with a full bucket.  Memory is
 * bounded; an attacker alternating two AORs of one slot only resets their
 * buckets to the burst, which still bounds each to burst per takeover.
 * One lock guards the slots (a REGISTER holds it for a hash and a compare).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"

#define REG_THROTTLE_SLOTS 8192

struct reg_bucket {
	char aor[SIP_REG_AOR_MAX];
	int64_t tokens_milli; /* tokens × 1000 */
	int64_t at_ms;	      /* monotonic: when tokens_milli was last brought up */
};

/* Guarded by lock: every slot. */
struct sip_reg_throttle {
	pthread_mutex_t lock;
	int64_t rate_milli; /* tokens × 1000 per second */
	int64_t burst_milli;
	struct reg_bucket slots[REG_THROTTLE_SLOTS];
};

struct sip_reg_throttle *sip_reg_throttle_new(int rate_per_s, int burst)
{
	struct sip_reg_throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->rate_milli = (int64_t)(rate_per_s > 0 ? rate_per_s : 1) * 1000;
	t->burst_milli = (int64_t)(burst > 0 ? burst : 1) * 1000;
	return t;
}

void sip_reg_throttle_free(struct sip_reg_throttle *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int sip_reg_throttle_take(struct sip_reg_throttle *t, const char *aor, int64_t now_ms)
{
	struct reg_bucket *b = &t->slots[sip_reg_hash(aor) % REG_THROTTLE_SLOTS];
	int retry = 0;

	pthread_mutex_lock(&t->lock);
	if (strcmp(b->aor, aor) != 0) {
		snprintf(b->aor, sizeof(b->aor), "%s", aor);
		b->tokens_milli = t->burst_milli;
		b->at_ms = now_ms;
	}
	b->tokens_milli += (now_ms - b->at_ms) * t->rate_milli / 1000;
	if (b->tokens_milli > t->burst_milli)
		b->tokens_milli = t->burst_milli;
	b->at_ms = now_ms;
	if (b->tokens_milli >= 1000)
		b->tokens_milli -= 1000;
	else /* whole seconds until one token is back, at least 1 */
		retry = (int)((1000 - b->tokens_milli + t->rate_milli - 1) / t->rate_milli);
	pthread_mutex_unlock(&t->lock);
	return retry > 0 ? retry : 0;
}
