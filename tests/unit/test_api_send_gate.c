/*
 * test_api_send_gate.c — send_gate.c: the checks POST /api/v1/messages
 * makes against the customer statuses ("api_send") and the smsc's message
 * routes, built from a migrated SQLite store: active, suspended and
 * unknown customers; a customer's own, global and default (empty prefix)
 * routes; what the snapshots do not know asked of the store, and that
 * answer kept until the next version (counted in
 * warp_api_send_store_lookups_total).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/message.h"
#include "smsc/smsc.h"

struct gate_fixture {
	char dir[64];
	struct store *store;
	struct snapshot_loader *loader;
	struct api api;
	struct api_send_view v;
};

static void gate_exec(struct store *s, const char *sql)
{
	assert_int_equal(store_exec(store_conn(s), sql, NULL, 0, NULL), 0);
}

static void gate_rows(struct store *s)
{
	gate_exec(s, "INSERT INTO customers (id, name, status, billing_type, currency, created_at, "
		     "updated_at) VALUES ('cus_a', 'a', 'active', 'prepaid', 'USD', 1, 1), "
		     "('cus_b', 'b', 'suspended', 'prepaid', 'USD', 1, 1), "
		     "('cus_c', 'c', 'active', 'prepaid', 'USD', 1, 1)");
	gate_exec(s, "INSERT INTO message_routes (id, prefix, customer_id, created_at, updated_at) "
		     "VALUES ('mrt_1', '4477', NULL, 1, 1), ('mrt_2', '33', 'cus_a', 1, 1), "
		     "('mrt_3', '1234567890123456', NULL, 1, 1)");
}

static int gate_setup(void **state)
{
	struct gate_fixture *f = calloc(1, sizeof(*f));
	char url[128], err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/warp-gate-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(url, sizeof(url), "sqlite:%s/gate.db", f->dir);
	f->store = store_open(url, err, sizeof(err));
	assert_non_null(f->store);
	assert_int_equal(store_migrate(f->store, err, sizeof(err)), 0);
	gate_rows(f->store);
	f->loader = snapshot_loader_new(f->store, 60000); /* built once, never polled */
	assert_non_null(f->loader);
	f->api.store = f->store;
	assert_int_equal(api_send_gate_register(&f->api, f->loader), 0);
	api_send_view_acquire(&f->api, &f->v);
	assert_non_null(f->v.gate);
	assert_non_null(f->v.routes);
	*state = f;
	return 0;
}

static int gate_teardown(void **state)
{
	struct gate_fixture *f = *state;
	char path[128];

	api_send_view_release(&f->v);
	api_send_gate_fini(&f->api);
	snapshot_loader_free(f->loader);
	store_conn_release(f->store);
	store_close(f->store);
	for (const char *const *sfx = (const char *const[]){"", "-wal", "-shm", NULL}; *sfx;
	     sfx++) {
		snprintf(path, sizeof(path), "%s/gate.db%s", f->dir, *sfx);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The store statements the checks ran so far. */
static int64_t lookups(const struct gate_fixture *f)
{
	return metric_value(f->api.m_send_store);
}

static bool active(struct gate_fixture *f, const char *customer)
{
	bool yes = false;

	assert_int_equal(api_send_view_customer(&f->v, store_conn(f->store), customer, &yes), 0);
	return yes;
}

static bool routed(struct gate_fixture *f, const char *customer, const char *to)
{
	bool yes = false;

	assert_int_equal(api_send_view_routed(&f->v, store_conn(f->store), customer, to, &yes), 0);
	return yes;
}

/* The snapshots taken again after a rebuild, at the next config version
 * when bump (a change through the API), at the same one otherwise. */
static void rebuild(struct gate_fixture *f, bool bump)
{
	if (bump) {
		struct store_conn *c = store_conn(f->store);
		assert_int_equal(store_tx_begin(c), 0);
		assert_int_equal(store_config_version_bump(c), 0);
		assert_int_equal(store_tx_commit(c), 0);
	}
	snapshot_loader_reload(f->loader);
	api_send_view_release(&f->v);
	api_send_view_acquire(&f->api, &f->v);
}

static void test_customer_status_from_the_snapshot(void **state)
{
	struct gate_fixture *f = *state;
	int64_t before = lookups(f);

	/* Written behind the snapshot's back: not read per send. */
	gate_exec(f->store, "UPDATE customers SET status = 'active' WHERE id = 'cus_b'");
	assert_true(active(f, "cus_a"));
	assert_false(active(f, "cus_b"));
	assert_true(api_send_view_knows(&f->v, "cus_b"));
	assert_false(api_send_view_knows(&f->v, "cus_new"));
	assert_int_equal(lookups(f), before);
}

/* Created after the build: the store is asked, once until the next
 * version, and so is one that does not exist at all. */
static void test_unknown_customer_is_asked_of_the_store_once(void **state)
{
	struct gate_fixture *f = *state;
	int64_t before = lookups(f);

	gate_exec(f->store, "INSERT INTO customers (id, name, status, billing_type, currency, "
			    "created_at, updated_at) VALUES ('cus_new', 'n', 'active', 'prepaid', "
			    "'USD', 1, 1)");
	for (int i = 0; i < 5; i++) {
		assert_true(active(f, "cus_new"));
		assert_false(active(f, "cus_nobody"));
	}
	assert_int_equal(lookups(f), before + 2);
}

static void test_global_route_serves_every_customer(void **state)
{
	struct gate_fixture *f = *state;

	assert_true(routed(f, "cus_a", "447700900123"));
	assert_true(routed(f, "cus_c", "4477"));
	assert_false(routed(f, "cus_c", "447"));
}

static void test_own_route_serves_only_its_customer(void **state)
{
	struct gate_fixture *f = *state;

	assert_true(routed(f, "cus_a", "33612345678"));
	assert_false(routed(f, "cus_c", "33612345678"));
}

/* A prefix longer than any destination (15 digits) serves none. */
static void test_overlong_prefix_serves_nothing(void **state)
{
	struct gate_fixture *f = *state;

	assert_false(routed(f, "cus_c", "123456789012345"));
}

static void test_empty_prefix_is_the_default_route(void **state)
{
	struct gate_fixture *f = *state;

	gate_exec(f->store, "INSERT INTO message_routes (id, prefix, customer_id, created_at, "
			    "updated_at) VALUES ('mrt_4', '', 'cus_c', 1, 1)");
	rebuild(f, false);
	assert_true(routed(f, "cus_c", "81312345678"));
	assert_false(routed(f, "cus_a", "81312345678"));
}

/* A destination no route serves costs one statement, however many sends
 * ask, until the next config version; a route added since is then found
 * by the rebuilt snapshot, and until then by the store only for what was
 * not asked yet. */
static void test_no_route_is_asked_of_the_store_once_per_version(void **state)
{
	struct gate_fixture *f = *state;
	int64_t before = lookups(f);

	for (int i = 0; i < 100; i++)
		assert_false(routed(f, "cus_c", "81312345678"));
	assert_int_equal(lookups(f), before + 1);
	gate_exec(f->store, "INSERT INTO message_routes (id, prefix, customer_id, created_at, "
			    "updated_at) VALUES ('mrt_5', '813', NULL, 1, 1)");
	assert_false(routed(f, "cus_c", "81312345678")); /* kept until the next version */
	assert_true(routed(f, "cus_c", "81399999999"));	 /* not asked before: the store has it */
	assert_int_equal(lookups(f), before + 2);
	rebuild(f, true);
	assert_true(routed(f, "cus_c", "81312345678"));
	assert_int_equal(lookups(f), before + 2);
}

/* The HTTP checks and the smsc's dispatcher read one routes snapshot. */
static void test_routes_snapshot_is_the_smscs(void **state)
{
	struct gate_fixture *f = *state;

	assert_ptr_equal(smsc_routes_register(f->loader), f->api.send_routes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_customer_status_from_the_snapshot, gate_setup,
					    gate_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_customer_is_asked_of_the_store_once,
					    gate_setup, gate_teardown),
	    cmocka_unit_test_setup_teardown(test_no_route_is_asked_of_the_store_once_per_version,
					    gate_setup, gate_teardown),
	    cmocka_unit_test_setup_teardown(test_routes_snapshot_is_the_smscs, gate_setup,
					    gate_teardown),
	    cmocka_unit_test_setup_teardown(test_global_route_serves_every_customer, gate_setup,
					    gate_teardown),
	    cmocka_unit_test_setup_teardown(test_own_route_serves_only_its_customer, gate_setup,
					    gate_teardown),
	    cmocka_unit_test_setup_teardown(test_overlong_prefix_serves_nothing, gate_setup,
					    gate_teardown),
	    cmocka_unit_test_setup_teardown(test_empty_prefix_is_the_default_route, gate_setup,
					    gate_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
