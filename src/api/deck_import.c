/*
 * deck_import.c — POST /api/v1/rate-decks/{id}/versions: a deck's CSV
 * becomes its next version, as a draft (decision 0034).
 *
 * The body is read by the billing module's importer (billing_csv_parse),
 * the code the rating engine trusts, so what the API accepts is exactly
 * what will be rated.  A file with any bad row answers 422 listing every
 * problem by line and column (the first BILLING_CSV_ERRORS_MAX of them)
 * and stores nothing.  A good file is written in one transaction — the
 * version, all its rows and the event — so a reader sees the whole
 * version or none of it.  Rows go in multi-row INSERTs of IMPORT_BATCH
 * rows: one statement per row was the cost of a 100,000-row deck, and the
 * same statement text each time lets SQLite keep it prepared.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"
#include "billing/billing.h"

#define IMPORT_COLS 14
/* Rows per INSERT.  SQLite finds a "$N" parameter's name by walking a list
 * (sqlite3_bind_parameter_name), so binding a statement costs the square
 * of its parameters: 100 rows a statement took 8 s for 100,000 rows, 10
 * rows well under one.  PostgreSQL parses each statement afresh, so there
 * fewer, larger statements win (3,500 parameters, far below its 65,535). */
#define IMPORT_BATCH_SQLITE 10
#define IMPORT_BATCH_PG 250
#define IMPORT_BATCH_MAX IMPORT_BATCH_PG

/* "INSERT INTO rate_deck_rows (…) VALUES ($1, …), (…)" for n rows. */
static int import_sql(struct buf *b, size_t n)
{
	int rc = buf_append_cstr(b, "INSERT INTO rate_deck_rows (version_id, seq, prefix, service, "
				    "destination, zone, rate, connection_fee, initial_s, "
				    "increment_s, min_duration_s, effective_from, effective_to, "
				    "line) VALUES ");
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = buf_append_cstr(b, i ? ", (" : "(");
		for (size_t c = 0; c < IMPORT_COLS && rc == 0; c++)
			rc = buf_printf(b, c ? ", $%zu" : "$%zu", i * IMPORT_COLS + c + 1);
		rc = rc ? rc : buf_append_char(b, ')');
	}
	return rc;
}

static void import_bind(struct store_param *p, const char *version, size_t seq,
			const struct billing_csv_row *row)
{
	const struct billing_rate *r = &row->rate;

	p[0] = store_p_text(version);
	p[1] = store_p_int((int64_t)seq);
	p[2] = store_p_text(r->prefix);
	p[3] = store_p_text(r->service == BILLING_SMS ? "sms" : "voice");
	p[4] = store_p_str(row->destination.p ? row->destination : STR_LIT(""));
	p[5] = store_p_str(row->zone.p ? row->zone : STR_LIT(""));
	p[6] = store_p_int(r->rate);
	p[7] = store_p_int(r->connection_fee);
	p[8] = store_p_int(r->initial_s);
	p[9] = store_p_int(r->increment_s);
	p[10] = store_p_int(r->min_duration_s);
	p[11] = store_p_int(r->effective_from);
	p[12] = store_p_int(r->effective_to);
	p[13] = store_p_int(row->line);
}

/* Every row of d under version, IMPORT_BATCH at a time. */
static int import_rows(struct api_ctx *ctx, const char *version, const struct billing_csv *d)
{
	size_t batch =
	    store_kind(ctx->api->store) == STORE_SQLITE ? IMPORT_BATCH_SQLITE : IMPORT_BATCH_PG;
	struct store_param *p = calloc(IMPORT_BATCH_MAX * IMPORT_COLS, sizeof(*p));
	struct buf full, part;
	int rc = p ? 0 : -ENOMEM;

	buf_init(&full);
	buf_init(&part);
	rc = rc ? rc : import_sql(&full, batch);
	for (size_t at = 0; at < d->nrows && rc == 0; at += batch) {
		size_t n = d->nrows - at < batch ? d->nrows - at : batch;
		for (size_t i = 0; i < n; i++)
			import_bind(p + i * IMPORT_COLS, version, at + i, &d->rows[at + i]);
		if (n < batch)
			rc = import_sql(&part, n);
		rc = rc ? rc
			: store_exec(ctx->conn, n < batch ? part.p : full.p, p, n * IMPORT_COLS,
				     NULL);
	}
	buf_fini(&part);
	buf_fini(&full);
	free(p);
	return rc;
}

/* The version row: the deck's next number, as a draft. */
static int import_version(struct api_ctx *ctx, const char *deck, const char *id,
			  const struct billing_csv *d)
{
	size_t sms = 0;
	int64_t now = time_wall_ms();

	for (size_t i = 0; i < d->nrows; i++)
		sms += d->rows[i].rate.service == BILLING_SMS;
	struct store_param p[] = {
	    store_p_text(id),
	    store_p_text(deck),
	    store_p_int((int64_t)d->nrows),
	    store_p_int((int64_t)(d->nrows - sms)),
	    store_p_int((int64_t)sms),
	    store_p_int(now),
	};
	return store_exec(ctx->conn,
			  "INSERT INTO rate_deck_versions (id, deck_id, number, activate_at, "
			  "row_count, voice_rows, sms_rows, created_at, updated_at) "
			  "SELECT $1, $2, COALESCE(MAX(number), 0) + 1, NULL, CAST($3 AS BIGINT), "
			  "CAST($4 AS BIGINT), CAST($5 AS BIGINT), CAST($6 AS BIGINT), "
			  "CAST($6 AS BIGINT) "
			  "FROM rate_deck_versions WHERE deck_id = $2",
			  p, 6, NULL);
}

/* 422 with one error object per problem, each naming its line, column and
 * the header's name for the column. */
static void import_reply_errors(struct api_ctx *ctx, const struct billing_csv *d)
{
	json_t *errors = json_array();

	for (size_t i = 0; i < d->nerrors; i++) {
		const struct billing_csv_error *e = &d->errors[i];
		json_t *src = json_pack("{s:I,s:I}", "line", (json_int_t)e->line, "column",
					(json_int_t)e->column);
		json_object_set_new(src, "column_name",
				    e->column_name[0] ? json_string(e->column_name) : json_null());
		json_array_append_new(
		    errors, json_pack("{s:s,s:s,s:s,s:o}", "code", billing_csv_err_code(e->kind),
				      "title", "Invalid row", "detail", e->detail, "source", src));
	}
	http_reply_json(ctx->req, 422,
			json_pack("{s:o,s:{s:I,s:I}}", "errors", errors, "meta", "total",
				  (json_int_t)d->nerrors_total, "shown", (json_int_t)d->nerrors));
}

/* text/csv (RFC 7111), and what spreadsheets and scripts send a CSV file
 * as; JSON is a mistake worth naming. */
static bool import_type_ok(struct api_ctx *ctx)
{
	static const char *const types[] = {"text/csv", "text/plain", "application/csv",
					    "application/vnd.ms-excel", "application/octet-stream"};
	const char *ct = http_req_header(ctx->req, "Content-Type");
	size_t n = ct ? strcspn(ct, "; ") : 0;

	for (size_t i = 0; ct && i < sizeof(types) / sizeof(types[0]); i++)
		if (n == strlen(types[i]) && strncasecmp(ct, types[i], n) == 0)
			return true;
	http_reply_error(ctx->req, 415, "unsupported_media_type", "Unsupported Media Type", NULL,
			 "a rate deck is sent as text/csv, not %s", ct ? ct : "without a type");
	return false;
}

/* Writes the parsed deck as a new version and answers 201 with it. */
static void import_store(struct api_ctx *ctx, const char *deck, const struct billing_csv *d)
{
	char id[ID_MAX];
	json_t *v = NULL;

	id_new("rdv", id, sizeof(id));
	int rc = store_tx_begin(ctx->conn);
	rc = rc ? rc : import_version(ctx, deck, id, d);
	rc = rc ? rc : import_rows(ctx, id, d);
	v = rc ? NULL : api_deck_version_load(ctx, id);
	rc = rc ? rc : v ? 0 : -ENOENT;
	rc = rc ? rc : api_event_emit(ctx, NULL, "rate_deck_version.created", id, v);
	if (rc == 0) {
		json_t *body = json_pack("{s:O}", "data", v);
		rc = api_idempotency_record(ctx, 201, body);
		json_decref(body);
	}
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0) {
		store_tx_rollback(ctx->conn);
		json_decref(v);
		api_reply_store_error(ctx, rc, "rate deck version");
		return;
	}
	http_reply_data(ctx->req, 201, v);
}

void api_deck_import(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct billing_csv d;
	const char *deck = http_req_param(req, "id");
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) || !api_require_admin(&ctx))
		return;
	if (!api_row_visible(&ctx, "rate_decks", NULL, deck)) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no rate deck %s", deck);
		return;
	}
	if (api_idempotency_replay(&ctx) || !import_type_ok(&ctx))
		return;
	int rc = billing_csv_parse(http_req_body(req), &d);
	if (rc == -EINVAL)
		import_reply_errors(&ctx, &d);
	else if (rc < 0)
		http_reply_error(req, 503, "out_of_memory", "Service Unavailable", NULL,
				 "no memory to read the deck now; try again");
	else
		import_store(&ctx, deck, &d);
	billing_csv_fini(&d);
}
