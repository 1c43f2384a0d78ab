/* Tests for src/core/passhash.c: PBKDF2-HMAC-SHA256 password hashes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

/* Computed independently with Python's hashlib.pbkdf2_hmac('sha256',
 * b'secret12', bytes(range(16)), 1000). */
#define KNOWN                                                                                      \
	"pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"                                     \
	"dfed23668162d592fc3ba03753c00cf3af059ead1ba9e5750d68349aada0cccb"

static void test_verify_matches_an_independent_pbkdf2(void **state)
{
	assert_int_equal(passhash_verify(str_from_cstr("secret12"), KNOWN), 1);
	assert_int_equal(passhash_verify(str_from_cstr("secret13"), KNOWN), 0);
	assert_int_equal(passhash_verify(str_from_cstr(""), KNOWN), 0);
}

static void test_make_then_verify_round_trips_with_a_fresh_salt(void **state)
{
	char a[PASSHASH_MAX], b[PASSHASH_MAX];

	assert_int_equal(passhash_make(str_from_cstr("pw"), 1000, a, sizeof(a)), 0);
	assert_int_equal(passhash_make(str_from_cstr("pw"), 1000, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, "pbkdf2-sha256$1000$", 19), 0);
	assert_int_equal(passhash_verify(str_from_cstr("pw"), a), 1);
	assert_int_equal(passhash_verify(str_from_cstr("pw"), b), 1);
	assert_int_equal(passhash_verify(str_from_cstr("pW"), a), 0);
}

static void test_make_uses_the_default_iterations(void **state)
{
	char a[PASSHASH_MAX];

	assert_int_equal(passhash_make(str_from_cstr("x"), 0, a, sizeof(a)), 0);
	assert_int_equal(strncmp(a, "pbkdf2-sha256$100000$", 21), 0);
}

static void test_make_refuses_a_short_buffer(void **state)
{
	char a[40];

	assert_int_equal(passhash_make(str_from_cstr("x"), 1000, a, sizeof(a)), -ENOSPC);
}

static void test_verify_refuses_what_it_does_not_write(void **state)
{
	static const char *const bad[] = {
	    "",
	    "sha256$1$00$00",
	    "pbkdf2-sha256$$000102030405060708090a0b0c0d0e0f$00",
	    "pbkdf2-sha256$0$000102030405060708090a0b0c0d0e0f$"
	    "dfed23668162d592fc3ba03753c00cf3af059ead1ba9e5750d68349aada0cccb",
	    "pbkdf2-sha256$-5$000102030405060708090a0b0c0d0e0f$"
	    "dfed23668162d592fc3ba03753c00cf3af059ead1ba9e5750d68349aada0cccb",
	    "pbkdf2-sha256$99999999999$000102030405060708090a0b0c0d0e0f$"
	    "dfed23668162d592fc3ba03753c00cf3af059ead1ba9e5750d68349aada0cccb",
	    "pbkdf2-sha256$1000$0001020304$"
	    "dfed23668162d592fc3ba03753c00cf3af059ead1ba9e5750d68349aada0cccb",
	    "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$dfed",
	    "pbkdf2-sha256$1000$000102030405060708090A0B0C0D0E0F$"
	    "dfed23668162d592fc3ba03753c00cf3af059ead1ba9e5750d68349aada0cccb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(passhash_verify(str_from_cstr("secret12"), bad[i]), -EINVAL);
	assert_int_equal(passhash_verify(str_from_cstr("secret12"), NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_matches_an_independent_pbkdf2),
	    cmocka_unit_test(test_make_then_verify_round_trips_with_a_fresh_salt),
	    cmocka_unit_test(test_make_uses_the_default_iterations),
	    cmocka_unit_test(test_make_refuses_a_short_buffer),
	    cmocka_unit_test(test_verify_refuses_what_it_does_not_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
