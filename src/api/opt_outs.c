/*
 * opt_outs.c — /api/v1/opt-outs: the handsets (recipient) that asked one
 * of a customer's numbers (number) to stop, per customer (decision 0041).
 * The smsc records one for every STOP keyword a handset sends; a customer
 * reads them here, adds one (source 'api'), removes one (the handset
 * opted in again elsewhere), and imports a list it kept before:
 *
 *   POST /api/v1/opt-out-imports   text/csv "number,recipient[,brand_id]"
 *
 * An import is one transaction: every good line is stored (a pair already
 * there is left as it is), and a file with a bad line stores nothing and
 * answers 422 naming the lines (the first IMPORT_ERRORS_MAX).  Admins name
 * the customer with ?customer_id=.  Every write bumps the config version,
 * so the send paths' snapshot refuses the pair at once after.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"
#include "tendlc/tendlc.h"

#define IMPORT_ERRORS_MAX 20
#define IMPORT_ROWS_MAX 100000

#define IMPORT_SQL                                                                                 \
	"INSERT INTO opt_outs (id, customer_id, number, recipient, brand_id, source, created_at, " \
	"updated_at) VALUES ($1, $2, $3, $4, $5, 'import', $6, $6) ON CONFLICT (customer_id, "     \
	"number, recipient) DO NOTHING"

/* Stored as E.164 with '+', whatever the caller wrote. */
static int check_e164_plus(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			   struct api_verr *e)
{
	const char *s = json_string_value(*val);
	char ptr[64], plus[20];
	(void)ctx;
	snprintf(ptr, sizeof(ptr), "/%s", f->name);
	if (s && s[0] != '+' && strlen(s) < sizeof(plus) - 1) {
		snprintf(plus, sizeof(plus), "+%s", s);
		s = plus;
	}
	if (!s || !api_is_e164(s))
		return api_verr_set(e, 422, "invalid_e164", ptr,
				    "'%s' must be + and 7 to 15 digits, such as +14155550100",
				    f->name);
	json_decref(*val);
	*val = json_string(s);
	return 0;
}

static const struct api_field optout_fields[] = {
    {"number", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 7, 16, NULL, check_e164_plus},
    {"recipient", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 7, 16, NULL, check_e164_plus},
    {"brand_id", NULL, API_F_STR, API_F_NULLABLE, 1, 64, NULL, NULL},
    {"source", NULL, API_F_STR, API_F_READONLY, 0, 0, NULL, NULL},
    {"keyword", NULL, API_F_STR, API_F_READONLY, 0, 0, NULL, NULL},
};

const struct api_resource api_opt_outs = {
    .name = "opt_out",
    .path = "/api/v1/opt-outs",
    .table = "opt_outs",
    .id_prefix = "opt",
    .scope = API_SCOPE_CUSTOMER,
    .fields = optout_fields,
    .nfields = sizeof(optout_fields) / sizeof(optout_fields[0]),
};

/* ------------------------------------------------------------ import */

struct import_stats {
	int64_t rows, imported, bad;
	json_t *errors; /* the first IMPORT_ERRORS_MAX, as deck imports list theirs */
};

static void import_error(struct import_stats *st, size_t line, const char *detail)
{
	st->bad++;
	if (json_array_size(st->errors) < IMPORT_ERRORS_MAX)
		json_array_append_new(st->errors,
				      json_pack("{s:s,s:s,s:s,s:{s:I}}", "code", "invalid_line",
						"title", "Unprocessable", "detail", detail,
						"source", "line", (json_int_t)line));
}

static int import_row(struct api_ctx *ctx, const char *customer, const struct tendlc_csv_row *row,
		      int64_t now, struct import_stats *st)
{
	char id[ID_MAX], number[20], recipient[20];
	struct store_res *r = NULL;

	snprintf(number, sizeof(number), "%s%.*s", row->number.p[0] == '+' ? "" : "+",
		 STR_FMT(row->number));
	snprintf(recipient, sizeof(recipient), "%s%.*s", row->recipient.p[0] == '+' ? "" : "+",
		 STR_FMT(row->recipient));
	if (id_new("opt", id, sizeof(id)) < 0)
		return -ENOMEM;
	struct store_param p[] = {store_p_text(id),
				  store_p_text(customer),
				  store_p_text(number),
				  store_p_text(recipient),
				  row->brand_id.len ? store_p_str(row->brand_id) : store_p_null(),
				  store_p_int(now)};
	int rc = store_exec(ctx->conn, IMPORT_SQL, p, 6, &r);
	if (rc == 0)
		st->imported += store_res_changes(r);
	store_res_free(r);
	return rc;
}

/* Every line of body; the rows only when no line is bad. */
static int import_body(struct api_ctx *ctx, const char *customer, struct str body,
		       struct import_stats *st)
{
	struct str rest = body;
	struct tendlc_csv_row row;
	size_t line = 0;
	int64_t now = time_wall_ms();
	enum tendlc_csv_result res;
	int rc = 0;

	while ((res = tendlc_csv_next(&rest, &line, &row)) != TENDLC_CSV_END)
		if (res == TENDLC_CSV_BAD)
			import_error(st, line,
				     "a line is number,recipient[,brand_id], both numbers E.164; "
				     "nothing was imported");
		else if (res == TENDLC_CSV_ROW && ++st->rows > IMPORT_ROWS_MAX)
			return -E2BIG;
	if (st->bad)
		return -EINVAL;
	rest = body;
	line = 0;
	while (rc == 0 && (res = tendlc_csv_next(&rest, &line, &row)) != TENDLC_CSV_END)
		if (res == TENDLC_CSV_ROW)
			rc = import_row(ctx, customer, &row, now, st);
	return rc;
}

/* The customer an import is for: the caller's, or ?customer_id= of an
 * admin, which must exist; NULL when answered. */
static const char *import_customer(struct api_ctx *ctx)
{
	const char *given = http_req_query(ctx->req, "customer_id");

	if (!api_is_admin(ctx))
		return ctx->who->customer_id;
	if (given && api_row_visible(ctx, "customers", NULL, given))
		return given;
	http_reply_error(ctx->req, 422, given ? "not_found" : "required", "Unprocessable", NULL,
			 given ? "no customer %s" : "'customer_id' (query) names the customer",
			 given ? given : "");
	return NULL;
}

static void import_reply(struct api_ctx *ctx, int rc, const struct import_stats *st)
{
	if (rc == -EINVAL) {
		json_t *body = json_pack("{s:O,s:{s:I,s:I}}", "errors", st->errors, "meta", "total",
					 (json_int_t)st->bad, "shown",
					 (json_int_t)json_array_size(st->errors));
		http_reply_json(ctx->req, 422, body);
	} else if (rc == -E2BIG) {
		http_reply_error(ctx->req, 413, "too_many_rows", "Too large", NULL,
				 "at most %d lines an import", IMPORT_ROWS_MAX);
	} else if (rc < 0) {
		api_reply_store_error(ctx, rc, "opt_out");
	} else {
		http_reply_data(ctx->req, 200,
				json_pack("{s:I,s:I}", "rows", (json_int_t)st->rows, "imported",
					  (json_int_t)st->imported));
	}
}

/* The import's writes, its event and its Idempotency-Key record in one
 * transaction: all of them or none. */
static int import_write(struct api_ctx *ctx, const char *customer, struct import_stats *st)
{
	int rc = store_tx_begin(ctx->conn);

	rc = rc ? rc : import_body(ctx, customer, http_req_body(ctx->req), st);
	json_t *data = json_pack("{s:I,s:I}", "rows", (json_int_t)st->rows, "imported",
				 (json_int_t)st->imported);
	json_t *body = json_pack("{s:O}", "data", data);
	rc = rc ? rc : api_event_emit(ctx, customer, "opt_out.imported", customer, data);
	rc = rc ? rc : api_idempotency_record(ctx, 200, body);
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0)
		store_tx_rollback(ctx->conn);
	json_decref(body);
	json_decref(data);
	return rc;
}

static void handle_import(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct import_stats st = {0, 0, 0, json_array()};
	const char *customer;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) ||
	    api_idempotency_replay(&ctx) || !(customer = import_customer(&ctx)))
		goto out;
	import_reply(&ctx, import_write(&ctx, customer, &st), &st);
out:
	json_decref(st.errors);
}

int api_opt_outs_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_POST, "/api/v1/opt-out-imports", handle_import, NULL);
}
