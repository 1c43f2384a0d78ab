/* Tests for src/sip/uri.c: SIP, SIPS, tel and other URIs, parameters, escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

static struct sip_uri parse_ok(const char *s)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(str_from_cstr(s), &u), 0);
	return u;
}

static void test_uri_sip_all_parts(void **state)
{
	struct sip_uri u =
	    parse_ok("sip:alice:secret@atlanta.example.com:5070;transport=tcp;lr?subject=hi&x=y");

	assert_int_equal(u.scheme, SIP_URI_SIP);
	assert_true(str_eq_cstr(u.user, "alice"));
	assert_true(str_eq_cstr(u.password, "secret"));
	assert_true(str_eq_cstr(u.host, "atlanta.example.com"));
	assert_int_equal(u.port, 5070);
	assert_true(str_eq_cstr(u.params, ";transport=tcp;lr"));
	assert_true(str_eq_cstr(u.headers, "subject=hi&x=y"));
}

static void test_uri_sips_scheme_case_insensitive(void **state)
{
	struct sip_uri u = parse_ok("SIPS:bob@biloxi.example.com");

	assert_int_equal(u.scheme, SIP_URI_SIPS);
	assert_true(str_eq_cstr(u.scheme_name, "SIPS"));
	assert_int_equal(u.port, 0);
}

static void test_uri_host_only(void **state)
{
	struct sip_uri u = parse_ok("sip:192.0.2.4");

	assert_null(u.user.p);
	assert_true(str_eq_cstr(u.host, "192.0.2.4"));
}

static void test_uri_ipv6_reference_with_port(void **state)
{
	struct sip_uri u = parse_ok("sip:carol@[2001:db8::10]:5062;maddr=x");

	assert_true(u.host_ipv6);
	assert_true(str_eq_cstr(u.host, "2001:db8::10"));
	assert_int_equal(u.port, 5062);
}

static void test_uri_bad_ipv6_reference_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("sip:[2001:db8::g]"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("sip:[2001:db8::1"), &u), SIP_E_URI);
}

static void test_uri_escaped_user_unescapes(void **state)
{
	struct sip_uri u = parse_ok("sip:I%20have%20spaces@example.net");
	char out[32];
	size_t n;

	assert_true(str_eq_cstr(u.user, "I%20have%20spaces"));
	assert_int_equal(sip_uri_unescape(u.user, out, sizeof(out), &n), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(out, "I have spaces", 13);
}

static void test_uri_unescape_bad_escape_and_small_buffer(void **state)
{
	char out[4];
	size_t n;

	assert_int_equal(sip_uri_unescape(STR_LIT("a%4"), out, sizeof(out), &n), SIP_E_URI);
	assert_int_equal(sip_uri_unescape(STR_LIT("a%zz"), out, sizeof(out), &n), SIP_E_URI);
	assert_int_equal(sip_uri_unescape(STR_LIT("abcde"), out, sizeof(out), &n), SIP_E_NO_SPACE);
}

static void test_uri_bad_escape_in_user_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("sip:a%4g@example.com"), &u), SIP_E_URI);
}

static void test_uri_user_with_semicolon(void **state)
{
	struct sip_uri u = parse_ok("sip:user;par=u%40example.net@example.com;lr");

	assert_true(str_eq_cstr(u.user, "user;par=u%40example.net"));
	assert_true(str_eq_cstr(u.host, "example.com"));
	assert_true(str_eq_cstr(u.params, ";lr"));
}

static void test_uri_tel_with_params(void **state)
{
	struct sip_uri u = parse_ok("tel:+1-201-555-0123;phone-context=example.com");
	struct str v;

	assert_int_equal(u.scheme, SIP_URI_TEL);
	assert_true(str_eq_cstr(u.user, "+1-201-555-0123"));
	assert_int_equal(sip_uri_param(&u, "phone-context", &v), 0);
	assert_true(str_eq_cstr(v, "example.com"));
}

static void test_uri_tel_bad_number_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("tel:12+34"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("tel:"), &u), SIP_E_URI);
}

static void test_uri_other_scheme_is_opaque(void **state)
{
	struct sip_uri u = parse_ok("isbn:2983792873");

	assert_int_equal(u.scheme, SIP_URI_OTHER);
	assert_true(str_eq_cstr(u.scheme_name, "isbn"));
	assert_true(str_eq_cstr(u.opaque, "2983792873"));
}

static void test_uri_param_lookup(void **state)
{
	struct sip_uri u = parse_ok("sip:x@example.com;LR;transport=UDP;ttl=5");
	struct str v;

	assert_int_equal(sip_uri_param(&u, "lr", &v), 0);
	assert_int_equal(v.len, 0);
	assert_non_null(v.p);
	assert_int_equal(sip_uri_param(&u, "Transport", &v), 0);
	assert_true(str_eq_cstr(v, "UDP"));
	assert_int_equal(sip_uri_param(&u, "maddr", &v), SIP_E_NOT_FOUND);
	assert_int_equal(sip_uri_param(&u, "t", &v), SIP_E_NOT_FOUND);
}

static void test_uri_empty_param_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("sip:x@example.com;;lr"), &u), SIP_E_URI);
}

static void test_uri_whitespace_and_brackets_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("sip:x@example.com; lr"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("<sip:x@example.com>"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT(" sip:x@example.com"), &u), SIP_E_URI);
}

static void test_uri_bad_port_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("sip:x@example.com:70000"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("sip:x@example.com:"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("sip:x@example.com:0"), &u), SIP_E_URI);
}

static void test_uri_missing_scheme_or_host_rejected(void **state)
{
	struct sip_uri u;

	assert_int_equal(sip_uri_parse(STR_LIT("sip:"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("sip:alice@"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT("alice@example.com"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_LIT(":x"), &u), SIP_E_URI);
	assert_int_equal(sip_uri_parse(STR_NULL, &u), SIP_E_URI);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri_sip_all_parts),
	    cmocka_unit_test(test_uri_sips_scheme_case_insensitive),
	    cmocka_unit_test(test_uri_host_only),
	    cmocka_unit_test(test_uri_ipv6_reference_with_port),
	    cmocka_unit_test(test_uri_bad_ipv6_reference_rejected),
	    cmocka_unit_test(test_uri_escaped_user_unescapes),
	    cmocka_unit_test(test_uri_unescape_bad_escape_and_small_buffer),
	    cmocka_unit_test(test_uri_bad_escape_in_user_rejected),
	    cmocka_unit_test(test_uri_user_with_semicolon),
	    cmocka_unit_test(test_uri_tel_with_params),
	    cmocka_unit_test(test_uri_tel_bad_number_rejected),
	    cmocka_unit_test(test_uri_other_scheme_is_opaque),
	    cmocka_unit_test(test_uri_param_lookup),
	    cmocka_unit_test(test_uri_empty_param_rejected),
	    cmocka_unit_test(test_uri_whitespace_and_brackets_rejected),
	    cmocka_unit_test(test_uri_bad_port_rejected),
	    cmocka_unit_test(test_uri_missing_scheme_or_host_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
