/* test_store_exec.c — URLs, statements, parameters, errors, transactions and
 * connections of src/store/store.c, sqlite.c and pg.c, on both backends. */
#include "test_store_fixture.h"

#include <errno.h>
#include <pthread.h>

static const char *const table_sql =
    "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL, note TEXT, "
    "qty BIGINT CHECK (qty >= 0))";

static struct store_conn *conn_with_table(struct fixture *f)
{
	struct store_conn *c = store_conn(f->store);

	assert_non_null(c);
	fixture_exec_ok(c, table_sql);
	return c;
}

static int insert_row(struct store_conn *c, int64_t id, const char *name)
{
	struct store_param p[2] = {store_p_int(id), store_p_text(name)};

	return store_exec(c, "INSERT INTO t (id, name) VALUES ($1, $2)", p, 2, NULL);
}

static void test_open_rejects_unknown_scheme(void **state)
{
	const char *bad[] = {"mysql://u@h/db", "", "sqlite:", "postgres:/nohost", "warp.db"};
	char err[STORE_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(store_open(bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, "unsupported store URL"));
	}
}

static void test_open_sqlite_missing_folder_names_it(void **state)
{
	char err[STORE_ERRMSG_MAX] = "";

	(void)state;
	assert_null(store_open("sqlite:/nonexistent-warp-dir/sub/warp.db", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-warp-dir/sub"));
	assert_non_null(strstr(err, "does not exist"));
}

static void test_open_postgres_unreachable_fails(void **state)
{
	char err[STORE_ERRMSG_MAX] = "";

	(void)state;
	/* Port 1 on loopback: nothing listens there. */
	assert_null(store_open("postgres://nobody@127.0.0.1:1/none", err, sizeof(err)));
	assert_true(strlen(err) > 0);
}

static void test_memory_store_shared_between_threads_conns(void **state)
{
	char err[STORE_ERRMSG_MAX];
	struct store *s = store_open("sqlite::memory:", err, sizeof(err));

	(void)state;
	assert_non_null(s);
	assert_int_equal(store_kind(s), STORE_SQLITE);
	fixture_exec_ok(store_conn(s), "CREATE TABLE m (x BIGINT)");
	fixture_exec_ok(store_conn(s), "INSERT INTO m (x) VALUES (7)");
	store_conn_release(s);
	/* A new connection sees the same in-memory database. */
	assert_int_equal(fixture_query_int(store_conn(s), "SELECT x FROM m"), 7);
	store_close(s);
}

static void test_kind_follows_url(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_kind(f->store), f->kind);
	assert_int_equal(store_ping(f->store), 0);
}

static void test_exec_binds_int_text_and_null(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	const char *longer = "alice-and-more";
	struct store_param p[4] = {store_p_int(INT64_MIN + 1), store_p_str((struct str){longer, 5}),
				   store_p_null(), store_p_int(42)};
	struct store_res *r = NULL;

	assert_int_equal(store_exec(c,
				    "INSERT INTO t (id, name, note, qty) VALUES ($1, $2, $3, $4)",
				    p, 4, NULL),
			 0);
	assert_int_equal(store_exec(c, "SELECT id, name, note, qty FROM t WHERE id = $1", p, 1, &r),
			 0);
	assert_int_equal(store_res_rows(r), 1);
	assert_int_equal(store_res_cols(r), 4);
	assert_string_equal(store_res_colname(r, 1), "name");
	assert_true(store_res_int(r, 0, 0) == INT64_MIN + 1);
	/* Integer columns read as text are plain decimal, sign included. */
	assert_string_equal(store_res_text(r, 0, 0), "-9223372036854775807");
	assert_string_equal(store_res_text(r, 0, 3), "42");
	assert_string_equal(store_res_text(r, 0, 1), "alice");
	assert_true(store_res_isnull(r, 0, 2));
	assert_string_equal(store_res_text(r, 0, 2), "");
	assert_int_equal(store_res_int(r, 0, 2), 0);
	assert_false(store_res_isnull(r, 0, 3));
	assert_int_equal(store_res_int(r, 0, 3), 42);
	store_res_free(r);
}

static void test_exec_same_placeholder_twice(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct store_param p[2] = {store_p_int(1), store_p_text("twice")};
	struct store_res *r = NULL;

	assert_int_equal(
	    store_exec(c, "INSERT INTO t (id, name, note) VALUES ($1, $2, $2)", p, 2, NULL), 0);
	assert_int_equal(store_exec(c, "SELECT note FROM t WHERE id = $1", p, 1, &r), 0);
	assert_string_equal(store_res_text(r, 0, 0), "twice");
	store_res_free(r);
}

static void test_exec_missing_param_is_error(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct store_param p = store_p_int(1);

	assert_int_equal(store_exec(c, "INSERT INTO t (id, name) VALUES ($1, $2)", &p, 1, NULL),
			 STORE_ERR);
	/* The connection is still usable. */
	assert_int_equal(insert_row(c, 1, "ok"), 0);
}

static void test_exec_changes_counts_rows(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct store_res *r = NULL;

	assert_int_equal(insert_row(c, 1, "a"), 0);
	assert_int_equal(insert_row(c, 2, "b"), 0);
	assert_int_equal(insert_row(c, 3, "c"), 0);
	assert_int_equal(store_exec(c, "UPDATE t SET note = 'x' WHERE id >= 2", NULL, 0, &r), 0);
	assert_int_equal(store_res_changes(r), 2);
	store_res_free(r);
	assert_int_equal(store_exec(c, "SELECT id FROM t ORDER BY id", NULL, 0, &r), 0);
	assert_int_equal(store_res_rows(r), 3);
	assert_int_equal(store_res_changes(r), 0);
	assert_int_equal(store_res_int(r, 2, 0), 3);
	store_res_free(r);
}

static void test_exec_returning_gives_rows(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct store_param p[2] = {store_p_int(9), store_p_text("nine")};
	struct store_res *r = NULL;

	assert_int_equal(
	    store_exec(c, "INSERT INTO t (id, name) VALUES ($1, $2) RETURNING id, name", p, 2, &r),
	    0);
	assert_int_equal(store_res_rows(r), 1);
	assert_int_equal(store_res_int(r, 0, 0), 9);
	assert_int_equal(store_res_changes(r), 1);
	store_res_free(r);
}

static void test_duplicate_key_is_conflict(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);

	assert_int_equal(insert_row(c, 1, "a"), 0);
	assert_int_equal(insert_row(c, 1, "b"), STORE_ECONFLICT);
	assert_true(strlen(store_conn_errmsg(c)) > 0);
	fixture_exec_ok(c, "CREATE TABLE u (k TEXT UNIQUE)");
	fixture_exec_ok(c, "INSERT INTO u (k) VALUES ('x')");
	assert_int_equal(store_exec(c, "INSERT INTO u (k) VALUES ('x')", NULL, 0, NULL),
			 STORE_ECONFLICT);
}

static void test_on_conflict_do_nothing_is_not_error(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct store_param p[2] = {store_p_int(1), store_p_text("a")};
	struct store_res *r = NULL;

	assert_int_equal(insert_row(c, 1, "a"), 0);
	assert_int_equal(store_exec(c,
				    "INSERT INTO t (id, name) VALUES ($1, $2) "
				    "ON CONFLICT (id) DO NOTHING",
				    p, 2, &r),
			 0);
	assert_int_equal(store_res_changes(r), 0);
	store_res_free(r);
}

static void test_not_null_and_check_are_constraint(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);

	assert_int_equal(insert_row(c, 1, NULL), STORE_ECONSTRAINT);
	assert_int_equal(
	    store_exec(c, "INSERT INTO t (id, name, qty) VALUES (2, 'n', -1)", NULL, 0, NULL),
	    STORE_ECONSTRAINT);
}

static void test_syntax_error_is_store_err(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);

	assert_int_equal(store_exec(c, "SELEC nonsense", NULL, 0, NULL), STORE_ERR);
	assert_true(strlen(store_conn_errmsg(c)) > 0);
	assert_string_equal(store_strerror(STORE_ERR), "SQL error");
	assert_string_equal(store_strerror(STORE_ECONFLICT), "unique constraint violated");
}

static void test_tx_commit_keeps_rows(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);

	assert_int_equal(store_tx_begin(c), 0);
	assert_int_equal(insert_row(c, 1, "a"), 0);
	assert_int_equal(insert_row(c, 2, "b"), 0);
	assert_int_equal(store_tx_commit(c), 0);
	assert_int_equal(fixture_query_int(c, "SELECT count(*) FROM t"), 2);
}

struct other_writer {
	struct store *store;
	int rc;
	int64_t count;
};

static void *other_writer_main(void *arg)
{
	struct other_writer *w = arg;
	struct store_conn *c = store_conn(w->store);

	w->rc = c ? store_tx_begin(c) : -1;
	if (w->rc == 0)
		w->rc = insert_row(c, 3, "c");
	if (w->rc == 0)
		w->rc = store_tx_commit(c);
	if (w->rc == 0)
		w->count = fixture_query_int(c, "SELECT count(*) FROM t");
	store_conn_release(w->store);
	return NULL;
}

/* A durable commit keeps the rows and leaves the store to the next writer
 * (on SQLite the WAL is synced after the write lock is given back). */
static void test_tx_commit_durable_keeps_rows(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct other_writer w = {.store = f->store, .rc = -1};
	pthread_t th;

	assert_int_equal(store_tx_begin(c), 0);
	assert_int_equal(insert_row(c, 1, "a"), 0);
	assert_int_equal(insert_row(c, 2, "b"), 0);
	assert_int_equal(store_tx_commit_durable(c), 0);
	assert_int_equal(pthread_create(&th, NULL, other_writer_main, &w), 0);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(w.count, 3);
	assert_int_equal(fixture_query_int(c, "SELECT count(*) FROM t"), 3);
}

static void test_tx_rollback_discards_rows(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);

	assert_int_equal(insert_row(c, 1, "kept"), 0);
	assert_int_equal(store_tx_begin(c), 0);
	assert_int_equal(insert_row(c, 2, "gone"), 0);
	assert_int_equal(store_tx_rollback(c), 0);
	assert_int_equal(fixture_query_int(c, "SELECT count(*) FROM t"), 1);
}

struct thread_probe {
	struct store *store;
	struct store_conn *conn;
	int64_t count;
};

static void *probe_main(void *arg)
{
	struct thread_probe *p = arg;
	struct store_res *r = NULL;

	p->conn = store_conn(p->store);
	if (p->conn && store_exec(p->conn, "SELECT count(*) FROM t", NULL, 0, &r) == 0)
		p->count = store_res_int(r, 0, 0);
	store_res_free(r);
	store_conn_release(p->store);
	return NULL;
}

static void test_each_thread_has_its_own_connection(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	struct thread_probe p = {.store = f->store, .count = -1};
	pthread_t th;

	assert_ptr_equal(store_conn(f->store), c);
	assert_int_equal(insert_row(c, 1, "a"), 0);
	assert_int_equal(pthread_create(&th, NULL, probe_main, &p), 0);
	pthread_join(th, NULL);
	assert_non_null(p.conn);
	assert_ptr_not_equal(p.conn, c);
	assert_int_equal(p.count, 1);
}

/* Kills this connection's server session from another one. */
static void pg_kill_session(struct fixture *f, struct store_conn *c)
{
	struct store_param pid = store_p_int(fixture_query_int(c, "SELECT pg_backend_pid()"));
	char err[STORE_ERRMSG_MAX];
	struct store *other = store_open(f->url, err, sizeof(err));

	assert_non_null(other);
	assert_int_equal(
	    store_exec(store_conn(other), "SELECT pg_terminate_backend($1)", &pid, 1, NULL), 0);
	store_close(other);
}

/* PostgreSQL: the server ends our session; the next call reports it and a
 * later store_conn() reconnects. */
static void test_pg_killed_connection_reconnects(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	int rc = -1;

	if (f->kind != STORE_POSTGRES)
		skip();
	pg_kill_session(f, c);
	rc = store_exec(c, "SELECT 1", NULL, 0, NULL);
	assert_true(rc == STORE_EDOWN || rc == 0);
	for (int i = 0; i < 60; i++) {
		c = store_conn(f->store);
		if (c && (rc = store_exec(c, "SELECT 1", NULL, 0, NULL)) == 0)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(rc, 0);
}

/* PostgreSQL: statements are prepared once per session; after a reconnect
 * (a new session, which knows none of them) the first run of a statement
 * the old session had prepared must succeed, not fail as unknown. */
static void test_pg_statement_cache_emptied_on_reconnect(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = conn_with_table(f);
	int rc;

	if (f->kind != STORE_POSTGRES)
		skip();
	assert_int_equal(insert_row(c, 1, "before"), 0);
	pg_kill_session(f, c);
	rc = insert_row(c, 2, "lost");
	assert_true(rc == STORE_EDOWN || rc == 0);
	c = NULL;
	for (int i = 0; i < 60 && !c; i++) {
		c = store_conn(f->store);
		if (!c)
			usleep(100 * 1000);
	}
	assert_non_null(c);
	assert_int_equal(insert_row(c, 3, "after"), 0); /* the very first try */
	assert_int_equal(fixture_query_int(c, "SELECT count(*) FROM t WHERE id = 3"), 1);
}

/* PostgreSQL: the statements run are kept prepared, at most the cache's
 * size of them (the least recently used deallocated). */
static void test_pg_statement_cache_kept_and_bounded(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	char sql[64];

	if (f->kind != STORE_POSTGRES)
		skip();
	for (int i = 0; i < 100; i++) {
		struct store_param p = store_p_int(i);
		snprintf(sql, sizeof(sql), "SELECT $1::bigint + %d", i);
		assert_int_equal(store_exec(c, sql, &p, 1, NULL), 0);
	}
	int64_t kept = fixture_query_int(c, "SELECT count(*) FROM pg_prepared_statements");
	assert_true(kept >= 2);
	assert_true(kept <= 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_rejects_unknown_scheme),
	    cmocka_unit_test(test_open_sqlite_missing_folder_names_it),
	    cmocka_unit_test(test_open_postgres_unreachable_fails),
	    cmocka_unit_test(test_memory_store_shared_between_threads_conns),
	    cmocka_unit_test_setup_teardown(test_kind_follows_url, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_binds_int_text_and_null, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_same_placeholder_twice, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_missing_param_is_error, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_changes_counts_rows, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_exec_returning_gives_rows, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_key_is_conflict, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_on_conflict_do_nothing_is_not_error, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_not_null_and_check_are_constraint, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_syntax_error_is_store_err, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_commit_keeps_rows, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_commit_durable_keeps_rows, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tx_rollback_discards_rows, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_each_thread_has_its_own_connection, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_pg_statement_cache_emptied_on_reconnect,
					    fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_pg_statement_cache_kept_and_bounded, fixture_setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_pg_killed_connection_reconnects, fixture_setup,
					    fixture_teardown),
	};

	return FIXTURE_RUN("store_exec", tests);
}
