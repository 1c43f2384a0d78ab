/*
 * stream.c — streaming inserts: the lane's next ready rows (at most
 * [export] batch_rows, at most EXPORT_STREAM_BYTES_MAX of JSON) posted to
 * tabledata.insertAll with insertId = the record's id, so that a batch sent
 * again after a lost answer is de-duplicated by BigQuery.  skipInvalidRows
 * is set: BigQuery then stores the good rows of a batch and names the bad
 * ones in insertErrors of its 200, and those are quarantined with the
 * reason in the transaction that moves the cursor past the batch.  A 429,
 * a 5xx or no answer leaves the cursor where it was; the same batch goes
 * again after a backoff.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

/* Where each row's JSON sits in the request body (for its quarantine). */
struct stream_batch {
	size_t n;
	size_t off[EXPORT_STREAM_ROWS_MAX], len[EXPORT_STREAM_ROWS_MAX];
	char reason[EXPORT_STREAM_ROWS_MAX][EXPORT_ERR_MAX];
	bool bad[EXPORT_STREAM_ROWS_MAX];
};

static int stream_body(struct export *x, struct export_lane *l, const struct store_res *r,
		       struct stream_batch *b)
{
	struct buf *body = &x->body;
	size_t rows = store_res_rows(r);
	int rc = 0;

	buf_reset(body);
	rc = buf_append_cstr(body, "{\"kind\":\"bigquery#tableDataInsertAllRequest\","
				   "\"skipInvalidRows\":true,\"ignoreUnknownValues\":false,"
				   "\"rows\":[");
	for (b->n = 0; rc == 0 && b->n < rows && b->n < EXPORT_STREAM_ROWS_MAX; b->n++) {
		if (b->n > 0 && body->len > EXPORT_STREAM_BYTES_MAX)
			break; /* the rest go in the next request */
		rc = buf_printf(body, "%s{\"insertId\":\"", b->n ? "," : "") < 0 ? -ENOMEM : 0;
		rc = rc ? rc
			: buf_append_json_escaped(body, str_from_cstr(store_res_text(r, b->n, 1)));
		rc = rc ? rc : buf_append_cstr(body, "\",\"json\":");
		b->off[b->n] = body->len;
		rc = rc ? rc : export_row_encode(l->table, r, b->n, body);
		b->len[b->n] = body->len - b->off[b->n];
		b->bad[b->n] = false;
		rc = rc ? rc : buf_append_char(body, '}');
	}
	return rc ? rc : buf_append_cstr(body, "]}");
}

/* "reason: message (location)" of each error, joined by "; ". */
static void stream_reason(json_t *errors, char *out, size_t n)
{
	size_t i, w = 0;
	json_t *e;

	out[0] = '\0';
	json_array_foreach(errors, i, e)
	{
		const char *loc = json_string_value(json_object_get(e, "location"));
		int k = snprintf(out + w, n - w, "%s%s: %s%s%s%s", i ? "; " : "",
				 json_string_value(json_object_get(e, "reason")) ?: "error",
				 json_string_value(json_object_get(e, "message")) ?: "",
				 loc && loc[0] ? " (" : "", loc && loc[0] ? loc : "",
				 loc && loc[0] ? ")" : "");
		if (k < 0 || (size_t)k >= n - w)
			break;
		w += (size_t)k;
	}
	if (!out[0])
		snprintf(out, n, "refused without a reason");
}

int export_insert_errors_parse(const char *body, size_t len,
			       int (*on)(size_t index, const char *reason, void *arg), void *arg)
{
	char reason[EXPORT_ERR_MAX];
	json_t *o = json_loadb(body, len, 0, NULL), *list = json_object_get(o, "insertErrors"), *e;
	size_t i;
	int rc = json_is_object(o) && (!list || json_is_array(list)) ? 0 : -EPROTO;

	json_array_foreach(list, i, e)
	{
		json_t *idx = json_object_get(e, "index");
		if (rc < 0 || !json_is_integer(idx) || json_integer_value(idx) < 0) {
			rc = -EPROTO;
			break;
		}
		stream_reason(json_object_get(e, "errors"), reason, sizeof(reason));
		rc = on((size_t)json_integer_value(idx), reason, arg);
	}
	json_decref(o);
	return rc;
}

static int stream_mark_bad(size_t index, const char *reason, void *arg)
{
	struct stream_batch *b = arg;

	if (index >= b->n)
		return -EPROTO;
	b->bad[index] = true;
	snprintf(b->reason[index], sizeof(b->reason[index]), "%s", reason);
	return 0;
}

/* The batch BigQuery answered 200 for: quarantine and cursor, one commit. */
static int stream_commit(struct export *x, struct export_lane *l, struct store_conn *c,
			 const struct store_res *r, const struct stream_batch *b, size_t *nbad)
{
	int64_t now = time_wall_ms();
	int rc = store_tx_begin(c);

	*nbad = 0;
	for (size_t i = 0; rc == 0 && i < b->n; i++) {
		if (!b->bad[i])
			continue;
		(*nbad)++;
		log_warn("export", "%s: %s %s quarantined: %s", l->cur.stream, l->table->name,
			 store_res_text(r, i, 1), b->reason[i]);
		rc = export_quarantine_add(c, l->cur.stream, l->table->name,
					   store_res_text(r, i, 1), b->reason[i],
					   (struct str){x->body.p + b->off[i], b->len[i]}, now);
	}
	rc = rc ? rc
		: export_cursor_advance(c, &l->cur, store_res_int(r, b->n - 1, 0),
					store_res_text(r, b->n - 1, 1), (int64_t)(b->n - *nbad),
					(int64_t)*nbad, now);
	rc = rc ? rc : store_tx_commit(c);
	if (rc)
		store_tx_rollback(c);
	return rc;
}

static int stream_url(struct export *x, struct export_lane *l, char *url, size_t n)
{
	int w = snprintf(url, n, "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll",
			 x->o.api_url, x->o.project, x->o.dataset, l->table->name);
	return w < 0 || (size_t)w >= n ? -ENOSPC : 0;
}

/* Posts the batch in x->body; 0 once BigQuery answered 200 and its
 * insertErrors are marked in b. */
static int stream_post(struct export *x, struct export_lane *l, struct stream_batch *b)
{
	char url[2048];
	struct export_http_resp resp = {0};
	const char *bearer = export_bearer(x, l);
	int rc = bearer ? stream_url(x, l, url, sizeof(url)) : -EACCES;

	buf_init(&resp.body);
	struct export_http_req q = {.method = "POST",
				    .url = url,
				    .content_type = "application/json",
				    .bearer = bearer,
				    .head = {x->body.p, x->body.len}};
	rc = rc ? rc : export_http_do(&x->http, &q, &resp);
	if (rc == -EACCES) {
		/* counted by export_bearer */
	} else if (rc < 0 || resp.status != 200) {
		export_http_failed(x, l, "insertAll", &resp);
		rc = -EIO;
	} else if ((rc = export_insert_errors_parse(resp.body.p, resp.body.len, stream_mark_bad,
						    b)) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_HTTP_4XX,
				   "insertAll: an answer we cannot read");
	}
	export_http_resp_fini(&resp);
	return rc;
}

enum export_step export_stream_step(struct export *x, struct export_lane *l, int64_t now_ms)
{
	struct stream_batch *b = malloc(sizeof(*b)); /* 130 kB: not on the stack */
	struct store_conn *c = b ? store_conn(x->o.store) : NULL;
	struct store_res *r = NULL;
	size_t nbad = 0;
	enum export_step step = EXPORT_FAILED;

	if (!c || export_select_sql(l->table, &x->sql) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "store unreachable");
		free(b);
		return EXPORT_FAILED;
	}
	struct store_param p[4] = {store_p_int(l->cur.ts), store_p_text(l->cur.id),
				   store_p_int(now_ms - x->o.settle_ms),
				   store_p_int(x->o.batch_rows)};
	if (store_exec(c, x->sql.p, p, 4, &r) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "select: %s", store_conn_errmsg(c));
		goto out;
	}
	step = EXPORT_IDLE;
	if (store_res_rows(r) == 0)
		goto out;
	step = EXPORT_FAILED;
	if (stream_body(x, l, r, b) < 0 || stream_post(x, l, b) < 0)
		goto out;
	if (stream_commit(x, l, c, r, b, &nbad) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "cursor: %s", store_conn_errmsg(c));
		goto out;
	}
	export_lane_moved(x, l, (int64_t)(b->n - nbad), (int64_t)nbad);
	step = EXPORT_MOVED;
out:
	store_res_free(r);
	free(b);
	return step;
}
