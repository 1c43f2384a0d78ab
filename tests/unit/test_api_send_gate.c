/*
 * test_api_send_gate.c — send_gate.c: the snapshot of customer statuses
 * and message routes that POST /api/v1/messages checks, built from a
 * migrated SQLite store: active, suspended and unknown customers; a
 * customer's own, global and default (empty prefix) routes, and what no
 * route serves, which is left to the store ("unknown").
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

struct gate_fixture {
	char dir[64];
	struct store *store;
	struct snapshot_loader *loader;
	struct snapshot *snap;
	const struct api_send_gate *gate;
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
	f->snap = api_send_gate_register(f->loader);
	assert_non_null(f->snap);
	f->gate = snapshot_acquire(f->snap);
	assert_non_null(f->gate);
	*state = f;
	return 0;
}

static int gate_teardown(void **state)
{
	struct gate_fixture *f = *state;
	char path[128];

	snapshot_release(f->snap, f->gate);
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

static void test_customer_status_from_the_snapshot(void **state)
{
	struct gate_fixture *f = *state;

	assert_int_equal(api_send_gate_customer(f->gate, "cus_a"), API_GATE_YES);
	assert_int_equal(api_send_gate_customer(f->gate, "cus_b"), API_GATE_NO);
	/* Created after the build: the store is asked. */
	assert_int_equal(api_send_gate_customer(f->gate, "cus_new"), API_GATE_UNKNOWN);
}

static void test_global_route_serves_every_customer(void **state)
{
	struct gate_fixture *f = *state;

	assert_int_equal(api_send_gate_routed(f->gate, "cus_a", "447700900123"), API_GATE_YES);
	assert_int_equal(api_send_gate_routed(f->gate, "cus_c", "4477"), API_GATE_YES);
	assert_int_equal(api_send_gate_routed(f->gate, "cus_c", "447"), API_GATE_UNKNOWN);
}

static void test_own_route_serves_only_its_customer(void **state)
{
	struct gate_fixture *f = *state;

	assert_int_equal(api_send_gate_routed(f->gate, "cus_a", "33612345678"), API_GATE_YES);
	assert_int_equal(api_send_gate_routed(f->gate, "cus_c", "33612345678"), API_GATE_UNKNOWN);
}

/* A prefix longer than any destination (15 digits) serves none. */
static void test_overlong_prefix_serves_nothing(void **state)
{
	struct gate_fixture *f = *state;

	assert_int_equal(api_send_gate_routed(f->gate, "cus_c", "123456789012345"),
			 API_GATE_UNKNOWN);
}

static void test_empty_prefix_is_the_default_route(void **state)
{
	struct gate_fixture *f = *state;

	gate_exec(f->store, "INSERT INTO message_routes (id, prefix, customer_id, created_at, "
			    "updated_at) VALUES ('mrt_4', '', 'cus_c', 1, 1)");
	snapshot_loader_reload(f->loader);
	snapshot_release(f->snap, f->gate);
	f->gate = snapshot_acquire(f->snap);
	assert_int_equal(api_send_gate_routed(f->gate, "cus_c", "81312345678"), API_GATE_YES);
	assert_int_equal(api_send_gate_routed(f->gate, "cus_a", "81312345678"), API_GATE_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_customer_status_from_the_snapshot, gate_setup,
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
