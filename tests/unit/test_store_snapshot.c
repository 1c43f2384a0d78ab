/* test_store_snapshot.c — src/store/snapshot.c on both backends: first build,
 * rebuild on a config-version bump, old references outliving a swap, failed
 * builds, forced reloads and (PostgreSQL) LISTEN/NOTIFY wake-ups. */
#include "test_store_fixture.h"

#include <stdatomic.h>

#define ITEMS_MAGIC 0x5eed5eedLL

struct items {
	int64_t magic;
	int64_t count;
};

struct build_ctx {
	atomic_bool fail;
	atomic_int builds;
};

static atomic_int items_live;

static void *items_build(struct store_conn *c, void *arg)
{
	struct build_ctx *ctx = arg;
	struct store_res *r = NULL;
	struct items *it;

	atomic_fetch_add(&ctx->builds, 1);
	if (atomic_load(&ctx->fail))
		return NULL;
	if (store_exec(c, "SELECT count(*) FROM items", NULL, 0, &r) < 0)
		return NULL;
	it = malloc(sizeof(*it));
	if (it) {
		it->magic = ITEMS_MAGIC;
		it->count = store_res_int(r, 0, 0);
		atomic_fetch_add(&items_live, 1);
	}
	store_res_free(r);
	return it;
}

static void items_free(void *data)
{
	struct items *it = data;

	it->magic = 0;
	free(it);
	atomic_fetch_sub(&items_live, 1);
}

static int setup(void **state)
{
	struct fixture *f;

	if (fixture_setup_migrated(state) < 0)
		return -1;
	f = *state;
	atomic_store(&items_live, 0);
	return store_exec(store_conn(f->store), "CREATE TABLE items (id BIGINT PRIMARY KEY)", NULL,
			  0, NULL);
}

/* Inserts a row and bumps the config version in one transaction. */
static void add_item_and_bump(struct store_conn *c, int64_t id)
{
	struct store_param p = store_p_int(id);

	assert_int_equal(store_tx_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO items (id) VALUES ($1)", &p, 1, NULL), 0);
	assert_int_equal(store_config_version_bump(c), 0);
	assert_int_equal(store_tx_commit(c), 0);
}

static bool wait_version(struct snapshot *s, int64_t v, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (snapshot_version(s) == v)
			return true;
		usleep(10 * 1000);
	}
	return snapshot_version(s) == v;
}

static int64_t acquire_count(struct snapshot *s)
{
	const struct items *it = snapshot_acquire(s);
	int64_t n;

	assert_non_null(it);
	assert_true(it->magic == ITEMS_MAGIC);
	n = it->count;
	snapshot_release(s, it);
	return n;
}

static void test_register_builds_first_version(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l = snapshot_loader_new(f->store, 50);
	struct snapshot *s;

	assert_non_null(l);
	s = snapshot_register(l, "items", items_build, items_free, &ctx);
	assert_non_null(s);
	assert_int_equal(snapshot_version(s), 1);
	assert_int_equal(acquire_count(s), 0);
	assert_int_equal(atomic_load(&ctx.builds), 1);
	snapshot_loader_free(l);
	assert_int_equal(atomic_load(&items_live), 0);
}

static void test_register_fails_when_first_build_fails(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l = snapshot_loader_new(f->store, 50);

	atomic_store(&ctx.fail, true);
	assert_null(snapshot_register(l, "items", items_build, items_free, &ctx));
	snapshot_loader_free(l);
}

static void test_bump_rebuilds_within_a_second(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l = snapshot_loader_new(f->store, 50);
	struct snapshot *s = snapshot_register(l, "items", items_build, items_free, &ctx);

	assert_non_null(s);
	assert_int_equal(snapshot_loader_start(l), 0);
	add_item_and_bump(store_conn(f->store), 1);
	assert_true(wait_version(s, 2, 1000));
	assert_int_equal(acquire_count(s), 1);
	snapshot_loader_free(l);
	assert_int_equal(atomic_load(&items_live), 0);
}

static void test_old_reference_valid_until_released(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l = snapshot_loader_new(f->store, 50);
	struct snapshot *s = snapshot_register(l, "items", items_build, items_free, &ctx);
	const struct items *old;

	assert_int_equal(snapshot_loader_start(l), 0);
	old = snapshot_acquire(s);
	add_item_and_bump(store_conn(f->store), 1);
	assert_true(wait_version(s, 2, 1000));
	/* Held past the swap and past the grace period: still intact. */
	usleep(1300 * 1000);
	assert_true(old->magic == ITEMS_MAGIC);
	assert_int_equal(old->count, 0);
	assert_int_equal(atomic_load(&items_live), 2);
	snapshot_release(s, old);
	/* Freed by the loader once released (grace already over). */
	for (int i = 0; i < 200 && atomic_load(&items_live) != 1; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&items_live), 1);
	snapshot_loader_free(l);
}

static int64_t builds_metric(const char *result)
{
	struct metric_family *fam =
	    metrics_counter(metrics_default(), "warp_snapshot_builds_total", "", "name,result");

	assert_non_null(fam);
	return metric_value(metric_get(fam, "items", result));
}

static void test_failed_build_keeps_old_snapshot(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l = snapshot_loader_new(f->store, 20);
	struct snapshot *s = snapshot_register(l, "items", items_build, items_free, &ctx);
	int64_t errors = builds_metric("error");

	assert_int_equal(snapshot_loader_start(l), 0);
	atomic_store(&ctx.fail, true);
	add_item_and_bump(store_conn(f->store), 1);
	for (int i = 0; i < 100 && atomic_load(&ctx.builds) < 3; i++)
		usleep(10 * 1000);
	assert_true(atomic_load(&ctx.builds) >= 3); /* tried, and retried */
	assert_int_equal(snapshot_version(s), 1);
	assert_int_equal(acquire_count(s), 0);
	assert_true(builds_metric("error") >= errors + 2);
	atomic_store(&ctx.fail, false);
	assert_true(wait_version(s, 2, 1000));
	assert_int_equal(acquire_count(s), 1);
	snapshot_loader_free(l);
}

static void test_reload_rebuilds_without_bump(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l = snapshot_loader_new(f->store, 10000);
	struct snapshot *s = snapshot_register(l, "items", items_build, items_free, &ctx);
	struct store_param p = store_p_int(7);

	assert_int_equal(snapshot_loader_start(l), 0);
	assert_int_equal(
	    store_exec(store_conn(f->store), "INSERT INTO items (id) VALUES ($1)", &p, 1, NULL), 0);
	snapshot_loader_reload(l);
	for (int i = 0; i < 100 && acquire_count(s) != 1; i++)
		usleep(10 * 1000);
	assert_int_equal(acquire_count(s), 1);
	assert_int_equal(snapshot_version(s), 1);
	snapshot_loader_free(l);
}

/* PostgreSQL: with a 30 s poll, only NOTIFY can wake the loader in time. */
static void test_pg_notify_wakes_loader(void **state)
{
	struct fixture *f = *state;
	struct build_ctx ctx = {0};
	struct snapshot_loader *l;
	struct snapshot *s;

	if (f->kind != STORE_POSTGRES)
		skip();
	l = snapshot_loader_new(f->store, 30000);
	s = snapshot_register(l, "items", items_build, items_free, &ctx);
	assert_int_equal(snapshot_loader_start(l), 0);
	usleep(300 * 1000); /* the loader has started listening */
	add_item_and_bump(store_conn(f->store), 1);
	assert_true(wait_version(s, 2, 1000));
	assert_int_equal(acquire_count(s), 1);
	snapshot_loader_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register_builds_first_version, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_register_fails_when_first_build_fails, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bump_rebuilds_within_a_second, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_old_reference_valid_until_released, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_failed_build_keeps_old_snapshot, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_reload_rebuilds_without_bump, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_pg_notify_wakes_loader, setup, fixture_teardown),
	};

	return FIXTURE_RUN("store_snapshot", tests);
}
