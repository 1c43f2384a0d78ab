/*
 * test_store_fixture.h — shared by the tests/unit/test_store_*.c programs:
 * a fresh store per test on SQLite (a file in a new temporary folder) and,
 * when WARP_TEST_PG_URL is set, on PostgreSQL (a new database with a random
 * name, dropped afterwards), so each behaviour is proved on both backends.
 *
 * WARP_TEST_PG_REQUIRED=1 turns a missing WARP_TEST_PG_URL into a failure
 * (CI), otherwise the PostgreSQL half is skipped with a message.
 * tests/integration/pgserver.py starts a throwaway server and sets the URL:
 *   scripts/with-postgres meson test -C build 'test_store_*'
 */
#ifndef WARP_TEST_STORE_FIXTURE_H
#define WARP_TEST_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct fixture {
	enum store_kind kind;
	char dir[256];	 /* SQLite: the temporary folder */
	char url[1024];	 /* what the test opens */
	char dbname[64]; /* PostgreSQL: the database made for this test */
	struct store *store;
};

static enum store_kind fixture_kind;

static inline void fixture_unlink_sqlite(struct fixture *f)
{
	const char *suffix[] = {"/test.db", "/test.db-wal", "/test.db-shm"};
	char path[400];

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", f->dir, suffix[i]);
		unlink(path);
	}
	rmdir(f->dir);
}

/* The admin URL with its database name replaced by db. */
static inline int fixture_pg_url(const char *admin, const char *db, char *out, size_t n)
{
	const char *host = strstr(admin, "://");
	const char *slash, *query;

	if (!host)
		return -1;
	host += 3;
	slash = strchr(host, '/');
	query = strchr(host, '?');
	if (query && slash && slash > query)
		slash = NULL;
	if (!slash)
		slash = query ? query : admin + strlen(admin);
	return snprintf(out, n, "%.*s/%s%s", (int)(slash - admin), admin, db, query ? query : "") <
		       (int)n
		   ? 0
		   : -1;
}

/* Runs one statement on the server's default database. */
static inline int fixture_pg_admin(const char *sql)
{
	char err[STORE_ERRMSG_MAX];
	struct store *s = store_open(getenv("WARP_TEST_PG_URL"), err, sizeof(err));
	int rc;

	if (!s) {
		fprintf(stderr, "fixture: %s\n", err);
		return -1;
	}
	rc = store_exec(store_conn(s), sql, NULL, 0, NULL);
	if (rc < 0)
		fprintf(stderr, "fixture: %s: %s\n", sql, store_conn_errmsg(store_conn(s)));
	store_close(s);
	return rc;
}

static inline int fixture_make(struct fixture *f)
{
	char sql[128];
	unsigned r;

	f->kind = fixture_kind;
	if (f->kind == STORE_SQLITE) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/warp-store-test-XXXXXX");
		if (!mkdtemp(f->dir))
			return -1;
		snprintf(f->url, sizeof(f->url), "sqlite:%s/test.db", f->dir);
		return 0;
	}
	if (random_bytes(&r, sizeof(r)) < 0)
		return -1;
	snprintf(f->dbname, sizeof(f->dbname), "warp_test_%ld_%08x", (long)getpid(), r);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->dbname);
	if (fixture_pg_admin(sql) < 0)
		return -1;
	return fixture_pg_url(getenv("WARP_TEST_PG_URL"), f->dbname, f->url, sizeof(f->url));
}

static inline void fixture_destroy(struct fixture *f)
{
	char sql[128];

	if (f->store)
		store_close(f->store);
	if (f->kind == STORE_SQLITE) {
		fixture_unlink_sqlite(f);
		return;
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->dbname);
	fixture_pg_admin(sql);
}

/* cmocka setup: a fresh, opened (not migrated) store in *state. */
static inline int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[STORE_ERRMSG_MAX];

	if (!f || fixture_make(f) < 0) {
		free(f);
		return -1;
	}
	f->store = store_open(f->url, err, sizeof(err));
	if (!f->store) {
		fprintf(stderr, "fixture: store_open(%s): %s\n", f->url, err);
		fixture_destroy(f);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* cmocka setup: as fixture_setup, then every migration applied. */
static inline int fixture_setup_migrated(void **state)
{
	char err[STORE_ERRMSG_MAX];
	struct fixture *f;

	if (fixture_setup(state) < 0)
		return -1;
	f = *state;
	if (store_migrate(f->store, err, sizeof(err)) < 0) {
		fprintf(stderr, "fixture: migrate: %s\n", err);
		return -1;
	}
	return 0;
}

static inline int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	if (f) {
		fixture_destroy(f);
		free(f);
	}
	return 0;
}

/* Executes sql and asserts it succeeded. */
static inline void fixture_exec_ok(struct store_conn *c, const char *sql)
{
	int rc = store_exec(c, sql, NULL, 0, NULL);

	if (rc != 0)
		fprintf(stderr, "%s: %s\n", sql, store_conn_errmsg(c));
	assert_int_equal(rc, 0);
}

/* The first column of the first row of a query without parameters. */
static inline int64_t fixture_query_int(struct store_conn *c, const char *sql)
{
	struct store_res *r = NULL;
	int64_t v;

	assert_int_equal(store_exec(c, sql, NULL, 0, &r), 0);
	assert_int_equal(store_res_rows(r), 1);
	v = store_res_int(r, 0, 0);
	store_res_free(r);
	return v;
}

/* Runs the tests once on SQLite and once on PostgreSQL (when configured). */
static inline int fixture_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
	const char *pg = getenv("WARP_TEST_PG_URL");
	const char *req = getenv("WARP_TEST_PG_REQUIRED");
	char group[128];
	int failed;

	log_setup(LOG_WARN, LOG_FORMAT_TEXT, NULL);
	fixture_kind = STORE_SQLITE;
	snprintf(group, sizeof(group), "%s (sqlite)", name);
	failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	if (!pg || !*pg) {
		if (req && strcmp(req, "1") == 0) {
			fprintf(stderr,
				"%s: WARP_TEST_PG_REQUIRED=1 but WARP_TEST_PG_URL is unset\n",
				name);
			return failed + 1;
		}
		printf("%s: skipping the PostgreSQL half: WARP_TEST_PG_URL is unset "
		       "(run under scripts/with-postgres)\n",
		       name);
		return failed;
	}
	fixture_kind = STORE_POSTGRES;
	snprintf(group, sizeof(group), "%s (postgres)", name);
	return failed + _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

#define FIXTURE_RUN(name, tests) fixture_run(name, tests, sizeof(tests) / sizeof((tests)[0]))

#endif
