/*
 * sqlite.c — the SQLite backend: the single-machine default.
 *
 * Each connection runs in WAL mode (readers never block the writer),
 * synchronous=NORMAL (durable against a crash of the process; a power loss
 * may lose the last transactions, the documented WAL trade-off — except
 * what store_tx_commit_durable committed, which sqlite_sync put on disk
 * before it returned: decision 0030), a 5 s busy
 * timeout so that writers queue instead of failing, and foreign keys on.
 * (Not mmap_size: the message queue's file grows all the time, and SQLite
 * then unmaps and maps it again, which cost more than the reads it saved:
 * decision 0030.)
 *
 * Writers of one store queue on its first-come, first-served write lock
 * (sqlite_wlock.c) before SQLite's own, and a store on a file has a
 * checkpoint thread of its own (sqlite_ckpt.c): sqlite_private.h says why.
 *
 * SQL text is shared with PostgreSQL, so placeholders are "$1", "$2"...
 * SQLite treats "$1" as a named parameter; we walk the statement's
 * parameters by name and bind each "$N" to params[N-1], which also lets a
 * statement use "$1" twice as PostgreSQL allows.
 *
 * Prepared statements are cached per connection, keyed by SQL text (the
 * queries of a program are a small fixed set); the least recently used one
 * is finalized when the cache is full.  Results are copied out ("material-
 * ised") and the statement reset before returning, so no read transaction
 * stays open behind the caller's back.
 *
 * Costs measured on an authenticated API GET (callgrind, docs/BENCHMARKS.md):
 * Debian's SQLite is built without lookaside, so every text column a step
 * reads is a malloc and a free inside SQLite; with memory statistics on
 * (SQLite's default) each of those also took a process-wide mutex, so the
 * statistics are switched off before the library initialises.  Column names
 * are read once per prepared statement and shared (refcounted) by its
 * results, and integer columns are formatted here rather than converted to
 * text by SQLite (another allocation per column).
 */
#include "store/backend.h"
#include "store/sqlite_private.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SQLITE_CACHE_MAX 32
#define SQLITE_BUSY_TIMEOUT_MS 5000
#define SQLITE_NULL_OFF SIZE_MAX
#define SQLITE_ROW_TEXT_RESERVE 512

/* A statement's column names, shared by it and the results it made: a
 * result may outlive its statement's place in the cache. */
struct sqlite_names {
	atomic_size_t refs;
	size_t cols;
	struct buf text;
	size_t off[];
};

struct sqlite_cached {
	char *sql;
	sqlite3_stmt *stmt;
	struct sqlite_names *names;
	/* For each of the statement's parameters, the N of its "$N" (0: not
	 * of that form), read once: SQLite finds a parameter's name by a walk
	 * of its list, 22 walks of 22 for the messages INSERT at every row. */
	int64_t *argno;
	uint64_t used;
};

struct sqlite_conn {
	struct store_conn base; /* first: the generic head */
	sqlite3 *db;
	struct sqlite_shared *shared; /* NULL: the store's first check, or its anchor */
	bool wlocked;		      /* this connection holds shared->wlock */
	struct sqlite_cached cache[SQLITE_CACHE_MAX];
	size_t ncache;
	uint64_t tick;
};

/* Values as offsets into one text block (NULL = SQLITE_NULL_OFF). */
struct sqlite_res {
	struct store_res base;
	size_t rows, cols, cap;
	struct sqlite_names *names;
	size_t *cells;
	struct buf text;
};

static void sqlite_names_put(struct sqlite_names *n)
{
	if (n && atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1) {
		buf_fini(&n->text);
		free(n);
	}
}

static struct sqlite_names *sqlite_names_new(sqlite3_stmt *stmt)
{
	size_t cols = (size_t)sqlite3_column_count(stmt);
	struct sqlite_names *n = calloc(1, sizeof(*n) + (cols ? cols : 1) * sizeof(size_t));

	if (!n)
		return NULL;
	atomic_init(&n->refs, 1);
	n->cols = cols;
	buf_init(&n->text);
	for (size_t i = 0; i < cols; i++) {
		const char *name = sqlite3_column_name(stmt, (int)i);
		n->off[i] = n->text.len;
		if (buf_append(&n->text, name ? name : "", name ? strlen(name) + 1 : 1) < 0) {
			sqlite_names_put(n);
			return NULL;
		}
	}
	return n;
}

static int sqlite_err_map(int ext)
{
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return STORE_ECONFLICT;
	switch (ext & 0xff) {
	case SQLITE_CONSTRAINT:
		return STORE_ECONSTRAINT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_EBUSY;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return STORE_EDOWN;
	default:
		return STORE_ERR;
	}
}

static int sqlite_fail(struct sqlite_conn *sc, int ext)
{
	store_conn_seterr(&sc->base, "sqlite: %s", sqlite3_errmsg(sc->db));
	return sqlite_err_map(ext);
}

/* SQLite creates the file but not its folder: say which folder is missing. */
static int sqlite_dir_check(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	char dir[512];

	if (!slash || slash == path)
		return 0;
	if (str_copy(dir, sizeof(dir), (struct str){path, (size_t)(slash - path)}) < 0)
		return 0;
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(err, errlen, "cannot open SQLite store %s: directory %s does not exist", path,
		 dir);
	return -ENOENT;
}

/* Must run before SQLite initialises (sqlite3_config is not thread-safe):
 * the first connection of the process is opened by store_open on the
 * starting thread, before any worker exists.  Later calls (SQLite already
 * initialised) fail harmlessly and leave the statistics on. */
static void sqlite_global_config(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sqlite_pragmas(struct sqlite_conn *sc, bool memory)
{
	const char *wal = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
	int rc;

	sqlite3_extended_result_codes(sc->db, 1);
	sqlite3_busy_timeout(sc->db, SQLITE_BUSY_TIMEOUT_MS);
	rc = sqlite3_exec(sc->db, "PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
	if (rc == SQLITE_OK && !memory)
		rc = sqlite3_exec(sc->db, wal, NULL, NULL, NULL);
	if (rc == SQLITE_OK && sc->shared)
		sqlite_ckpt_watch(sc->shared->ckpt, sc->db);
	return rc;
}

static int sqlite_db_open(struct sqlite_conn *sc, struct store *s, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	const char *target = store_target(s);
	int rc;

	pthread_once(&once, sqlite_global_config);
	if (store_is_memory(s))
		flags |= SQLITE_OPEN_URI;
	else if (sqlite_dir_check(target, err, errlen) < 0)
		return STORE_EDOWN;
	rc = sqlite3_open_v2(target, &sc->db, flags, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite_pragmas(sc, store_is_memory(s));
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open SQLite store %s: %s", target,
			 sc->db ? sqlite3_errmsg(sc->db) : sqlite3_errstr(rc));
		sqlite3_close_v2(sc->db);
		sc->db = NULL;
		return sqlite_err_map(rc) == STORE_EBUSY ? STORE_EBUSY : STORE_EDOWN;
	}
	return 0;
}

/* Gives the write lock back once the connection is out of its
 * transaction (after COMMIT or ROLLBACK, a failed BEGIN, or a statement
 * that ran on its own). */
static void sqlite_wlock_settle(struct sqlite_conn *sc)
{
	if (sc->wlocked && (!sc->db || sqlite3_get_autocommit(sc->db))) {
		sc->wlocked = false;
		sqlite_wlock_give(&sc->shared->wlock);
	}
}

static void sqlite_db_close(struct sqlite_conn *sc)
{
	for (size_t i = 0; i < sc->ncache; i++) {
		sqlite3_finalize(sc->cache[i].stmt);
		sqlite_names_put(sc->cache[i].names);
		free(sc->cache[i].argno);
		free(sc->cache[i].sql);
	}
	sc->ncache = 0;
	sqlite3_close_v2(sc->db); /* rolls back an open transaction */
	sc->db = NULL;
	sqlite_wlock_settle(sc);
}

static struct store_conn *sqlite_conn_open(struct store *s, char *err, size_t errlen)
{
	struct sqlite_conn *sc = calloc(1, sizeof(*sc));

	if (!sc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sc->base.store = s;
	sc->base.be = &store_backend_sqlite;
	sc->shared = store_backend_state(s);
	if (sqlite_db_open(sc, s, err, errlen) < 0) {
		free(sc);
		return NULL;
	}
	return &sc->base;
}

static void sqlite_conn_close(struct store_conn *c)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)c;

	sqlite_db_close(sc);
	free(sc);
}

static int sqlite_conn_reset(struct store_conn *c)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)c;
	char err[STORE_ERRMSG_MAX];

	sqlite_db_close(sc);
	if (sqlite_db_open(sc, c->store, err, sizeof(err)) < 0) {
		store_conn_seterr(c, "%s", err);
		return STORE_EDOWN;
	}
	return 0;
}

static bool sqlite_only_space(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';')
		p++;
	return *p == '\0';
}

static void sqlite_cache_evict(struct sqlite_conn *sc)
{
	size_t lru = 0;

	for (size_t i = 1; i < sc->ncache; i++)
		if (sc->cache[i].used < sc->cache[lru].used)
			lru = i;
	sqlite3_finalize(sc->cache[lru].stmt);
	sqlite_names_put(sc->cache[lru].names);
	free(sc->cache[lru].argno);
	free(sc->cache[lru].sql);
	sc->cache[lru] = sc->cache[--sc->ncache];
}

static int64_t *sqlite_argno_new(sqlite3_stmt *stmt)
{
	int n = sqlite3_bind_parameter_count(stmt);
	int64_t *argno = calloc((size_t)(n > 0 ? n : 1), sizeof(*argno));

	for (int idx = 1; argno && idx <= n; idx++) {
		const char *name = sqlite3_bind_parameter_name(stmt, idx);
		if (!name || name[0] != '$' ||
		    str_to_i64(str_from_cstr(name + 1), &argno[idx - 1]) < 0 || argno[idx - 1] < 1)
			argno[idx - 1] = 0;
	}
	return argno;
}

/* The cached statement for sql, preparing it on first use. */
static int sqlite_stmt_get(struct sqlite_conn *sc, const char *sql, struct sqlite_cached **out)
{
	struct sqlite_cached *e;
	const char *tail = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc;

	for (size_t i = 0; i < sc->ncache; i++) {
		if (strcmp(sc->cache[i].sql, sql) == 0) {
			sc->cache[i].used = ++sc->tick;
			*out = &sc->cache[i];
			return 0;
		}
	}
	rc = sqlite3_prepare_v3(sc->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
	if (rc != SQLITE_OK)
		return sqlite_fail(sc, rc);
	if (!stmt || (tail && !sqlite_only_space(tail))) {
		sqlite3_finalize(stmt);
		store_conn_seterr(&sc->base, "sqlite: exactly one statement per store_exec: %.80s",
				  sql);
		return STORE_ERR;
	}
	if (sc->ncache == SQLITE_CACHE_MAX)
		sqlite_cache_evict(sc);
	e = &sc->cache[sc->ncache];
	e->sql = strdup(sql);
	e->names = sqlite_names_new(stmt);
	e->argno = sqlite_argno_new(stmt);
	if (!e->sql || !e->names || !e->argno) {
		free(e->sql);
		sqlite_names_put(e->names);
		free(e->argno);
		sqlite3_finalize(stmt);
		return -ENOMEM;
	}
	e->stmt = stmt;
	e->used = ++sc->tick;
	sc->ncache++;
	*out = e;
	return 0;
}

static int sqlite_bind_one(sqlite3_stmt *stmt, int idx, const struct store_param *p)
{
	switch (p->type) {
	case STORE_P_INT:
		return sqlite3_bind_int64(stmt, idx, p->i);
	case STORE_P_TEXT:
		/* No copy: the caller's text outlives the step, and sqlite_exec
		 * clears every binding before it returns. */
		return sqlite3_bind_text64(stmt, idx, p->s ? p->s : "", p->len, SQLITE_STATIC,
					   SQLITE_UTF8);
	default:
		return sqlite3_bind_null(stmt, idx);
	}
}

/* Binds every "$N" the statement names to params[N-1]. */
static int sqlite_bind(struct sqlite_conn *sc, const struct sqlite_cached *e,
		       const struct store_param *params, size_t nparams)
{
	sqlite3_stmt *stmt = e->stmt;
	int n = sqlite3_bind_parameter_count(stmt);

	for (int idx = 1; idx <= n; idx++) {
		int64_t k = e->argno[idx - 1];
		int rc;

		if (k < 1 || (uint64_t)k > nparams) {
			const char *name = sqlite3_bind_parameter_name(stmt, idx);
			store_conn_seterr(&sc->base,
					  "sqlite: parameter %s has no value (%zu given)",
					  name ? name : "?", nparams);
			return STORE_ERR;
		}
		rc = sqlite_bind_one(stmt, idx, &params[k - 1]);
		if (rc != SQLITE_OK)
			return sqlite_fail(sc, rc);
	}
	return 0;
}

static struct sqlite_res *sqlite_res_new(struct sqlite_names *names)
{
	struct sqlite_res *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->base.be = &store_backend_sqlite;
	buf_init(&r->text);
	r->cols = names->cols;
	r->names = names;
	atomic_fetch_add_explicit(&names->refs, 1, memory_order_relaxed);
	return r;
}

static int sqlite_cell_text(struct buf *b, sqlite3_stmt *stmt, int i, int type)
{
	char digits[STR_I64_MAX];
	const unsigned char *v;
	int len;

	/* An integer in SQLite's own text form (plain decimal), without the
	 * allocation sqlite3_column_text would make to convert it. */
	if (type == SQLITE_INTEGER) {
		struct str d = str_from_i64(sqlite3_column_int64(stmt, i), digits);
		return buf_append(b, d.p, d.len + 1);
	}
	v = sqlite3_column_text(stmt, i);
	len = sqlite3_column_bytes(stmt, i);
	if (buf_reserve(b, (size_t)len + 1) < 0)
		return -ENOMEM;
	if (len)
		memcpy(b->p + b->len, v, (size_t)len);
	b->p[b->len + (size_t)len] = '\0';
	b->len += (size_t)len + 1;
	return 0;
}

static int sqlite_res_add_row(struct sqlite_res *r, sqlite3_stmt *stmt)
{
	/* One allocation holds a typical row's text. */
	if (r->rows == 0 && buf_reserve(&r->text, SQLITE_ROW_TEXT_RESERVE) < 0)
		return -ENOMEM;
	if ((r->rows + 1) * r->cols > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : r->cols;
		size_t *cells = realloc(r->cells, cap * sizeof(size_t));
		if (!cells)
			return -ENOMEM;
		r->cells = cells;
		r->cap = cap;
	}
	for (size_t i = 0; i < r->cols; i++) {
		size_t *cell = &r->cells[r->rows * r->cols + i];
		int type = sqlite3_column_type(stmt, (int)i);

		if (type == SQLITE_NULL) {
			*cell = SQLITE_NULL_OFF;
			continue;
		}
		*cell = r->text.len;
		if (sqlite_cell_text(&r->text, stmt, (int)i, type) < 0)
			return -ENOMEM;
	}
	r->rows++;
	return 0;
}

static void sqlite_res_free(struct store_res *base)
{
	struct sqlite_res *r = (struct sqlite_res *)base;

	buf_fini(&r->text);
	sqlite_names_put(r->names);
	free(r->cells);
	free(r);
}

/* Steps to the end, collecting rows into r when it is not NULL. */
static int sqlite_run(struct sqlite_conn *sc, sqlite3_stmt *stmt, struct sqlite_res *r)
{
	for (;;) {
		int rc = sqlite3_step(stmt);

		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW)
			return sqlite_fail(sc, sqlite3_extended_errcode(sc->db));
		if (r && sqlite_res_add_row(r, stmt) < 0)
			return -ENOMEM;
	}
}

static int sqlite_exec(struct store_conn *c, const char *sql, const struct store_param *params,
		       size_t nparams, struct store_res **res)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)c;
	struct sqlite_res *r = NULL;
	struct sqlite_cached *e = NULL;
	sqlite3_stmt *stmt;
	int64_t before;
	int rc;

	if (!sc->db) {
		store_conn_seterr(c, "sqlite: connection is closed");
		return STORE_EDOWN;
	}
	rc = sqlite_stmt_get(sc, sql, &e);
	if (rc < 0)
		return rc;
	stmt = e->stmt;
	if (sc->shared && !sc->wlocked && !sqlite3_stmt_readonly(stmt)) {
		if (sqlite_wlock_take(&sc->shared->wlock, SQLITE_BUSY_TIMEOUT_MS) < 0) {
			store_conn_seterr(c, "sqlite: another writer held the database for %d ms",
					  SQLITE_BUSY_TIMEOUT_MS);
			return STORE_EBUSY;
		}
		sc->wlocked = true;
	}
	before = sqlite3_total_changes64(sc->db);
	rc = sqlite_bind(sc, e, params, nparams);
	if (rc == 0 && res && !(r = sqlite_res_new(e->names)))
		rc = -ENOMEM;
	if (rc == 0)
		rc = sqlite_run(sc, stmt, r);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	sqlite_wlock_settle(sc);
	if (rc < 0) {
		if (r)
			sqlite_res_free(&r->base);
		return rc;
	}
	if (r) {
		/* sqlite3_changes() keeps the last DML's count across other
		 * statements: count only when this statement changed rows. */
		if (!sqlite3_stmt_readonly(stmt) && sqlite3_total_changes64(sc->db) != before)
			r->base.changes = sqlite3_changes64(sc->db);
		*res = &r->base;
	}
	return 0;
}

/* After COMMIT, which at synchronous=NORMAL only wrote the WAL into the
 * page cache: the WAL is synced before the caller acknowledges anything.
 * This runs outside the write lock (FULL would fsync inside COMMIT, with
 * every other writer of the process waiting on it: receipts fell from
 * 4,800/s to 2,600/s at 5,000 msgs/s), and the one fsync covers whatever
 * other threads appended too.  A WAL restarted since by a checkpoint no
 * longer holds our frames: a checkpoint syncs the database file before it
 * lets the WAL be reused. */
static int sqlite_sync(struct store_conn *c)
{
	struct sqlite_conn *sc = (struct sqlite_conn *)c;
	sqlite3_file *wal = NULL;
	int rc;

	if (!sc->db || store_is_memory(c->store))
		return 0;
	rc = sqlite3_file_control(sc->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
	if (rc != SQLITE_OK || !wal || !wal->pMethods)
		return 0; /* no WAL open: COMMIT wrote the database itself */
	rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
	if (rc != SQLITE_OK) {
		store_conn_seterr(c, "sqlite: cannot sync the WAL: %s", sqlite3_errstr(rc));
		return STORE_EDOWN;
	}
	return 0;
}

static size_t sqlite_res_rows(const struct store_res *r)
{
	return ((const struct sqlite_res *)r)->rows;
}

static size_t sqlite_res_cols(const struct store_res *r)
{
	return ((const struct sqlite_res *)r)->cols;
}

static const char *sqlite_res_colname(const struct store_res *base, size_t col)
{
	const struct sqlite_res *r = (const struct sqlite_res *)base;

	return r->names->text.p + r->names->off[col];
}

static bool sqlite_res_isnull(const struct store_res *base, size_t row, size_t col)
{
	const struct sqlite_res *r = (const struct sqlite_res *)base;

	return r->cells[row * r->cols + col] == SQLITE_NULL_OFF;
}

static const char *sqlite_res_text(const struct store_res *base, size_t row, size_t col)
{
	const struct sqlite_res *r = (const struct sqlite_res *)base;

	return r->text.p + r->cells[row * r->cols + col];
}

static int sqlite_store_init(struct store *s, void **state, char *err, size_t errlen)
{
	struct sqlite_shared *sh = calloc(1, sizeof(*sh));

	if (!sh) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sqlite_wlock_init(&sh->wlock);
	if (!store_is_memory(s) && !(sh->ckpt = sqlite_ckpt_start(store_target(s), err, errlen))) {
		sqlite_wlock_fini(&sh->wlock);
		free(sh);
		return STORE_EDOWN;
	}
	*state = sh;
	return 0;
}

static void sqlite_store_fini(void *state)
{
	struct sqlite_shared *sh = state;

	if (!sh)
		return;
	sqlite_ckpt_stop(sh->ckpt);
	sqlite_wlock_fini(&sh->wlock);
	free(sh);
}

const struct store_backend store_backend_sqlite = {
    .name = "sqlite",
    .kind = STORE_SQLITE,
    .begin_sql = "BEGIN IMMEDIATE",
    .notify_sql = NULL,
    .migrate_lock_sql = NULL,
    .store_init = sqlite_store_init,
    .store_fini = sqlite_store_fini,
    .conn_open = sqlite_conn_open,
    .conn_close = sqlite_conn_close,
    .conn_reset = sqlite_conn_reset,
    .exec = sqlite_exec,
    .sync = sqlite_sync,
    .res_rows = sqlite_res_rows,
    .res_cols = sqlite_res_cols,
    .res_colname = sqlite_res_colname,
    .res_isnull = sqlite_res_isnull,
    .res_text = sqlite_res_text,
    .res_free = sqlite_res_free,
};
