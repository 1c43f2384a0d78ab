/*
 * context.c — the per-request context of API handlers and the answers they
 * share: authorization refusals, validation errors and store failures.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "api/api_private.h"

int api_ctx_init(struct api_ctx *ctx, struct http_req *req)
{
	struct api_principal *p = http_req_user(req);

	memset(ctx, 0, sizeof(*ctx));
	ctx->req = req;
	if (!p) { /* the gateway did not run: a routing mistake, never a client's */
		http_reply_error(req, 401, "unauthenticated", "Unauthorized", NULL,
				 "no credential");
		return -1;
	}
	ctx->api = p->api;
	ctx->who = &p->who;
	ctx->conn = store_conn(p->api->store);
	if (!ctx->conn) {
		http_reply_error(req, 503, "store_unavailable", "Service unavailable", NULL,
				 "the store cannot be reached; retry later");
		return -1;
	}
	return 0;
}

bool api_is_admin(const struct api_ctx *ctx)
{
	return ctx->who->role == AUTH_ROLE_ADMIN;
}

bool api_require_admin(struct api_ctx *ctx)
{
	if (api_is_admin(ctx))
		return true;
	http_reply_error(ctx->req, 403, "forbidden", "Forbidden", NULL,
			 "this resource is for platform administrators");
	return false;
}

bool api_require_write(struct api_ctx *ctx)
{
	if (ctx->who->scopes & AUTH_SCOPE_WRITE)
		return true;
	http_reply_error(ctx->req, 403, "forbidden", "Forbidden", NULL,
			 "this credential may only read");
	return false;
}

int api_verr_set(struct api_verr *e, int status, const char *code, const char *pointer,
		 const char *fmt, ...)
{
	va_list ap;
	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", code);
	snprintf(e->pointer, sizeof(e->pointer), "%s", pointer ? pointer : "");
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void api_reply_verr(struct api_ctx *ctx, const struct api_verr *e)
{
	static const struct {
		int status;
		const char *title;
	} titles[] = {
		{ 400, "Bad request" }, { 403, "Forbidden" }, { 404, "Not found" }, { 409, "Conflict" },
		{ 422, "Invalid field" },
	};
	const char *title = "Invalid request";
	for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
		if (titles[i].status == e->status)
			title = titles[i].title;
	http_reply_error(ctx->req, e->status ? e->status : 422, e->code, title,
			 e->pointer[0] ? e->pointer : NULL, "%s", e->detail);
}

void api_reply_store_error(struct api_ctx *ctx, int rc, const char *what)
{
	switch (rc) {
	case STORE_ECONFLICT:
		http_reply_error(ctx->req, 409, "conflict", "Conflict", NULL,
				 "a %s with these values already exists", what);
		break;
	case STORE_ECONSTRAINT:
		http_reply_error(ctx->req, 409, "conflict", "Conflict", NULL,
				 "the %s is still referenced or refers to something missing", what);
		break;
	case -EALREADY: /* api_idempotency_record: a concurrent twin committed first */
		http_reply_error(ctx->req, 409, "idempotency_key_in_use", "Conflict", NULL,
				 "a request with this Idempotency-Key was completed meanwhile; "
				 "retry to get its response");
		break;
	case STORE_EDOWN:
	case STORE_EBUSY:
		http_reply_error(ctx->req, 503, "store_unavailable", "Service unavailable", NULL,
				 "the store cannot be reached; retry later");
		break;
	default:
		log_error("api", "%s: %s: %s", what, store_strerror(rc), store_conn_errmsg(ctx->conn));
		http_reply_error(ctx->req, 500, "internal", "Internal error", NULL,
				 "the %s could not be written", what);
	}
}
