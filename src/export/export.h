/*
 * export.h — the billing role's warehouse export: rated CDRs and messages
 * leave the store for BigQuery, either as newline-delimited JSON load files
 * (one per table and hour or day, loaded by a load job) or streamed through
 * tabledata.insertAll (decision 0039, docs/export.md).
 *
 * One thread per process, with its own store connection and blocking curl
 * handle, walks a cursor per table (table export_cursors) so that a restart,
 * a crash or an hour offline neither loses nor repeats a row; rows BigQuery
 * refuses are kept in export_quarantine with its reason.  Its state is in
 * /metrics (warp_export_*) and, read from those tables, in the API.
 *
 *   struct export *x = export_new(&opts, err, sizeof(err));
 *   export_start(x);  ...  export_free(x);   (stops and joins the thread)
 */
#ifndef WARP_EXPORT_H
#define WARP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/store.h"

enum export_mode { EXPORT_MODE_STREAM, EXPORT_MODE_FILES };
enum export_period { EXPORT_PERIOD_HOUR, EXPORT_PERIOD_DAY };

struct export_opts {
	struct store *store;
	enum export_mode mode;
	const char *tables;  /* "cdrs,messages" */
	const char *project; /* BigQuery project id */
	const char *dataset;
	const char *key_file;	/* service-account key (JSON) */
	const char *token_url;	/* "" = the key file's token_uri */
	const char *api_url;	/* https://bigquery.googleapis.com */
	const char *upload_url; /* https://bigquery.googleapis.com/upload */
	const char *ca_file;	/* "" = the system's trust store */
	const char *dir;	/* load files */
	enum export_period period;
	bool load;	/* run a load job for each file written */
	int batch_rows; /* insertAll rows per request, <= 50,000 (500 recommended) */
	int inflight;	/* insertAll requests of a lane in flight at once, 1..8 */
	int64_t poll_ms, settle_ms, backoff_base_ms, backoff_max_ms, timeout_ms, job_poll_ms;
};

struct export;

/* Checks the options and reads the key file (when one is needed); NULL
 * with the reason in err. */
struct export *export_new(const struct export_opts *o, char *err, size_t errlen);
int export_start(struct export *x);
/* Stops the thread (an HTTP exchange in flight is abandoned, its rows
 * sent again on the next start) and frees. */
void export_free(struct export *x);

#endif
