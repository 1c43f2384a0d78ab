/*
 * deliveries.c — GET /api/v1/webhooks/{id}/deliveries: what the dispatcher
 * (dispatch.c) did with each event fanned out to one webhook — pending,
 * delivered or failed, after how many attempts, the last answer or error,
 * and when it is attempted next.  Paged by the event's seq, oldest first
 * (the order the webhook receives them in); ?status= narrows to one state.
 * A customer sees only its own webhooks' deliveries; another's webhook
 * answers 404 like a missing one.
 */
#include <string.h>

#include "api/api_private.h"

#define DELIVERY_SQL                                                                               \
	"SELECT d.event_id, e.type, e.seq, d.status, d.attempts, d.last_status, d.last_error,"     \
	" d.next_attempt_at, d.delivered_at"                                                       \
	" FROM webhook_deliveries d JOIN events e ON e.id = d.event_id"                            \
	" WHERE d.webhook_id = $1 AND e.seq > $2"                                                  \
	" AND (" API_SQL_UNSET("$3", "TEXT") " OR d.status = $3)"                                  \
					     " ORDER BY e.seq LIMIT $4"

static json_t *int_or_null(const struct store_res *r, size_t row, size_t col)
{
	return store_res_isnull(r, row, col) ? json_null()
					     : json_integer(store_res_int(r, row, col));
}

/* next_attempt_at means something only while the delivery is pending. */
static json_t *delivery_json(const struct store_res *r, size_t row)
{
	const char *status = store_res_text(r, row, 3);
	bool pending = strcmp(status, "pending") == 0;
	return json_pack(
	    "{s:s,s:s,s:I,s:s,s:I,s:o,s:o,s:o,s:o}", "event_id", store_res_text(r, row, 0),
	    "event_type", store_res_text(r, row, 1), "seq", (json_int_t)store_res_int(r, row, 2),
	    "status", status, "attempts", (json_int_t)store_res_int(r, row, 4), "last_status",
	    int_or_null(r, row, 5), "last_error",
	    store_res_isnull(r, row, 6) ? json_null() : json_string(store_res_text(r, row, 6)),
	    "next_attempt_at", pending ? int_or_null(r, row, 7) : json_null(), "delivered_at",
	    int_or_null(r, row, 8));
}

/* The status filter: absent, or one of the three states (400 otherwise). */
static bool status_filter(struct api_ctx *ctx, const char **out)
{
	const char *s = http_req_query(ctx->req, "status");
	*out = s;
	if (!s || strcmp(s, "pending") == 0 || strcmp(s, "delivered") == 0 ||
	    strcmp(s, "failed") == 0)
		return true;
	http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
			 "status must be pending, delivered or failed");
	return false;
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	const char *id = http_req_param(req, "id"), *status = NULL;
	int64_t after = 0;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || api_page_parse(&ctx, &page) < 0 ||
	    api_page_after_seq(&ctx, &page, &after) < 0 || !status_filter(&ctx, &status))
		return;
	if (!id || !api_row_visible(&ctx, "webhooks", "customer_id", id)) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no webhook %s",
				 id ? id : "");
		return;
	}
	struct store_param p[] = {store_p_text(id), store_p_int(after), store_p_text(status),
				  store_p_int(page.limit + 1)};
	int rc = store_exec(ctx.conn, DELIVERY_SQL, p, 4, &r);
	api_page_reply_rows(&ctx, &page, rc, r, delivery_json, "delivery", "seq");
	store_res_free(r);
}

int api_deliveries_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_GET, "/api/v1/webhooks/{id}/deliveries", handle_list, NULL);
}
