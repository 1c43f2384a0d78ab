/*
 * store.h — WARP's one API over SQLite and PostgreSQL.
 *
 * The backend is chosen by URL: "sqlite:var/warp.db" (or "sqlite::memory:")
 * and "postgres://user@host:port/db" / "postgresql://…".  SQL is written once
 * in the subset both share (principle 5 of docs/ARCHITECTURE.md) with $1, $2 … placeholders;
 * the SQLite backend binds them by number, so the same text runs on both.
 *
 * Connections: each thread gets its own connection from store_conn(), opened
 * on first use and reopened after a failure (with backoff) — libpq and SQLite
 * connections must not be shared between threads.  Results are materialised
 * (all rows read before store_exec returns) so both backends behave alike.
 *
 * Also here: numbered migrations compiled into the binary, the config-version
 * counter with snapshots rebuilt when it changes, and a batching writer for
 * hot-path inserts.
 */
#ifndef WARP_STORE_H
#define WARP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Error codes (negative), besides plain -errno values. */
enum store_err {
	STORE_OK = 0,
	STORE_ERR = -1000, /* SQL error: syntax, type, ... (a bug or bad data) */
	STORE_ECONFLICT,   /* unique or primary-key constraint violated */
	STORE_ECONSTRAINT, /* another constraint (foreign key, check, not null) */
	STORE_EBUSY,	   /* lock or serialization failure: retry the transaction */
	STORE_EDOWN,	   /* connection lost or the store cannot be reached */
};

const char *store_strerror(int err);

enum store_kind { STORE_SQLITE, STORE_POSTGRES };

struct store;
struct store_conn;
struct store_res;

#define STORE_ERRMSG_MAX 256

/* Opens the store described by url and checks it can be reached.  On failure
 * returns NULL with a one-line reason in err. */
struct store *store_open(const char *url, char *err, size_t errlen);
/* Closes every connection (the caller has stopped using them). */
void store_close(struct store *s);
enum store_kind store_kind(const struct store *s);

/* The calling thread's connection, opened on first use; NULL when the store
 * cannot be reached now (the next call tries again after a backoff). */
struct store_conn *store_conn(struct store *s);
/* Closes the calling thread's connection; threads call this before exiting. */
void store_conn_release(struct store *s);
/* The last error message on this connection. */
const char *store_conn_errmsg(const struct store_conn *c);
/* Cheap round trip ("SELECT 1"); 0 when the store answers. */
int store_ping(struct store *s);

/* A bound parameter: text, 64-bit integer or NULL.  Text need not be
 * NUL-terminated; it is copied by the backend before store_exec returns. */
enum store_param_type { STORE_P_NULL, STORE_P_INT, STORE_P_TEXT };
struct store_param {
	enum store_param_type type;
	int64_t i;
	const char *s;
	size_t len;
};

static inline struct store_param store_p_int(int64_t v)
{
	return (struct store_param){.type = STORE_P_INT, .i = v};
}
static inline struct store_param store_p_text(const char *s)
{
	struct store_param p = {.type = s ? STORE_P_TEXT : STORE_P_NULL, .s = s, .len = 0};
	while (s && s[p.len])
		p.len++;
	return p;
}
static inline struct store_param store_p_str(struct str v)
{
	return (struct store_param){
	    .type = v.p ? STORE_P_TEXT : STORE_P_NULL, .s = v.p, .len = v.len};
}
static inline struct store_param store_p_null(void)
{
	return (struct store_param){.type = STORE_P_NULL};
}

/* Runs one statement.  res may be NULL when rows are not wanted; otherwise
 * *res receives the result (free with store_res_free) even when it has no
 * rows. */
int store_exec(struct store_conn *c, const char *sql, const struct store_param *params,
	       size_t nparams, struct store_res **res);

size_t store_res_rows(const struct store_res *r);
size_t store_res_cols(const struct store_res *r);
const char *store_res_colname(const struct store_res *r, size_t col);
bool store_res_isnull(const struct store_res *r, size_t row, size_t col);
/* Text of a value ("" for NULL); valid until store_res_free. */
const char *store_res_text(const struct store_res *r, size_t row, size_t col);
/* Integer value (0 for NULL or non-numeric text). */
int64_t store_res_int(const struct store_res *r, size_t row, size_t col);
/* Rows changed by an INSERT/UPDATE/DELETE. */
int64_t store_res_changes(const struct store_res *r);
void store_res_free(struct store_res *r);

/* Transactions.  begin is BEGIN IMMEDIATE on SQLite so that writers queue
 * on the busy timeout instead of failing at commit. */
int store_tx_begin(struct store_conn *c);
int store_tx_commit(struct store_conn *c);
int store_tx_rollback(struct store_conn *c);
/* Commits, and returns only once the transaction is on disk, not only in
 * the operating system's cache: what an acknowledgement sent after it may
 * rely on (decision 0030).  On SQLite the WAL is synced after COMMIT,
 * outside the write lock, so other writers go on meanwhile; on PostgreSQL
 * a COMMIT already waits for its WAL flush (synchronous_commit = on). */
int store_tx_commit_durable(struct store_conn *c);

/* ------------------------------------------------------------ migrations */

/* Applies the migrations compiled into the binary that the store has not
 * recorded, in order, each in its own transaction, recording number, name,
 * checksum (SHA-256 of the text) and time.  Refuses (-EPROTO with a reason in
 * err) when a recorded checksum differs or the store holds a migration newer
 * than the binary knows. */
int store_migrate(struct store *s, char *err, size_t errlen);
/* 0 when every compiled migration is applied and none is unknown. */
int store_migrations_current(struct store *s);
/* The highest migration number compiled into the binary. */
int store_migrations_latest(void);

/* -------------------------------------------------------- config version */

/* Increments the config-version counter inside the caller's transaction (and
 * on PostgreSQL sends NOTIFY warp_config).  Every provisioning write calls it
 * so that snapshot readers notice. */
int store_config_version_bump(struct store_conn *c);
int store_config_version_get(struct store_conn *c, int64_t *out);

/* -------------------------------------------------------------- snapshots */

/*
 * A snapshot is an immutable in-memory view a module builds from the store
 * (trunks and their ACLs, routes, rates).  The loader thread rebuilds every
 * registered snapshot when the config version changes (LISTEN/NOTIFY on
 * PostgreSQL, a cheap poll on both) and publishes the result atomically.
 * Readers take a reference without locks and release it when done; an old
 * snapshot is freed once its last reader has released it.
 */
struct snapshot_loader;
struct snapshot;

/* Builds a new snapshot from the store; NULL on failure (the old one stays). */
typedef void *(*snapshot_build_fn)(struct store_conn *c, void *arg);
typedef void (*snapshot_free_fn)(void *data);

struct snapshot_loader *snapshot_loader_new(struct store *s, int poll_ms);
/* Registers a snapshot and builds its first version synchronously; NULL when
 * that first build fails.  Registered again with the same name, functions
 * and arg, it is the same snapshot: one build, shared by its readers. */
struct snapshot *snapshot_register(struct snapshot_loader *l, const char *name,
				   snapshot_build_fn build, snapshot_free_fn free_fn, void *arg);
int snapshot_loader_start(struct snapshot_loader *l);
/* Rebuilds everything now (SIGHUP), whatever the version says. */
void snapshot_loader_reload(struct snapshot_loader *l);
void snapshot_loader_stop(struct snapshot_loader *l);
void snapshot_loader_free(struct snapshot_loader *l);

/* hot path: no allocation, no locks, no I/O */
const void *snapshot_acquire(struct snapshot *s);
void snapshot_release(struct snapshot *s, const void *data);
/* The config version the current data was built from. */
int64_t snapshot_version(const struct snapshot *s);

/* ---------------------------------------------------------- batch writer */

/*
 * Group commit for hot-path inserts (CDRs, messages): callers queue rows for
 * one INSERT statement; a writer thread runs many rows in one transaction and
 * then calls each row's done callback (on the writer thread) with 0 — the
 * row is durable — or a negative error after the retries are exhausted.  A
 * failed transaction is retried with backoff; statements should be
 * idempotent (INSERT … ON CONFLICT DO NOTHING) so a retried row never
 * doubles.  The queue is bounded: store_batch_add answers -EAGAIN when full.
 * A group is written once max_rows wait or max_delay_ms after its oldest
 * row came; max_delay_ms 0: as soon as the writer is free, with whatever
 * came while it committed the group before (classic group commit).
 */
struct store_batch;

typedef void (*store_batch_done_fn)(void *arg, int status);

struct store_batch *store_batch_new(struct store *s, const char *sql, size_t nparams,
				    size_t max_queue, size_t max_rows, int max_delay_ms);
/* Copies params; done may be NULL. */
int store_batch_add(struct store_batch *b, const struct store_param *params,
		    store_batch_done_fn done, void *arg);
/* One statement of a group: sql NULL for the batch's own statement (then
 * nparams is the batch's). */
struct store_batch_stmt {
	const char *sql;
	const struct store_param *params;
	size_t nparams;
};
/* Queues n statements that commit together or not at all, in the group
 * commit of other entries (and alone in their own transaction when a
 * failed group is re-run entry by entry); done gets one status for them
 * all.  Copies statements and parameters.  Counted as one entry against
 * max_queue and max_rows. */
int store_batch_add_group(struct store_batch *b, const struct store_batch_stmt *stmts, size_t n,
			  store_batch_done_fn done, void *arg);
/* Waits until every row queued so far is committed (or has failed). */
int store_batch_flush(struct store_batch *b);
/* Flushes, stops the writer thread and frees. */
void store_batch_free(struct store_batch *b);

#endif
