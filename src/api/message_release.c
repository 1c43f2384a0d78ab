/*
 * message_release.c — POST /api/v1/messages/{id}/release: an admin lets a
 * message a content rule held for review (action 'hold', decision 0050)
 * go on.  Its waiting parts are made due now and marked 'released', which
 * the smsc's dispatcher reads before it would hold them again; a message
 * not held for review answers 409, an unknown one 404.  The body is {}.
 */
#include <string.h>

#include "api/api_private.h"

#define RELEASE_SQL                                                                                \
	"UPDATE messages SET hold_reason = 'released', next_attempt_at = $2, updated_at = $2 "     \
	"WHERE group_id = $1 AND state = 'queued' AND hold_reason LIKE 'review:%'"

static bool message_exists(struct api_ctx *ctx, const char *id)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_res *r = NULL;
	bool found = store_exec(ctx->conn, "SELECT 1 FROM messages WHERE group_id = $1 LIMIT 1", p,
				1, &r) == 0 &&
		     store_res_rows(r) > 0;

	store_res_free(r);
	return found;
}

/* The UPDATE and the Idempotency-Key's record in one transaction; the
 * parts released, or a store error. */
static int64_t release_write(struct api_ctx *ctx, const char *id)
{
	struct store_param p[] = {store_p_text(id), store_p_int(time_wall_ms())};
	struct store_res *r = NULL;
	int rc = store_tx_begin(ctx->conn);

	rc = rc ? rc : store_exec(ctx->conn, RELEASE_SQL, p, 2, &r);
	int64_t n = rc == 0 ? store_res_changes(r) : 0;
	json_t *body = json_pack("{s:{s:s,s:I}}", "data", "id", id, "released", (json_int_t)n);
	rc = rc || n == 0 ? rc : api_idempotency_record(ctx, 200, body);
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0)
		store_tx_rollback(ctx->conn);
	store_res_free(r);
	json_decref(body);
	return rc < 0 ? rc : n;
}

static void handle_release(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e;
	const char *id = http_req_param(req, "id");
	json_t *body = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) ||
	    api_idempotency_replay(&ctx) || !(body = http_req_json(req)))
		return;
	int rc = api_check_members(body, "", "", &e); /* the body is {} */
	json_decref(body);
	int64_t n = 0;
	if (!message_exists(&ctx, id))
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no message %s", id);
	else if (rc < 0)
		api_reply_verr(&ctx, &e);
	else if ((n = release_write(&ctx, id)) < 0)
		api_reply_store_error(&ctx, (int)n, "message");
	else if (n > 0)
		http_reply_data(req, 200,
				json_pack("{s:s,s:I}", "id", id, "released", (json_int_t)n));
	else
		http_reply_error(req, 409, "not_held", "Conflict", NULL,
				 "message %s is not held for review", id);
}

int api_message_release_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_POST, "/api/v1/messages/{id}/release", handle_release, NULL);
}
