/* test_store_batch.c — src/store/batch.c on both backends: rows from many
 * threads committed before their callbacks run, flush, a full queue, a bad
 * row failing alone, free draining everything, and groups of statements
 * committing whole or not at all. */
#include "test_store_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#define INSERT_SQL "INSERT INTO rows (id, th, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"
#define THREADS 4
#define PER_THREAD 250

struct row_done {
	struct store *observer; /* a second store: proves visibility to others */
	int64_t id;
	atomic_int status;
	atomic_bool called;
	atomic_bool visible;
};

static int setup(void **state)
{
	struct fixture *f;

	if (fixture_setup(state) < 0)
		return -1;
	f = *state;
	return store_exec(
	    store_conn(f->store),
	    "CREATE TABLE rows (id BIGINT PRIMARY KEY, th BIGINT, body TEXT NOT NULL)", NULL, 0,
	    NULL);
}

static void row_done_cb(void *arg, int status)
{
	struct row_done *d = arg;
	struct store_param p = store_p_int(d->id);
	struct store_res *r = NULL;

	atomic_store(&d->status, status);
	if (d->observer && status == 0 &&
	    store_exec(store_conn(d->observer), "SELECT count(*) FROM rows WHERE id = $1", &p, 1,
		       &r) == 0)
		atomic_store(&d->visible, store_res_int(r, 0, 0) == 1);
	store_res_free(r);
	atomic_store(&d->called, true);
}

static int add_row(struct store_batch *b, int64_t id, int64_t th, const char *body,
		   struct row_done *d)
{
	struct store_param p[3] = {store_p_int(id), store_p_int(th), store_p_text(body)};

	d->id = id;
	return store_batch_add(b, p, row_done_cb, d);
}

struct producer {
	struct store_batch *batch;
	struct row_done *done;
	int th;
	int eagain;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		int64_t id = (int64_t)p->th * PER_THREAD + i;
		int rc;

		/* Bounded: a full queue drains within a few group commits. */
		for (int tries = 0; tries < 10000; tries++) {
			rc = add_row(p->batch, id, p->th, "payload", &p->done[id]);
			if (rc != -EAGAIN)
				break;
			p->eagain++;
			usleep(1000);
		}
		if (rc != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_rows_from_four_threads_durable_before_callbacks(void **state)
{
	struct fixture *f = *state;
	struct row_done *done = calloc(THREADS * PER_THREAD, sizeof(*done));
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 128, 64, 20);
	struct producer prod[THREADS];
	pthread_t th[THREADS];
	char err[STORE_ERRMSG_MAX];
	struct store *observer = store_open(f->url, err, sizeof(err));

	assert_non_null(done);
	assert_non_null(b);
	assert_non_null(observer);
	for (int i = 0; i < THREADS * PER_THREAD; i++)
		done[i].observer = observer;
	for (int i = 0; i < THREADS; i++) {
		prod[i] = (struct producer){.batch = b, .done = done, .th = i};
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &prod[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *rv = NULL;
		pthread_join(th[i], &rv);
		assert_null(rv);
	}
	assert_int_equal(store_batch_flush(b), 0);
	for (int i = 0; i < THREADS * PER_THREAD; i++) {
		assert_true(atomic_load(&done[i].called));
		assert_int_equal(atomic_load(&done[i].status), 0);
		assert_true(atomic_load(&done[i].visible));
	}
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"),
			 THREADS * PER_THREAD);
	store_batch_free(b);
	store_close(observer);
	free(done);
}

static void test_flush_commits_rows_before_the_delay(void **state)
{
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 100, 100, 60000);
	struct row_done done[10];
	int64_t start = time_mono_ms();

	memset(done, 0, sizeof(done));
	for (int i = 0; i < 10; i++)
		assert_int_equal(add_row(b, i, 0, "x", &done[i]), 0);
	assert_int_equal(store_batch_flush(b), 0);
	assert_true(time_mono_ms() - start < 10000);
	for (int i = 0; i < 10; i++)
		assert_true(atomic_load(&done[i].called));
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"), 10);
	store_batch_free(b);
}

struct gate {
	atomic_bool entered;
	atomic_bool open;
};

/* Holds the writer thread inside a callback until the test opens the gate. */
static void gate_cb(void *arg, int status)
{
	struct gate *g = arg;

	(void)status;
	atomic_store(&g->entered, true);
	for (int i = 0; i < 1000 && !atomic_load(&g->open); i++)
		usleep(10 * 1000);
}

static void test_full_queue_answers_eagain(void **state)
{
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 4, 1, 0);
	struct store_param p[3] = {store_p_int(100), store_p_int(0), store_p_text("x")};
	struct gate g = {false, false};
	struct row_done done[6];

	memset(done, 0, sizeof(done));
	assert_int_equal(store_batch_add(b, p, gate_cb, &g), 0);
	for (int i = 0; i < 500 && !atomic_load(&g.entered); i++)
		usleep(10 * 1000);
	assert_true(atomic_load(&g.entered)); /* the writer is busy: nothing drains */
	for (int i = 0; i < 4; i++)
		assert_int_equal(add_row(b, i, 0, "x", &done[i]), 0);
	assert_int_equal(add_row(b, 4, 0, "x", &done[4]), -EAGAIN);
	atomic_store(&g.open, true);
	assert_int_equal(store_batch_flush(b), 0);
	assert_int_equal(add_row(b, 5, 0, "x", &done[5]), 0);
	store_batch_free(b);
	assert_false(atomic_load(&done[4].called)); /* refused rows get no callback */
	assert_true(atomic_load(&done[5].called));
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"), 6);
}

static void test_bad_row_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 100, 100, 60000);
	struct row_done done[5];

	memset(done, 0, sizeof(done));
	for (int i = 0; i < 5; i++)
		assert_int_equal(add_row(b, i, 0, i == 2 ? NULL : "x", &done[i]), 0);
	assert_int_equal(store_batch_flush(b), 0);
	for (int i = 0; i < 5; i++) {
		assert_true(atomic_load(&done[i].called));
		assert_int_equal(atomic_load(&done[i].status), i == 2 ? STORE_ECONSTRAINT : 0);
	}
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"), 4);
	store_batch_free(b);
}

/* A group longer than one pipeline chunk on PostgreSQL (256 statements),
 * with its bad row in the third chunk: that row alone fails, every other
 * row commits, each callback once. */
static void test_bad_row_in_a_long_group_fails_alone(void **state)
{
	enum { N = 600, BAD = 517 };
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, N, N, 60000);
	static struct row_done done[N];

	memset(done, 0, sizeof(done));
	for (int i = 0; i < N; i++)
		assert_int_equal(add_row(b, i, 0, i == BAD ? NULL : "x", &done[i]), 0);
	assert_int_equal(store_batch_flush(b), 0);
	for (int i = 0; i < N; i++) {
		assert_true(atomic_load(&done[i].called));
		assert_int_equal(atomic_load(&done[i].status), i == BAD ? STORE_ECONSTRAINT : 0);
	}
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"),
			 N - 1);
	store_batch_free(b);
}

static void test_free_drains_the_queue(void **state)
{
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 100, 10, 60000);
	struct row_done done[50];

	memset(done, 0, sizeof(done));
	for (int i = 0; i < 50; i++)
		assert_int_equal(add_row(b, i, 0, "x", &done[i]), 0);
	store_batch_free(b);
	for (int i = 0; i < 50; i++) {
		assert_true(atomic_load(&done[i].called));
		assert_int_equal(atomic_load(&done[i].status), 0);
	}
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"), 50);
}

static void test_replayed_row_does_not_double(void **state)
{
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 100, 100, 60000);
	struct row_done done[2];

	memset(done, 0, sizeof(done));
	assert_int_equal(add_row(b, 1, 0, "x", &done[0]), 0);
	assert_int_equal(add_row(b, 1, 0, "x", &done[1]), 0);
	store_batch_free(b);
	assert_int_equal(atomic_load(&done[1].status), 0);
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"), 1);
}

/* A group whose second statement fails stores none of its three rows;
 * the entries around it, and a good group, still commit. */
static void test_group_commits_whole_or_not_at_all(void **state)
{
	struct fixture *f = *state;
	struct store_batch *b = store_batch_new(f->store, INSERT_SQL, 3, 100, 100, 60000);
	struct row_done done[4];
	struct store_param good[3][3], bad[3][3];
	struct store_batch_stmt g[3], h[3];

	memset(done, 0, sizeof(done));
	for (int i = 0; i < 3; i++) {
		good[i][0] = store_p_int(10 + i), good[i][1] = store_p_int(1);
		good[i][2] = store_p_text("g");
		bad[i][0] = store_p_int(20 + i), bad[i][1] = store_p_int(2);
		bad[i][2] = store_p_text(i == 1 ? NULL : "b");
		g[i] = (struct store_batch_stmt){NULL, good[i], 3};
		h[i] = (struct store_batch_stmt){i == 2 ? "INSERT INTO rows (id, th, body) VALUES "
							  "($1, $2, $3)"
							: NULL,
						 bad[i], 3};
	}
	assert_int_equal(add_row(b, 1, 0, "x", &done[0]), 0);
	assert_int_equal(store_batch_add_group(b, h, 3, row_done_cb, &done[1]), 0);
	assert_int_equal(store_batch_add_group(b, g, 3, row_done_cb, &done[2]), 0);
	assert_int_equal(add_row(b, 2, 0, "y", &done[3]), 0);
	assert_int_equal(store_batch_flush(b), 0);
	assert_int_equal(atomic_load(&done[1].status), STORE_ECONSTRAINT);
	assert_int_equal(atomic_load(&done[0].status), 0);
	assert_int_equal(atomic_load(&done[2].status), 0);
	assert_int_equal(atomic_load(&done[3].status), 0);
	assert_int_equal(fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows"), 5);
	assert_int_equal(
	    fixture_query_int(store_conn(f->store), "SELECT count(*) FROM rows WHERE th = 2"), 0);
	store_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rows_from_four_threads_durable_before_callbacks,
					    setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_flush_commits_rows_before_the_delay, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_full_queue_answers_eagain, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_row_fails_alone, setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_row_in_a_long_group_fails_alone, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_free_drains_the_queue, setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_replayed_row_does_not_double, setup,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_group_commits_whole_or_not_at_all, setup,
					    fixture_teardown),
	};

	return FIXTURE_RUN("store_batch", tests);
}
