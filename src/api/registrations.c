/*
 * registrations.c — a trunk's registered contacts (the sip role's
 * registrar, src/sip/reg_store.c; migration 0021):
 *
 *   GET /api/v1/trunks/{id}/registrations   the live bindings, by id
 *
 * An admin reads any trunk's, a customer its own trunks' (another's is 404,
 * as for the trunk itself).  A binding is live until expires_at plus half
 * its granted time (a refresh that changes nothing is written only when
 * less than half is left: see the migration); expires_at is what the
 * store holds, expires_in the seconds the UA was last granted from then.
 */
#include <string.h>

#include "api/api_private.h"

static json_t *registration_json(const struct store_res *r, size_t row)
{
	json_t *o = json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "id", store_res_text(r, row, 0),
	    "trunk_id", store_res_text(r, row, 1), "aor", store_res_text(r, row, 2), "contact",
	    store_res_text(r, row, 3), "received", store_res_text(r, row, 6), "transport",
	    store_res_text(r, row, 7), "q_milli", (json_int_t)store_res_int(r, row, 8), "expires_s",
	    (json_int_t)store_res_int(r, row, 9), "expires_at",
	    (json_int_t)store_res_int(r, row, 10), "created_at",
	    (json_int_t)store_res_int(r, row, 11), "updated_at",
	    (json_int_t)store_res_int(r, row, 12));
	const char *inst = store_res_text(r, row, 4);

	json_object_set_new(o, "instance", inst[0] ? json_string(inst) : json_null());
	json_object_set_new(o, "reg_id",
			    inst[0] ? json_integer(store_res_int(r, row, 5)) : json_null());
	return o;
}

/* The trunk of the path when the caller may see it; 404 answered if not. */
static const char *trunk_visible(struct api_ctx *ctx)
{
	const char *id = http_req_param(ctx->req, "id");
	struct store_param p[] = {store_p_text(id), store_p_text(ctx->who->customer_id)};
	struct store_res *r = NULL;
	int rc =
	    id ? store_exec(ctx->conn, "SELECT customer_id FROM trunks WHERE id = $1", p, 1, &r)
	       : -1;
	bool ok =
	    rc == 0 && store_res_rows(r) == 1 &&
	    (api_is_admin(ctx) || strcmp(store_res_text(r, 0, 0), ctx->who->customer_id) == 0);

	store_res_free(r);
	if (ok)
		return id;
	http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no trunk %s",
			 id ? id : "");
	return NULL;
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	const char *trunk;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !(trunk = trunk_visible(&ctx)) ||
	    api_page_parse(&ctx, &page) < 0)
		return;
	struct store_param p[] = {store_p_text(trunk), store_p_int(time_wall_ms()),
				  store_p_text(page.after ? page.after : ""),
				  store_p_int(page.limit + 1)};
	int rc =
	    store_exec(ctx.conn,
		       "SELECT id, trunk_id, aor, contact, instance, reg_id, received, "
		       "transport, q, expires_s, expires_at, created_at, updated_at FROM "
		       "registrations WHERE trunk_id = $1 AND expires_at + expires_s * 500 > $2 "
		       "AND id > $3 ORDER BY id LIMIT $4",
		       p, 4, &r);
	api_page_reply_rows(&ctx, &page, rc, r, registration_json, "registration", "id");
	store_res_free(r);
}

int api_registrations_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_GET, "/api/v1/trunks/{id}/registrations", handle_list, NULL);
}
