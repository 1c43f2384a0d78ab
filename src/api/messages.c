/*
 * messages.c — GET /api/v1/messages and GET /api/v1/messages/{id}: the
 * messages customers sent, over HTTP (messages_send.c) or SMPP, as they see
 * them — one message however many parts it went out in — read from the
 * smsc's table `messages` (one row per part, grouped by group_id).
 *
 * A message's status comes from its parts: the failure when one failed
 * (rejected, undeliverable, expired, in that order), else the least
 * advanced (accepted, queued, submitted), else delivered.  One SQL
 * expression says this for the list (where status is also a filter) and
 * for the single message.  Its history is derived, not logged: accepted
 * or queued when stored, submitted when the first part went upstream
 * (submitted_at), and the final status when the last part reached it
 * (decision 0027).  GET of one message also lists every destination with
 * its own status (a submit_multi has several; `to` and the list show the
 * first) and, for a message sent with a callback_url, the delivery of its
 * message.status event there (decision 0032).  segments is per
 * destination: the parts' part_total.
 *
 * List filters: customer_id (admins; a customer always sees only its own),
 * to, from, status, since / until (created_at, epoch ms or RFC 3339, since
 * inclusive, until exclusive).  Newest first; the cursor is
 * "<created_at>-<id>" of a page's last message.  The status is known only
 * once a message's parts are grouped, so a page groups every message of the
 * filters older than the cursor (fine for a customer's recent traffic; a
 * status column kept on the first part would make it an index walk).
 * Customers do not see the carrier of a part (carrier_id), as with CDRs;
 * another customer's message answers 404.
 *
 * GET of one message shows what the billing role made of it (decision
 * 0036): each part's rating{} as a CDR's (src/api/cdrs.c), and the
 * message's: rated once every part is, with the sum of the parts' sell
 * prices (for admins buy and margin too), quarantined when a part is.
 */
#include <errno.h>
#include <string.h>

#include "api/message.h"

#define STATE_ANY(s) "SUM(CASE WHEN state = '" s "' THEN 1 ELSE 0 END) > 0"
/* clang-format off */
#define GROUP_STATUS                                                                               \
	"CASE WHEN " STATE_ANY("rejected") " THEN 'rejected' "                                     \
	"WHEN " STATE_ANY("undeliverable") " THEN 'undeliverable' "                                \
	"WHEN " STATE_ANY("expired") " THEN 'expired' "                                            \
	"WHEN " STATE_ANY("accepted") " THEN 'accepted' "                                          \
	"WHEN " STATE_ANY("queued") " THEN 'queued' "                                              \
	"WHEN " STATE_ANY("submitted") " THEN 'submitted' ELSE 'delivered' END"
/* clang-format on */

/* A part waiting for a 10DLC throughput window (decision 0050): the
 * limit and when it is tried again. */
#define GROUP_HOLD                                                                                 \
	"MIN(CASE WHEN state = 'queued' THEN hold_reason END) AS hold_reason, MAX(CASE WHEN "      \
	"state = 'queued' AND hold_reason IS NOT NULL THEN next_attempt_at END) AS held_until"

/* One message: its parts' common columns, by the indices of enum col. */
#define GROUP_COLUMNS                                                                              \
	"SELECT group_id AS id, MIN(customer_id) AS customer_id, MIN(origin) AS origin, "          \
	"MIN(source) AS source, MIN(source_ton) AS source_ton, MIN(destination) AS destination, "  \
	"MIN(dest_ton) AS dest_ton, MIN(client_ref) AS client_ref, MIN(callback_url) AS "          \
	"callback_url, MIN(data_coding) AS data_coding, MAX(part_total) AS segments, "             \
	"MIN(created_at) AS "                                                                      \
	"created_at, MAX(updated_at) AS updated_at, MIN(expires_at) AS expires_at, "               \
	"MIN(submitted_at) AS submitted_at, " GROUP_STATUS " AS status, " GROUP_HOLD               \
	" FROM messages"

enum col {
	C_ID,
	C_CUSTOMER,
	C_ORIGIN,
	C_SOURCE,
	C_SOURCE_TON,
	C_DEST,
	C_DEST_TON,
	C_CLIENT_REF,
	C_CALLBACK,
	C_DATA_CODING,
	C_SEGMENTS,
	C_CREATED,
	C_UPDATED,
	C_EXPIRES,
	C_SUBMITTED,
	C_STATUS,
	C_HOLD_REASON,
	C_HELD_UNTIL,
};

/* clang-format off */
static const char list_sql[] =
	"SELECT * FROM (" GROUP_COLUMNS
	" WHERE (" API_SQL_UNSET("$1", "TEXT") " OR customer_id = $1)"
	" AND (" API_SQL_UNSET("$2", "TEXT") " OR destination = $2)"
	" AND (" API_SQL_UNSET("$3", "TEXT") " OR source = $3)"
	" AND (" API_SQL_UNSET("$4", "BIGINT") " OR created_at >= $4)"
	" AND (" API_SQL_UNSET("$5", "BIGINT") " OR created_at < $5)"
	" AND (" API_SQL_UNSET("$7", "BIGINT") " OR created_at <= $7)" /* the parts share it */
	" GROUP BY group_id) g"
	" WHERE (" API_SQL_UNSET("$6", "TEXT") " OR status = $6)"
	" AND (" API_SQL_UNSET("$7", "BIGINT") " OR created_at < $7 OR (created_at = $7 AND id < $8))"
	" ORDER BY created_at DESC, id DESC LIMIT $9";

static const char one_sql[] =
	GROUP_COLUMNS " WHERE group_id = $1 AND (" API_SQL_UNSET("$2", "TEXT") " OR customer_id = $2)"
	" GROUP BY group_id";
/* clang-format on */

static const char parts_sql[] =
    "SELECT m.id, m.part_seq, m.state, m.error, m.attempts, m.carrier_id, m.upstream_id, "
    "m.created_at, m.submitted_at, m.updated_at, m.destination, m.dest_ton, " API_RATING_COLUMNS(
	"g") " FROM messages m LEFT JOIN message_ratings g ON g.message_id = m.id "
	     "WHERE m.group_id = $1 ORDER BY m.destination, m.part_seq";
#define PART_RATING_FIRST 12

/* Each destination of the message (several for a submit_multi) with its
 * status, from its own parts as the message's is from all. */
static const char destinations_sql[] =
    "SELECT destination, MIN(dest_ton), " GROUP_STATUS " FROM messages WHERE group_id = $1 "
    "GROUP BY destination ORDER BY destination";

/* The delivery of its message.status event to its callback_url, if any
 * (decision 0032). */
static const char callback_sql[] =
    "SELECT k.status, k.attempts, k.last_status, k.last_error, k.next_attempt_at, "
    "k.delivered_at FROM message_callbacks k JOIN message_events m ON m.id = k.event_id "
    "WHERE m.group_id = $1 AND m.type = 'message.status'";

static const char *const statuses[] = {"accepted",	"queued",  "submitted", "delivered",
				       "undeliverable", "expired", "rejected"};

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

/* An address as the customer wrote it: E.164 (TON 1) with its '+'. */
static json_t *col_addr(const struct store_res *r, size_t row, size_t col, size_t ton)
{
	const char *a = store_res_text(r, row, col);
	return store_res_int(r, row, ton) == 1 ? json_sprintf("+%s", a) : json_string(a);
}

static bool status_final(const char *s)
{
	return strcmp(s, "delivered") == 0 || strcmp(s, "undeliverable") == 0 ||
	       strcmp(s, "expired") == 0 || strcmp(s, "rejected") == 0;
}

static json_t *msg_history(const struct store_res *r, size_t i)
{
	const char *first =
	    strcmp(store_res_text(r, i, C_ORIGIN), "http") == 0 ? "queued" : "accepted";
	const char *status = store_res_text(r, i, C_STATUS);
	json_t *h = json_array();

	json_array_append_new(
	    h, json_pack("{s:s,s:o}", "status", first, "at", col_int(r, i, C_CREATED)));
	if (!store_res_isnull(r, i, C_SUBMITTED))
		json_array_append_new(h, json_pack("{s:s,s:o}", "status", "submitted", "at",
						   col_int(r, i, C_SUBMITTED)));
	if (status_final(status))
		json_array_append_new(
		    h, json_pack("{s:s,s:o}", "status", status, "at", col_int(r, i, C_UPDATED)));
	return h;
}

/* {reason, until} while a part waits for a throughput window, else null:
 * the window it was promised has not opened yet. */
static json_t *msg_hold(const struct store_res *r, size_t i)
{
	if (store_res_isnull(r, i, C_HOLD_REASON) || store_res_isnull(r, i, C_HELD_UNTIL) ||
	    store_res_int(r, i, C_HELD_UNTIL) <= time_wall_ms())
		return json_null();
	return json_pack("{s:o,s:o}", "reason", col_text(r, i, C_HOLD_REASON), "until",
			 col_int(r, i, C_HELD_UNTIL));
}

static json_t *msg_json(const struct store_res *r, size_t i)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", col_text(r, i, C_ID));
	json_object_set_new(o, "customer_id", col_text(r, i, C_CUSTOMER));
	json_object_set_new(o, "origin", col_text(r, i, C_ORIGIN));
	json_object_set_new(o, "from", col_addr(r, i, C_SOURCE, C_SOURCE_TON));
	json_object_set_new(o, "to", col_addr(r, i, C_DEST, C_DEST_TON));
	json_object_set_new(o, "status", col_text(r, i, C_STATUS));
	json_object_set_new(o, "encoding",
			    json_string(api_msg_encoding(store_res_int(r, i, C_DATA_CODING))));
	json_object_set_new(o, "segments", col_int(r, i, C_SEGMENTS));
	json_object_set_new(o, "client_ref", col_text(r, i, C_CLIENT_REF));
	json_object_set_new(o, "callback_url", col_text(r, i, C_CALLBACK));
	json_object_set_new(o, "created_at", col_int(r, i, C_CREATED));
	json_object_set_new(o, "updated_at", col_int(r, i, C_UPDATED));
	json_object_set_new(o, "expires_at", col_int(r, i, C_EXPIRES));
	json_object_set_new(o, "hold", msg_hold(r, i));
	return o;
}

static json_t *part_json(const struct store_res *r, size_t i, bool admin)
{
	static const char *const names[] = {
	    "id",	  "seq",	 "state",      "error",	       "attempts",
	    "carrier_id", "upstream_id", "created_at", "submitted_at", "updated_at"};
	json_t *o = json_object();

	for (size_t c = 0; c < sizeof(names) / sizeof(names[0]); c++) {
		bool num = c == 1 || c == 4 || c >= 7;
		json_object_set_new(o, names[c], num ? col_int(r, i, c) : col_text(r, i, c));
	}
	json_object_set_new(o, "to", col_addr(r, i, 10, 11));
	json_object_set_new(o, "rating", api_rating_json(r, i, PART_RATING_FIRST, admin));
	if (!admin)
		json_object_del(o, "carrier_id");
	return o;
}

static json_t *json_or_null(json_t *v)
{
	return v ? v : json_null();
}

/* The message's price from its parts' ratings: rated once every part is
 * (then the sum of their sell prices, and for admins buy and margin),
 * quarantined when one is, else pending. */
static json_t *msg_rating_json(const json_t *parts, bool admin)
{
	const char *state = "rated", *sums[] = {"sell_micros", "buy_micros", "margin_micros"};
	json_int_t total[3] = {0};
	json_t *part, *first = json_object_get(json_array_get(parts, 0), "rating");
	size_t i;

	json_array_foreach(parts, i, part)
	{
		json_t *g = json_object_get(part, "rating");
		const char *st = json_string_value(json_object_get(g, "state"));

		if (!st || strcmp(st, "rated") != 0)
			state = st && strcmp(st, "quarantined") == 0 ? st
				: strcmp(state, "quarantined") == 0  ? state
								     : "pending";
		for (size_t k = 0; k < 3; k++)
			total[k] += json_integer_value(json_object_get(g, sums[k]));
	}
	const char *cur = json_string_value(json_object_get(first, "currency"));
	bool rated = strcmp(state, "rated") == 0;
	char sell[BILLING_MONEY_BUF] = "";
	json_t *o = json_pack("{s:s,s:O,s:O}", "state", state, "currency",
			      json_or_null(json_object_get(first, "currency")), "zone",
			      json_or_null(json_object_get(first, "zone")));

	if (rated)
		billing_money_format_exact(total[0], billing_currency_decimals(cur ? cur : ""),
					   sell, sizeof(sell));
	json_object_set_new(o, "sell", rated ? json_string(sell) : json_null());
	for (size_t k = 0; k < (admin ? 3u : 1u); k++)
		json_object_set_new(o, sums[k], rated ? json_integer(total[k]) : json_null());
	if (admin)
		json_object_set(o, "reason", json_or_null(json_object_get(first, "reason")));
	return o;
}

/* ------------------------------------------------------------- one */

typedef json_t *(*msg_row_fn)(const struct store_res *r, size_t i, bool admin);

/* The rows of sql for message id, each through row: an array, NULL on a
 * store failure (*rc < 0). */
static json_t *msg_rows_json(struct api_ctx *ctx, const char *sql, const char *id, msg_row_fn row,
			     int *rc)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(id)};
	json_t *list = NULL;

	*rc = store_exec(ctx->conn, sql, p, 1, &r);
	if (*rc == 0 && (list = json_array()))
		for (size_t i = 0; i < store_res_rows(r); i++)
			json_array_append_new(list, row(r, i, api_is_admin(ctx)));
	store_res_free(r);
	return list;
}

static json_t *destination_json(const struct store_res *r, size_t i, bool admin)
{
	(void)admin;
	return json_pack("{s:o,s:o}", "to", col_addr(r, i, 0, 1), "status", col_text(r, i, 2));
}

static json_t *callback_json(const struct store_res *r, size_t i, bool admin)
{
	bool pending = strcmp(store_res_text(r, i, 0), "pending") == 0;
	(void)admin;
	return json_pack(
	    "{s:o,s:o,s:o,s:o,s:o,s:o}", "status", col_text(r, i, 0), "attempts", col_int(r, i, 1),
	    "last_status", col_int(r, i, 2), "last_error", col_text(r, i, 3), "next_attempt_at",
	    pending ? col_int(r, i, 4) : json_null(), "delivered_at", col_int(r, i, 5));
}

/* What GET of one message adds to the list's view: its parts, each
 * destination, the callback's delivery (null without one) and the status
 * history; 0 or a store error. */
static int msg_detail(struct api_ctx *ctx, const char *id, const struct store_res *head, json_t *o)
{
	int rc = 0;
	json_t *parts = msg_rows_json(ctx, parts_sql, id, part_json, &rc);
	json_t *dests = rc ? NULL : msg_rows_json(ctx, destinations_sql, id, destination_json, &rc);
	json_t *cb = rc ? NULL : msg_rows_json(ctx, callback_sql, id, callback_json, &rc);

	if (rc == 0 && (!parts || !dests || !cb))
		rc = -ENOMEM;
	if (rc == 0) {
		json_object_set(o, "parts", parts);
		json_object_set_new(o, "rating", msg_rating_json(parts, api_is_admin(ctx)));
		json_object_set(o, "destinations", dests);
		json_object_set(o, "callback",
				json_array_size(cb) ? json_array_get(cb, 0) : json_null());
		json_object_set_new(o, "history", msg_history(head, 0));
	}
	json_decref(parts);
	json_decref(dests);
	json_decref(cb);
	return rc;
}

/* Message id as the caller may see it, with its parts and history: NULL
 * when absent or not visible (*rc 0) or on a store failure (*rc < 0). */
static json_t *msg_load(struct api_ctx *ctx, const char *id, int *rc)
{
	struct store_res *head = NULL;
	struct store_param p[] = {store_p_text(id),
				  store_p_text(api_is_admin(ctx) ? NULL : ctx->who->customer_id)};
	json_t *o = NULL;

	*rc = store_exec(ctx->conn, one_sql, p, 2, &head);
	if (*rc == 0 && store_res_rows(head) == 1)
		o = msg_json(head, 0);
	if (o && (*rc = msg_detail(ctx, id, head, o)) < 0) {
		json_decref(o);
		o = NULL;
	}
	store_res_free(head);
	return o;
}

static void handle_get(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	const char *id = http_req_param(req, "id");
	int rc;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0)
		return;
	json_t *o = msg_load(&ctx, id, &rc);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "message");
	else if (!o)
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no message %s", id);
	else
		http_reply_data(req, 200, o);
}

/* ------------------------------------------------------------ list */

/* A time filter: epoch ms or RFC 3339; -EINVAL (400 sent) when neither. */
static int query_time(struct api_ctx *ctx, const char *name, struct store_param *out)
{
	const char *v = http_req_query(ctx->req, name);
	int64_t ms;

	*out = store_p_null();
	if (!v)
		return 0;
	if ((str_to_i64(str_from_cstr(v), &ms) < 0 || ms < 0) && api_rfc3339_parse(v, &ms) < 0) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "%s must be epoch milliseconds or an RFC 3339 time", name);
		return -EINVAL;
	}
	*out = store_p_int(ms);
	return 0;
}

/* A number filter as stored: without its '+' (which an unencoded query
 * turns into a space). */
static struct store_param query_number(struct api_ctx *ctx, const char *name)
{
	const char *v = http_req_query(ctx->req, name);
	return store_p_text(v && (v[0] == '+' || v[0] == ' ') ? v + 1 : v);
}

static bool status_known(const char *s)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(s, statuses[i]) == 0)
			return true;
	return false;
}

struct msg_query {
	struct api_page page;
	struct store_param p[9];
	char after_id[ID_MAX];
};

static int bad_param(struct api_ctx *ctx, const char *detail)
{
	http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL, "%s", detail);
	return -EINVAL;
}

static int msg_query_parse(struct api_ctx *ctx, struct msg_query *q)
{
	const char *status = http_req_query(ctx->req, "status");
	const char *dash;
	int64_t after_created = 0;

	if (api_page_parse(ctx, &q->page) < 0)
		return -EINVAL;
	if (q->page.after &&
	    (!(dash = strchr(q->page.after, '-')) ||
	     str_to_i64((struct str){q->page.after, (size_t)(dash - q->page.after)},
			&after_created) < 0 ||
	     str_copy(q->after_id, sizeof(q->after_id), str_from_cstr(dash + 1)) < 0 || !dash[1]))
		return bad_param(ctx, "after must be a cursor from next_cursor");
	if (status && !status_known(status))
		return bad_param(ctx, "status must be accepted, queued, submitted, delivered, "
				      "undeliverable, expired or rejected");
	q->p[0] = store_p_text(api_is_admin(ctx) ? http_req_query(ctx->req, "customer_id")
						 : ctx->who->customer_id);
	q->p[1] = query_number(ctx, "to");
	q->p[2] = query_number(ctx, "from");
	if (query_time(ctx, "since", &q->p[3]) < 0 || query_time(ctx, "until", &q->p[4]) < 0)
		return -EINVAL;
	q->p[5] = store_p_text(status);
	q->p[6] = q->page.after ? store_p_int(after_created) : store_p_null();
	q->p[7] = store_p_text(q->page.after ? q->after_id : NULL);
	q->p[8] = store_p_int(q->page.limit + 1);
	return 0;
}

static void msg_page_reply(struct api_ctx *ctx, const struct msg_query *q, struct store_res *r)
{
	json_t *items = json_array(), *next = json_null();
	size_t n = store_res_rows(r);

	if ((int64_t)n > q->page.limit) {
		n = (size_t)q->page.limit;
		next = json_sprintf("%lld-%s", (long long)store_res_int(r, n - 1, C_CREATED),
				    store_res_text(r, n - 1, C_ID));
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, msg_json(r, i));
	http_reply_json(ctx->req, 200, json_pack("{s:o,s:o}", "data", items, "next_cursor", next));
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct msg_query q = {0};
	struct store_res *r = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || msg_query_parse(&ctx, &q) < 0)
		return;
	int rc = store_exec(ctx.conn, list_sql, q.p, 9, &r);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "message");
	else
		msg_page_reply(&ctx, &q, r);
	store_res_free(r);
}

int api_messages_routes(struct http_router *r)
{
	int rc = http_router_add(r, HTTP_GET, "/api/v1/messages", handle_list, NULL);
	rc = rc ? rc : http_router_add(r, HTTP_POST, "/api/v1/messages", api_messages_send, NULL);
	return rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/messages/{id}", handle_get, NULL);
}
