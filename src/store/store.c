/*
 * store.c — opening a store by URL, per-thread connections, and the thin
 * dispatch from the public API to the backend chosen at open time.
 *
 * Why per-thread connections: neither a libpq PGconn nor an SQLite handle
 * opened with SQLITE_OPEN_NOMUTEX may be used by two threads at once, and
 * a pool with check-out would put a lock on every query.  Each thread that
 * calls store_conn() gets its own connection, found through a pthread key
 * (no lock on the fast path); the store also keeps every connection in a
 * lock-guarded list so that store_close() can close them all and so that
 * a thread's connection is closed when it exits (the key's destructor).
 *
 * A connection that reported STORE_EDOWN is marked broken; the next
 * store_conn() on that thread tries to bring it back (PQreset on
 * PostgreSQL), at most once per backoff interval, doubling from 100 ms to
 * 5 s while it keeps failing.  Meanwhile store_conn() answers NULL at once
 * rather than blocking the caller.
 */
#include "store/backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One thread's connection and its reconnection state. */
struct store_slot {
	struct store *store;
	struct store_conn *conn;
	int64_t next_try_ms;
	int backoff_ms;
	struct store_slot *prev, *next;
};

struct store {
	const struct store_backend *be;
	char *target; /* file name, SQLite URI or libpq URL */
	bool memory;
	pthread_key_t key;
	pthread_mutex_t lock; /* guards slots */
	struct store_slot *slots;
	/* Keeps a shared in-memory SQLite database alive between threads'
	 * connections (it vanishes when its last connection closes). */
	struct store_conn *anchor;
	void *be_state; /* the backend's (store_init), set before any thread runs */
};

static atomic_uint store_memory_seq;

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK:
		return "success";
	case STORE_ERR:
		return "SQL error";
	case STORE_ECONFLICT:
		return "unique constraint violated";
	case STORE_ECONSTRAINT:
		return "constraint violated";
	case STORE_EBUSY:
		return "store busy: retry the transaction";
	case STORE_EDOWN:
		return "store unreachable";
	default:
		return err < 0 && err > -4096 ? strerror(-err) : "unknown store error";
	}
}

void store_conn_seterr(struct store_conn *c, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	/* libpq messages end in newlines and may span lines: keep one line. */
	for (char *p = c->errmsg; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	n = strlen(c->errmsg);
	while (n > 0 && c->errmsg[n - 1] == ' ')
		c->errmsg[--n] = '\0';
}

const char *store_target(const struct store *s)
{
	return s->target;
}

bool store_is_memory(const struct store *s)
{
	return s->memory;
}

void *store_backend_state(const struct store *s)
{
	return s->be_state;
}

enum store_kind store_kind(const struct store *s)
{
	return s->be->kind;
}

/* Fills s->be, s->target and s->memory from url. */
static int store_url_parse(struct store *s, const char *url, char *err, size_t errlen)
{
	struct str u = str_from_cstr(url ? url : "");
	struct buf b;

	buf_init(&b);
	if (str_eq_cstr(u, "sqlite::memory:")) {
		/* A named shared-cache memory database, so that every thread's
		 * connection sees the same data (RFC-free: sqlite.org/inmemorydb). */
		if (buf_printf(&b, "file:warp-mem-%ld-%u?mode=memory&cache=shared", (long)getpid(),
			       atomic_fetch_add(&store_memory_seq, 1)) < 0)
			goto nomem;
		s->be = &store_backend_sqlite;
		s->memory = true;
	} else if (str_has_prefix(u, STR_LIT("sqlite:")) && u.len > 7) {
		if (buf_append(&b, u.p + 7, u.len - 7) < 0)
			goto nomem;
		s->be = &store_backend_sqlite;
	} else if (str_has_prefix(u, STR_LIT("postgres://")) ||
		   str_has_prefix(u, STR_LIT("postgresql://"))) {
		if (buf_append_str(&b, u) < 0)
			goto nomem;
		s->be = &store_backend_pg;
	} else {
		ptrdiff_t colon = str_index(u, ':');
		snprintf(err, errlen,
			 "unsupported store URL scheme \"%.*s\": use sqlite:PATH, sqlite::memory: "
			 "or postgres://user@host:port/db",
			 colon > 0 && colon < 32 ? (int)colon : (int)(u.len < 32 ? u.len : 32),
			 u.p);
		buf_fini(&b);
		return -EINVAL;
	}
	s->target = buf_steal(&b);
	return s->target ? 0 : -ENOMEM;
nomem:
	buf_fini(&b);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void store_slot_unlink(struct store *s, struct store_slot *slot)
{
	if (slot->prev)
		slot->prev->next = slot->next;
	else
		s->slots = slot->next;
	if (slot->next)
		slot->next->prev = slot->prev;
}

/* pthread key destructor: the thread exits without store_conn_release. */
static void store_slot_destroy(void *p)
{
	struct store_slot *slot = p;
	struct store *s = slot->store;

	pthread_mutex_lock(&s->lock);
	store_slot_unlink(s, slot);
	pthread_mutex_unlock(&s->lock);
	if (slot->conn)
		s->be->conn_close(slot->conn);
	free(slot);
}

/* Opens a first connection to prove the store answers. */
static int store_open_check(struct store *s, char *err, size_t errlen)
{
	struct store_conn *c = s->be->conn_open(s, err, errlen);
	int rc;

	if (!c)
		return STORE_EDOWN;
	rc = s->be->exec(c, "SELECT 1", NULL, 0, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "%s", c->errmsg);
		s->be->conn_close(c);
		return rc;
	}
	if (s->memory)
		s->anchor = c;
	else
		s->be->conn_close(c);
	return 0;
}

struct store *store_open(const char *url, char *err, size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (store_url_parse(s, url, err, errlen) < 0) {
		free(s);
		return NULL;
	}
	if (pthread_key_create(&s->key, store_slot_destroy) != 0) {
		snprintf(err, errlen, "pthread_key_create failed");
		goto fail_target;
	}
	pthread_mutex_init(&s->lock, NULL);
	if (store_open_check(s, err, errlen) < 0)
		goto fail_key;
	if (s->be->store_init && s->be->store_init(s, &s->be_state, err, errlen) < 0)
		goto fail_anchor;
	return s;
fail_anchor:
	if (s->anchor)
		s->be->conn_close(s->anchor);
fail_key:
	pthread_mutex_destroy(&s->lock);
	pthread_key_delete(s->key);
fail_target:
	free(s->target);
	free(s);
	return NULL;
}

void store_close(struct store *s)
{
	struct store_slot *slot, *next;

	if (!s)
		return;
	/* After this no thread's exit runs store_slot_destroy for s. */
	pthread_key_delete(s->key);
	pthread_mutex_lock(&s->lock);
	for (slot = s->slots; slot; slot = next) {
		next = slot->next;
		if (slot->conn)
			s->be->conn_close(slot->conn);
		free(slot);
	}
	s->slots = NULL;
	pthread_mutex_unlock(&s->lock);
	if (s->anchor)
		s->be->conn_close(s->anchor);
	if (s->be->store_fini)
		s->be->store_fini(s->be_state);
	pthread_mutex_destroy(&s->lock);
	free(s->target);
	free(s);
}

static struct store_slot *store_slot_get(struct store *s)
{
	struct store_slot *slot = pthread_getspecific(s->key);

	if (slot)
		return slot;
	slot = calloc(1, sizeof(*slot));
	if (!slot)
		return NULL;
	slot->store = s;
	if (pthread_setspecific(s->key, slot) != 0) {
		free(slot);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	slot->next = s->slots;
	if (s->slots)
		s->slots->prev = slot;
	s->slots = slot;
	pthread_mutex_unlock(&s->lock);
	return slot;
}

/* Opens or revives the slot's connection; 0 on success. */
static int store_slot_connect(struct store *s, struct store_slot *slot)
{
	char err[STORE_ERRMSG_MAX] = "";

	if (slot->conn) {
		if (s->be->conn_reset(slot->conn) == 0) {
			slot->conn->broken = false;
			return 0;
		}
		snprintf(err, sizeof(err), "%s", slot->conn->errmsg);
	} else {
		slot->conn = s->be->conn_open(s, err, sizeof(err));
		if (slot->conn)
			return 0;
	}
	slot->backoff_ms = store_backoff_next(slot->backoff_ms);
	slot->next_try_ms = time_mono_ms() + slot->backoff_ms;
	log_warn("store", "%s connection failed (next try in %d ms): %s", s->be->name,
		 slot->backoff_ms, err);
	return STORE_EDOWN;
}

struct store_conn *store_conn(struct store *s)
{
	struct store_slot *slot = store_slot_get(s);

	if (!slot)
		return NULL;
	if (slot->conn && !slot->conn->broken)
		return slot->conn;
	if (time_mono_ms() < slot->next_try_ms)
		return NULL;
	if (store_slot_connect(s, slot) < 0)
		return NULL;
	if (slot->backoff_ms)
		log_info("store", "%s connection restored", s->be->name);
	slot->backoff_ms = 0;
	slot->next_try_ms = 0;
	return slot->conn;
}

void store_conn_release(struct store *s)
{
	struct store_slot *slot = pthread_getspecific(s->key);

	if (!slot)
		return;
	pthread_setspecific(s->key, NULL);
	store_slot_destroy(slot);
}

const char *store_conn_errmsg(const struct store_conn *c)
{
	return c ? c->errmsg : "no connection";
}

int store_ping(struct store *s)
{
	struct store_conn *c = store_conn(s);

	return c ? store_exec(c, "SELECT 1", NULL, 0, NULL) : STORE_EDOWN;
}

int store_exec(struct store_conn *c, const char *sql, const struct store_param *params,
	       size_t nparams, struct store_res **res)
{
	int rc;

	if (res)
		*res = NULL;
	if (!c || !sql || (nparams && !params))
		return -EINVAL;
	rc = c->be->exec(c, sql, params, nparams, res);
	if (rc == STORE_EDOWN)
		c->broken = true;
	return rc;
}

size_t store_res_rows(const struct store_res *r)
{
	return r ? r->be->res_rows(r) : 0;
}

size_t store_res_cols(const struct store_res *r)
{
	return r ? r->be->res_cols(r) : 0;
}

static bool store_res_inside(const struct store_res *r, size_t row, size_t col)
{
	return r && row < r->be->res_rows(r) && col < r->be->res_cols(r);
}

const char *store_res_colname(const struct store_res *r, size_t col)
{
	return r && col < r->be->res_cols(r) ? r->be->res_colname(r, col) : NULL;
}

bool store_res_isnull(const struct store_res *r, size_t row, size_t col)
{
	return !store_res_inside(r, row, col) || r->be->res_isnull(r, row, col);
}

const char *store_res_text(const struct store_res *r, size_t row, size_t col)
{
	if (store_res_isnull(r, row, col))
		return "";
	return r->be->res_text(r, row, col);
}

int64_t store_res_int(const struct store_res *r, size_t row, size_t col)
{
	int64_t v;

	if (store_res_isnull(r, row, col))
		return 0;
	return str_to_i64(str_from_cstr(r->be->res_text(r, row, col)), &v) == 0 ? v : 0;
}

int64_t store_res_changes(const struct store_res *r)
{
	return r ? r->changes : 0;
}

void store_res_free(struct store_res *r)
{
	if (r)
		r->be->res_free(r);
}

int store_tx_begin(struct store_conn *c)
{
	return c ? store_exec(c, c->be->begin_sql, NULL, 0, NULL) : -EINVAL;
}

int store_tx_commit(struct store_conn *c)
{
	return store_exec(c, "COMMIT", NULL, 0, NULL);
}

int store_tx_rollback(struct store_conn *c)
{
	return store_exec(c, "ROLLBACK", NULL, 0, NULL);
}

int store_tx_commit_durable(struct store_conn *c)
{
	int rc = store_tx_commit(c);

	if (rc == 0 && c->be->sync)
		rc = c->be->sync(c);
	if (rc == STORE_EDOWN)
		c->broken = true;
	return rc;
}

int store_config_version_bump(struct store_conn *c)
{
	struct store_res *r;
	int rc;

	rc = store_exec(c, "UPDATE config_version SET version = version + 1 WHERE id = 1", NULL, 0,
			&r);
	if (rc < 0)
		return rc;
	if (store_res_changes(r) != 1) {
		store_conn_seterr(c, "config_version has no row: run the migrations");
		rc = STORE_ERR;
	}
	store_res_free(r);
	/* PostgreSQL delivers the notification when the transaction commits. */
	if (rc == 0 && c->be->notify_sql)
		rc = store_exec(c, c->be->notify_sql, NULL, 0, NULL);
	return rc;
}

int store_config_version_get(struct store_conn *c, int64_t *out)
{
	struct store_res *r;
	int rc;

	rc = store_exec(c, "SELECT version FROM config_version WHERE id = 1", NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (store_res_rows(r) != 1) {
		store_conn_seterr(c, "config_version has no row: run the migrations");
		rc = STORE_ERR;
	} else {
		*out = store_res_int(r, 0, 0);
	}
	store_res_free(r);
	return rc;
}
