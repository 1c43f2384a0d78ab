/*
 * carrier_prefixes.c — /api/v1/carrier-prefixes: the number-portability /
 * prefix table that says which carrier a US handset is on (admins only;
 * decision 0050).  A row is a prefix of E.164 digits (an NPA-NXX block,
 * or a whole ported number) and a carrier: att, tmobile, verizon or
 * other; the longest prefix of a destination names its carrier, and by it
 * the smsc applies a campaign's per-carrier limits and a brand's T-Mobile
 * daily cap.  Loaded like a rate deck, from the CSV a portability
 * provider exports:
 *
 *   POST /api/v1/carrier-prefix-imports[?replace=true]   text/csv "prefix,carrier"
 *
 * One transaction: every line is stored (a prefix already there takes the
 * file's carrier), with replace=true the prefixes not in the file are
 * removed; a file with a bad line stores nothing and answers 422 naming
 * the lines.  Every write bumps the config version, so the send paths'
 * snapshot reads the table at once after.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"
#include "tendlc/tendlc.h"

#define IMPORT_ERRORS_MAX 20
#define IMPORT_ROWS_MAX 1000000

#define UPSERT_SQL                                                                                 \
	"INSERT INTO carrier_prefixes (id, prefix, carrier, created_at, updated_at) VALUES ($1, "  \
	"$2, $3, $4, $4) ON CONFLICT (prefix) DO UPDATE SET carrier = excluded.carrier, "          \
	"updated_at = excluded.updated_at"
/* replace=true: what the file did not write is gone (its rows all carry
 * this import's updated_at). */
#define PRUNE_SQL "DELETE FROM carrier_prefixes WHERE updated_at <> $1"

static int check_prefix(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			struct api_verr *e)
{
	(void)ctx;
	(void)f;
	if (api_is_digits(json_string_value(*val), 1, 15))
		return 0;
	return api_verr_set(e, 422, "invalid_prefix", "/prefix",
			    "a prefix is 1 to 15 digits of E.164, without '+'");
}

static const struct api_field prefix_fields[] = {
    {"prefix", NULL, API_F_STR, API_F_REQUIRED, 1, 15, NULL, check_prefix},
    {"carrier", NULL, API_F_ENUM, API_F_REQUIRED, 0, 0, "att|tmobile|verizon|other", NULL},
};

const struct api_resource api_carrier_prefixes = {
    .name = "carrier_prefix",
    .path = "/api/v1/carrier-prefixes",
    .table = "carrier_prefixes",
    .id_prefix = "cpx",
    .scope = API_SCOPE_ADMIN,
    .fields = prefix_fields,
    .nfields = sizeof(prefix_fields) / sizeof(prefix_fields[0]),
};

/* ------------------------------------------------------------ import */

struct prefix_import {
	int64_t rows, removed, bad, now;
	json_t *errors;
};

static int import_rows(struct api_ctx *ctx, struct str body, struct prefix_import *st)
{
	struct str rest = body;
	struct tendlc_prefix_row row;
	size_t line = 0;
	enum tendlc_csv_result res;
	int rc = 0;

	while ((res = tendlc_prefix_csv_next(&rest, &line, &row)) != TENDLC_CSV_END) {
		if (res == TENDLC_CSV_BAD && ++st->bad <= IMPORT_ERRORS_MAX)
			json_array_append_new(
			    st->errors,
			    json_pack("{s:s,s:s,s:s,s:{s:I}}", "code", "invalid_line", "title",
				      "Unprocessable", "detail",
				      "a line is prefix,carrier: 1 to 15 digits and att, tmobile, "
				      "verizon or other; nothing was imported",
				      "source", "line", (json_int_t)line));
		if (res != TENDLC_CSV_ROW || st->bad)
			continue;
		if (++st->rows > IMPORT_ROWS_MAX)
			return -E2BIG;
		char id[ID_MAX];
		if (id_new("cpx", id, sizeof(id)) < 0)
			return -ENOMEM;
		struct store_param p[] = {store_p_text(id), store_p_str(row.prefix),
					  store_p_text(tendlc_carrier_name(row.carrier)),
					  store_p_int(st->now)};
		if ((rc = store_exec(ctx->conn, UPSERT_SQL, p, 4, NULL)) < 0)
			return rc;
	}
	return st->bad ? -EINVAL : 0;
}

static int import_write(struct api_ctx *ctx, bool replace, struct prefix_import *st)
{
	struct store_res *r = NULL;
	int rc = store_tx_begin(ctx->conn);

	/* The prune tells this import's rows by their updated_at: it must be
	 * later than every row's, even for an import in the same millisecond
	 * as the last one (which would otherwise keep that one's rows). */
	rc = rc ? rc
		: store_exec(ctx->conn, "SELECT MAX(updated_at) FROM carrier_prefixes", NULL, 0, &r);
	if (rc == 0 && !store_res_isnull(r, 0, 0) && store_res_int(r, 0, 0) >= st->now)
		st->now = store_res_int(r, 0, 0) + 1;
	store_res_free(r);
	r = NULL;
	struct store_param now = store_p_int(st->now);
	rc = rc ? rc : import_rows(ctx, http_req_body(ctx->req), st);
	if (rc == 0 && replace && (rc = store_exec(ctx->conn, PRUNE_SQL, &now, 1, &r)) == 0)
		st->removed = store_res_changes(r);
	store_res_free(r);
	json_t *data = json_pack("{s:I,s:I}", "rows", (json_int_t)st->rows, "removed",
				 (json_int_t)st->removed);
	json_t *body = json_pack("{s:O}", "data", data);
	rc = rc ? rc
		: api_event_emit(ctx, NULL, "carrier_prefix.imported", "carrier_prefixes", data);
	rc = rc ? rc : api_idempotency_record(ctx, 200, body);
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0)
		store_tx_rollback(ctx->conn);
	json_decref(body);
	if (rc == 0)
		http_reply_data(ctx->req, 200, data);
	else
		json_decref(data);
	return rc;
}

static void handle_import(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct prefix_import st = {.errors = json_array(), .now = time_wall_ms()};
	const char *replace;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) || api_idempotency_replay(&ctx))
		goto out;
	replace = http_req_query(req, "replace");
	int rc = import_write(&ctx, replace && strcmp(replace, "true") == 0, &st);
	if (rc == -EINVAL)
		http_reply_json(req, 422,
				json_pack("{s:O,s:{s:I,s:I}}", "errors", st.errors, "meta", "total",
					  (json_int_t)st.bad, "shown",
					  (json_int_t)json_array_size(st.errors)));
	else if (rc == -E2BIG)
		http_reply_error(req, 413, "too_many_rows", "Too large", NULL,
				 "at most %d lines an import", IMPORT_ROWS_MAX);
	else if (rc < 0)
		api_reply_store_error(&ctx, rc, "carrier_prefix");
out:
	json_decref(st.errors);
}

int api_carrier_prefixes_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_POST, "/api/v1/carrier-prefix-imports", handle_import, NULL);
}
