/*
 * deck_versions.c — a rate deck's versions (decision 0034):
 *   GET  /api/v1/rate-decks/{id}/versions                    list, by number
 *   POST /api/v1/rate-decks/{id}/versions                    import (deck_import.c)
 *   GET  /api/v1/rate-decks/{id}/versions/{number}           one
 *   GET  /api/v1/rate-decks/{id}/versions/{number}/preview   against the one in force
 * (deck_preview.c) POST /api/v1/rate-decks/{id}/versions/{number}/activate  {activate_at} GET
 * /api/v1/rate-decks/{id}/versions/{number}/rows      by prefix, cursor-paged Admins only, as the
 * decks themselves.
 *
 * A version's state is not stored: it follows from activate_at and the
 * clock.  No activate_at is a draft; one still ahead is scheduled; of those
 * reached, the latest (the higher number on a tie) is active and the
 * others superseded.  So a version scheduled for midnight is in force at
 * midnight in every process without anything having to run then, and an
 * older version scheduled again is how a deck is rolled back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"
#include "api/message.h"
#include "billing/billing.h"

#define VERSION_COLUMNS                                                                            \
	"SELECT id, deck_id, number, activate_at, row_count, voice_rows, sms_rows, created_at, "   \
	"updated_at FROM rate_deck_versions"

#define ROW_COLUMNS                                                                                \
	"SELECT prefix, service, destination, zone, rate, connection_fee, initial_s, "             \
	"increment_s, "                                                                            \
	"min_duration_s, effective_from, effective_to, line, seq FROM rate_deck_rows"

int api_deck_active_number(struct api_ctx *ctx, const char *deck, int64_t now, int64_t *number)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(deck), store_p_int(now)};
	int rc = store_exec(ctx->conn,
			    "SELECT number FROM rate_deck_versions WHERE deck_id = $1 AND "
			    "activate_at IS NOT NULL AND activate_at <= $2 "
			    "ORDER BY activate_at DESC, number DESC LIMIT 1",
			    p, 2, &r);

	*number = rc == 0 && store_res_rows(r) ? store_res_int(r, 0, 0) : 0;
	store_res_free(r);
	return rc;
}

static const char *version_state(const struct store_res *r, size_t row, int64_t active, int64_t now)
{
	if (store_res_isnull(r, row, 3))
		return "draft";
	if (store_res_int(r, row, 3) > now)
		return "scheduled";
	return store_res_int(r, row, 2) == active ? "active" : "superseded";
}

static json_t *version_json(const struct store_res *r, size_t row, int64_t active, int64_t now)
{
	json_t *at =
	    store_res_isnull(r, row, 3) ? json_null() : json_integer(store_res_int(r, row, 3));

	return json_pack(
	    "{s:s,s:s,s:I,s:s,s:o,s:I,s:I,s:I,s:I,s:I}", "id", store_res_text(r, row, 0), "deck_id",
	    store_res_text(r, row, 1), "number", (json_int_t)store_res_int(r, row, 2), "state",
	    version_state(r, row, active, now), "activate_at", at, "row_count",
	    (json_int_t)store_res_int(r, row, 4), "voice_rows",
	    (json_int_t)store_res_int(r, row, 5), "sms_rows", (json_int_t)store_res_int(r, row, 6),
	    "created_at", (json_int_t)store_res_int(r, row, 7), "updated_at",
	    (json_int_t)store_res_int(r, row, 8));
}

/* The version row of r as JSON, its state as of now. */
static json_t *version_render(struct api_ctx *ctx, const struct store_res *r, size_t row)
{
	int64_t now = time_wall_ms(), active = 0;

	if (api_deck_active_number(ctx, store_res_text(r, row, 1), now, &active) < 0)
		return NULL;
	return version_json(r, row, active, now);
}

json_t *api_deck_version_load(struct api_ctx *ctx, const char *id)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	json_t *v = NULL;

	if (store_exec(ctx->conn, VERSION_COLUMNS " WHERE id = $1", &p, 1, &r) == 0 &&
	    store_res_rows(r) == 1)
		v = version_render(ctx, r, 0);
	store_res_free(r);
	return v;
}

int api_deck_version_find(struct api_ctx *ctx, struct store_res **r)
{
	const char *deck = http_req_param(ctx->req, "id");
	const char *num = http_req_param(ctx->req, "number");
	int64_t n = 0;

	*r = NULL;
	if (str_to_i64(str_from_cstr(num), &n) == 0 && n > 0) {
		struct store_param p[] = {store_p_text(deck), store_p_int(n)};
		int rc = store_exec(ctx->conn,
				    VERSION_COLUMNS " WHERE deck_id = $1 AND number = $2", p, 2, r);
		if (rc < 0) {
			api_reply_store_error(ctx, rc, "rate deck version");
			return rc;
		}
		if (store_res_rows(*r) == 1)
			return 1;
	}
	http_reply_error(ctx->req, 404, "not_found", "Not found", NULL,
			 "rate deck %s has no version %s", deck, num);
	return 0;
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	const char *deck = http_req_param(req, "id");
	int64_t after = 0, active = 0, now = time_wall_ms();
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx))
		return;
	if (!api_row_visible(&ctx, "rate_decks", NULL, deck)) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no rate deck %s", deck);
		return;
	}
	if (api_page_parse(&ctx, &page) < 0 || api_page_after_seq(&ctx, &page, &after) < 0)
		return;
	struct store_param p[] = {store_p_text(deck), store_p_int(after),
				  store_p_int(page.limit + 1)};
	int rc = api_deck_active_number(&ctx, deck, now, &active);
	rc = rc ? rc
		: store_exec(ctx.conn,
			     VERSION_COLUMNS " WHERE deck_id = $1 AND number > $2 ORDER BY number "
					     "LIMIT $3",
			     p, 3, &r);
	if (rc < 0) {
		api_reply_store_error(&ctx, rc, "rate deck version");
	} else {
		json_t *items = json_array();
		for (size_t i = 0; i < store_res_rows(r); i++)
			json_array_append_new(items, version_json(r, i, active, now));
		api_page_reply(&ctx, &page, items, "number");
	}
	store_res_free(r);
}

static void handle_get(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct store_res *r = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx))
		return;
	if (api_deck_version_find(&ctx, &r) == 1) {
		json_t *v = version_render(&ctx, r, 0);
		if (v)
			http_reply_data(req, 200, v);
		else
			api_reply_store_error(&ctx, STORE_EDOWN, "rate deck version");
	}
	store_res_free(r);
}

/* activate_at from the body: epoch ms or RFC 3339; absent or null is now,
 * and so is a time already past — a version never takes effect before it
 * was scheduled, so calls already rated keep the prices they were rated
 * at.  0, or e filled. */
static int activate_at_parse(const json_t *body, int64_t now, int64_t *at, struct api_verr *e)
{
	const json_t *v = json_object_get(body, "activate_at");
	int rc = api_check_members(body, "", "activate_at", e);

	*at = now;
	if (rc < 0 || !v || json_is_null(v))
		return rc;
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		*at = json_integer_value(v);
	else if (!json_is_string(v) || api_rfc3339_parse(json_string_value(v), at) < 0)
		return api_verr_set(e, 422, "invalid_value", "/activate_at",
				    "'activate_at' must be epoch milliseconds or an RFC 3339 time");
	if (*at < now)
		*at = now;
	return 0;
}

/* Sets activate_at with its event and the config-version bump (snapshots
 * built from decks rebuild) in one transaction. */
static int activate_write(struct api_ctx *ctx, const char *id, int64_t at, json_t **v)
{
	struct store_param p[] = {store_p_int(at), store_p_int(time_wall_ms()), store_p_text(id)};
	int rc = store_tx_begin(ctx->conn);

	rc = rc ? rc
		: store_exec(ctx->conn,
			     "UPDATE rate_deck_versions SET activate_at = $1, updated_at = $2 "
			     "WHERE id = $3",
			     p, 3, NULL);
	*v = rc ? NULL : api_deck_version_load(ctx, id);
	rc = rc ? rc : *v ? 0 : -ENOENT;
	rc = rc ? rc : api_event_emit(ctx, NULL, "rate_deck_version.scheduled", id, *v);
	if (rc == 0) {
		json_t *body = json_pack("{s:O}", "data", *v);
		rc = api_idempotency_record(ctx, 200, body);
		json_decref(body);
	}
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0) {
		store_tx_rollback(ctx->conn);
		json_decref(*v);
		*v = NULL;
	}
	return rc;
}

static void handle_activate(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e = {0};
	struct store_res *r = NULL;
	json_t *body = NULL, *v = NULL;
	int64_t now = time_wall_ms(), at = 0, active = 0;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) || !api_require_admin(&ctx))
		return;
	if (api_deck_version_find(&ctx, &r) != 1 || api_idempotency_replay(&ctx) ||
	    !(body = http_req_json(req)))
		goto out;
	int rc = activate_at_parse(body, now, &at, &e);
	rc = rc ? rc : api_deck_active_number(&ctx, store_res_text(r, 0, 1), now, &active);
	const char *state = rc ? "" : version_state(r, 0, active, now);
	if (rc == 0 && (strcmp(state, "active") == 0 || strcmp(state, "superseded") == 0))
		rc = api_verr_set(&e, 409, "already_active", NULL,
				  "version %lld took effect already; import or schedule another",
				  (long long)store_res_int(r, 0, 2));
	if (rc == 0)
		rc = activate_write(&ctx, store_res_text(r, 0, 0), at, &v);
	if (rc < 0 && e.code[0])
		api_reply_verr(&ctx, &e);
	else if (rc < 0)
		api_reply_store_error(&ctx, rc, "rate deck version");
	else
		http_reply_data(req, 200, v);
out:
	json_decref(body);
	store_res_free(r);
}

static json_t *row_json(const struct store_res *r, size_t row)
{
	int64_t from = store_res_int(r, row, 9), to = store_res_int(r, row, 10);

	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I}", "prefix",
			 store_res_text(r, row, 0), "service", store_res_text(r, row, 1),
			 "destination", store_res_text(r, row, 2), "zone",
			 store_res_text(r, row, 3), "rate", (json_int_t)store_res_int(r, row, 4),
			 "connection_fee", (json_int_t)store_res_int(r, row, 5),
			 "initial_increment", (json_int_t)store_res_int(r, row, 6),
			 "subsequent_increment", (json_int_t)store_res_int(r, row, 7),
			 "min_duration", (json_int_t)store_res_int(r, row, 8), "effective_from",
			 from ? json_integer(from) : json_null(), "effective_to",
			 to ? json_integer(to) : json_null(), "line",
			 (json_int_t)store_res_int(r, row, 11));
}

/* A page of rows, the cursor being the last row's place in the version. */
static void rows_reply(struct api_ctx *ctx, const struct api_page *page, struct store_res *r)
{
	json_t *items = json_array(), *next = json_null();
	size_t n = store_res_rows(r);

	if ((int64_t)n > page->limit) {
		n = (size_t)page->limit;
		next = json_sprintf("%lld", (long long)store_res_int(r, n - 1, 12));
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, row_json(r, i));
	http_reply_json(ctx->req, 200, json_pack("{s:o,s:o}", "data", items, "next_cursor", next));
}

static void handle_rows(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *v = NULL, *r = NULL;
	const char *prefix = http_req_query(req, "prefix");
	char like[BILLING_PREFIX_MAX + 2];
	int64_t after = -1;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) ||
	    api_deck_version_find(&ctx, &v) != 1)
		goto out;
	if (api_page_parse(&ctx, &page) < 0 || api_page_after_seq(&ctx, &page, &after) < 0)
		goto out;
	if (prefix && (*prefix == '+' || *prefix == ' '))
		prefix++; /* "+44" unencoded in a query arrives as " 44" */
	if (prefix && !api_is_digits(prefix, 1, BILLING_PREFIX_MAX)) {
		http_reply_error(req, 400, "invalid_parameter", "Bad request", NULL,
				 "prefix must be 1 to %d digits", BILLING_PREFIX_MAX);
		goto out;
	}
	snprintf(like, sizeof(like), "%s%%", prefix ? prefix : "");
	struct store_param p[] = {store_p_text(store_res_text(v, 0, 0)),
				  store_p_int(page.after ? after : -1),
				  store_p_text(prefix ? like : NULL), store_p_int(page.limit + 1)};
	int rc = store_exec(ctx.conn,
			    ROW_COLUMNS " WHERE version_id = $1 AND seq > $2 AND (" API_SQL_UNSET(
				"$3", "TEXT") " OR prefix LIKE $3) ORDER BY seq LIMIT $4",
			    p, 4, &r);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "rate deck row");
	else
		rows_reply(&ctx, &page, r);
out:
	store_res_free(r);
	store_res_free(v);
}

int api_deck_versions_routes(struct http_router *r)
{
	int rc =
	    http_router_add(r, HTTP_GET, "/api/v1/rate-decks/{id}/versions", handle_list, NULL);

	rc = rc ? rc
		: http_router_add(r, HTTP_POST, "/api/v1/rate-decks/{id}/versions", api_deck_import,
				  NULL);
	rc = rc ? rc
		: http_router_add(r, HTTP_GET, "/api/v1/rate-decks/{id}/versions/{number}",
				  handle_get, NULL);
	rc = rc ? rc
		: http_router_add(r, HTTP_GET, "/api/v1/rate-decks/{id}/versions/{number}/preview",
				  api_deck_preview, NULL);
	rc =
	    rc ? rc
	       : http_router_add(r, HTTP_POST, "/api/v1/rate-decks/{id}/versions/{number}/activate",
				 handle_activate, NULL);
	rc = rc ? rc
		: http_router_add(r, HTTP_GET, "/api/v1/rate-decks/{id}/versions/{number}/rows",
				  handle_rows, NULL);
	return rc;
}
