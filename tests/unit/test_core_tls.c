/* Tests for src/core/tls.c: what sip and smsc share of OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/core.h"

static void test_contexts_refuse_anything_before_tls_1_2(void **state)
{
	(void)state;
	for (int server = 0; server < 2; server++) {
		SSL_CTX *ctx = tls_ctx_new(server);
		assert_non_null(ctx);
		assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
		SSL_CTX_free(ctx);
	}
}

static void test_a_missing_certificate_names_its_key_and_file(void **state)
{
	char err[512];
	SSL_CTX *ctx = tls_ctx_new(true);

	(void)state;
	assert_int_equal(tls_ctx_use_pair(ctx, "[smsc] tls_certificate", "/nonexistent/c.pem",
					  "[smsc] tls_key", "/nonexistent/k.pem", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "[smsc] tls_certificate /nonexistent/c.pem: "));
	SSL_CTX_free(ctx);
}

static void test_a_name_is_sent_as_sni_and_checked(void **state)
{
	SSL_CTX *ctx = tls_ctx_new(false);
	SSL *ssl = SSL_new(ctx);

	(void)state;
	assert_int_equal(tls_identity_set(ssl, str_from_cstr("smsc.example")), 0);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "smsc.example");
	assert_string_equal(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "smsc.example");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

/* RFC 6066 §3: an address is never SNI; it is checked as an address. */
static void test_an_address_is_checked_but_not_sent_as_sni(void **state)
{
	SSL_CTX *ctx = tls_ctx_new(false);
	const char *addrs[] = {"127.0.0.1", "[::1]"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		SSL *ssl = SSL_new(ctx);
		assert_int_equal(tls_identity_set(ssl, str_from_cstr(addrs[i])), 0);
		assert_null(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
		char *ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
		assert_non_null(ip);
		assert_string_equal(ip, i == 0 ? "127.0.0.1" : "0:0:0:0:0:0:0:1");
		OPENSSL_free(ip);
		assert_null(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0));
		SSL_free(ssl);
	}
	SSL_CTX_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contexts_refuse_anything_before_tls_1_2),
	    cmocka_unit_test(test_a_missing_certificate_names_its_key_and_file),
	    cmocka_unit_test(test_a_name_is_sent_as_sni_and_checked),
	    cmocka_unit_test(test_an_address_is_checked_but_not_sent_as_sni),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
