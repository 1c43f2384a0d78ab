/*
 * stream.c — streaming inserts: the lane's next ready rows, read in one
 * ordered select of up to [export] inflight × batch_rows rows, cut into
 * requests of at most batch_rows rows and EXPORT_STREAM_BYTES_MAX of JSON,
 * and posted to tabledata.insertAll all at once (a window of requests in
 * flight: the store, the encoding and BigQuery work at the same time), each
 * row with insertId = the record's id, so that a request sent again after
 * a lost answer is de-duplicated by BigQuery.  skipInvalidRows is set:
 * BigQuery then stores the good rows of a request and names the bad ones in
 * insertErrors of its 200, and those are quarantined with the reason in the
 * one transaction that moves the cursor past the window.  The cursor moves
 * past the longest run of accepted requests from the window's start; after
 * a 429, a 5xx or no answer the rest of the window goes again after a
 * backoff (a later request that was accepted meanwhile is sent again and
 * de-duplicated by its insertIds).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

/* One window: which rows of the select each request carries, where each
 * row's JSON sits in its request's body (for its quarantine), and why
 * BigQuery refused a row, if it did. */
struct stream_window {
	size_t nreq;
	size_t first[EXPORT_INFLIGHT_MAX], count[EXPORT_INFLIGHT_MAX];
	size_t *off, *len; /* per row of the select */
	char **reason;	   /* per row: NULL, or BigQuery's reason (owned) */
	size_t rows;	   /* rows of the select */
};

static int stream_window_init(struct stream_window *w, size_t rows)
{
	memset(w, 0, sizeof(*w));
	w->rows = rows;
	w->off = calloc(rows, sizeof(*w->off));
	w->len = calloc(rows, sizeof(*w->len));
	w->reason = calloc(rows, sizeof(*w->reason));
	return w->off && w->len && w->reason ? 0 : -ENOMEM;
}

static void stream_window_fini(struct stream_window *w)
{
	for (size_t i = 0; w->reason && i < w->rows; i++)
		free(w->reason[i]);
	free(w->off);
	free(w->len);
	free(w->reason);
}

/* Request k of the window into body: rows from `from` on, at most
 * batch_rows of them and, past the first, EXPORT_STREAM_BYTES_MAX. */
static int stream_body(struct export *x, struct export_lane *l, const struct store_res *r,
		       struct stream_window *w, size_t k, size_t from, struct buf *body)
{
	size_t rows = store_res_rows(r), n = 0;
	int rc;

	buf_reset(body);
	rc = buf_append_cstr(body, "{\"kind\":\"bigquery#tableDataInsertAllRequest\","
				   "\"skipInvalidRows\":true,\"ignoreUnknownValues\":false,"
				   "\"rows\":[");
	for (size_t i = from; rc == 0 && i < rows && n < (size_t)x->o.batch_rows; i++, n++) {
		if (n > 0 && body->len > EXPORT_STREAM_BYTES_MAX)
			break; /* the rest go in the next request */
		rc = buf_append_cstr(body, n ? ",{\"insertId\":\"" : "{\"insertId\":\"");
		rc =
		    rc ? rc : buf_append_json_escaped(body, str_from_cstr(store_res_text(r, i, 1)));
		rc = rc ? rc : buf_append_cstr(body, "\",\"json\":");
		w->off[i] = body->len;
		rc = rc ? rc : export_row_encode(l->table, r, i, body);
		w->len[i] = body->len - w->off[i];
		rc = rc ? rc : buf_append_char(body, '}');
	}
	w->first[k] = from;
	w->count[k] = n;
	return rc ? -ENOMEM : buf_append_cstr(body, "]}") < 0 ? -ENOMEM : 0;
}

/* The whole select cut into requests, one body each. */
static int stream_bodies(struct export *x, struct export_lane *l, const struct store_res *r,
			 struct stream_window *w)
{
	size_t from = 0, rows = store_res_rows(r);
	int rc = 0;

	for (w->nreq = 0; rc == 0 && from < rows && w->nreq < (size_t)x->o.inflight; w->nreq++) {
		rc = stream_body(x, l, r, w, w->nreq, from, &x->bodies[w->nreq]);
		from += w->count[w->nreq];
	}
	return rc;
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

struct stream_marks {
	struct stream_window *w;
	size_t k; /* the request whose answer is read */
};

static int stream_mark_bad(size_t index, const char *reason, void *arg)
{
	struct stream_marks *m = arg;
	struct stream_window *w = m->w;
	size_t row = w->first[m->k] + index;

	if (index >= w->count[m->k])
		return -EPROTO;
	free(w->reason[row]);
	w->reason[row] = strdup(reason);
	return w->reason[row] ? 0 : -ENOMEM;
}

/* Rows [0, upto) accepted: quarantine and cursor, one commit. */
static int stream_commit(struct export *x, struct export_lane *l, struct store_conn *c,
			 const struct store_res *r, const struct stream_window *w, size_t upto,
			 size_t *nbad)
{
	int64_t now = time_wall_ms();
	int rc = store_tx_begin(c);

	*nbad = 0;
	for (size_t i = 0; rc == 0 && i < upto; i++) {
		if (!w->reason[i])
			continue;
		size_t k = 0;
		while (k + 1 < w->nreq && w->first[k + 1] <= i)
			k++;
		(*nbad)++;
		log_warn("export", "%s: %s %s quarantined: %s", l->cur.stream, l->table->name,
			 store_res_text(r, i, 1), w->reason[i]);
		rc = export_quarantine_add(
		    c, l->cur.stream, l->table->name, store_res_text(r, i, 1), w->reason[i],
		    (struct str){x->bodies[k].p + w->off[i], w->len[i]}, now);
	}
	rc = rc ? rc
		: export_cursor_advance(c, &l->cur, store_res_int(r, upto - 1, 0),
					store_res_text(r, upto - 1, 1), (int64_t)(upto - *nbad),
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

/* How request k went: 0 once BigQuery answered 200 and its insertErrors
 * are marked in w; otherwise the failure counted (the first one only:
 * one failure per window, one backoff). */
static int stream_answer(struct export *x, struct export_lane *l, struct stream_window *w, size_t k,
			 const struct export_http_resp *resp, bool count)
{
	struct stream_marks m = {w, k};
	int rc = -EIO;

	if (resp->status != 200) {
		if (count)
			export_http_failed(x, l, "insertAll", resp);
	} else if ((rc = export_insert_errors_parse(resp->body.p, resp->body.len, stream_mark_bad,
						    &m)) < 0 &&
		   count) {
		export_lane_failed(x, l, EXPORT_FAIL_HTTP_4XX,
				   "insertAll: an answer we cannot read");
	}
	return rc;
}

/* Posts the window's requests together; the rows of the requests
 * BigQuery accepted from the window's start on (0: none). */
static size_t stream_post(struct export *x, struct export_lane *l, struct stream_window *w)
{
	char url[2048];
	struct export_http_req q[EXPORT_INFLIGHT_MAX];
	struct export_http_resp resp[EXPORT_INFLIGHT_MAX];
	const char *bearer = export_bearer(x, l);
	size_t upto = 0;
	bool ok = true;

	if (!bearer || stream_url(x, l, url, sizeof(url)) < 0)
		return 0; /* counted by export_bearer; a URL too long cannot be */
	for (size_t k = 0; k < w->nreq; k++) {
		q[k] = (struct export_http_req){.method = "POST",
						.url = url,
						.content_type = "application/json",
						.bearer = bearer,
						.head = {x->bodies[k].p, x->bodies[k].len}};
		resp[k] = (struct export_http_resp){.status = 0};
		buf_init(&resp[k].body);
	}
	if (w->nreq == 1)
		export_http_do(&x->http, &q[0], &resp[0]);
	else
		export_http_do_many(&x->http, q, resp, w->nreq);
	for (size_t k = 0; k < w->nreq; k++) {
		if (ok && stream_answer(x, l, w, k, &resp[k], true) == 0)
			upto = w->first[k] + w->count[k];
		else
			ok = false;
		export_http_resp_fini(&resp[k]);
	}
	return upto;
}

enum export_step export_stream_step(struct export *x, struct export_lane *l, int64_t now_ms)
{
	struct store_conn *c = store_conn(x->o.store);
	struct store_res *r = NULL;
	struct stream_window w = {0};
	size_t nbad = 0, upto;
	enum export_step step = EXPORT_FAILED;

	if (!c || export_select_sql(l->table, &x->sql) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "store unreachable");
		return EXPORT_FAILED;
	}
	struct store_param p[4] = {store_p_int(l->cur.ts), store_p_text(l->cur.id),
				   store_p_int(now_ms - x->o.settle_ms),
				   store_p_int((int64_t)x->o.batch_rows * x->o.inflight)};
	if (store_exec(c, x->sql.p, p, 4, &r) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "select: %s", store_conn_errmsg(c));
		goto out;
	}
	step = EXPORT_IDLE;
	if (store_res_rows(r) == 0)
		goto out;
	step = EXPORT_FAILED;
	if (stream_window_init(&w, store_res_rows(r)) < 0 || stream_bodies(x, l, r, &w) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "out of memory");
		goto out;
	}
	bool all;
	if ((upto = stream_post(x, l, &w)) == 0)
		goto out;
	all = upto == w.first[w.nreq - 1] + w.count[w.nreq - 1];
	if (stream_commit(x, l, c, r, &w, upto, &nbad) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "cursor: %s", store_conn_errmsg(c));
		goto out;
	}
	if (all)
		export_lane_moved(x, l, (int64_t)(upto - nbad), (int64_t)nbad);
	else { /* the failure is counted and backs off; what was taken still counts */
		metric_add(l->rows, (int64_t)(upto - nbad));
		metric_add(l->quarantined, (int64_t)nbad);
	}
	step = all ? EXPORT_MOVED : EXPORT_FAILED;
out:
	stream_window_fini(&w);
	store_res_free(r);
	return step;
}
