/* Tests for src/core/redact.c: URLs and conninfo strings with secrets masked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static const char *redact(const char *url)
{
	static char out[URL_REDACT_MAX];

	return url_redact(url, out, sizeof(out));
}

static void test_redact_userinfo_password(void **state)
{
	assert_string_equal(redact("postgres://warp:s3cret@db:5432/warp"),
			    "postgres://warp:***@db:5432/warp");
	assert_string_equal(redact("redis://:pw@127.0.0.1:6379/0"),
			    "redis://:***@127.0.0.1:6379/0");
	/* a password holding '@' or ':' is masked whole, up to the last '@' */
	assert_string_equal(redact("postgresql://u:a@b:c@h/d"), "postgresql://u:***@h/d");
}

static void test_redact_keeps_urls_without_secrets(void **state)
{
	assert_string_equal(redact("postgres://warp@db:5432/warp"), "postgres://warp@db:5432/warp");
	assert_string_equal(redact("sqlite:var/warp.db"), "sqlite:var/warp.db");
	assert_string_equal(redact("http://h:8080/a@b"), "http://h:8080/a@b");
	assert_string_equal(redact("https://idp/jwks?x=1"), "https://idp/jwks?x=1");
	assert_string_equal(redact(""), "");
	assert_string_equal(redact(NULL), "");
}

static void test_redact_password_parameters(void **state)
{
	assert_string_equal(redact("postgres://warp@db/warp?sslmode=require&password=pw&x=1"),
			    "postgres://warp@db/warp?sslmode=require&password=***&x=1");
	assert_string_equal(redact("postgres://u:p@db/w?PASSWORD=pw"),
			    "postgres://u:***@db/w?PASSWORD=***");
	assert_string_equal(redact("host=db user=warp password='a b\\' c' dbname=w"),
			    "host=db user=warp password=*** dbname=w");
	assert_string_equal(redact("host=db password=pw"), "host=db password=***");
	/* only a whole key: "nopassword=" is another parameter */
	assert_string_equal(redact("http://h/?nopassword=1"), "http://h/?nopassword=1");
}

static void test_redact_truncates_without_leaking(void **state)
{
	char out[20];

	url_redact("postgres://warp:s3cret@db:5432/warp", out, sizeof(out));
	assert_string_equal(out, "postgres://warp:***");
	url_redact("x", out, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redact_userinfo_password),
	    cmocka_unit_test(test_redact_keeps_urls_without_secrets),
	    cmocka_unit_test(test_redact_password_parameters),
	    cmocka_unit_test(test_redact_truncates_without_leaking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
