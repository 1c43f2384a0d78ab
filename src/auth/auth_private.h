/*
 * auth_private.h — private to src/auth: the checker's parts and how they
 * meet.  jwks.c keeps the key set, jwt.c verifies tokens against it,
 * apikey.c looks keys up in the store through keycache.c.
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
 * The current key set, its expiry, and the fetch policy.  `lock` guards set
 * and expires_ms; readers hold it across a verification so that a refresh
 * never frees a key in use (cjose's refcounts are not atomic).  `fetch_lock`
 * makes fetching single-flight: a thread that finds a fetch under way goes
 * on with the set it has.
 */
struct jwks {
	char *file, *url;
	int64_t min_refetch_ms, default_max_age_ms, timeout_ms;
	pthread_rwlock_t lock;
	struct jwks_set *set;
	int64_t expires_ms;
	pthread_mutex_t fetch_lock;
	int64_t last_fetch_ms; /* under fetch_lock */
	bool fetched;	       /* under fetch_lock */
	_Atomic uint64_t fetches;
};

int jwks_init(struct jwks *j, const struct auth_opts *o);
void jwks_fini(struct jwks *j);
bool jwks_enabled(const struct jwks *j);
int jwks_refresh(struct jwks *j, int64_t now_ms, bool force);
/* Loads now, outside the fetch policy (startup). */
int jwks_load(struct jwks *j, int64_t now_ms);
/* Takes the read lock and returns the key for kid (NULL if none), first
 * refreshing (when refresh is set) if the set is stale or lacks kid;
 * jwks_release always follows. */
const struct jwks_key *jwks_acquire(struct jwks *j, struct str kid, int64_t now_ms, bool refresh);
void jwks_release(struct jwks *j);
/* Whether a key set has ever loaded; only between jwks_acquire and
 * jwks_release.  Without one, a token's kid cannot be judged at all. */
bool jwks_loaded(const struct jwks *j);

/* Fetches url with libcurl into body (bounded); *max_age_s from
 * Cache-Control (-1 when absent).  jwks_http.c. */
int jwks_http_get(const char *url, int64_t timeout_ms, struct buf *body, int64_t *max_age_s);

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
