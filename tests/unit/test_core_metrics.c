/* Tests for src/core/metrics*.c: exact Prometheus text output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "core/core.h"

static void assert_render(struct metrics *m, const char *want)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(metrics_render(m, &b), 0);
	assert_string_equal(b.p ? b.p : "", want);
	buf_fini(&b);
}

static void test_metrics_counter_with_labels(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f =
	    metrics_counter(m, "warp_sip_requests_total", "SIP requests.", "method,code");

	metric_inc(metric_get(f, "INVITE", "200"));
	metric_add(metric_get(f, "INVITE", "200"), 4);
	metric_inc(metric_get(f, "BYE", "481"));
	assert_render(m, "# HELP warp_sip_requests_total SIP requests.\n"
			 "# TYPE warp_sip_requests_total counter\n"
			 "warp_sip_requests_total{method=\"INVITE\",code=\"200\"} 5\n"
			 "warp_sip_requests_total{method=\"BYE\",code=\"481\"} 1\n");
	metrics_free(m);
}

static void test_metrics_hidden_child_is_not_rendered_until_shown(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_gauge(m, "warp_up", "Up.", "gateway");
	struct metric *gone = metric_get(f, "gw_a");

	metric_set(gone, 1);
	metric_set(metric_get(f, "gw_b"), 0);
	metric_hide(gone, true);
	metric_set(gone, 7); /* a holder's late update: kept, not shown */
	assert_render(m, "# HELP warp_up Up.\n# TYPE warp_up gauge\nwarp_up{gateway=\"gw_b\"} 0\n");
	metric_hide(gone, false);
	assert_render(m, "# HELP warp_up Up.\n# TYPE warp_up gauge\nwarp_up{gateway=\"gw_a\"} 7\n"
			 "warp_up{gateway=\"gw_b\"} 0\n");
	metrics_free(m);
}

static bool keep_b(const char *const *values, void *arg)
{
	return strcmp(values[0], arg) == 0;
}

static void test_metrics_family_hide_unless_hides_the_refused(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_counter(m, "warp_n_total", "N.", "carrier");

	metric_inc(metric_get(f, "car_a"));
	metric_inc(metric_get(f, "car_b"));
	metrics_family_hide_unless(f, keep_b, "car_b");
	assert_render(m, "# HELP warp_n_total N.\n# TYPE warp_n_total counter\n"
			 "warp_n_total{carrier=\"car_b\"} 1\n");
	metrics_free(m);
}

static void test_metrics_gauge_without_labels_renders_zero_first(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_gauge(m, "warp_calls_active", "Calls up.", NULL);

	assert_render(m, "# HELP warp_calls_active Calls up.\n# TYPE warp_calls_active gauge\n"
			 "warp_calls_active 0\n");
	metric_set(metric_get(f), 7);
	metric_add(metric_get(f), -2);
	assert_int_equal(metric_value(metric_get(f)), 5);
	assert_render(m, "# HELP warp_calls_active Calls up.\n# TYPE warp_calls_active gauge\n"
			 "warp_calls_active 5\n");
	metrics_free(m);
}

static void test_metrics_histogram_buckets_sum_count(void **state)
{
	static const double bounds[] = {0.005, 0.1, 1};
	struct metrics *m = metrics_new();
	struct metric_family *f =
	    metrics_histogram(m, "warp_http_seconds", "Latency.", "route", bounds, 3);
	struct metric *c = metric_get(f, "/x");

	metric_observe(c, 0.001);
	metric_observe(c, 0.1); /* le is inclusive */
	metric_observe(c, 0.5);
	metric_observe(c, 2.5);
	assert_render(m, "# HELP warp_http_seconds Latency.\n"
			 "# TYPE warp_http_seconds histogram\n"
			 "warp_http_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"
			 "warp_http_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
			 "warp_http_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
			 "warp_http_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
			 "warp_http_seconds_sum{route=\"/x\"} 3.101\n"
			 "warp_http_seconds_count{route=\"/x\"} 4\n");
	metrics_free(m);
}

static void test_metrics_label_value_escaping(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_counter(m, "x_total", "Help with \\ and\nnewline.", "v");

	metric_inc(metric_get(f, "a\\b\"c\nd"));
	assert_render(m, "# HELP x_total Help with \\\\ and\\nnewline.\n"
			 "# TYPE x_total counter\n"
			 "x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
	metrics_free(m);
}

static int64_t read_queue(void *arg)
{
	return *(int *)arg;
}

static void test_metrics_gauge_fn_read_at_render(void **state)
{
	struct metrics *m = metrics_new();
	int depth = 3;

	assert_int_equal(metrics_gauge_fn(m, "warp_queue_depth", "Queued.", read_queue, &depth), 0);
	depth = 42;
	assert_render(m, "# HELP warp_queue_depth Queued.\n# TYPE warp_queue_depth gauge\n"
			 "warp_queue_depth 42\n");
	assert_int_equal(metrics_gauge_fn(m, "warp_queue_depth", "Queued.", read_queue, &depth),
			 -EEXIST);
	metrics_free(m);
}

static void test_metrics_families_in_registration_order(void **state)
{
	struct metrics *m = metrics_new();

	metrics_gauge(m, "b", "B.", NULL);
	metrics_counter(m, "a_total", "A.", NULL);
	assert_render(m, "# HELP b B.\n# TYPE b gauge\nb 0\n"
			 "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n");
	metrics_free(m);
}

static void test_metrics_register_twice(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_counter(m, "c_total", "C.", "a,b");

	assert_ptr_equal(metrics_counter(m, "c_total", "C.", "a,b"), f);
	assert_null(metrics_counter(m, "c_total", "C.", "a"));
	assert_null(metrics_gauge(m, "c_total", "C.", "a,b"));
	metrics_free(m);
}

static void test_metrics_invalid_names_refused(void **state)
{
	struct metrics *m = metrics_new();

	assert_null(metrics_counter(m, "9bad", "x", NULL));
	assert_null(metrics_counter(m, "bad-name", "x", NULL));
	assert_null(metrics_counter(m, "ok_total", "x", "bad-label"));
	assert_null(metrics_histogram(m, "h", "x", "le", (double[]){1}, 1));
	assert_null(metrics_histogram(m, "h2", "x", NULL, (double[]){2, 1}, 2));
	metrics_free(m);
}

static void test_metrics_same_values_same_child(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_counter(m, "d_total", "D.", "k");

	assert_ptr_equal(metric_get(f, "x"), metric_get(f, "x"));
	assert_ptr_not_equal(metric_get(f, "x"), metric_get(f, "y"));
	metrics_free(m);
}

#define THREADS 4
#define PER_THREAD 10000

static void *bump(void *arg)
{
	struct metric_family *f = arg;

	for (int i = 0; i < PER_THREAD; i++)
		metric_inc(metric_get(f, i % 2 ? "odd" : "even"));
	return NULL;
}

static void test_metrics_concurrent_updates_are_counted(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *f = metrics_counter(m, "e_total", "E.", "k");
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, bump, f);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(metric_value(metric_get(f, "odd")), THREADS * PER_THREAD / 2);
	assert_int_equal(metric_value(metric_get(f, "even")), THREADS * PER_THREAD / 2);
	metrics_free(m);
}

static void test_metrics_default_is_one_registry(void **state)
{
	assert_non_null(metrics_default());
	assert_ptr_equal(metrics_default(), metrics_default());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_counter_with_labels),
	    cmocka_unit_test(test_metrics_hidden_child_is_not_rendered_until_shown),
	    cmocka_unit_test(test_metrics_family_hide_unless_hides_the_refused),
	    cmocka_unit_test(test_metrics_gauge_without_labels_renders_zero_first),
	    cmocka_unit_test(test_metrics_histogram_buckets_sum_count),
	    cmocka_unit_test(test_metrics_label_value_escaping),
	    cmocka_unit_test(test_metrics_gauge_fn_read_at_render),
	    cmocka_unit_test(test_metrics_families_in_registration_order),
	    cmocka_unit_test(test_metrics_register_twice),
	    cmocka_unit_test(test_metrics_invalid_names_refused),
	    cmocka_unit_test(test_metrics_same_values_same_child),
	    cmocka_unit_test(test_metrics_concurrent_updates_are_counted),
	    cmocka_unit_test(test_metrics_default_is_one_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
