/*
 * page.c — cursor pagination for list endpoints: `limit` (1..500, default
 * 50) and `after`, an opaque cursor taken from the previous page's
 * `next_cursor` (today the last row's key; clients must not rely on that).
 */
#include <ctype.h>
#include <string.h>

#include "api/api_private.h"

#define CURSOR_MAX 64

static bool cursor_valid(const char *c)
{
	size_t n = strlen(c);
	if (n == 0 || n > CURSOR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)c[i]) && c[i] != '_' && c[i] != '-')
			return false;
	return true;
}

int api_page_parse(struct api_ctx *ctx, struct api_page *p)
{
	const char *limit = http_req_query(ctx->req, "limit");
	int64_t n = API_PAGE_DEFAULT;

	if (limit && (str_to_i64(str_from_cstr(limit), &n) < 0 || n < 1 || n > API_PAGE_MAX)) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "limit must be an integer from 1 to %d", API_PAGE_MAX);
		return -1;
	}
	p->limit = n;
	p->after = http_req_query(ctx->req, "after");
	if (p->after && !cursor_valid(p->after)) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "after must be a cursor from next_cursor");
		return -1;
	}
	return 0;
}

int api_page_after_seq(struct api_ctx *ctx, const struct api_page *p, int64_t *after)
{
	*after = 0;
	if (p->after && (str_to_i64(str_from_cstr(p->after), after) < 0 || *after < 0)) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "after must be a cursor from next_cursor");
		return -1;
	}
	return 0;
}

void api_page_reply(struct api_ctx *ctx, const struct api_page *p, json_t *items,
		    const char *key_name)
{
	json_t *next = json_null();
	if ((int64_t)json_array_size(items) > p->limit) {
		json_array_remove(items, json_array_size(items) - 1);
		json_t *last = json_array_get(items, json_array_size(items) - 1);
		json_t *key = json_object_get(last, key_name);
		next = json_is_integer(key) ? json_sprintf("%lld", (long long)json_integer_value(key))
					    : json_copy(key);
	}
	http_reply_json(ctx->req, 200, json_pack("{s:o,s:o}", "data", items, "next_cursor", next));
}

void api_page_reply_rows(struct api_ctx *ctx, const struct api_page *p, int rc,
			 const struct store_res *r, api_page_render_fn render, const char *what,
			 const char *key_name)
{
	if (rc < 0) {
		api_reply_store_error(ctx, rc, what);
		return;
	}
	json_t *items = json_array();
	for (size_t i = 0; i < store_res_rows(r); i++)
		json_array_append_new(items, render(r, i));
	api_page_reply(ctx, p, items, key_name);
}
