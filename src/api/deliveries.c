/*
 * deliveries.c — GET /api/v1/webhooks/{id}/deliveries: what the dispatcher
 * (webhook_dispatch.c) did with each event fanned out to one webhook — pending,
 * delivered or failed, after how many attempts, the last answer or error,
 * and when it is attempted next.  Both streams (decision 0026): the
 * provisioning events and the message events (message.status,
 * message.received), each in its seq order, oldest first (the order the
 * webhook receives it in), provisioning first; ?status= narrows to one
 * state, ?stream= to one stream.
 * A customer sees only its own webhooks' deliveries; another's webhook
 * answers 404 like a missing one.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"

/* The event of a delivery from the table of its stream (as the dispatcher
 * reads it); (stream, seq) is the order and the cursor, "config" sorting
 * before "message". */
#define DELIVERY_SQL                                                                               \
	"SELECT d.event_id, COALESCE(e.type, m.type, ''), d.seq, d.status, d.attempts,"            \
	" d.last_status, d.last_error, d.next_attempt_at, d.delivered_at, d.stream"                \
	" FROM webhook_deliveries d"                                                               \
	" LEFT JOIN events e ON d.stream = 'config' AND e.id = d.event_id"                         \
	" LEFT JOIN message_events m ON d.stream = 'message' AND m.id = d.event_id"                \
	" WHERE d.webhook_id = $1 AND (d.stream > $2 OR (d.stream = $2 AND d.seq > $3))"           \
	" AND (" API_SQL_UNSET("$4", "TEXT") " OR d.status = $4)"                                  \
					     " AND (" API_SQL_UNSET(                               \
						 "$5",                                             \
						 "TEXT") " OR d.stream = $5)"                      \
							 " ORDER BY d.stream, d.seq LIMIT $6"

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
	    "{s:s,s:s,s:s,s:I,s:s,s:I,s:o,s:o,s:o,s:o}", "event_id", store_res_text(r, row, 0),
	    "event_type", store_res_text(r, row, 1), "stream", store_res_text(r, row, 9), "seq",
	    (json_int_t)store_res_int(r, row, 2), "status", status, "attempts",
	    (json_int_t)store_res_int(r, row, 4), "last_status", int_or_null(r, row, 5),
	    "last_error",
	    store_res_isnull(r, row, 6) ? json_null() : json_string(store_res_text(r, row, 6)),
	    "next_attempt_at", pending ? int_or_null(r, row, 7) : json_null(), "delivered_at",
	    int_or_null(r, row, 8));
}

/* A query value that must be one of choices ("a|b|c") or absent; answers
 * 400 itself otherwise. */
static bool query_choice(struct api_ctx *ctx, const char *name, const char *choices,
			 const char *says, const char **out)
{
	*out = http_req_query(ctx->req, name);
	if (!*out || api_in_choices(choices, *out))
		return true;
	http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL, "%s", says);
	return false;
}

/* The cursor: "<stream>-<seq>" of the last delivery seen, or a bare seq
 * (the cursor of the provisioning stream before message deliveries were
 * listed).  The first page starts before "config"-0. */
static int delivery_cursor(struct api_ctx *ctx, const struct api_page *p, const char **stream,
			   int64_t *seq)
{
	const char *a = p->after, *dash = a ? strchr(a, '-') : NULL;
	*stream = "config";
	*seq = 0;
	if (!a)
		return 0;
	if (dash && (size_t)(dash - a) == 6 && strncmp(a, "config", 6) == 0)
		*stream = "config";
	else if (dash && (size_t)(dash - a) == 7 && strncmp(a, "message", 7) == 0)
		*stream = "message";
	else if (dash)
		goto bad;
	if (str_to_i64(str_from_cstr(dash ? dash + 1 : a), seq) == 0 && *seq >= 0)
		return 0;
bad:
	http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
			 "after must be a cursor from next_cursor");
	return -EINVAL;
}

static void delivery_page_reply(struct api_ctx *ctx, const struct api_page *p,
				const struct store_res *r)
{
	json_t *items = json_array(), *next = json_null();
	size_t n = store_res_rows(r);

	if ((int64_t)n > p->limit) {
		n = (size_t)p->limit;
		next = json_sprintf("%s-%lld", store_res_text(r, n - 1, 9),
				    (long long)store_res_int(r, n - 1, 2));
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, delivery_json(r, i));
	http_reply_json(ctx->req, 200, json_pack("{s:o,s:o}", "data", items, "next_cursor", next));
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	const char *id = http_req_param(req, "id"), *status = NULL, *stream = NULL, *after_stream;
	int64_t after = 0;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || api_page_parse(&ctx, &page) < 0 ||
	    delivery_cursor(&ctx, &page, &after_stream, &after) < 0 ||
	    !query_choice(&ctx, "status", "pending|delivered|failed",
			  "status must be pending, delivered or failed", &status) ||
	    !query_choice(&ctx, "stream", "config|message", "stream must be config or message",
			  &stream))
		return;
	if (!id || !api_row_visible(&ctx, "webhooks", "customer_id", id)) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no webhook %s",
				 id ? id : "");
		return;
	}
	struct store_param p[] = {store_p_text(id),	store_p_text(after_stream),
				  store_p_int(after),	store_p_text(status),
				  store_p_text(stream), store_p_int(page.limit + 1)};
	int rc = store_exec(ctx.conn, DELIVERY_SQL, p, 6, &r);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "delivery");
	else
		delivery_page_reply(&ctx, &page, r);
	store_res_free(r);
}

int api_deliveries_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_GET, "/api/v1/webhooks/{id}/deliveries", handle_list, NULL);
}
