/*
 * jwks.c — the JSON Web Key Set the JWT verifier trusts.
 *
 * The set comes from a file (reread when its max-age passes) or a URL
 * (fetched with jwks_http_get).  Each usable key is imported with cjose once
 * and kept, keyed by kid, until a refresh replaces the whole set.
 *
 * Who fetches: after startup only the fetcher thread (jwks_fetcher.c); a
 * request never runs a transfer.  When: a URL set on first need (warp also
 * asks at startup), again once its Cache-Control max-age has passed (the
 * integrator's timer calls auth_jwks_refresh; a request that finds the set
 * stale asks too, and goes on with the stale set), and early when a token
 * names a kid the set lacks (the issuer rotated keys), as jwks_policy.c
 * allows: never twice within min_refetch_ms, and not for a kid a set
 * fetched for it already lacked.  A request with no set loaded yet, or the
 * one whose kid caused a refetch, waits for the fetch at most wait_ms.
 */
#include "auth/auth_private.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define JWKS_FILE_MAX (256 * 1024)
#define JWKS_MAX_AGE_CAP_MS (24 * 3600 * 1000LL)
#define RSA_MIN_BITS 2048

static enum jwt_alg jwks_key_alg(json_t *k)
{
	const char *kty = json_string_value(json_object_get(k, "kty"));
	const char *crv = json_string_value(json_object_get(k, "crv"));
	const char *alg = json_string_value(json_object_get(k, "alg"));
	const char *use = json_string_value(json_object_get(k, "use"));
	enum jwt_alg a = JWT_ALG_UNKNOWN;

	if (use && strcmp(use, "sig") != 0)
		return JWT_ALG_UNKNOWN;
	if (kty && strcmp(kty, "RSA") == 0)
		a = JWT_ALG_RS256;
	else if (kty && strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0)
		a = JWT_ALG_ES256;
	/* A key that declares another alg (RS384, PS256, …) is for that alg
	 * only (RFC 7517 §4.4); we do not verify those. */
	if (alg && !((a == JWT_ALG_RS256 && strcmp(alg, "RS256") == 0) ||
		     (a == JWT_ALG_ES256 && strcmp(alg, "ES256") == 0)))
		return JWT_ALG_UNKNOWN;
	return a;
}

static cjose_jwk_t *jwks_key_import(json_t *k, enum jwt_alg alg)
{
	char *text = json_dumps(k, JSON_COMPACT);
	cjose_err cerr;
	cjose_jwk_t *jwk;

	if (!text)
		return NULL;
	jwk = cjose_jwk_import(text, strlen(text), &cerr);
	free(text);
	if (jwk && alg == JWT_ALG_RS256 && cjose_jwk_get_keysize(jwk, &cerr) < RSA_MIN_BITS) {
		cjose_jwk_release(jwk);
		return NULL;
	}
	return jwk;
}

static void jwks_set_add(struct jwks_set *s, json_t *k)
{
	const char *kid = json_string_value(json_object_get(k, "kid"));
	enum jwt_alg alg = jwks_key_alg(k);
	struct jwks_key *key = &s->keys[s->n];

	if (!kid || alg == JWT_ALG_UNKNOWN ||
	    str_copy(key->kid, sizeof(key->kid), str_from_cstr(kid)) < 0)
		return;
	if (jwks_set_find(s, str_from_cstr(kid)))
		return; /* a duplicate kid is ambiguous: the first one wins */
	key->alg = alg;
	key->jwk = jwks_key_import(k, alg);
	if (key->jwk)
		s->n++;
}

int jwks_set_parse(const char *json, size_t len, struct jwks_set **out)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *keys = json_object_get(root, "keys");
	struct jwks_set *s = NULL;
	size_t i;
	json_t *k;
	int rc = -EINVAL;

	if (!json_is_array(keys))
		goto done;
	rc = -ENOMEM;
	s = calloc(1, sizeof(*s) + JWKS_KEYS_MAX * sizeof(s->keys[0]));
	if (!s)
		goto done;
	json_array_foreach(keys, i, k)
	{
		if (s->n == JWKS_KEYS_MAX)
			break;
		if (json_is_object(k))
			jwks_set_add(s, k);
	}
	*out = s;
	rc = 0;
done:
	json_decref(root);
	return rc;
}

void jwks_set_free(struct jwks_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		cjose_jwk_release(s->keys[i].jwk);
	free(s);
}

const struct jwks_key *jwks_set_find(const struct jwks_set *s, struct str kid)
{
	if (!s || kid.len == 0)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (str_eq_cstr(kid, s->keys[i].kid))
			return &s->keys[i];
	return NULL;
}

static int jwks_file_read(const char *path, struct buf *body)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t got;
	int rc = 0;

	if (!f)
		return -errno;
	while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (body->len + got > JWKS_FILE_MAX)
			rc = -EFBIG;
		else
			rc = buf_append(body, chunk, got);
	}
	if (rc == 0 && ferror(f))
		rc = -EIO;
	fclose(f);
	return rc;
}

/* Loads a new set and swaps it in; the old one is freed after the swap. */
int jwks_load(struct jwks *j, int64_t now_ms)
{
	struct buf body;
	int64_t max_age_s = -1, max_age_ms;
	struct jwks_set *set = NULL, *old;
	int rc;

	buf_init(&body);
	if (j->url)
		rc = jwks_http_get(j->url, j->timeout_ms, &j->fetcher.cancel, &body, &max_age_s);
	else
		rc = jwks_file_read(j->file, &body);
	if (rc == 0)
		rc = jwks_set_parse(body.p ? body.p : "", body.len, &set);
	buf_fini(&body);
	if (rc == -ECANCELED)
		return rc; /* shutting down */
	if (rc < 0) {
		log_warn(AUTH_LOG, "JWKS %s: %s", j->url ? "fetch failed" : "read failed",
			 strerror(-rc));
		return rc;
	}
	max_age_ms = max_age_s >= 0 ? max_age_s * 1000 : j->default_max_age_ms;
	if (max_age_ms > JWKS_MAX_AGE_CAP_MS)
		max_age_ms = JWKS_MAX_AGE_CAP_MS;
	pthread_rwlock_wrlock(&j->lock);
	old = j->set;
	j->set = set;
	j->expires_ms = now_ms + max_age_ms;
	j->generation++;
	pthread_rwlock_unlock(&j->lock);
	jwks_set_free(old);
	log_info(AUTH_LOG, "JWKS loaded: %zu usable keys, max-age %lld ms", set->n,
		 (long long)max_age_ms);
	return 0;
}

/* What the set says about kid now (the read lock is held only to look). */
struct jwks_view {
	bool loaded, found, stale;
	uint64_t generation;
};

static void jwks_view_take(struct jwks *j, struct str kid, int64_t now_ms, struct jwks_view *v)
{
	pthread_rwlock_rdlock(&j->lock);
	v->loaded = j->set != NULL;
	v->found = jwks_set_find(j->set, kid) != NULL;
	v->stale = !j->set || now_ms >= j->expires_ms;
	v->generation = j->generation;
	pthread_rwlock_unlock(&j->lock);
}

/* Under fetcher.lock: the policy's facts for this view and kid. */
static unsigned jwks_decide(struct jwks *j, const struct jwks_view *v, bool found, bool refuted,
			    int64_t now_ms)
{
	const struct jwks_fetcher *f = &j->fetcher;
	struct jwks_need n = {
	    .loaded = v->loaded,
	    .found = found,
	    .stale = v->stale,
	    .refuted = refuted,
	    .in_flight = f->want || f->in_flight,
	    .fetched = f->fetched,
	    .failing = f->completed > 0 && f->last_rc != 0,
	    .last_fetch_ms = f->last_fetch_ms,
	    .now_ms = now_ms,
	    .min_refetch_ms = j->min_refetch_ms,
	};

	return jwks_policy_decide(&n);
}

int jwks_refresh(struct jwks *j, int64_t now_ms, bool force)
{
	struct jwks_view v;
	int rc;

	if (!jwks_enabled(j))
		return 0;
	jwks_view_take(j, STR_NULL, now_ms, &v);
	pthread_mutex_lock(&j->fetcher.lock);
	/* force: as if a token named a kid the set lacks, but nobody waits. */
	if (jwks_decide(j, &v, !force, false, now_ms) & JWKS_ACT_ASK)
		jwks_fetcher_ask(j, now_ms);
	rc = j->fetcher.last_rc;
	pthread_mutex_unlock(&j->fetcher.lock);
	return rc;
}

/* Under fetcher.lock, after a wait that saw a fetch end: a set that loaded
 * without kid refutes it until the next set. */
static void jwks_refute_if_absent(struct jwks *j, struct str kid)
{
	bool absent;
	uint64_t generation;

	pthread_rwlock_rdlock(&j->lock);
	absent = j->set && !jwks_set_find(j->set, kid);
	generation = j->generation;
	pthread_rwlock_unlock(&j->lock);
	if (absent)
		jwks_refuted_note(j->fetcher.refuted, kid, generation);
}

/* The set is stale or lacks kid: ask and wait as the policy says. */
static void jwks_need_keys(struct jwks *j, struct str kid, const struct jwks_view *v,
			   int64_t now_ms)
{
	struct jwks_fetcher *f = &j->fetcher;
	unsigned act;

	pthread_mutex_lock(&f->lock);
	act = jwks_decide(j, v, v->found,
			  !jwks_kid_usable(kid) || jwks_refuted_has(f->refuted, kid, v->generation),
			  now_ms);
	if (act & JWKS_ACT_ASK)
		jwks_fetcher_ask(j, now_ms);
	if ((act & JWKS_ACT_WAIT) && jwks_fetcher_wait(j, j->wait_ms) && f->last_rc == 0)
		jwks_refute_if_absent(j, kid);
	pthread_mutex_unlock(&f->lock);
}

const struct jwks_key *jwks_acquire(struct jwks *j, struct str kid, int64_t now_ms, bool refresh)
{
	struct jwks_view v;

	jwks_view_take(j, kid, now_ms, &v);
	if (refresh && (!v.found || v.stale))
		jwks_need_keys(j, kid, &v, now_ms);
	pthread_rwlock_rdlock(&j->lock);
	return jwks_set_find(j->set, kid);
}

int64_t jwks_retry_after_s(struct jwks *j, int64_t now_ms)
{
	int64_t next = now_ms;

	if (!jwks_enabled(j))
		return 1;
	pthread_mutex_lock(&j->fetcher.lock);
	if (j->fetcher.fetched)
		next = j->fetcher.last_fetch_ms + j->min_refetch_ms;
	pthread_mutex_unlock(&j->fetcher.lock);
	return next - now_ms > 1000 ? (next - now_ms + 999) / 1000 : 1;
}

bool jwks_loaded(const struct jwks *j)
{
	return j->set != NULL;
}

void jwks_release(struct jwks *j)
{
	pthread_rwlock_unlock(&j->lock);
}

bool jwks_enabled(const struct jwks *j)
{
	return j->file || j->url;
}

static int jwks_dup(const char *s, char **out)
{
	*out = NULL;
	if (!s || !*s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int jwks_init(struct jwks *j, const struct auth_opts *o)
{
	memset(j, 0, sizeof(*j));
	pthread_rwlock_init(&j->lock, NULL);
	j->min_refetch_ms = o->jwks_min_refetch_ms;
	j->default_max_age_ms = o->jwks_default_max_age_s * 1000;
	j->timeout_ms = o->jwks_timeout_ms;
	j->wait_ms = o->jwks_wait_ms;
	if (jwks_dup(o->jwks_file, &j->file) < 0 || jwks_dup(o->jwks_url, &j->url) < 0)
		return -ENOMEM;
	if (j->file && j->url)
		return -EINVAL;
	return jwks_enabled(j) ? jwks_fetcher_start(j) : 0;
}

void jwks_fini(struct jwks *j)
{
	jwks_fetcher_stop(j);
	jwks_set_free(j->set);
	free(j->file);
	free(j->url);
	pthread_rwlock_destroy(&j->lock);
}
