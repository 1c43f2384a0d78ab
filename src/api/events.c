/*
 * events.c — the outbox.  Every create, update and delete writes one event
 * row in the transaction that makes the change; the webhook dispatcher
 * delivers them, and GET /api/v1/events shows them, in seq order.
 *
 * seq is the config version the change produced: store_config_version_bump
 * runs in the same transaction, so seq is unique, increases with commit
 * order per row lock, and needs no sequence type (which SQLite and
 * PostgreSQL spell differently).  Message events are not written here but
 * by the smsc (src/smsc/final.c) into message_events, without the config
 * version; they are listed and shown here too (decision 0026).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

int api_event_emit(struct api_ctx *ctx, const char *customer_id, const char *type,
		   const char *resource_id, const json_t *data)
{
	char id[ID_MAX];
	int64_t seq = 0;
	int rc = store_config_version_bump(ctx->conn);
	rc = rc ? rc : store_config_version_get(ctx->conn, &seq);
	rc = rc ? rc : id_new("evt", id, sizeof(id));
	if (rc < 0)
		return rc;
	char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return -ENOMEM;
	struct store_param p[] = {
		store_p_text(id),	   store_p_int(seq),  store_p_text(customer_id),
		store_p_text(type),	   store_p_text(resource_id), store_p_text(text),
		store_p_int(time_wall_ms()),
	};
	rc = store_exec(ctx->conn,
			"INSERT INTO events (id, seq, customer_id, type, resource_id, data, created_at) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7)",
			p, 7, NULL);
	free(text);
	return rc;
}

static json_t *event_json(const struct store_res *r, size_t row)
{
	json_t *data = json_loads(store_res_text(r, row, 5), JSON_DECODE_ANY, NULL);
	return json_pack("{s:s,s:I,s:o,s:s,s:s,s:o,s:I}", "id", store_res_text(r, row, 0), "seq",
			 (json_int_t)store_res_int(r, row, 1), "customer_id",
			 store_res_isnull(r, row, 2) ? json_null()
						     : json_string(store_res_text(r, row, 2)),
			 "type", store_res_text(r, row, 3), "resource_id", store_res_text(r, row, 4),
			 "data", data ? data : json_null(), "created_at",
			 (json_int_t)store_res_int(r, row, 6));
}

/* An optional text parameter tested for NULL: PostgreSQL types parameters
 * from their first use, and "$2 IS NULL" alone gives it none ("could not
 * determine data type of parameter"), so the type is spelt out. */

#define EVENT_COLUMNS "SELECT id, seq, customer_id, type, resource_id, data, created_at FROM events"
/* message.status events (message_events, written by the smsc) are their own
 * stream with their own seq, given when the dispatcher fans them out: they
 * are listed with ?type=message.status, paged by that seq. */
#define MESSAGE_EVENT_COLUMNS                                                                      \
	"SELECT id, seq, customer_id, type, group_id, data, created_at FROM message_events"
#define LIST_CUSTOMER_UNSET API_SQL_UNSET("$2", "TEXT")
#define LIST_TYPE_UNSET API_SQL_UNSET("$3", "TEXT")
#define LIST_WHERE                                                                                 \
	" seq > $1 AND (" LIST_CUSTOMER_UNSET " OR customer_id = $2) AND (" LIST_TYPE_UNSET        \
	" OR type = $3) ORDER BY seq LIMIT $4"

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	int64_t after = 0;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || api_page_parse(&ctx, &page) < 0 ||
	    api_page_after_seq(&ctx, &page, &after) < 0)
		return;
	const char *cust =
	    api_is_admin(&ctx) ? http_req_query(req, "customer_id") : ctx.who->customer_id;
	const char *type = http_req_query(req, "type");
	/* balance.low is written by the ledger into the same stream. */
	bool messages =
	    type && (strncmp(type, "message.", 8) == 0 || strncmp(type, "balance.", 8) == 0);
	struct store_param p[] = {store_p_int(after), store_p_text(cust), store_p_text(type),
				  store_p_int(page.limit + 1)};
	int rc = store_exec(ctx.conn,
			    messages ? MESSAGE_EVENT_COLUMNS " WHERE seq IS NOT NULL AND" LIST_WHERE
				     : EVENT_COLUMNS " WHERE" LIST_WHERE,
			    p, 4, &r);
	api_page_reply_rows(&ctx, &page, rc, r, event_json, "event", "seq");
	store_res_free(r);
}

static json_t *event_render(const struct store_res *r, size_t row, void *arg)
{
	(void)arg;
	return event_json(r, row);
}

static void handle_get(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	(void)arg;

	if (api_ctx_init(&ctx, req) == 0)
		api_reply_owned_row(&ctx,
				    "SELECT * FROM (" EVENT_COLUMNS
				    " UNION ALL " MESSAGE_EVENT_COLUMNS " WHERE seq IS NOT NULL) o",
				    "event", event_render, NULL);
}

int api_events_routes(struct http_router *r)
{
	int rc = http_router_add(r, HTTP_GET, "/api/v1/events", handle_list, NULL);
	return rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/events/{id}", handle_get, NULL);
}
