/*
 * auth_private.h — private to src/auth: the checker's parts and how they
 * meet.  jwks.c keeps the key set (fetched by jwks_fetcher.c's thread, as
 * jwks_policy.c allows), jwt.c verifies tokens against it, apikey.c looks
 * keys up in the store through keycache.c.
 */
#ifndef WARP_AUTH_PRIVATE_H
#define WARP_AUTH_PRIVATE_H

#include "auth/auth.h"

#include <cjose/jwk.h>
#include <pthread.h>
#include <stdatomic.h>

#define AUTH_LOG "auth"

/* The algorithms we accept.  A key's algorithm comes from its own type
 * (RSA -> RS256, EC P-256 -> ES256, the configured secret -> HS256), never
 * from the token (RFC 8725 §3.1). */
enum jwt_alg { JWT_ALG_UNKNOWN = 0, JWT_ALG_RS256, JWT_ALG_ES256, JWT_ALG_HS256 };

#define JWKS_KID_MAX 128
#define JWKS_KEYS_MAX 64

struct jwks_key {
	char kid[JWKS_KID_MAX];
	enum jwt_alg alg;
	cjose_jwk_t *jwk; /* one parsed key per kid, reused for every token */
};

struct jwks_set {
	size_t n;
	struct jwks_key keys[];
};

/* Parses a JWKS document (RFC 7517 §5).  Keys we cannot use (other types,
 * curves, algs, use != "sig", RSA under 2048 bits) are skipped. */
int jwks_set_parse(const char *json, size_t len, struct jwks_set **out);
void jwks_set_free(struct jwks_set *s);
const struct jwks_key *jwks_set_find(const struct jwks_set *s, struct str kid);

/*
 * The fetch policy (jwks_policy.c): the facts a request or the refresh
 * timer has, and what it may do with them.  JWKS_ACT_ASK: ask the fetcher
 * for a fetch; JWKS_ACT_WAIT: wait (at most jwks_wait) for the fetch under
 * way or asked for to end.
 */
enum { JWKS_ACT_NONE = 0, JWKS_ACT_ASK = 1 << 0, JWKS_ACT_WAIT = 1 << 1 };

struct jwks_need {
	bool loaded;	/* a set has loaded since start */
	bool found;	/* it holds the kid asked for */
	bool stale;	/* its max-age has passed */
	bool refuted;	/* the kid cannot be in it: unusable, or refuted */
	bool in_flight; /* a fetch is asked for or under way */
	bool fetched;	/* a fetch has started before, at last_fetch_ms */
	bool failing;	/* the last fetch that ended failed */
	int64_t last_fetch_ms, now_ms, min_refetch_ms;
};

unsigned jwks_policy_decide(const struct jwks_need *n);
/* Whether a kid could name a key at all (non-empty, fits JWKS_KID_MAX). */
bool jwks_kid_usable(struct str kid);

/* Kids a set fetched while they waited did not hold, per set generation
 * (0: no set, never recorded).  A caller-owned array of JWKS_REFUTED_SLOTS. */
#define JWKS_REFUTED_SLOTS 64

struct jwks_refuted {
	char kid[JWKS_KID_MAX];
	uint64_t generation;
};

void jwks_refuted_note(struct jwks_refuted *t, struct str kid, uint64_t generation);
bool jwks_refuted_has(const struct jwks_refuted *t, struct str kid, uint64_t generation);

/*
 * The fetcher (jwks_fetcher.c): the one thread that reads or fetches the
 * set, so that HTTP workers never run a transfer.  `lock` guards every
 * field but `thread`, `running` and the metrics (set before the thread
 * starts; `running` again after it is joined) and `cancel` (atomic, read by
 * the transfer's progress callback).  Workers wait on `done`, which is broadcast at each fetch's
 * end; the thread waits on `wake`.  Lock order: `lock` before the set's
 * rwlock, never the other way round.
 */
struct jwks_fetcher {
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	pthread_t thread;
	bool running;
	bool want, in_flight, stop;
	int64_t want_now_ms; /* the asker's clock: the new set's max-age starts there */
	uint64_t completed;  /* fetches ended, well or not */
	int last_rc;	     /* the last ended fetch's result */
	bool fetched;	     /* a fetch was asked for, at last_fetch_ms */
	int64_t last_fetch_ms;
	atomic_bool cancel; /* stop: abort the transfer under way */
	/* warp_auth_jwks_fetches_total{result}, warp_auth_jwks_waits_total{result};
	 * NULL when out of memory. */
	struct metric *m_fetch_ok, *m_fetch_failed, *m_wait_arrived, *m_wait_timeout;
	struct jwks_refuted refuted[JWKS_REFUTED_SLOTS];
};

/*
 * The current key set and its expiry.  `lock` guards set, expires_ms and
 * generation; readers hold it across a verification so that a refresh
 * never frees a key in use (cjose's refcounts are not atomic).
 */
struct jwks {
	char *file, *url;
	int64_t min_refetch_ms, default_max_age_ms, timeout_ms, wait_ms;
	pthread_rwlock_t lock;
	struct jwks_set *set;
	int64_t expires_ms;
	uint64_t generation; /* sets loaded so far; the current one's number */
	struct jwks_fetcher fetcher;
	_Atomic uint64_t fetches;
};

int jwks_init(struct jwks *j, const struct auth_opts *o);
void jwks_fini(struct jwks *j);
bool jwks_enabled(const struct jwks *j);
/* Asks the fetcher for a fetch when the set is stale or force is set,
 * subject to min_refetch_ms; never waits.  The last ended fetch's result. */
int jwks_refresh(struct jwks *j, int64_t now_ms, bool force);
/* Loads now on the calling thread, outside the fetch policy (startup, and
 * the fetcher itself). */
int jwks_load(struct jwks *j, int64_t now_ms);
/* Takes the read lock and returns the key for kid (NULL if none).  When
 * refresh is set and the set is stale or lacks kid, first applies the
 * fetch policy: may ask the fetcher, and may wait at most wait_ms.
 * jwks_release always follows. */
const struct jwks_key *jwks_acquire(struct jwks *j, struct str kid, int64_t now_ms, bool refresh);
void jwks_release(struct jwks *j);
/* Whether a key set has ever loaded; only between jwks_acquire and
 * jwks_release.  Without one, a token's kid cannot be judged at all. */
bool jwks_loaded(const struct jwks *j);
/* Seconds until a fetch may next start (at least 1). */
int64_t jwks_retry_after_s(struct jwks *j, int64_t now_ms);

/* The fetcher thread's life (jwks_fetcher.c); stop joins it. */
int jwks_fetcher_start(struct jwks *j);
void jwks_fetcher_stop(struct jwks *j);
/* Under fetcher.lock: asks the thread for a fetch stamped now_ms. */
void jwks_fetcher_ask(struct jwks *j, int64_t now_ms);
/* Under fetcher.lock: waits at most wait_ms for the fetch under way to
 * end; true when one ended. */
bool jwks_fetcher_wait(struct jwks *j, int64_t wait_ms);

/* Fetches url with libcurl into body (bounded); *max_age_s from
 * Cache-Control (-1 when absent).  Setting *cancel aborts the transfer
 * within about a second (-ECANCELED).  jwks_http.c. */
int jwks_http_get(const char *url, int64_t timeout_ms, const atomic_bool *cancel, struct buf *body,
		  int64_t *max_age_s);

/* Strict base64url without padding (RFC 7515 §2); -EINVAL on any other
 * character or impossible length, -ENOSPC when out is too small. */
int jwt_b64url_decode(struct str in, unsigned char *out, size_t cap, size_t *outlen);

/* Scope bits of one word ("read", "write"; 0 for any other) and of a list
 * of words separated by sep (',' for API keys, ' ' for OAuth).  scope.c. */
unsigned scope_word_bits(struct str word);
unsigned scope_list_parse(struct str list, char sep);

struct jwt_verifier {
	struct jwks jwks;
	cjose_jwk_t *hs_key; /* NULL unless hs256_secret is configured */
	char *issuer, *audience, *role_claim, *customer_claim, *scope_claim;
	unsigned default_scopes; /* a token without scope_claim gets these */
	int64_t skew_ms;
};

int jwt_verifier_init(struct jwt_verifier *v, const struct auth_opts *o);
void jwt_verifier_fini(struct jwt_verifier *v);
bool jwt_verifier_enabled(const struct jwt_verifier *v);
int jwt_verify(struct jwt_verifier *v, struct str token, int64_t now_ms, struct auth_identity *out);

/* A bounded, direct-mapped cache of API-key lookups by secret hash, positive
 * and negative, each entry valid for ttl_ms.  One mutex guards it; it is held
 * for a copy, never across I/O.  keycache.c. */
struct keycache_entry {
	char hash[AUTH_KEY_HASH_LEN];
	int64_t expires_ms;
	int result; /* 0 or a negative auth_err */
	struct auth_identity id;
};

struct keycache {
	pthread_mutex_t lock;
	struct keycache_entry *slots;
	size_t mask;
	int64_t ttl_ms;
};

int keycache_init(struct keycache *c, size_t size, int64_t ttl_ms);
void keycache_fini(struct keycache *c);
/* true when a live entry exists: *result and *id copied out. */
bool keycache_get(struct keycache *c, const char *hash, int64_t now_ms, int *result,
		  struct auth_identity *id);
void keycache_put(struct keycache *c, const char *hash, int64_t now_ms, int result,
		  const struct auth_identity *id);

/* Looks the secret up (cache, then store); 0 and *out, or an auth_err. */
int apikey_check(struct store *s, struct keycache *c, struct str secret, int64_t now_ms,
		 struct auth_identity *out);

struct auth {
	struct store *store;
	struct keycache keys;
	struct jwt_verifier jwt;
};

#endif
