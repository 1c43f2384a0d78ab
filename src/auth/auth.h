/*
 * auth.h — credentials and rate limits for WARP's API gateway.
 *
 * Two kinds of bearer credential reach the gateway in `Authorization:
 * Bearer <credential>`:
 *   - API keys ("wk_…", and the admin bootstrap token "warp_…"), kept in the
 *     store's api_keys table as a SHA-256 hash with a visible prefix;
 *   - JWTs (RS256/ES256 against a JWKS from a file or URL, HS256 only with a
 *     configured secret), as Google Identity Platform issues them, with the
 *     role, customer and scopes taken from (configurable) claims.
 * auth_check_bearer() tells them apart and answers an auth_identity or a
 * distinct negative code per rejection class (auth_strerror names it).
 *
 * Rate limits are token buckets keyed by credential or by source address,
 * kept in process (default) or in Redis so that replicas share one budget
 * (on the Redis server's clock).
 *
 * This header depends on core/ only: callers pass header strings, addresses
 * and times (UTC epoch milliseconds, injected so tests can move the clock).
 * Every function here is safe to call from several threads at once.
 */
#ifndef WARP_AUTH_H
#define WARP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct store;

/* ---------------------------------------------------------------- codes */

/* Rejection classes (negative), besides plain -errno values. */
enum auth_err {
	AUTH_OK = 0,
	AUTH_ENOCRED = -2000, /* no Authorization header, or not "Bearer" */
	AUTH_EMALFORMED,      /* not three dot-separated parts, too long, empty */
	AUTH_EBASE64,	      /* a part is not base64url */
	AUTH_EJSON,	      /* header or payload is not a JSON object */
	AUTH_EALG_NONE,	      /* alg "none": unsigned tokens are never accepted */
	AUTH_EALG_CONFUSION,  /* HMAC alg naming an RSA/EC key (RS/HS confusion) */
	AUTH_EALG_REFUSED,    /* alg not on the allow-list (or HS256 not configured) */
	AUTH_EKID_UNKNOWN,    /* kid missing or not in the JWKS */
	AUTH_EKTY_MISMATCH,   /* the key's type or alg does not match the token's alg */
	AUTH_ESIGNATURE,      /* signature does not verify */
	AUTH_EEXPIRED,	      /* exp passed (beyond the clock skew) */
	AUTH_ENOTYET,	      /* nbf or iat in the future (beyond the clock skew) */
	AUTH_EISSUER,	      /* iss missing or not the configured issuer */
	AUTH_EAUDIENCE,	      /* aud missing or without the configured audience */
	AUTH_ECLAIMS,	      /* role/customer claims missing or invalid, or a scope claim
				 neither a string nor an array of strings */
	AUTH_EKEY_UNKNOWN,    /* API key not found */
	AUTH_EKEY_REVOKED,    /* API key revoked */
	AUTH_EUNAVAILABLE,    /* store or JWKS cannot be reached now */
	AUTH_EEXP_MISSING,    /* no exp claim, or one that is not a NumericDate */
	AUTH_ECRIT,	      /* a crit header: an extension we do not understand */
};

/* A short, fixed, token-free description of a code (for logs and details). */
const char *auth_strerror(int err);

/* ------------------------------------------------------------- identity */

enum auth_role { AUTH_ROLE_ADMIN = 1, AUTH_ROLE_CUSTOMER };
enum auth_scope { AUTH_SCOPE_READ = 1u << 0, AUTH_SCOPE_WRITE = 1u << 1 };
enum auth_kind { AUTH_KIND_API_KEY = 1, AUTH_KIND_JWT };

#define AUTH_SUBJECT_MAX 128

/* Who is calling.  Plain storage: copy it freely. */
struct auth_identity {
	enum auth_kind kind;
	enum auth_role role;
	unsigned scopes;		/* AUTH_SCOPE_* bits */
	char customer_id[ID_MAX];	/* "" for admin */
	char key_id[ID_MAX];		/* API key id ("key_…"); "" for JWTs */
	char subject[AUTH_SUBJECT_MAX]; /* JWT "sub"; the key id for API keys */
	int64_t rate_per_sec;		/* per-credential limit; 0 = role default */
	int64_t burst;			/* 0 = role default */
};

/* -------------------------------------------------------------- checker */

struct auth_opts {
	/* API keys: looked up in store's api_keys table; NULL disables them. */
	struct store *store;
	int64_t key_cache_ttl_ms; /* a revocation takes effect within this (5000) */
	size_t key_cache_size;	  /* entries, rounded up to a power of two (4096) */

	/* JWTs: enabled when jwks_file, jwks_url or hs256_secret is set. */
	const char *jwks_file;
	const char *jwks_url;
	const char *issuer;	    /* required when JWTs are enabled */
	const char *audience;	    /* NULL: aud not checked */
	const char *role_claim;	    /* "warp_role" */
	const char *customer_claim; /* "customer_id" */
	/* Scopes: the claim holding them, an OAuth space-separated string
	 * (RFC 8693 §4.2) or a JSON array of strings, each "read" or "write"
	 * (other words ignored); a token without the claim gets
	 * default_scopes, a comma list as API keys spell it. */
	const char *scope_claim;	/* "scope" */
	const char *default_scopes;	/* "read": least privilege */
	const char *hs256_secret;	/* NULL: HS256 refused */
	int64_t skew_s;			/* clock skew allowed on exp/nbf/iat (60) */
	int64_t jwks_min_refetch_ms;	/* no two fetches closer than this (10000) */
	int64_t jwks_default_max_age_s; /* when the response has no max-age (300) */
	int64_t jwks_timeout_ms;	/* whole fetch, connect included (2000) */
	int64_t jwks_wait_ms;		/* longest a request waits for a fetch (250) */
};

/* Fills o with the defaults noted above and everything else NULL. */
void auth_opts_init(struct auth_opts *o);

struct auth;

/* Strings in o are copied.  A JWKS file is read now (an error fails); a JWKS
 * URL is fetched on first need or by auth_jwks_refresh.  With a JWKS, the
 * checker owns one fetcher thread that makes every later fetch;
 * auth_free stops and joins it. */
struct auth *auth_new(const struct auth_opts *o, char *err, size_t errlen);
void auth_free(struct auth *a);

/* Checks "Bearer <credential>" (the whole header value, scheme matched
 * without case, RFC 6750 §2.1).  Returns 0 and fills out, or a negative
 * auth_err with *reason (may be NULL) set to a static token-free string.
 * May block on the store (cache miss).  Never runs a JWKS fetch itself: it
 * waits for the fetcher at most jwks_wait_ms, and only when no key set has
 * loaded yet (then AUTH_EUNAVAILABLE if none arrives in time) or when its
 * kid is unknown and allowed to cause a refetch (at most one per
 * jwks_min_refetch_ms for the process, and not waited for when the last
 * fetch failed; else AUTH_EKID_UNKNOWN at once). */
int auth_check_bearer(struct auth *a, const char *authorization_header, int64_t now_ms,
		      struct auth_identity *out, const char **reason);

/* Asks the fetcher to refetch (URL) or reread (file) the JWKS when its
 * max-age has passed or force is set, subject to jwks_min_refetch_ms; does
 * not wait.  For a timer, so that a set is renewed before requests find it
 * stale.  Returns the last ended fetch's result (0 before any): 0 or a
 * negative errno. */
int auth_jwks_refresh(struct auth *a, int64_t now_ms, bool force);
/* Seconds a caller answered AUTH_EUNAVAILABLE should wait before retrying
 * (Retry-After): until the next JWKS fetch may start, at least 1. */
int64_t auth_retry_after_s(struct auth *a, int64_t now_ms);
/* Fetches made so far (for tests and metrics). */
uint64_t auth_jwks_fetches(const struct auth *a);

/* -------------------------------------------------------------- API keys */

#define AUTH_KEY_SECRET_MAX 64 /* "wk_" + 32 base32 characters, with room */
#define AUTH_KEY_HASH_LEN 65   /* SHA-256 hex plus NUL */
#define AUTH_KEY_PREFIX_LEN 10 /* characters of the secret shown in listings */

/* A new secret: "wk_" and 32 lowercase base32 characters (160 random bits). */
int auth_key_secret_new(char *out, size_t n);
/* SHA-256 of the secret as lowercase hex (what api_keys.secret_hash holds). */
int auth_key_hash(const char *secret, char out[AUTH_KEY_HASH_LEN]);
/* Constant-time comparison of two hex hashes. */
bool auth_key_hash_equal(const char *a, const char *b);

struct auth_key_spec {
	enum auth_role role;
	const char *customer_id; /* required for AUTH_ROLE_CUSTOMER */
	unsigned scopes;
	const char *name;
	int64_t rate_per_sec; /* 0: role default */
	int64_t burst;
};

/* Creates a key in the store: id into id_out (ID_MAX), the secret, shown
 * once and never stored, into secret_out (AUTH_KEY_SECRET_MAX). */
int auth_key_create(struct store *s, const struct auth_key_spec *spec, int64_t now_ms, char *id_out,
		    char *secret_out);
/* Marks a key revoked; -ENOENT when no unrevoked key has this id. */
int auth_key_revoke(struct store *s, const char *id, int64_t now_ms);

/* ----------------------------------------------------------- rate limits */

struct ratelimit_opts {
	const char *redis_url; /* "redis://[:password@]host[:port][/db]"; NULL: in process */
	bool fail_open;	       /* when Redis fails: allow (true, default) or refuse */
	size_t max_buckets;    /* in process: bound on buckets kept (65536) */
	int timeout_ms;	       /* Redis connect and command timeout (200) */
	size_t redis_pool;     /* idle Redis connections kept (8) */
	/* Defaults: per role when the credential has none, and per source
	 * address for unauthenticated requests. */
	int64_t admin_rate, admin_burst;       /* 100/s, 200 */
	int64_t customer_rate, customer_burst; /* 20/s, 40 */
	int64_t anon_rate, anon_burst;	       /* 5/s, 10 */
};

void ratelimit_opts_init(struct ratelimit_opts *o);

/* What the gateway turns into RateLimit-Limit/-Remaining/-Reset headers and,
 * when refused, a 429 with Retry-After (draft-ietf-httpapi-ratelimit-headers). */
struct ratelimit_result {
	bool allowed;
	int64_t limit;	       /* the burst */
	int64_t remaining;     /* whole tokens left after this request */
	int64_t reset_s;       /* seconds until the bucket is full again */
	int64_t retry_after_s; /* refused: seconds until a token is there; else 0 */
	bool degraded;	       /* Redis failed and fail_open/closed decided */
};

struct ratelimit;

struct ratelimit *ratelimit_new(const struct ratelimit_opts *o, char *err, size_t errlen);
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from key's bucket (rate tokens a second, up to burst).
 * Token math is integer (micro-tokens), so no drift.  now_ms is the clock
 * of the in-process backend; the Redis backend ignores it and uses the
 * Redis server's, so replicas need not agree on the time.  0 with out filled
 * (allowed or not); -EINVAL for a bad rate/burst/key; a Redis failure is not
 * an error: out says degraded and allowed per fail_open. */
int ratelimit_take(struct ratelimit *rl, const char *key, double rate_per_sec, int64_t burst,
		   int64_t now_ms, struct ratelimit_result *out);
/* The identity's own limits, else its role's defaults; key "cred:<subject>".
 * This and ratelimit_take_addr count their decisions in
 * warp_ratelimit_requests_total{kind="credential"|"address",backend,result}. */
int ratelimit_take_identity(struct ratelimit *rl, const struct auth_identity *id, int64_t now_ms,
			    struct ratelimit_result *out);
/* The anonymous default for a source address; key "ip:<address>". */
int ratelimit_take_addr(struct ratelimit *rl, const struct net_addr *peer, int64_t now_ms,
			struct ratelimit_result *out);
/* Buckets held in process (0 for Redis). */
size_t ratelimit_size(struct ratelimit *rl);

#endif
