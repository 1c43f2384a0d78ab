/*
 * prepaid.h — private to src/sip/: real-time prepaid authorization of a
 * prepaid customer's calls (decision 0037).
 *
 * An out-of-dialog INVITE of a prepaid customer is priced from the rating
 * snapshot before it is routed (billing_rating_sell, no store access), and
 * money is reserved for it in the store (billing_reserve) by the engine's
 * threads, never by the worker: the worker posts a job and goes on; the
 * answer comes back to the call's worker with loop_pool_post, or the call's
 * own timer refuses it 503 first.  A reservation buys a quantum of talk time
 * ([sip] prepaid_quantum, or what is left when less); the call asks for the
 * next quantum before the one it has runs out, and the proxy's BYE ends it
 * at the last second the reserved money buys.  At the end the exact cost
 * is settled (key cdr:<id>), or the reservations released.
 *
 * prepaid_store.c: the engine (threads, queue, store work, expiry sweep).
 * prepaid.c: what a call does with it, on the call's worker.
 */
#ifndef WARP_SIP_PREPAID_H
#define WARP_SIP_PREPAID_H

#include <stdbool.h>
#include <stdint.h>

#include "billing/billing.h"
#include "core/core.h"

struct sip_proxy;
struct sip_call;
struct sip_msg;
struct store;

struct sip_prepaid_opts {
	struct snapshot *rating;   /* the process's rating snapshot; NULL: off */
	struct store *store;	   /* reservations and balances */
	int64_t quantum_s;	   /* talk time one reservation buys */
	int64_t timeout_ms;	   /* a reservation unanswered this long: 503 */
	unsigned threads;	   /* store threads */
	int64_t sweep_interval_ms; /* expired reservations swept this often */
	int64_t ttl_ms;		   /* a reservation's life (a dead process's expire) */
	struct billing_ledger_opts ledger;
};

/* What the engine does for a call. */
enum sip_prepaid_op { SIP_PP_RESERVE, SIP_PP_SETTLE, SIP_PP_RELEASE };

/* One piece of store work.  A reserve comes back (loop_pool_post) to the
 * worker that asked, which finds its call again by Call-ID and token;
 * settles and releases do not. */
struct sip_prepaid_job {
	struct loop_task task;
	struct sip_prepaid_job *next, *prev; /* the queue, then the replies out */
	struct sip_prepaid_engine *engine;
	enum sip_prepaid_op op;
	bool extend; /* reserve: the next quantum of a call that is up */
	unsigned worker;
	uint64_t token; /* the call's, to tell it from a later one of its Call-ID */
	char call_id[256];
	char customer_id[ID_MAX];
	char cdr_id[ID_MAX];
	int64_t amount;	  /* reserve: wanted */
	int64_t at_least; /* reserve: the least worth holding when less is left */
	int64_t cost;	  /* settle: the exact charge */
	char **rsv;	  /* settle, release: the reservations (the first settled) */
	size_t nrsv;
	int64_t posted_us; /* monotonic, for the latency */
	int rc;		   /* reserve: 0, or a billing/store code */
	char rsv_id[ID_MAX];
	int64_t reserved; /* reserve: what was held (amount, or less) */
};

struct sip_prepaid_engine;
struct sip_prepaid; /* a call's (prepaid.c) */

/* NULL (with err) when the threads cannot start. */
struct sip_prepaid_engine *sip_prepaid_engine_new(const struct sip_prepaid_opts *o,
						  struct sip_proxy *p, char *err, size_t errlen);
const struct sip_prepaid_opts *sip_prepaid_engine_opts(const struct sip_prepaid_engine *e);
struct sip_proxy *sip_prepaid_engine_proxy(const struct sip_prepaid_engine *e);
/* Queues j (the engine owns it now): 0, or -EAGAIN when the queue is full
 * (j is still the caller's). */
int sip_prepaid_engine_submit(struct sip_prepaid_engine *e, struct sip_prepaid_job *j);
/* A reserve's answer has reached its worker: j is the caller's again. */
void sip_prepaid_engine_replied(struct sip_prepaid_engine *e, struct sip_prepaid_job *j);
/* Runs the queue to its end, stops the threads; answers the workers never
 * took (the pool stopped) are released.  After loop_pool_free. */
void sip_prepaid_engine_free(struct sip_prepaid_engine *e);
void sip_prepaid_job_free(struct sip_prepaid_job *j);
/* The worker's answer to a reserve (prepaid.c). */
void sip_prepaid_reply(void *job);
/* Refusals by reason: warp_sip_prepaid_refusals_total{reason}. */
void sip_prepaid_count_refusal(const char *reason);
/* Reservations this process holds open (warp_sip_prepaid_reservations). */
void sip_prepaid_open_add(int64_t n);

/* prepaid.c, on the call's worker */
/* The INVITE's plan is made: 0 when the call is not prepaid (route it),
 * 1 when the call waits for its reservation or was refused (then nothing
 * else to do). */
int sip_prepaid_authorize(struct sip_call *c);
/* The call was answered: the talk time counts from now. */
void sip_prepaid_answered(struct sip_call *c);
/* The call is being freed: its cost settled, its reservations released. */
void sip_prepaid_call_free(struct sip_call *c);

#endif
