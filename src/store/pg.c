/*
 * pg.c — the PostgreSQL backend (libpq), the production store.
 *
 * Statements run with PQexecParams and text parameters: every value is
 * sent as text (integers as decimal) and PostgreSQL infers each
 * parameter's type from where it appears, exactly as it does for an
 * untyped literal, so the SQL text shared with SQLite needs no casts in the
 * common cases.  Results are kept as the PGresult libpq already
 * materialised.
 *
 * Errors are classified by SQLSTATE (PostgreSQL manual, appendix A):
 * 23505 unique_violation -> STORE_ECONFLICT, the rest of class 23 ->
 * STORE_ECONSTRAINT, 40001 serialization_failure / 40P01 deadlock_detected
 * / 55P03 lock_not_available -> STORE_EBUSY, class 08 and 57P01..57P03
 * (the server went away) or a bad connection -> STORE_EDOWN, after which
 * store.c resets the connection with backoff.
 *
 * Statements are prepared once per connection and kept, keyed by their
 * text (the queries of a program are a small fixed set), so the server
 * parses and plans the messages INSERT once and not at every row: a named
 * statement per SQL text, the least recently used one deallocated when
 * PG_CACHE_MAX are kept.  Only SELECT, INSERT, UPDATE, DELETE and WITH are
 * prepared; BEGIN, COMMIT, NOTIFY, LOCK and the migrations' DDL run as
 * before.  Prepared statements belong to the server session, so the cache
 * is emptied whenever the connection is reset (a new session), and an
 * entry the server no longer knows (26000, or 0A000 after a schema change
 * altered a result) is dropped so that the next use prepares it again.
 *
 * The listener is a separate connection that only LISTENs: the snapshot
 * loader polls its socket so a committed NOTIFY wakes it at once.
 */
#include "store/backend.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PG_TCP_USER_TIMEOUT_MS "10000"
#define PG_CONNECT_TIMEOUT_S "5"
#define PG_MAX_PARAMS 65535
#define PG_CACHE_MAX 64
#define PG_STMT_NAME_MAX 24

struct pg_cached {
	char *sql;
	char name[PG_STMT_NAME_MAX];
	uint64_t used;
};

struct pg_conn {
	struct store_conn base; /* first: the generic head */
	PGconn *pg;
	struct pg_cached cache[PG_CACHE_MAX];
	size_t ncache;
	uint64_t tick, named; /* LRU clock; statements named so far */
};

struct pg_res {
	struct store_res base;
	PGresult *res;
};

struct store_listener {
	PGconn *pg;
};

/* Server notices ("relation already exists, skipping") would otherwise go
 * to stderr unformatted. */
static void pg_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("store", "postgres: %.*s", (int)strcspn(message, "\n"), message);
}

static PGconn *pg_connect(struct store *s, char *err, size_t errlen)
{
	/* Later keywords win, so anything the URL sets overrides these.  A
	 * server cut off mid-query (a cable, a firewall dropping the flow) is
	 * noticed by TCP within tcp_user_timeout and the keepalives instead of
	 * the kernel's 15 minutes of retransmissions: without them a thread
	 * stuck in libpq held up SIGTERM for minutes (the cluster test). */
	const char *keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives",
			      "keepalives_idle", "keepalives_interval", "keepalives_count",
			      "application_name", "dbname", NULL};
	const char *vals[] = {PG_CONNECT_TIMEOUT_S, PG_TCP_USER_TIMEOUT_MS, "1", "10", "5", "3",
			      "warp", store_target(s), NULL};
	PGconn *pg = PQconnectdbParams(keys, vals, 1);

	if (!pg) {
		snprintf(err, errlen, "postgres: out of memory");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "postgres: %.*s", (int)strcspn(PQerrorMessage(pg), "\n"),
			 PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, pg_notice, NULL);
	return pg;
}

static struct store_conn *pg_conn_open(struct store *s, char *err, size_t errlen)
{
	struct pg_conn *pc = calloc(1, sizeof(*pc));

	if (!pc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pc->pg = pg_connect(s, err, errlen);
	if (!pc->pg) {
		free(pc);
		return NULL;
	}
	pc->base.store = s;
	pc->base.be = &store_backend_pg;
	return &pc->base;
}

/* Forgets every prepared statement (the server session is gone). */
static void pg_cache_clear(struct pg_conn *pc)
{
	for (size_t i = 0; i < pc->ncache; i++)
		free(pc->cache[i].sql);
	pc->ncache = 0;
}

static void pg_conn_close(struct store_conn *c)
{
	struct pg_conn *pc = (struct pg_conn *)c;

	pg_cache_clear(pc);
	PQfinish(pc->pg);
	free(pc);
}

static int pg_conn_reset(struct store_conn *c)
{
	struct pg_conn *pc = (struct pg_conn *)c;

	pg_cache_clear(pc);
	PQreset(pc->pg);
	if (PQstatus(pc->pg) != CONNECTION_OK) {
		store_conn_seterr(c, "postgres: %s", PQerrorMessage(pc->pg));
		return STORE_EDOWN;
	}
	return 0;
}

static int pg_err_map(PGconn *pg, const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(pg) == CONNECTION_BAD)
		return STORE_EDOWN;
	if (!st)
		return STORE_ERR;
	if (strcmp(st, "23505") == 0)
		return STORE_ECONFLICT;
	if (strncmp(st, "23", 2) == 0)
		return STORE_ECONSTRAINT;
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03"))
		return STORE_EBUSY;
	/* 08P01 (protocol violation, e.g. a missing parameter) leaves the
	 * connection usable: it is the caller's bug, not an outage. */
	if ((strncmp(st, "08", 2) == 0 && strcmp(st, "08P01") != 0) || strncmp(st, "57P0", 4) == 0)
		return STORE_EDOWN;
	return STORE_ERR;
}

/* Text forms of the parameters, NUL-terminated, in one block. */
static int pg_params_text(const struct store_param *params, size_t n, struct buf *text,
			  size_t *offs)
{
	for (size_t i = 0; i < n; i++) {
		int rc = 0;

		offs[i] = text->len;
		if (params[i].type == STORE_P_INT)
			rc = buf_printf(text, "%" PRId64, params[i].i);
		else if (params[i].type == STORE_P_TEXT)
			rc = buf_append(text, params[i].s ? params[i].s : "", params[i].len);
		if (rc < 0 || buf_append_char(text, '\0') < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Statements worth preparing: those that plan (SQL keywords are ASCII). */
static bool pg_preparable(const char *sql)
{
	static const char *const kinds[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"};

	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r' || *sql == '(')
		sql++;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncasecmp(sql, kinds[i], strlen(kinds[i])) == 0)
			return true;
	return false;
}

static void pg_cache_drop(struct pg_conn *pc, size_t i, bool deallocate)
{
	char sql[PG_STMT_NAME_MAX + 16];

	if (deallocate) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", pc->cache[i].name);
		PQclear(PQexec(pc->pg, sql)); /* a failure leaves one idle plan */
	}
	free(pc->cache[i].sql);
	pc->cache[i] = pc->cache[--pc->ncache];
}

/* The name of sql's prepared statement, preparing it on first use; NULL
 * with *failed set to the server's answer when preparing failed. */
static const char *pg_stmt_get(struct pg_conn *pc, const char *sql, PGresult **failed)
{
	struct pg_cached *e;
	size_t lru = 0;

	for (size_t i = 0; i < pc->ncache; i++) {
		if (strcmp(pc->cache[i].sql, sql) == 0) {
			pc->cache[i].used = ++pc->tick;
			return pc->cache[i].name;
		}
		if (pc->cache[i].used < pc->cache[lru].used)
			lru = i;
	}
	if (pc->ncache == PG_CACHE_MAX)
		pg_cache_drop(pc, lru, true);
	e = &pc->cache[pc->ncache];
	snprintf(e->name, sizeof(e->name), "warp_%" PRIu64, ++pc->named);
	*failed = PQprepare(pc->pg, e->name, sql, 0, NULL);
	if (!*failed || PQresultStatus(*failed) != PGRES_COMMAND_OK)
		return NULL;
	PQclear(*failed);
	*failed = NULL;
	if (!(e->sql = strdup(sql)))
		return NULL; /* out of memory; the server keeps the plan until reset */
	e->used = ++pc->tick;
	pc->ncache++;
	return e->name;
}

/* After a failed execution of a prepared statement: an entry the server
 * no longer knows, or whose result a schema change altered, is dropped. */
static void pg_stmt_check(struct pg_conn *pc, const char *name, const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (!st || (strcmp(st, "26000") != 0 && strcmp(st, "0A000") != 0))
		return;
	for (size_t i = 0; i < pc->ncache; i++)
		if (strcmp(pc->cache[i].name, name) == 0) {
			pg_cache_drop(pc, i, false);
			return;
		}
}

/* A statement's parameters as libpq takes them: text or NULL. */
struct pg_vals {
	const char **vals;
	size_t *offs;
	struct buf text;
};

static void pg_vals_fini(struct pg_vals *v)
{
	buf_fini(&v->text);
	free(v->offs);
	free(v->vals);
}

static int pg_vals_make(struct pg_vals *v, const struct store_param *params, size_t n)
{
	v->vals = calloc(n ? n : 1, sizeof(*v->vals));
	v->offs = calloc(n ? n : 1, sizeof(*v->offs));
	buf_init(&v->text);
	if (!v->vals || !v->offs || pg_params_text(params, n, &v->text, v->offs) < 0) {
		pg_vals_fini(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		v->vals[i] = params[i].type == STORE_P_NULL ? NULL : v->text.p + v->offs[i];
	return 0;
}

static PGresult *pg_run(struct pg_conn *pc, const char *sql, const struct store_param *params,
			size_t n)
{
	PGresult *res = NULL;
	struct pg_vals v;

	if (pg_vals_make(&v, params, n) < 0)
		return NULL;
	if (!pg_preparable(sql)) {
		res = PQexecParams(pc->pg, sql, (int)n, NULL, v.vals, NULL, NULL, 0);
		goto done;
	}
	const char *name = pg_stmt_get(pc, sql, &res);
	if (!name)
		goto done; /* res: why preparing failed, or NULL */
	res = PQexecPrepared(pc->pg, name, (int)n, v.vals, NULL, NULL, 0);
	if (res && PQresultStatus(res) == PGRES_FATAL_ERROR)
		pg_stmt_check(pc, name, res);
done:
	pg_vals_fini(&v);
	return res;
}

/* Statements sent before their results are read: bounds what the server
 * writes back meanwhile, so neither side blocks on a full socket while the
 * connection is in blocking mode. */
#define PG_PIPELINE_CHUNK 256

/* Reads the results of n pipelined statements and of their sync; 0 or
 * the first error. */
static int pg_pipeline_read(struct pg_conn *pc, char (*names)[PG_STMT_NAME_MAX], size_t n)
{
	int rc = 0;
	PGresult *res;

	for (size_t i = 0; i < n; i++) {
		while ((res = PQgetResult(pc->pg)) != NULL) {
			if (PQresultStatus(res) == PGRES_FATAL_ERROR && rc == 0) {
				rc = pg_err_map(pc->pg, res);
				store_conn_seterr(&pc->base, "postgres: %s",
						  PQresultErrorMessage(res));
				if (names[i][0])
					pg_stmt_check(pc, names[i], res);
			}
			PQclear(res);
		}
		if (PQstatus(pc->pg) == CONNECTION_BAD)
			return STORE_EDOWN;
	}
	res = PQgetResult(pc->pg); /* the sync's: nothing follows it */
	if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		store_conn_seterr(&pc->base, "postgres: pipeline out of step: %s",
				  PQerrorMessage(pc->pg));
		rc = STORE_EDOWN;
	}
	PQclear(res);
	return rc;
}

/* Sends runs[0..n) after their statements were prepared; how many went. */
static size_t pg_pipeline_send(struct pg_conn *pc, const struct store_run *runs,
			       char (*names)[PG_STMT_NAME_MAX], size_t n)
{
	size_t sent = 0;

	for (; sent < n; sent++) {
		const struct store_run *r = &runs[sent];
		struct pg_vals v;
		int ok;

		if (pg_vals_make(&v, r->params, r->nparams) < 0)
			break;
		ok = names[sent][0] ? PQsendQueryPrepared(pc->pg, names[sent], (int)r->nparams,
							  v.vals, NULL, NULL, 0)
				    : PQsendQueryParams(pc->pg, r->sql, (int)r->nparams, NULL,
							v.vals, NULL, NULL, 0);
		pg_vals_fini(&v);
		if (!ok)
			break;
	}
	return sent;
}

/* Prepares what runs[0..n) need (before pipeline mode, where PQprepare
 * cannot run) and copies their names, "" for one sent unprepared. */
static int pg_pipeline_names(struct pg_conn *pc, const struct store_run *runs,
			     char (*names)[PG_STMT_NAME_MAX], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		PGresult *failed = NULL;
		const char *name =
		    pg_preparable(runs[i].sql) ? pg_stmt_get(pc, runs[i].sql, &failed) : "";
		if (!name) {
			int rc = failed ? pg_err_map(pc->pg, failed) : -ENOMEM;
			store_conn_seterr(&pc->base, "postgres: %s",
					  failed ? PQresultErrorMessage(failed) : "out of memory");
			PQclear(failed);
			return rc;
		}
		snprintf(names[i], PG_STMT_NAME_MAX, "%s", name);
	}
	return 0;
}

/* One chunk: prepared, sent, synced, read. */
static int pg_pipeline_chunk(struct pg_conn *pc, const struct store_run *runs, size_t n)
{
	char names[PG_PIPELINE_CHUNK][PG_STMT_NAME_MAX];
	size_t sent;
	int rc = pg_pipeline_names(pc, runs, names, n);

	if (rc < 0)
		return rc;
	if (PQenterPipelineMode(pc->pg) != 1) {
		store_conn_seterr(&pc->base, "postgres: %s", PQerrorMessage(pc->pg));
		return STORE_EDOWN;
	}
	sent = pg_pipeline_send(pc, runs, names, n);
	if (PQpipelineSync(pc->pg) != 1) {
		store_conn_seterr(&pc->base, "postgres: %s", PQerrorMessage(pc->pg));
		return STORE_EDOWN; /* the reset leaves pipeline mode */
	}
	rc = pg_pipeline_read(pc, names, sent);
	if (rc == STORE_EDOWN)
		return rc;
	PQexitPipelineMode(pc->pg);
	if (rc == 0 && sent < n) {
		store_conn_seterr(&pc->base, "postgres: cannot send: %s", PQerrorMessage(pc->pg));
		rc = PQstatus(pc->pg) == CONNECTION_BAD ? STORE_EDOWN : -ENOMEM;
	}
	return rc;
}

/* The batch writer's group in one round trip per PG_PIPELINE_CHUNK
 * statements instead of one per statement (libpq pipeline mode, PostgreSQL
 * 14+ client): the server runs them in order, as separate executions would,
 * and the first failure aborts the rest, as it aborts the transaction. */
static int pg_exec_many(struct store_conn *c, const struct store_run *runs, size_t n)
{
	struct pg_conn *pc = (struct pg_conn *)c;
	int rc = 0;

	for (size_t at = 0; at < n && rc == 0; at += PG_PIPELINE_CHUNK)
		rc = pg_pipeline_chunk(pc, runs + at,
				       n - at < PG_PIPELINE_CHUNK ? n - at : PG_PIPELINE_CHUNK);
	return rc;
}

/* The affected-row count only for data-changing commands: PQcmdTuples also
 * answers for SELECT, where SQLite's count would be 0. */
static int64_t pg_changes(PGresult *res)
{
	const char *tag = PQcmdStatus(res);
	int64_t n = 0;

	if (strncmp(tag, "INSERT", 6) && strncmp(tag, "UPDATE", 6) && strncmp(tag, "DELETE", 6))
		return 0;
	return str_to_i64(str_from_cstr(PQcmdTuples(res)), &n) == 0 ? n : 0;
}

static int pg_exec(struct store_conn *c, const char *sql, const struct store_param *params,
		   size_t nparams, struct store_res **out)
{
	struct pg_conn *pc = (struct pg_conn *)c;
	ExecStatusType st;
	struct pg_res *r;
	PGresult *res;
	int rc;

	if (nparams > PG_MAX_PARAMS)
		return -E2BIG;
	res = pg_run(pc, sql, params, nparams);
	if (!res) {
		store_conn_seterr(c, "postgres: %s", PQerrorMessage(pc->pg));
		return PQstatus(pc->pg) == CONNECTION_BAD ? STORE_EDOWN : -ENOMEM;
	}
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pg_err_map(pc->pg, res);
		store_conn_seterr(c, "postgres: %s", PQresultErrorMessage(res));
		PQclear(res);
		return rc;
	}
	if (!out) {
		PQclear(res);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		PQclear(res);
		return -ENOMEM;
	}
	r->base.be = &store_backend_pg;
	r->base.changes = pg_changes(res);
	r->res = res;
	*out = &r->base;
	return 0;
}

static size_t pg_res_rows(const struct store_res *r)
{
	return (size_t)PQntuples(((const struct pg_res *)r)->res);
}

static size_t pg_res_cols(const struct store_res *r)
{
	return (size_t)PQnfields(((const struct pg_res *)r)->res);
}

static const char *pg_res_colname(const struct store_res *r, size_t col)
{
	return PQfname(((const struct pg_res *)r)->res, (int)col);
}

static bool pg_res_isnull(const struct store_res *r, size_t row, size_t col)
{
	return PQgetisnull(((const struct pg_res *)r)->res, (int)row, (int)col);
}

static const char *pg_res_text(const struct store_res *r, size_t row, size_t col)
{
	return PQgetvalue(((const struct pg_res *)r)->res, (int)row, (int)col);
}

static void pg_res_free(struct store_res *r)
{
	PQclear(((struct pg_res *)r)->res);
	free(r);
}

static struct store_listener *pg_listen_open(struct store *s, const char *channel)
{
	struct store_listener *l = calloc(1, sizeof(*l));
	char err[STORE_ERRMSG_MAX];
	struct buf sql;
	PGresult *res;

	if (!l)
		return NULL;
	buf_init(&sql);
	l->pg = pg_connect(s, err, sizeof(err));
	if (!l->pg || buf_printf(&sql, "LISTEN %s", channel) < 0)
		goto fail;
	res = PQexec(l->pg, sql.p);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (PQsetnonblocking(l->pg, 1) != 0)
		goto fail;
	buf_fini(&sql);
	return l;
fail:
	buf_fini(&sql);
	PQfinish(l->pg);
	free(l);
	return NULL;
}

static int pg_listen_fd(struct store_listener *l)
{
	return PQsocket(l->pg);
}

static int pg_listen_drain(struct store_listener *l)
{
	PGnotify *n;
	int got = 0;

	if (!PQconsumeInput(l->pg) || PQstatus(l->pg) != CONNECTION_OK)
		return STORE_EDOWN;
	while ((n = PQnotifies(l->pg)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	return got;
}

static void pg_listen_close(struct store_listener *l)
{
	if (!l)
		return;
	PQfinish(l->pg);
	free(l);
}

const struct store_backend store_backend_pg = {
    .name = "postgres",
    .kind = STORE_POSTGRES,
    .begin_sql = "BEGIN",
    .notify_sql = "NOTIFY warp_config",
    .migrate_lock_sql = "LOCK TABLE schema_migrations IN EXCLUSIVE MODE",
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .conn_reset = pg_conn_reset,
    .exec = pg_exec,
    .exec_many = pg_exec_many,
    .res_rows = pg_res_rows,
    .res_cols = pg_res_cols,
    .res_colname = pg_res_colname,
    .res_isnull = pg_res_isnull,
    .res_text = pg_res_text,
    .res_free = pg_res_free,
    .listen_open = pg_listen_open,
    .listen_fd = pg_listen_fd,
    .listen_drain = pg_listen_drain,
    .listen_close = pg_listen_close,
};
