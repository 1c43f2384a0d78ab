/* test_store_migrate.c — src/store/migrate.c and the config-version counter,
 * on both backends. */
#include "test_store_fixture.h"

#include <errno.h>

static int migrate(struct fixture *f, char *err, size_t n)
{
	err[0] = '\0';
	return store_migrate(f->store, err, n);
}

static void test_migrate_applies_all_in_order_and_records(void **state)
{
	struct fixture *f = *state;
	char err[STORE_ERRMSG_MAX];
	struct store_conn *c = store_conn(f->store);
	struct store_res *r = NULL;

	assert_int_equal(store_migrations_current(f->store), -EPROTO);
	assert_int_equal(migrate(f, err, sizeof(err)), 0);
	assert_int_equal(store_migrations_current(f->store), 0);
	assert_true(store_migrations_latest() >= 1);
	assert_int_equal(store_exec(c,
				    "SELECT version, name, checksum, applied_at "
				    "FROM schema_migrations ORDER BY version",
				    NULL, 0, &r),
			 0);
	assert_int_equal(store_res_rows(r), store_migrations_latest());
	for (size_t i = 0; i < store_res_rows(r); i++)
		assert_int_equal(store_res_int(r, i, 0), (int64_t)i + 1);
	assert_string_equal(store_res_text(r, 0, 1), "foundation");
	assert_int_equal(strlen(store_res_text(r, 0, 2)), 64);
	assert_true(store_res_int(r, 0, 3) > 1600000000000);
	store_res_free(r);
}

static void test_migrate_creates_foundation_tables(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);

	assert_int_equal(fixture_query_int(c, "SELECT version FROM config_version WHERE id = 1"),
			 1);
	fixture_exec_ok(c, "INSERT INTO api_keys (id, prefix, secret_hash, role, created_at) "
			   "VALUES ('key_a', 'wk_a', 'h1', 'admin', 1)");
	assert_int_equal(fixture_query_int(c, "SELECT count(*) FROM api_keys WHERE "
					      "scopes = 'read,write'"),
			 1);
	/* secret_hash is unique and role is admin or customer. */
	assert_int_equal(store_exec(c,
				    "INSERT INTO api_keys (id, prefix, secret_hash, role, "
				    "created_at) VALUES ('key_b', 'wk_b', 'h1', 'admin', 1)",
				    NULL, 0, NULL),
			 STORE_ECONFLICT);
	assert_int_equal(store_exec(c,
				    "INSERT INTO api_keys (id, prefix, secret_hash, role, "
				    "created_at) VALUES ('key_c', 'wk_c', 'h3', 'root', 1)",
				    NULL, 0, NULL),
			 STORE_ECONSTRAINT);
	/* config_version holds exactly one row. */
	assert_int_equal(
	    store_exec(c, "INSERT INTO config_version (id, version) VALUES (2, 1)", NULL, 0, NULL),
	    STORE_ECONSTRAINT);
}

static void test_migrate_twice_is_noop(void **state)
{
	struct fixture *f = *state;
	char err[STORE_ERRMSG_MAX];
	struct store_conn *c = store_conn(f->store);
	int64_t at = fixture_query_int(c, "SELECT applied_at FROM schema_migrations "
					  "WHERE version = 1");

	fixture_exec_ok(c, "UPDATE config_version SET version = 5 WHERE id = 1");
	assert_int_equal(migrate(f, err, sizeof(err)), 0);
	assert_int_equal(fixture_query_int(c, "SELECT count(*) FROM schema_migrations"),
			 store_migrations_latest());
	assert_int_equal(fixture_query_int(c, "SELECT applied_at FROM schema_migrations "
					      "WHERE version = 1"),
			 at);
	assert_int_equal(fixture_query_int(c, "SELECT version FROM config_version"), 5);
}

static void test_migrate_refuses_changed_checksum(void **state)
{
	struct fixture *f = *state;
	char err[STORE_ERRMSG_MAX];
	struct store_conn *c = store_conn(f->store);

	fixture_exec_ok(c, "UPDATE schema_migrations SET checksum = 'abc123' WHERE version = 1");
	assert_int_equal(migrate(f, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "0001_foundation"));
	assert_non_null(strstr(err, "differs"));
	assert_int_equal(store_migrations_current(f->store), -EPROTO);
}

static void test_migrate_refuses_newer_store(void **state)
{
	struct fixture *f = *state;
	char err[STORE_ERRMSG_MAX], want[128];
	struct store_conn *c = store_conn(f->store);
	struct store_param p = store_p_int(store_migrations_latest() + 1);

	assert_int_equal(store_exec(c,
				    "INSERT INTO schema_migrations (version, name, checksum, "
				    "applied_at) VALUES ($1, 'future', 'x', 0)",
				    &p, 1, NULL),
			 0);
	assert_int_equal(migrate(f, err, sizeof(err)), -EPROTO);
	snprintf(want, sizeof(want), "store is at migration %d, this binary knows up to %d",
		 store_migrations_latest() + 1, store_migrations_latest());
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "upgrade warp"));
	assert_int_equal(store_migrations_current(f->store), -EPROTO);
}

static void test_config_version_bump_and_get(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	int64_t v = 0;

	assert_int_equal(store_config_version_get(c, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_config_version_bump(c), 0);
	assert_int_equal(store_config_version_get(c, &v), 0);
	assert_int_equal(v, 2);
}

static void test_config_version_bump_rolls_back_with_tx(void **state)
{
	struct fixture *f = *state;
	struct store_conn *c = store_conn(f->store);
	int64_t v = 0;

	assert_int_equal(store_tx_begin(c), 0);
	assert_int_equal(store_config_version_bump(c), 0);
	assert_int_equal(store_config_version_bump(c), 0);
	assert_int_equal(store_tx_rollback(c), 0);
	assert_int_equal(store_config_version_get(c, &v), 0);
	assert_int_equal(v, 1);
}

static void test_config_version_without_migrations_fails(void **state)
{
	struct fixture *f = *state;
	int64_t v = 0;

	assert_true(store_config_version_get(store_conn(f->store), &v) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrate_applies_all_in_order_and_records,
					    fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_creates_foundation_tables,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_twice_is_noop, fixture_setup_migrated,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_changed_checksum,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_refuses_newer_store,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_config_version_bump_and_get,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_config_version_bump_rolls_back_with_tx,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_config_version_without_migrations_fails,
					    fixture_setup, fixture_teardown),
	};

	return FIXTURE_RUN("store_migrate", tests);
}
