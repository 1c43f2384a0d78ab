/*
 * cursor.c — the export's state in the store: one export_cursors row per
 * stream, moved in the transaction that also quarantines its batch's
 * refused rows, so a restart resumes exactly after the last batch BigQuery
 * took (migration 0023).
 */
#include <errno.h>
#include <string.h>

#include "export/export_private.h"

int export_cursor_load(struct store_conn *c, const char *stream, struct export_cursor *cur)
{
	struct store_param p[2] = {store_p_text(stream), store_p_int(time_wall_ms())};
	struct store_res *r = NULL;
	int rc = store_exec(c,
			    "INSERT INTO export_cursors (stream, updated_at) VALUES ($1, $2) "
			    "ON CONFLICT (stream) DO NOTHING",
			    p, 2, NULL);

	rc =
	    rc ? rc
	       : store_exec(c, "SELECT ts, id, rows_exported FROM export_cursors WHERE stream = $1",
			    p, 1, &r);
	if (rc == 0 && store_res_rows(r) != 1)
		rc = STORE_ERR;
	if (rc == 0) {
		snprintf(cur->stream, sizeof(cur->stream), "%s", stream);
		cur->ts = store_res_int(r, 0, 0);
		snprintf(cur->id, sizeof(cur->id), "%s", store_res_text(r, 0, 1));
		cur->rows = store_res_int(r, 0, 2);
	}
	store_res_free(r);
	return rc;
}

int export_cursor_advance(struct store_conn *c, struct export_cursor *cur, int64_t ts,
			  const char *id, int64_t rows, int64_t quarantined, int64_t now_ms)
{
	struct store_param p[6] = {store_p_int(ts),	store_p_text(id),
				   store_p_int(rows),	store_p_int(quarantined),
				   store_p_int(now_ms), store_p_text(cur->stream)};
	int rc = store_exec(c,
			    "UPDATE export_cursors SET ts = $1, id = $2, "
			    "rows_exported = rows_exported + $3, "
			    "rows_quarantined = rows_quarantined + $4, last_success_at = $5, "
			    "updated_at = $5 WHERE stream = $6",
			    p, 6, NULL);

	if (rc == 0) {
		cur->ts = ts;
		snprintf(cur->id, sizeof(cur->id), "%s", id);
		cur->rows += rows;
	}
	return rc;
}

int export_cursor_job(struct store_conn *c, struct export_cursor *cur, int64_t ts, const char *job,
		      int64_t now_ms)
{
	struct store_param p[4] = {store_p_int(ts), store_p_text(job), store_p_int(now_ms),
				   store_p_text(cur->stream)};
	int rc = store_exec(
	    c, "UPDATE export_cursors SET ts = $1, id = $2, updated_at = $3 WHERE stream = $4", p,
	    4, NULL);

	if (rc == 0) {
		cur->ts = ts;
		snprintf(cur->id, sizeof(cur->id), "%s", job);
	}
	return rc;
}

int export_cursor_failed(struct store_conn *c, const char *stream, const char *why, int64_t now_ms)
{
	struct store_param p[3] = {store_p_text(why), store_p_int(now_ms), store_p_text(stream)};

	return store_exec(c,
			  "UPDATE export_cursors SET failures = failures + 1, last_error = $1, "
			  "last_error_at = $2, updated_at = $2 WHERE stream = $3",
			  p, 3, NULL);
}

int export_quarantine_add(struct store_conn *c, const char *stream, const char *table,
			  const char *record_id, const char *reason, struct str row, int64_t now_ms)
{
	char id[ID_MAX];

	if (id_new("exq", id, sizeof(id)) < 0)
		return -EIO;
	struct store_param p[7] = {store_p_text(id),	 store_p_text(stream),
				   store_p_text(table),	 store_p_text(record_id),
				   store_p_text(reason), store_p_str(row),
				   store_p_int(now_ms)};
	return store_exec(
	    c,
	    "INSERT INTO export_quarantine (id, stream, table_name, record_id, reason, "
	    "row_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
	    "ON CONFLICT (table_name, record_id) DO NOTHING",
	    p, 7, NULL);
}
