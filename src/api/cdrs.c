/*
 * cdrs.c — GET /api/v1/cdrs and GET /api/v1/cdrs/{id}: the call records the
 * SIP role's writer stores (src/sip/cdr.c, table cdrs of 0003).  Read-only:
 * CDRs are facts, never edited through the API.
 *
 * List filters: customer_id (admins; a customer always sees only its own),
 * from / to (start_ms range, epoch ms, from inclusive, to exclusive),
 * number (matches the normalised E.164 digits, with or without '+', or the
 * number as dialed), direction (termination | origination).  Newest first;
 * the cursor is "<start_ms>-<id>" of the last row of a page, so pages stay
 * stable while new calls are written.
 *
 * attempts[] name the gateway tried (gateway_id) for a termination and the
 * customer's trunk (trunk_id) for an origination.
 *
 * Customers do not see which carrier or gateway carried their calls
 * (carrier_id, gateway_id and attempts are the operator's business); a
 * customer asking for another customer's CDR gets 404.
 *
 * rating{} is what the billing role made of the call (cdr_ratings of
 * migration 0025, decision 0036): its state (pending, rated, quarantined
 * with reason and side) and, for admins, sell price, buy cost, margin,
 * zone and the deck versions; a customer sees its sell price and zone.
 * POST /api/v1/cdrs/{id}/rerate and POST /api/v1/cdr-rerates {from, to,
 * customer_id} (admins) mark calls pending again: the role rates them at
 * the prices in force at their start and posts any difference as an
 * adjustment; 202, since the rating itself is the role's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "api/api_private.h"

#define CDR_COLUMNS                                                                                \
	"SELECT id, call_id, direction, customer_id, trunk_id, carrier_id, gateway_id, caller, "   \
	"dialed, normalized, source, start_ms, answer_ms, end_ms, duration_ms, billable_ms, "      \
	"final_code, final_reason, hangup, attempts, pdd_ms, rtp_packets_a, rtp_packets_b, "       \
	"rtp_lost_a, rtp_lost_b, rtp_jitter_us_a, rtp_jitter_us_b, " API_RATING_COLUMNS(           \
	    "g") ", g.billable_s FROM cdrs LEFT JOIN cdr_ratings g ON g.cdr_id = cdrs.id"
#define CDR_RATING_FIRST 27 /* the column of g.state */

/* The list query: every filter optional ($N unset), newest first, keyset
 * cursor on (start_ms, id). */
/* clang-format off */
static const char cdr_list_sql[] =
	CDR_COLUMNS
	" WHERE (" API_SQL_UNSET("$1", "TEXT") " OR customer_id = $1)"
	" AND (" API_SQL_UNSET("$2", "BIGINT") " OR start_ms >= $2)"
	" AND (" API_SQL_UNSET("$3", "BIGINT") " OR start_ms < $3)"
	" AND (" API_SQL_UNSET("$4", "TEXT") " OR normalized = $4 OR dialed = $5)"
	" AND (" API_SQL_UNSET("$6", "BIGINT") " OR start_ms < $6 OR (start_ms = $6 AND cdrs.id < $7))"
	" AND (" API_SQL_UNSET("$8", "TEXT") " OR direction = $8)"
	" ORDER BY start_ms DESC, cdrs.id DESC LIMIT $9";
/* clang-format on */

static json_t *col_text(const struct store_res *r, size_t row, size_t col)
{
	return store_res_isnull(r, row, col) ? json_null()
					     : json_string(store_res_text(r, row, col));
}

static json_t *col_int(const struct store_res *r, size_t row, size_t col)
{
	return store_res_isnull(r, row, col) ? json_null()
					     : json_integer(store_res_int(r, row, col));
}

static json_t *cdr_media_json(const struct store_res *r, size_t row)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "rtp_packets_a", col_int(r, row, 21),
			 "rtp_packets_b", col_int(r, row, 22), "rtp_lost_a", col_int(r, row, 23),
			 "rtp_lost_b", col_int(r, row, 24), "rtp_jitter_us_a", col_int(r, row, 25),
			 "rtp_jitter_us_b", col_int(r, row, 26));
}

/* Rows written before the attempts of an origination named the trunk tried
 * "trunk_id" called it "gateway_id": shown under the name it has now. */
static void cdr_attempts_trunk_ids(json_t *attempts)
{
	size_t i;
	json_t *a, *id;

	json_array_foreach(attempts, i, a)
	{
		id = json_object_get(a, "gateway_id");
		if (!id || json_object_get(a, "trunk_id"))
			continue;
		json_object_set(a, "trunk_id", id);
		json_object_del(a, "gateway_id");
	}
}

static json_t *cdr_json(const struct store_res *r, size_t row, bool admin)
{
	static const char *const names[] = {"id",	"call_id",    "direction",  "customer_id",
					    "trunk_id", "carrier_id", "gateway_id", "caller",
					    "dialed",	"normalized", "source"};
	static const char *const ints[] = {"start_ms",	  "answer_ms",	 "end_ms",
					   "duration_ms", "billable_ms", "final_code"};
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_object_set_new(o, names[i], col_text(r, row, i));
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		json_object_set_new(o, ints[i], col_int(r, row, 11 + i));
	json_object_set_new(o, "final_reason", col_text(r, row, 17));
	json_object_set_new(o, "hangup", col_text(r, row, 18));
	json_object_set_new(o, "pdd_ms", col_int(r, row, 20));
	json_object_set_new(o, "media", cdr_media_json(r, row));
	json_t *rating = api_rating_json(r, row, CDR_RATING_FIRST, admin);
	if (admin)
		json_object_set_new(rating, "billable_s",
				    col_int(r, row, CDR_RATING_FIRST + API_RATING_NCOLUMNS));
	json_object_set_new(o, "rating", rating);
	if (admin) {
		json_t *att = json_loads(store_res_text(r, row, 19), 0, NULL);

		if (att && strcmp(store_res_text(r, row, 2), "origination") == 0)
			cdr_attempts_trunk_ids(att);
		json_object_set_new(o, "attempts", att ? att : json_array());
	} else {
		json_object_del(o, "carrier_id");
		json_object_del(o, "gateway_id");
	}
	return o;
}

/* A price column as {name: "0.0331", name_micros: 33100} (null both when
 * NULL), in the currency's decimals at least. */
static void rating_money(json_t *o, const char *name, const struct store_res *r, size_t row,
			 size_t col, const char *currency)
{
	char buf[BILLING_MONEY_BUF], micros[48];

	snprintf(micros, sizeof(micros), "%s_micros", name);
	if (store_res_isnull(r, row, col) ||
	    billing_money_format_exact(store_res_int(r, row, col),
				       billing_currency_decimals(currency), buf, sizeof(buf)) < 0) {
		json_object_set_new(o, name, json_null());
		json_object_set_new(o, micros, json_null());
		return;
	}
	json_object_set_new(o, name, json_string(buf));
	json_object_set_new(o, micros, json_integer(store_res_int(r, row, col)));
}

static json_t *rating_deck(const struct store_res *r, size_t row, size_t col)
{
	if (store_res_isnull(r, row, col))
		return json_null();
	return json_pack("{s:s,s:I}", "deck_id", store_res_text(r, row, col), "version",
			 (json_int_t)store_res_int(r, row, col + 1));
}

json_t *api_rating_json(const struct store_res *r, size_t row, size_t first, bool admin)
{
	enum {
		STATE,
		REASON,
		SIDE,
		CUR,
		SELL,
		BUYCUR,
		BUY,
		MARGIN,
		PREFIX,
		ZONE,
		DEST,
		SDECK,
		SVER,
		BDECK,
		BVER,
		RATINGS,
		RATED_AT
	};
	const char *cur = store_res_text(r, row, first + CUR);
	const char *state = store_res_isnull(r, row, first + STATE)
				? "pending"
				: store_res_text(r, row, first + STATE);
	bool rated = strcmp(state, "rated") == 0;
	json_t *o = json_pack("{s:s}", "state", state);

	/* an admin sees the last price of a rating being redone */
	if (rated || admin) {
		rating_money(o, "sell", r, row, first + SELL, cur);
	} else {
		json_object_set_new(o, "sell", json_null());
		json_object_set_new(o, "sell_micros", json_null());
	}
	json_object_set_new(o, "currency", col_text(r, row, first + CUR));
	json_object_set_new(o, "zone", col_text(r, row, first + ZONE));
	if (!admin)
		return o;
	json_object_set_new(o, "reason", col_text(r, row, first + REASON));
	json_object_set_new(o, "side", col_text(r, row, first + SIDE));
	rating_money(o, "buy", r, row, first + BUY, store_res_text(r, row, first + BUYCUR));
	json_object_set_new(o, "buy_currency", col_text(r, row, first + BUYCUR));
	rating_money(o, "margin", r, row, first + MARGIN, cur);
	json_object_set_new(o, "prefix", col_text(r, row, first + PREFIX));
	json_object_set_new(o, "destination", col_text(r, row, first + DEST));
	json_object_set_new(o, "sell_deck", rating_deck(r, row, first + SDECK));
	json_object_set_new(o, "buy_deck", rating_deck(r, row, first + BDECK));
	json_object_set_new(o, "ratings", json_integer(store_res_int(r, row, first + RATINGS)));
	json_object_set_new(o, "rated_at", col_int(r, row, first + RATED_AT));
	return o;
}

/* "<start_ms>-<id>" into its parts; -EINVAL when malformed. */
static int cursor_parse(const char *c, int64_t *start, char *id, size_t n)
{
	const char *dash = c ? strchr(c, '-') : NULL;

	if (!dash || str_to_i64((struct str){c, (size_t)(dash - c)}, start) < 0 || !dash[1])
		return -EINVAL;
	return str_copy(id, n, str_from_cstr(dash + 1));
}

/* An optional epoch-ms query parameter; -EINVAL (400 sent) when bad. */
static int query_ms(struct api_ctx *ctx, const char *name, struct store_param *out)
{
	const char *v = http_req_query(ctx->req, name);
	int64_t ms;

	*out = store_p_null();
	if (!v)
		return 0;
	if (str_to_i64(str_from_cstr(v), &ms) < 0 || ms < 0) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "%s must be epoch milliseconds", name);
		return -EINVAL;
	}
	*out = store_p_int(ms);
	return 0;
}

struct cdr_query {
	struct api_page page;
	struct store_param p[9];
	char after_id[ID_MAX];
};

static int cdr_query_parse(struct api_ctx *ctx, struct cdr_query *q)
{
	const char *cust =
	    api_is_admin(ctx) ? http_req_query(ctx->req, "customer_id") : ctx->who->customer_id;
	const char *number = http_req_query(ctx->req, "number");
	const char *dir = http_req_query(ctx->req, "direction");
	int64_t after_start = 0;

	if (api_page_parse(ctx, &q->page) < 0)
		return -EINVAL;
	if (q->page.after &&
	    cursor_parse(q->page.after, &after_start, q->after_id, sizeof(q->after_id)) < 0) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "after must be a cursor from next_cursor");
		return -EINVAL;
	}
	if (dir && strcmp(dir, "termination") != 0 && strcmp(dir, "origination") != 0) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "direction must be termination or origination");
		return -EINVAL;
	}
	q->p[0] = store_p_text(cust);
	if (query_ms(ctx, "from", &q->p[1]) < 0 || query_ms(ctx, "to", &q->p[2]) < 0)
		return -EINVAL;
	/* "+44…" unencoded in a query arrives as " 44…" (form encoding). */
	q->p[3] =
	    store_p_text(number && (number[0] == '+' || number[0] == ' ') ? number + 1 : number);
	q->p[4] = store_p_text(number);
	q->p[5] = q->page.after ? store_p_int(after_start) : store_p_null();
	q->p[6] = store_p_text(q->page.after ? q->after_id : NULL);
	q->p[7] = store_p_text(dir);
	q->p[8] = store_p_int(q->page.limit + 1);
	return 0;
}

static void cdr_page_reply(struct api_ctx *ctx, const struct cdr_query *q, struct store_res *r)
{
	json_t *items = json_array(), *next = json_null();
	size_t n = store_res_rows(r);

	if ((int64_t)n > q->page.limit) {
		n = (size_t)q->page.limit;
		next = json_sprintf("%lld-%s", (long long)store_res_int(r, n - 1, 11),
				    store_res_text(r, n - 1, 0));
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, cdr_json(r, i, api_is_admin(ctx)));
	http_reply_json(ctx->req, 200, json_pack("{s:o,s:o}", "data", items, "next_cursor", next));
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct cdr_query q = {0};
	struct store_res *r = NULL;
	int rc;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || cdr_query_parse(&ctx, &q) < 0)
		return;
	rc = store_exec(ctx.conn, cdr_list_sql, q.p, 9, &r);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "cdr");
	else
		cdr_page_reply(&ctx, &q, r);
	store_res_free(r);
}

static json_t *cdr_render(const struct store_res *r, size_t row, void *arg)
{
	const bool *admin = arg;
	return cdr_json(r, row, *admin);
}

static void handle_get(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0)
		return;
	bool admin = api_is_admin(&ctx);
	api_reply_owned_row(&ctx, CDR_COLUMNS, "cdr", cdr_render, &admin);
}

/* A re-rating waits for a rating snapshot at least as new as the
 * provisioning it follows (a deck assigned just before asking). */
#define RERATE_AFTER "rating_version = (SELECT version FROM config_version)"

/* Marks the calls sql selects pending and answers 202, with the answer
 * recorded for the request's Idempotency-Key in the same transaction: for
 * one call (id) its id and state, for a range how many; 0 or a store code
 * (nothing answered). */
static int rerate_commit(struct api_ctx *ctx, const char *sql, const struct store_param *p,
			 size_t n, const char *id)
{
	struct store_res *r = NULL;
	json_t *data = NULL, *body = NULL;
	int rc = store_tx_begin(ctx->conn);

	rc = rc ? rc : store_exec(ctx->conn, sql, p, n, &r);
	if (rc == 0) {
		data = id ? json_pack("{s:s,s:s}", "id", id, "state", "pending")
			  : json_pack("{s:I}", "queued", (json_int_t)store_res_changes(r));
		body = json_pack("{s:O}", "data", data);
		rc = data && body ? api_idempotency_record(ctx, 202, body) : -ENOMEM;
	}
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0)
		store_tx_rollback(ctx->conn);
	else
		http_reply_data(ctx->req, 202, json_incref(data));
	json_decref(body);
	json_decref(data);
	store_res_free(r);
	return rc;
}

/* The answer to a rerate request that failed with rc. */
static void rerate_reply_error(struct api_ctx *ctx, int rc, const struct api_verr *e)
{
	if (rc < 0 && e->code[0])
		api_reply_verr(ctx, e);
	else if (rc < 0)
		api_reply_store_error(ctx, rc, "cdr");
}

/* Auth, the Idempotency-Key's replay and the JSON body of a rerate
 * request; NULL when answered already. */
static json_t *rerate_begin(struct api_ctx *ctx, struct http_req *req)
{
	if (api_ctx_init(ctx, req) < 0 || !api_require_write(ctx) || !api_require_admin(ctx) ||
	    api_idempotency_replay(ctx))
		return NULL;
	return http_req_json(req);
}

/* POST /api/v1/cdrs/{id}/rerate {}: the call is pending again. */
static void handle_rerate_one(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e = {0};
	struct store_res *r = NULL;
	const char *id = http_req_param(req, "id");
	struct store_param p = store_p_text(id);
	json_t *body = rerate_begin(&ctx, req);
	(void)arg;

	if (!body)
		return;
	int rc = store_exec(ctx.conn, "SELECT 1 FROM cdr_ratings WHERE cdr_id = $1", &p, 1, &r);
	if (rc == 0 && store_res_rows(r) == 0) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no cdr %s", id);
		goto out;
	}
	rc = rc ? rc : api_check_members(body, "", "", &e);
	rc = rc ? rc
		: rerate_commit(&ctx,
				"UPDATE cdr_ratings SET state = 'pending', " RERATE_AFTER
				" WHERE cdr_id = $1",
				&p, 1, id);
	rerate_reply_error(&ctx, rc, &e);
out:
	store_res_free(r);
	json_decref(body);
}

/* POST /api/v1/cdr-rerates {from, to[, customer_id]}: the calls started in
 * [from, to) are pending again; answers how many. */
static void handle_rerate_range(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e = {0};
	json_t *body = rerate_begin(&ctx, req);
	(void)arg;

	if (!body)
		return;
	const json_t *cust = json_object_get(body, "customer_id");
	int rc = api_check_members(body, "", "from|to|customer_id", &e);
	rc = rc ? rc : api_check_int_member(body, "from", "", 0, INT64_MAX, true, &e);
	rc = rc ? rc : api_check_int_member(body, "to", "", 0, INT64_MAX, true, &e);
	int64_t from = rc ? 0 : json_integer_value(json_object_get(body, "from"));
	int64_t to = rc ? 0 : json_integer_value(json_object_get(body, "to"));
	if (rc == 0 && to <= from)
		rc = api_verr_set(&e, 422, "invalid_value", "/to", "to must be after from");
	if (rc == 0 && cust && !json_is_string(cust))
		rc = api_verr_set(&e, 422, "invalid_type", "/customer_id", "a customer id");
	struct store_param p[] = {store_p_int(from), store_p_int(to),
				  store_p_text(cust ? json_string_value(cust) : NULL)};
	rc = rc ? rc
		: rerate_commit(
		      &ctx,
		      "UPDATE cdr_ratings SET state = 'pending', " RERATE_AFTER
		      " WHERE cdr_id IN (SELECT id FROM cdrs WHERE start_ms >= $1 AND "
		      "start_ms < $2 AND (" API_SQL_UNSET("$3", "TEXT") " OR customer_id = "
									"$3))",
		      p, 3, NULL);
	rerate_reply_error(&ctx, rc, &e);
	json_decref(body);
}

int api_cdrs_routes(struct http_router *r)
{
	int rc = http_router_add(r, HTTP_GET, "/api/v1/cdrs", handle_list, NULL);

	rc = rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/cdrs/{id}", handle_get, NULL);
	rc = rc ? rc
		: http_router_add(r, HTTP_POST, "/api/v1/cdr-rerates", handle_rerate_range, NULL);
	return rc ? rc
		  : http_router_add(r, HTTP_POST, "/api/v1/cdrs/{id}/rerate", handle_rerate_one,
				    NULL);
}
