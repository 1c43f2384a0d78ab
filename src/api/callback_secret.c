/*
 * callback_secret.c — /api/v1/customers/{id}/callback-secret: the key the
 * webhook dispatcher signs a customer's callback deliveries with (the
 * message.status events POSTed to the callback_url of a message sent over
 * HTTP; decision 0032).
 *
 * A webhook carries its own secret; a callback URL comes with each message,
 * so the key is the customer's, one per customer.  POST sets or replaces it
 * (rotation: deliveries attempted from then on are signed with the new
 * one), DELETE removes it (callbacks then fail their attempts until one is
 * set again), GET says whether one is set and since when.  Like a webhook's
 * secret it is write-only: no answer ever shows it.  A customer's
 * credential reaches its own customer only (another answers 404); admins
 * reach every customer.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"

/* As a webhook's secret (webhooks.c). */
#define SECRET_MIN 16
#define SECRET_MAX 256

#define VIEW_SQL                                                                                   \
	"SELECT c.id, s.created_at, s.updated_at FROM customers c"                                 \
	" LEFT JOIN callback_secrets s ON s.customer_id = c.id WHERE c.id = $1"

/* The customer named by the path, when the caller may reach it; answers
 * 404 itself otherwise. */
static const char *secret_customer(struct api_ctx *ctx)
{
	const char *id = http_req_param(ctx->req, "id");
	if (id && api_row_visible(ctx, "customers", "id", id))
		return id;
	http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no customer %s",
			 id ? id : "");
	return NULL;
}

/* {"customer_id", "set", "created_at", "updated_at"}: never the secret;
 * NULL on a store failure (*rc < 0). */
static json_t *secret_view(struct api_ctx *ctx, const char *id, int *rc)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(id)};
	json_t *o = NULL;

	*rc = store_exec(ctx->conn, VIEW_SQL, p, 1, &r);
	if (*rc == 0 && store_res_rows(r) != 1)
		*rc = -ENOENT;
	if (*rc == 0) {
		bool set = !store_res_isnull(r, 0, 1);
		o = json_pack("{s:s,s:b,s:o,s:o}", "customer_id", id, "set", set, "created_at",
			      set ? json_integer(store_res_int(r, 0, 1)) : json_null(),
			      "updated_at",
			      set ? json_integer(store_res_int(r, 0, 2)) : json_null());
	}
	store_res_free(r);
	return o;
}

static void secret_reply(struct api_ctx *ctx, const char *id)
{
	int rc;
	json_t *o = secret_view(ctx, id, &rc);
	if (o)
		http_reply_data(ctx->req, 200, o);
	else
		api_reply_store_error(ctx, rc, "callback secret");
}

/* Stores the secret and, for an Idempotency-Key, the answer, in one
 * transaction; the answer's data, or NULL (*rc < 0). */
static json_t *secret_store(struct api_ctx *ctx, const char *id, const char *secret, int *rc)
{
	struct store_param p[] = {store_p_text(id), store_p_text(secret),
				  store_p_int(time_wall_ms())};
	json_t *o = NULL, *body = NULL;

	*rc = store_tx_begin(ctx->conn);
	if (*rc < 0)
		return NULL;
	*rc =
	    store_exec(ctx->conn,
		       "INSERT INTO callback_secrets (customer_id, secret, created_at, updated_at)"
		       " VALUES ($1, $2, $3, $3) ON CONFLICT (customer_id) DO UPDATE SET"
		       " secret = excluded.secret, updated_at = excluded.updated_at",
		       p, 3, NULL);
	o = *rc ? NULL : secret_view(ctx, id, rc);
	if (o && !(body = json_pack("{s:O}", "data", o)))
		*rc = -ENOMEM;
	*rc = *rc ? *rc : api_idempotency_record(ctx, 200, body);
	*rc = *rc ? *rc : store_tx_commit(ctx->conn);
	json_decref(body);
	if (*rc == 0)
		return o;
	store_tx_rollback(ctx->conn);
	json_decref(o);
	return NULL;
}

/* The body {"secret": "..."}: 0, or e filled. */
static int secret_body(const json_t *body, const char **out, struct api_verr *e)
{
	const json_t *v = json_object_get(body, "secret");
	int rc = api_check_members(body, "", "secret", e);

	if (rc < 0)
		return rc;
	if (!v)
		return api_verr_set(e, 422, "required", "/secret", "'secret' is required");
	if (!json_is_string(v) || json_string_length(v) < SECRET_MIN ||
	    json_string_length(v) > SECRET_MAX)
		return api_verr_set(e, 422, "invalid_value", "/secret",
				    "'secret' is a string of %d to %d characters", SECRET_MIN,
				    SECRET_MAX);
	*out = json_string_value(v);
	return 0;
}

static void handle_set(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e;
	const char *id, *secret = NULL;
	json_t *body = NULL, *o;
	int rc;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) ||
	    !(id = secret_customer(&ctx)) || api_idempotency_replay(&ctx) ||
	    !(body = http_req_json(req)))
		return;
	if (secret_body(body, &secret, &e) < 0)
		api_reply_verr(&ctx, &e);
	else if ((o = secret_store(&ctx, id, secret, &rc)))
		http_reply_data(req, 200, o);
	else
		api_reply_store_error(&ctx, rc, "callback secret");
	json_decref(body);
}

static void handle_get(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	const char *id;
	(void)arg;

	if (api_ctx_init(&ctx, req) == 0 && (id = secret_customer(&ctx)))
		secret_reply(&ctx, id);
}

static void handle_delete(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	const char *id;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) ||
	    !(id = secret_customer(&ctx)))
		return;
	struct store_param p[] = {store_p_text(id)};
	int rc =
	    store_exec(ctx.conn, "DELETE FROM callback_secrets WHERE customer_id = $1", p, 1, NULL);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "callback secret");
	else
		http_reply_json(req, 204, NULL);
}

int api_callback_secret_routes(struct http_router *r)
{
	static const char path[] = "/api/v1/customers/{id}/callback-secret";
	int rc = http_router_add(r, HTTP_POST, path, handle_set, NULL);
	rc = rc ? rc : http_router_add(r, HTTP_GET, path, handle_get, NULL);
	return rc ? rc : http_router_add(r, HTTP_DELETE, path, handle_delete, NULL);
}
