/*
 * gateway.c — what every /api/v1 request passes before its handler:
 * the bearer credential is checked, the caller's token bucket charged, and
 * the RateLimit-* headers set (draft-ietf-httpapi-ratelimit-headers).
 *
 * Unauthenticated requests are charged to their source address first, so a
 * client guessing tokens is slowed down like any other anonymous caller.
 * Tokens never reach the log: a rejection is logged by its class only.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

#define API_PREFIX "/api/v1/"

static void rate_headers(struct http_req *req, const struct ratelimit_result *rr)
{
	char v[32];
	snprintf(v, sizeof(v), "%" PRId64, rr->limit);
	http_reply_header(req, "RateLimit-Limit", v);
	snprintf(v, sizeof(v), "%" PRId64, rr->remaining);
	http_reply_header(req, "RateLimit-Remaining", v);
	snprintf(v, sizeof(v), "%" PRId64, rr->reset_s);
	http_reply_header(req, "RateLimit-Reset", v);
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

static void reply_unauthorized(struct http_req *req, int rc, const char *reason)
{
	if (rc == AUTH_EUNAVAILABLE) {
		http_reply_error(req, 503, "unavailable", "Service unavailable", NULL,
				 "credentials cannot be checked now");
		return;
	}
	http_reply_header(req, "WWW-Authenticate",
			  rc == AUTH_ENOCRED ? "Bearer" : "Bearer error=\"invalid_token\"");
	http_reply_error(req, 401, rc == AUTH_ENOCRED ? "unauthenticated" : "invalid_credential",
			 "Unauthorized", NULL, "%s", reason ? reason : auth_strerror(rc));
}

bool api_before(struct http_req *req, void *arg)
{
	struct api *a = arg;
	const char *path = http_req_path(req);
	int64_t now = time_wall_ms();
	const char *reason = NULL;
	struct ratelimit_result rr;

	if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0 ||
	    strcmp(path, API_PREFIX "openapi.json") == 0)
		return false;
	struct api_principal *p = calloc(1, sizeof(*p));
	if (!p) {
		http_reply_error(req, 503, "unavailable", "Service unavailable", NULL, "out of memory");
		return true;
	}
	p->api = a;
	const char *authz = http_req_header(req, "Authorization");
	int rc = authz ? auth_check_bearer(a->auth, authz, now, &p->who, &reason) : AUTH_ENOCRED;
	if (rc < 0) {
		free(p);
		if (rc != AUTH_ENOCRED)
			log_warn("api", "credential refused: %s", auth_strerror(rc));
		if (!charge_address(a, req, now))
			reply_unauthorized(req, rc, reason);
		return true;
	}
	if (a->rl && ratelimit_take_identity(a->rl, &p->who, now, &rr) == 0 && rate_refused(req, &rr)) {
		free(p);
		return true;
	}
	http_req_set_user(req, p, free);
	return false;
}
