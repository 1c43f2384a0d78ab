/*
 * gateway.c — what every /api/v1 request passes before its handler:
 * the bearer credential is checked, the caller's token bucket charged, and
 * the RateLimit-* headers set (draft-ietf-httpapi-ratelimit-headers).
 *
 * Unauthenticated requests are charged to their source address first, so a
 * client guessing tokens is slowed down like any other anonymous caller.
 * Tokens never reach the log: a rejection is logged by its class only, and
 * aggregated per source (refusals.c) so that guessing cannot flood it.
 * Mounted upstreams (upstream.c) are guarded exactly like /api/v1.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

#define API_PREFIX "/api/v1/"

/* One header with a decimal value.  Every authenticated request sets three
 * of these, so the digits are written without snprintf. */
static void rate_header(struct http_req *req, const char *name, int64_t n)
{
	char v[STR_I64_MAX];

	http_reply_header(req, name, str_from_i64(n, v).p);
}

static void rate_headers(struct http_req *req, const struct ratelimit_result *rr)
{
	rate_header(req, "RateLimit-Limit", rr->limit);
	rate_header(req, "RateLimit-Remaining", rr->remaining);
	rate_header(req, "RateLimit-Reset", rr->reset_s);
}

/* Sets the headers; answers 429 and returns true when refused. */
static bool rate_refused(struct http_req *req, const struct ratelimit_result *rr)
{
	char v[32];
	rate_headers(req, rr);
	if (rr->allowed)
		return false;
	snprintf(v, sizeof(v), "%" PRId64, rr->retry_after_s > 0 ? rr->retry_after_s : 1);
	http_reply_header(req, "Retry-After", v);
	http_reply_error(req, 429, "rate_limited", "Too many requests", NULL,
			 "rate limit exceeded; retry after %s s", v);
	return true;
}

static bool charge_address(struct api *a, struct http_req *req, int64_t now)
{
	struct ratelimit_result rr;
	if (!a->rl || ratelimit_take_addr(a->rl, http_req_peer(req), now, &rr) < 0)
		return false;
	return rate_refused(req, &rr);
}

static void reply_unauthorized(struct api *a, struct http_req *req, int rc, const char *reason,
			       int64_t now)
{
	if (rc == AUTH_EUNAVAILABLE) {
		char v[STR_I64_MAX];
		/* RFC 9110 §10.2.3: when the next JWKS fetch may start. */
		http_reply_header(req, "Retry-After",
				  str_from_i64(auth_retry_after_s(a->auth, now), v).p);
		http_reply_error(req, 503, "unavailable", "Service unavailable", NULL,
				 "credentials cannot be checked now");
		return;
	}
	http_reply_header(req, "WWW-Authenticate",
			  rc == AUTH_ENOCRED ? "Bearer" : "Bearer error=\"invalid_token\"");
	http_reply_error(req, 401, rc == AUTH_ENOCRED ? "unauthenticated" : "invalid_credential",
			 "Unauthorized", NULL, "%s", reason ? reason : auth_strerror(rc));
}

/* The next non-empty segment of *p, advancing *p past it. */
static struct str path_segment_next(const char **p)
{
	const char *s = *p;
	while (*s == '/')
		s++;
	const char *e = s;
	while (*e && *e != '/')
		e++;
	*p = e;
	return (struct str){s, (size_t)(e - s)};
}

bool api_path_under(const char *path, const char *prefix)
{
	for (;;) {
		struct str want = path_segment_next(&prefix);
		if (want.len == 0)
			return true;
		struct str got = path_segment_next(&path);
		if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0)
			return false;
	}
}

/* What the gateway guards: /api/v1 and the mounted upstreams, compared the
 * way the router compares ("//api/v1/x" is /api/v1/x), so that no spelling
 * of a path reaches a handler without passing here.  The OpenAPI document
 * is public. */
static bool path_guarded(const struct api *a, const char *path)
{
	if (api_path_under(path, API_PREFIX)) {
		const char *rest = path;
		for (int i = 0; i < 2; i++)
			path_segment_next(&rest);
		struct str doc = path_segment_next(&rest);
		return !(str_eq_cstr(doc, "openapi.json") && path_segment_next(&rest).len == 0);
	}
	return api_upstream_covers(a, path);
}

/* Reads need the read scope here, for every handler and mounted upstream
 * alike; writes are checked by the handlers (api_require_write), which
 * know which methods change something. */
static bool scope_allows(struct http_req *req, const struct auth_identity *who)
{
	enum http_method m = http_req_method(req);

	if ((m != HTTP_GET && m != HTTP_HEAD) || (who->scopes & AUTH_SCOPE_READ))
		return true;
	http_reply_error(req, 403, "forbidden", "Forbidden", NULL,
			 "this credential has no read scope");
	return false;
}

bool api_before(struct http_req *req, void *arg)
{
	struct api *a = arg;
	const char *path = http_req_path(req);
	int64_t now = time_wall_ms();
	const char *reason = NULL;
	struct ratelimit_result rr;

	if (!path_guarded(a, path))
		return false;
	struct api_principal *p = calloc(1, sizeof(*p));
	if (!p) {
		http_reply_error(req, 503, "unavailable", "Service unavailable", NULL,
				 "out of memory");
		return true;
	}
	p->api = a;
	const char *authz = http_req_header(req, "Authorization");
	int rc = authz ? auth_check_bearer(a->auth, authz, now, &p->who, &reason) : AUTH_ENOCRED;
	if (rc < 0) {
		free(p);
		if (rc != AUTH_ENOCRED)
			api_refusals_note(a->refusals, http_req_peer(req), auth_strerror(rc), now);
		if (!charge_address(a, req, now))
			reply_unauthorized(a, req, rc, reason, now);
		return true;
	}
	if (a->rl && ratelimit_take_identity(a->rl, &p->who, now, &rr) == 0 &&
	    rate_refused(req, &rr)) {
		free(p);
		return true;
	}
	if (!scope_allows(req, &p->who)) {
		free(p);
		return true;
	}
	http_req_set_user(req, p, free);
	return false;
}
