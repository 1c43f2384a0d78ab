/*
 * export_state.c — GET /api/v1/export and GET /api/v1/export/quarantine
 * (admins only): the BigQuery export's state as the billing role keeps it
 * in the store (src/export/, migration 0023): per stream its cursor, rows
 * exported and quarantined, failures, last success and last error; and the
 * rows BigQuery refused, with its reason and the JSON that was sent.
 * Read from the tables, so any api process shows what every billing
 * process did.  Rows behind are in /metrics (warp_export_rows_behind) of
 * the process that exports.
 */
#include <string.h>

#include "api/api_private.h"

static json_t *opt_int(const struct store_res *r, size_t row, size_t col)
{
	return store_res_isnull(r, row, col) ? json_null()
					     : json_integer(store_res_int(r, row, col));
}

static json_t *opt_text(const struct store_res *r, size_t row, size_t col)
{
	return store_res_isnull(r, row, col) ? json_null()
					     : json_string(store_res_text(r, row, col));
}

static json_t *stream_json(const struct store_res *r, size_t i)
{
	const char *stream = store_res_text(r, i, 0), *colon = strchr(stream, ':');
	json_t *o = json_pack(
	    "{s:s,s:s%,s:s,s:{s:I,s:s},s:I,s:I,s:I}", "stream", stream, "mode", stream,
	    colon ? (size_t)(colon - stream) : strlen(stream), "table", colon ? colon + 1 : "",
	    "cursor", "ts", (json_int_t)store_res_int(r, i, 1), "id", store_res_text(r, i, 2),
	    "rows_exported", (json_int_t)store_res_int(r, i, 3), "rows_quarantined",
	    (json_int_t)store_res_int(r, i, 4), "failures", (json_int_t)store_res_int(r, i, 5));

	json_object_set_new(o, "last_success_at", opt_int(r, i, 6));
	json_object_set_new(o, "last_error", opt_text(r, i, 7));
	json_object_set_new(o, "last_error_at", opt_int(r, i, 8));
	return o;
}

static void handle_state(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct store_res *r = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx))
		return;
	int rc = store_exec(ctx.conn,
			    "SELECT stream, ts, id, rows_exported, rows_quarantined, failures, "
			    "last_success_at, last_error, last_error_at FROM export_cursors "
			    "ORDER BY stream",
			    NULL, 0, &r);
	if (rc < 0) {
		api_reply_store_error(&ctx, rc, "export");
	} else {
		json_t *items = json_array();
		for (size_t i = 0; i < store_res_rows(r); i++)
			json_array_append_new(items, stream_json(r, i));
		http_reply_json(req, 200, json_pack("{s:o}", "data", items));
	}
	store_res_free(r);
}

static json_t *quarantine_json(const struct store_res *r, size_t i)
{
	json_t *row = json_loads(store_res_text(r, i, 5), 0, NULL);

	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I}", "id", store_res_text(r, i, 0), "stream",
			 store_res_text(r, i, 1), "table", store_res_text(r, i, 2), "record_id",
			 store_res_text(r, i, 3), "reason", store_res_text(r, i, 4), "row",
			 row ? row : json_string(store_res_text(r, i, 5)), "created_at",
			 (json_int_t)store_res_int(r, i, 6));
}

static void handle_quarantine(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) ||
	    api_page_parse(&ctx, &page) < 0)
		return;
	struct store_param p[2] = {store_p_text(page.after), store_p_int(page.limit + 1)};
	int rc = store_exec(
	    ctx.conn,
	    "SELECT id, stream, table_name, record_id, reason, row_json, created_at "
	    "FROM export_quarantine WHERE " API_SQL_UNSET("$1", "TEXT") " OR id > $1 "
									"ORDER BY id LIMIT $2",
	    p, 2, &r);
	api_page_reply_rows(&ctx, &page, rc, r, quarantine_json, "export quarantine", "id");
	store_res_free(r);
}

int api_export_routes(struct http_router *r)
{
	int rc = http_router_add(r, HTTP_GET, "/api/v1/export", handle_state, NULL);

	return rc ? rc
		  : http_router_add(r, HTTP_GET, "/api/v1/export/quarantine", handle_quarantine,
				    NULL);
}
