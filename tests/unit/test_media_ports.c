/*
 * test_media_ports.c — the port pair allocator (src/media/ports.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "media/media.h"

static void test_pairs_start_even_within_range(void **state)
{
	struct media_ports *p = media_ports_new(30001, 30010, 0);
	uint16_t port;

	assert_non_null(p);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(media_ports_alloc(p, 0, &port), 0);
		assert_int_equal(port % 2, 0);
		assert_true(port >= 30002 && port + 1 <= 30010);
	}
	media_ports_free(p);
}

static void test_exhaustion_is_enospc(void **state)
{
	struct media_ports *p = media_ports_new(40000, 40003, 0);
	uint16_t a, b, c;

	assert_int_equal(media_ports_alloc(p, 0, &a), 0);
	assert_int_equal(media_ports_alloc(p, 0, &b), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(media_ports_alloc(p, 0, &c), -ENOSPC);
	assert_int_equal(media_ports_free_count(p, 0), 0);
	media_ports_free(p);
}

static void test_released_pair_rests_for_quiet_delay(void **state)
{
	struct media_ports *p = media_ports_new(40000, 40001, 5000);
	uint16_t port, again;

	assert_int_equal(media_ports_alloc(p, 1000, &port), 0);
	media_ports_release(p, port, 2000);
	assert_int_equal(media_ports_alloc(p, 6999, &again), -ENOSPC);
	assert_int_equal(media_ports_alloc(p, 7000, &again), 0);
	assert_int_equal(again, port);
	media_ports_free(p);
}

static void test_released_pair_comes_back_last(void **state)
{
	struct media_ports *p = media_ports_new(40000, 40005, 0);
	uint16_t a, b, c, d;

	assert_int_equal(media_ports_alloc(p, 0, &a), 0);
	media_ports_release(p, a, 0);
	assert_int_equal(media_ports_alloc(p, 0, &b), 0);
	assert_int_equal(media_ports_alloc(p, 0, &c), 0);
	assert_int_equal(media_ports_alloc(p, 0, &d), 0);
	assert_int_not_equal(b, a);
	assert_int_not_equal(c, a);
	assert_int_equal(d, a);
	media_ports_free(p);
}

static void test_release_of_foreign_port_is_ignored(void **state)
{
	struct media_ports *p = media_ports_new(40000, 40003, 0);
	uint16_t a;

	assert_int_equal(media_ports_alloc(p, 0, &a), 0);
	media_ports_release(p, 12345, 0);
	media_ports_release(p, (uint16_t)(a + 1), 0); /* odd: not a pair start */
	assert_int_equal(media_ports_free_count(p, 0), 1);
	media_ports_free(p);
}

static void test_empty_range_is_refused(void **state)
{
	assert_null(media_ports_new(40001, 40001, 0));
	assert_null(media_ports_new(40010, 40000, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pairs_start_even_within_range),
	    cmocka_unit_test(test_exhaustion_is_enospc),
	    cmocka_unit_test(test_released_pair_rests_for_quiet_delay),
	    cmocka_unit_test(test_released_pair_comes_back_last),
	    cmocka_unit_test(test_release_of_foreign_port_is_ignored),
	    cmocka_unit_test(test_empty_range_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
