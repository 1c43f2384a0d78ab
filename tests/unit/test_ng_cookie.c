/*
 * test_ng_cookie.c — the ng retransmission cache (src/ng/cookie.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>

#include "ng/ng.h"

static void test_put_then_get_returns_same_reply(void **state)
{
	struct ng_cookie_cache *c = ng_cookie_cache_new(8, 1000);
	struct str r;

	assert_int_equal(ng_cookie_cache_put(c, STR_LIT("abc"), STR_LIT("abc d6:result2:oke"), 0),
			 0);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("abc"), 10, &r), 0);
	assert_int_equal(r.len, 18);
	assert_memory_equal(r.p, "abc d6:result2:oke", 18);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("abd"), 10, &r), -ENOENT);
	ng_cookie_cache_free(c);
}

static void test_entry_expires_after_ttl(void **state)
{
	struct ng_cookie_cache *c = ng_cookie_cache_new(8, 1000);
	struct str r;

	ng_cookie_cache_put(c, STR_LIT("k"), STR_LIT("v"), 100);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("k"), 1099, &r), 0);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("k"), 1100, &r), -ENOENT);
	assert_int_equal(ng_cookie_cache_size(c), 0);
	ng_cookie_cache_free(c);
}

static void test_oldest_goes_when_full(void **state)
{
	struct ng_cookie_cache *c = ng_cookie_cache_new(3, 100000);
	char k[16];
	struct str r;

	for (int i = 0; i < 5; i++) {
		int n = snprintf(k, sizeof(k), "c%d", i);
		assert_int_equal(
		    ng_cookie_cache_put(c, (struct str){k, (size_t)n}, STR_LIT("x"), 0), 0);
	}
	assert_int_equal(ng_cookie_cache_size(c), 3);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("c0"), 0, &r), -ENOENT);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("c1"), 0, &r), -ENOENT);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("c2"), 0, &r), 0);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("c4"), 0, &r), 0);
	ng_cookie_cache_free(c);
}

static void test_first_reply_wins(void **state)
{
	struct ng_cookie_cache *c = ng_cookie_cache_new(4, 1000);
	struct str r;

	ng_cookie_cache_put(c, STR_LIT("k"), STR_LIT("first"), 0);
	ng_cookie_cache_put(c, STR_LIT("k"), STR_LIT("second"), 1);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("k"), 2, &r), 0);
	assert_int_equal(r.len, 5);
	assert_int_equal(ng_cookie_cache_size(c), 1);
	ng_cookie_cache_free(c);
}

static void test_many_cookies_in_small_cache_stay_bounded(void **state)
{
	struct ng_cookie_cache *c = ng_cookie_cache_new(16, 1000);
	char k[16];
	struct str r;

	for (int i = 0; i < 10000; i++) {
		int n = snprintf(k, sizeof(k), "%d", i);
		ng_cookie_cache_put(c, (struct str){k, (size_t)n}, STR_LIT("reply"), i / 100);
	}
	assert_true(ng_cookie_cache_size(c) <= 16);
	assert_int_equal(ng_cookie_cache_get(c, STR_LIT("9999"), 100, &r), 0);
	ng_cookie_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_then_get_returns_same_reply),
	    cmocka_unit_test(test_entry_expires_after_ttl),
	    cmocka_unit_test(test_oldest_goes_when_full),
	    cmocka_unit_test(test_first_reply_wins),
	    cmocka_unit_test(test_many_cookies_in_small_cache_stay_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
