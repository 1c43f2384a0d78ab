/*
 * export_private.h — the pieces of the export module, each in its own file:
 * base64url and the service-account JWT (jwt.c), the key file (sa_key.c),
 * the access token cache (token.c), the HTTP exchange (http.c), backoff
 * (backoff.c), the row mapping and BigQuery schemas (table.c, row.c), the
 * cursor and quarantine tables (cursor.c), insertAll (stream.c), load files
 * (files.c), load jobs (load.c) and the thread that runs them (export.c).
 */
#ifndef WARP_EXPORT_PRIVATE_H
#define WARP_EXPORT_PRIVATE_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "export/export.h"

#define EXPORT_ERR_MAX 256
/* BigQuery's documented insertAll limits (docs/export.md cites them): a
 * request carries at most 10 MB, and at most 50,000 rows with 500
 * recommended (the default of [export] batch_rows); we keep under 9 MB so
 * the envelope and escaping never push one over. */
#define EXPORT_STREAM_ROWS_MAX 50000
#define EXPORT_STREAM_BYTES_MAX (9 * 1024 * 1024)
/* insertAll requests of one lane in flight at once ([export] inflight). */
#define EXPORT_INFLIGHT_MAX 8
/* A response body larger than this is an error (a token or job answer is
 * a few kB; an insertAll answer lists at most 500 rows' errors). */
#define EXPORT_HTTP_BODY_MAX (4 * 1024 * 1024)
#define EXPORT_SCOPE "https://www.googleapis.com/auth/bigquery"
/* A token is renewed this long before the expiry its endpoint named. */
#define EXPORT_TOKEN_MARGIN_MS 60000

/* ------------------------------------------------------------ jwt.c */

/* Appends data as base64url without padding (RFC 7515 §2, RFC 4648 §5). */
int export_b64url_encode(const void *data, size_t n, struct buf *out);

/* ---------------------------------------------------------- sa_key.c */

/* A Google service-account key file: what the assertion needs of it. */
struct export_sa {
	char *email;	 /* client_email: the JWT's iss */
	char *key_id;	 /* private_key_id: the JWT header's kid */
	char *token_uri; /* where assertions are exchanged */
	EVP_PKEY *key;	 /* private_key (PEM, RSA) */
};

int export_sa_load(const char *path, struct export_sa *sa, char *err, size_t errlen);
void export_sa_fini(struct export_sa *sa);

/* The RS256-signed JWT assertion of RFC 7523 §2.1 that Google's token
 * endpoint takes for a service account: iss = email, scope, aud = the token
 * URL, iat = now_s, exp = now_s + 3600 (the most Google allows).  Appended
 * to out. */
int export_jwt_assertion(const struct export_sa *sa, const char *aud, const char *scope,
			 int64_t now_s, struct buf *out);

/* ------------------------------------------------------------ http.c */

/* One blocking HTTPS client for the export thread (kept for keep-alive):
 * easy[0] for one exchange at a time, all of them through multi for
 * several at once. */
struct export_http {
	CURL *easy[EXPORT_INFLIGHT_MAX];
	CURLM *multi;
	const char *ca_file; /* NULL or "": the system's store */
	int64_t timeout_ms;
	atomic_bool *stop; /* set: the exchange in flight is abandoned */
};

struct export_body_part {
	const char *p; /* memory, or NULL for the file */
	size_t len;
};

/* What a request sends: memory parts and at most one file in between
 * (a load file is streamed, never read whole into memory). */
struct export_http_req {
	const char *method; /* "GET" or "POST" */
	const char *url;
	const char *content_type;
	const char *bearer; /* NULL: no Authorization */
	struct export_body_part head, tail;
	FILE *file; /* sent between head and tail, file_len bytes */
	int64_t file_len;
};

struct export_http_resp {
	long status; /* 0 when no answer came (network, timeout, abort) */
	struct buf body;
	char err[CURL_ERROR_SIZE];
};

int export_http_init(struct export_http *h, const char *ca_file, int64_t timeout_ms,
		     atomic_bool *stop);
void export_http_fini(struct export_http *h);
/* 0 with r->status set (any status), or a negative error with r->err. */
int export_http_do(struct export_http *h, const struct export_http_req *q,
		   struct export_http_resp *r);
/* n (<= EXPORT_INFLIGHT_MAX) exchanges at once, each as export_http_do
 * would answer it in r[i]; returns once all have ended (or a stop). */
void export_http_do_many(struct export_http *h, const struct export_http_req *q,
			 struct export_http_resp *r, size_t n);
void export_http_resp_fini(struct export_http_resp *r);

/* ----------------------------------------------------------- token.c */

struct export_token {
	struct export_sa sa;
	char *url;	     /* the token endpoint (aud) */
	char *access;	     /* the cached access token, or NULL */
	int64_t renew_at_ms; /* wall clock: fetch a new one from here on */
};

int export_token_init(struct export_token *t, const char *key_file, const char *url, char *err,
		      size_t errlen);
void export_token_fini(struct export_token *t);
/* The access token, fetched when none is cached or it is about to expire;
 * *bearer stays valid until the next call. */
int export_token_get(struct export_token *t, struct export_http *h, int64_t now_ms,
		     const char **bearer, char *err, size_t errlen);
/* Forgets the cached token (the API answered 401). */
void export_token_drop(struct export_token *t);
/* Reads {"access_token", "expires_in"} of a token response (RFC 6749 §5.1). */
int export_token_parse(const char *body, size_t len, char **access, int64_t *expires_s);

/* --------------------------------------------------------- backoff.c */

struct export_backoff {
	int64_t base_ms, max_ms;
	unsigned failures; /* in a row */
};

/* The wait after one more failure: base doubled per failure in a row, at
 * most max, and from half of that to all of it by rnd (jitter, so that
 * several exporters do not retry in step). */
int64_t export_backoff_next(struct export_backoff *b, uint32_t rnd);
void export_backoff_reset(struct export_backoff *b);

/* ----------------------------------------------------- table.c, row.c */

enum export_kind {
	EXPORT_K_STRING,
	EXPORT_K_INT64,
	EXPORT_K_TIMESTAMP, /* epoch ms in the store, RFC 3339 UTC out */
	EXPORT_K_NUMERIC,   /* micro-units in the store, a decimal string out */
};

struct export_column {
	const char *name; /* the BigQuery field */
	const char *sql;  /* its expression in the SELECT */
	enum export_kind kind;
	bool required; /* REQUIRED, else NULLABLE */
	const char *doc;
};

/* One exported table: where its rows come from and the cursor's key. */
struct export_table {
	const char *name;   /* store table and BigQuery table */
	const char *from;   /* FROM clause (a join for side tables) */
	const char *where;  /* which rows are ready to leave */
	const char *ts_sql; /* cursor key, epoch ms, with id_sql */
	const char *id_sql;
	const struct export_column *cols;
	size_t ncols;
};

const struct export_table *export_table_find(struct str name);
/* Every table, for the schema documentation. */
const struct export_table *export_table_at(size_t i);

/* The BigQuery schema: [{"name","type","mode","description"}, ...]. */
int export_schema_json(const struct export_table *t, struct buf *out);
/* SELECT ts, id, columns... WHERE ready AND (ts, id) > ($1, $2) AND ts < $3
 * ORDER BY ts, id LIMIT $4. */
int export_select_sql(const struct export_table *t, struct buf *sql);
/* SELECT COUNT(*) of the ready rows after ($1, $2). */
int export_behind_sql(const struct export_table *t, struct buf *sql);
/* SELECT MIN(ts) of the ready rows at or after $1. */
int export_next_sql(const struct export_table *t, struct buf *sql);
/* Row `row` of a result of export_select_sql as one JSON object (no
 * newline): NULL columns are left out, as BigQuery reads a missing
 * NULLABLE field. */
int export_row_encode(const struct export_table *t, const struct store_res *r, size_t row,
		      struct buf *out);

/* ---------------------------------------------------------- cursor.c */

#define EXPORT_STREAM_NAME_MAX 64
#define EXPORT_CURSOR_ID_MAX 192

/* Where one stream ("stream:cdrs", "files:messages") has got to. */
struct export_cursor {
	char stream[EXPORT_STREAM_NAME_MAX];
	int64_t ts;
	char id[EXPORT_CURSOR_ID_MAX]; /* files: a load job in flight, or "" */
	int64_t rows;
};

int export_cursor_load(struct store_conn *c, const char *stream, struct export_cursor *cur);
/* In the caller's transaction: moves the cursor and counts rows. */
int export_cursor_advance(struct store_conn *c, struct export_cursor *cur, int64_t ts,
			  const char *id, int64_t rows, int64_t quarantined, int64_t now_ms);
/* Files: the load job about to start for the period at ts (no success). */
int export_cursor_job(struct store_conn *c, struct export_cursor *cur, int64_t ts, const char *job,
		      int64_t now_ms);
/* Records a failed attempt (its own statement). */
int export_cursor_failed(struct store_conn *c, const char *stream, const char *why, int64_t now_ms);
/* In the caller's transaction; a row quarantined before stays as it was. */
int export_quarantine_add(struct store_conn *c, const char *stream, const char *table,
			  const char *record_id, const char *reason, struct str row,
			  int64_t now_ms);

/* ------------------------------------------------------------ the run */

enum export_fail {
	EXPORT_FAIL_NETWORK,
	EXPORT_FAIL_HTTP_429,
	EXPORT_FAIL_HTTP_5XX,
	EXPORT_FAIL_HTTP_4XX,
	EXPORT_FAIL_AUTH,
	EXPORT_FAIL_STORE,
	EXPORT_FAIL_JOB,
	EXPORT_FAIL_FILE,
	EXPORT_FAIL_N,
};

/* One table's stream and its metrics' children. */
struct export_lane {
	const struct export_table *table;
	struct export_cursor cur;
	struct export_backoff backoff;
	int64_t next_try_ms; /* monotonic: not before (after a failure) */
	int64_t counted_ms;  /* monotonic: when rows behind were last counted */
	struct metric *rows, *behind, *last_success, *quarantined;
	struct metric *fail[EXPORT_FAIL_N];
};

struct export
{
	struct export_opts o;
	struct export_token token;
	bool have_token;
	struct export_http http;
	struct export_lane *lanes;
	size_t nlanes;
	struct buf sql, body, scratch;
	struct buf bodies[EXPORT_INFLIGHT_MAX]; /* a stream window's requests */
	pthread_t thread;
	bool started;
	struct stop_signal stop;
};

/* An outcome of one step of a lane. */
enum export_step { EXPORT_IDLE, EXPORT_MOVED, EXPORT_FAILED };

/* Counts a failure of the lane (metric, the cursor's row, a log line) and
 * schedules its retry. */
void export_lane_failed(struct export *x, struct export_lane *l, enum export_fail why,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The lane moved: its success time and rows metric. */
void export_lane_moved(struct export *x, struct export_lane *l, int64_t rows, int64_t quarantined);
/* The bearer token for a request, or NULL (failure counted). */
const char *export_bearer(struct export *x, struct export_lane *l);
/* A 401 drops the token; 429, 5xx and no answer count as what they are. */
void export_http_failed(struct export *x, struct export_lane *l, const char *what,
			const struct export_http_resp *r);

/* stream.c: one insertAll batch of the lane. */
enum export_step export_stream_step(struct export *x, struct export_lane *l, int64_t now_ms);
/* Reads the insertErrors of a 200 answer: for each, on(index, reason). */
int export_insert_errors_parse(const char *body, size_t len,
			       int (*on)(size_t index, const char *reason, void *arg), void *arg);
/* files.c: the next closed period of the lane, written and loaded. */
enum export_step export_files_step(struct export *x, struct export_lane *l, int64_t now_ms);
/* The period [start, end) holding ts, and its name (2026112507 or 20261125). */
void export_period_of(enum export_period p, int64_t ts, int64_t *start, int64_t *end, char *name,
		      size_t n);
/* load.c: loads path into the lane's table by job job_id; 0 when DONE
 * without errorResult, -EAGAIN to retry later, -EPROTO when BigQuery
 * refused the file for good (reason in why). */
int export_load_run(struct export *x, struct export_lane *l, const char *path, const char *job_id,
		    char *why, size_t whylen);
/* Reads a job resource: its status.state and errorResult (reason, message). */
int export_job_parse(const char *body, size_t len, char *state, size_t statelen, char *reason,
		     size_t reasonlen, char *message, size_t messagelen);

/* Sleeps up to ms unless stopped; false once stop is set. */
bool export_sleep(struct export *x, int64_t ms);

#endif
