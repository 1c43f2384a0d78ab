/*
 * sip_bans.c — the sources the sip role ignores for flooding or scanning,
 * as every sip node wrote them (table sip_bans, src/sip/ban_log.c):
 *
 *   GET /api/v1/sip/bans   admins: bans in force, by address and node
 *
 * A ban is a node's: each sip process bans on what it sees, so one address
 * may be listed by several nodes.  Only bans still in force are listed;
 * the rows of ended ones are pruned by the nodes.
 */
#include "api/api_private.h"

/* id "<address>/<node>": the row's key and the page cursor */
#define BAN_ID "(address || '/' || node)"

static json_t *ban_json(const struct store_res *r, size_t row)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", store_res_text(r, row, 0), "address",
			 store_res_text(r, row, 1), "node", store_res_text(r, row, 2),
			 "banned_until", (json_int_t)store_res_int(r, row, 3), "banned_at",
			 (json_int_t)store_res_int(r, row, 4));
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) ||
	    api_page_parse(&ctx, &page) < 0)
		return;
	struct store_param p[] = {store_p_int(time_wall_ms()),
				  store_p_text(page.after ? page.after : ""),
				  store_p_int(page.limit + 1)};
	int rc =
	    store_exec(ctx.conn,
		       "SELECT " BAN_ID ", address, node, banned_until, created_at FROM sip_bans "
		       "WHERE banned_until > $1 AND " BAN_ID " > $2 ORDER BY " BAN_ID " LIMIT $3",
		       p, 3, &r);
	api_page_reply_rows(&ctx, &page, rc, r, ban_json, "ban", "id");
	store_res_free(r);
}

int api_sip_bans_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_GET, "/api/v1/sip/bans", handle_list, NULL);
}
