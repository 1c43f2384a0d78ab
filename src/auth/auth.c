/*
 * auth.c — the bearer-credential checker: options, lifetime, and the one
 * entry point that tells API keys from JWTs.
 *
 * A credential starting "wk_" or "warp_" is an API key; any other
 * credential with a '.' is a JWT; the rest are tried as API keys (operators
 * may choose their own WARP_ADMIN_TOKEN).  Every rejection is logged once,
 * here, by class only: never the credential, which is a live secret.
 */
#include "auth/auth_private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const auth_errstr[] = {
    [AUTH_ENOCRED + 2000] = "no bearer credential",
    [AUTH_EMALFORMED + 2000] = "malformed token",
    [AUTH_EBASE64 + 2000] = "malformed base64url in token",
    [AUTH_EJSON + 2000] = "malformed JSON in token",
    [AUTH_EALG_NONE + 2000] = "unsigned token (alg none) refused",
    [AUTH_EALG_CONFUSION + 2000] = "HMAC alg with an asymmetric key (algorithm confusion)",
    [AUTH_EALG_REFUSED + 2000] = "token alg not allowed",
    [AUTH_EKID_UNKNOWN + 2000] = "unknown key id (kid)",
    [AUTH_EKTY_MISMATCH + 2000] = "key type does not match token alg",
    [AUTH_ESIGNATURE + 2000] = "bad signature",
    [AUTH_EEXPIRED + 2000] = "token expired",
    [AUTH_ENOTYET + 2000] = "token not yet valid",
    [AUTH_EISSUER + 2000] = "wrong issuer",
    [AUTH_EAUDIENCE + 2000] = "wrong audience",
    [AUTH_ECLAIMS + 2000] = "role, customer or scope claim missing or invalid",
    [AUTH_EKEY_UNKNOWN + 2000] = "unknown API key",
    [AUTH_EKEY_REVOKED + 2000] = "API key revoked",
    [AUTH_EUNAVAILABLE + 2000] = "credential store or JWKS unavailable",
    [AUTH_EEXP_MISSING + 2000] = "token has no valid exp claim",
    [AUTH_ECRIT + 2000] = "token names critical header extensions (crit) not understood",
};

const char *auth_strerror(int err)
{
	int i = err + 2000;

	if (err == 0)
		return "ok";
	if (i >= 0 && (size_t)i < sizeof(auth_errstr) / sizeof(auth_errstr[0]) && auth_errstr[i])
		return auth_errstr[i];
	return "credential check failed";
}

void auth_opts_init(struct auth_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->key_cache_ttl_ms = 5000;
	o->key_cache_size = 4096;
	o->role_claim = "warp_role";
	o->customer_claim = "customer_id";
	o->scope_claim = "scope";
	o->default_scopes = "read";
	o->skew_s = 60;
	o->jwks_min_refetch_ms = 10000;
	o->jwks_default_max_age_s = 300;
	o->jwks_timeout_ms = 2000;
	o->jwks_wait_ms = 250;
}

struct auth *auth_new(const struct auth_opts *o, char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));
	int rc;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->store = o->store;
	rc = keycache_init(&a->keys, o->key_cache_size, o->key_cache_ttl_ms);
	if (rc == 0)
		rc = jwt_verifier_init(&a->jwt, o);
	if (rc < 0) {
		snprintf(err, errlen, "%s",
			 rc == -EINVAL ? "JWT settings need an issuer, one JWKS source "
					 "an HS256 secret of 32+ bytes and default "
					 "scopes of read and/or write"
				       : strerror(-rc));
		goto fail;
	}
	if (a->jwt.jwks.file && jwks_load(&a->jwt.jwks, time_wall_ms()) < 0) {
		snprintf(err, errlen, "cannot load JWKS file %s", a->jwt.jwks.file);
		goto fail;
	}
	return a;
fail:
	auth_free(a);
	return NULL;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	jwt_verifier_fini(&a->jwt);
	keycache_fini(&a->keys);
	free(a);
}

/* "Bearer" then one or more spaces, then the credential (RFC 6750 §2.1). */
static int auth_bearer_split(const char *header, struct str *cred)
{
	struct str h = str_trim(str_from_cstr(header ? header : ""));
	size_t i = 6;

	if (h.len <= 7 || !str_caseeq((struct str){h.p, 6}, STR_LIT("Bearer")) || h.p[6] != ' ')
		return AUTH_ENOCRED;
	while (i < h.len && h.p[i] == ' ')
		i++;
	*cred = (struct str){h.p + i, h.len - i};
	return cred->len > 0 ? 0 : AUTH_ENOCRED;
}

static bool auth_looks_like_jwt(struct str cred)
{
	if (str_has_prefix(cred, STR_LIT("wk_")) || str_has_prefix(cred, STR_LIT("warp_")))
		return false;
	return str_index(cred, '.') >= 0;
}

int auth_check_bearer(struct auth *a, const char *authorization_header, int64_t now_ms,
		      struct auth_identity *out, const char **reason)
{
	struct str cred = STR_NULL;
	bool jwt = false;
	int rc = auth_bearer_split(authorization_header, &cred);

	if (rc == 0) {
		jwt = auth_looks_like_jwt(cred);
		if (jwt && jwt_verifier_enabled(&a->jwt))
			rc = jwt_verify(&a->jwt, cred, now_ms, out);
		else if (jwt)
			rc = AUTH_EALG_REFUSED; /* JWTs are not configured */
		else
			rc = apikey_check(a->store, &a->keys, cred, now_ms, out);
	}
	if (reason)
		*reason = auth_strerror(rc);
	/* Debug only: a caller logs refusals aggregated (the gateway's
	 * refusals.c), one line each would let a guesser flood the log. */
	if (rc < 0)
		log_debug(AUTH_LOG, "%s rejected: %s", jwt ? "JWT" : "bearer credential",
			  auth_strerror(rc));
	return rc;
}

int auth_jwks_refresh(struct auth *a, int64_t now_ms, bool force)
{
	return jwks_refresh(&a->jwt.jwks, now_ms, force);
}

int64_t auth_retry_after_s(struct auth *a, int64_t now_ms)
{
	return jwks_retry_after_s(&a->jwt.jwks, now_ms);
}

uint64_t auth_jwks_fetches(const struct auth *a)
{
	return atomic_load(&a->jwt.jwks.fetches);
}
