/*
 * test_export_jwt.c — src/export/jwt.c: base64url against RFC 4648 §10's
 * vectors (and the two characters where it differs from base64), and the
 * service-account assertion: its header, its claims (iss, scope, aud, iat,
 * exp an hour later) and an RS256 signature that verifies with the key's
 * public half over exactly "header.claims", even when the buffer held
 * something before it (as the token request's form does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

#include "export/export_private.h"

static void b64url_is(const char *in, size_t n, const char *want)
{
	struct buf b;

	buf_init(&b);
	buf_append_cstr(&b, "x:");
	assert_int_equal(export_b64url_encode(in, n, &b), 0);
	assert_string_equal(b.p, want);
	buf_fini(&b);
}

static void test_b64url_rfc4648_vectors(void **state)
{
	b64url_is("", 0, "x:");
	b64url_is("f", 1, "x:Zg");
	b64url_is("fo", 2, "x:Zm8");
	b64url_is("foo", 3, "x:Zm9v");
	b64url_is("foob", 4, "x:Zm9vYg");
	b64url_is("fooba", 5, "x:Zm9vYmE");
	b64url_is("foobar", 6, "x:Zm9vYmFy");
}

static void test_b64url_alphabet_and_no_padding(void **state)
{
	/* base64 would be "+/8=" and "/w==" */
	b64url_is("\xfb\xff", 2, "x:-_8");
	b64url_is("\xff", 1, "x:_w");
}

/* Decodes base64url (test side: via EVP's base64 after mapping back). */
static size_t b64url_decode(const char *s, size_t n, unsigned char *out)
{
	char tmp[4096] = "";
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		tmp[len++] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (len % 4)
		tmp[len++] = '=';
	int k = EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)len);
	assert_true(k >= 0);
	return (size_t)k - (n % 4 == 2 ? 2 : n % 4 == 3 ? 1 : 0);
}

static json_t *part_json(const char *s, size_t n)
{
	unsigned char raw[2048];
	size_t len = b64url_decode(s, n, raw);
	json_t *o = json_loadb((const char *)raw, len, 0, NULL);

	assert_non_null(o);
	return o;
}

static void test_assertion_claims_and_signature(void **state)
{
	struct export_sa sa = {.email = "svc@p.iam.gserviceaccount.com", .key_id = "k1"};
	struct buf b;

	sa.key = EVP_RSA_gen(2048);
	assert_non_null(sa.key);
	buf_init(&b);
	buf_append_cstr(&b, "assertion=");
	assert_int_equal(export_jwt_assertion(&sa, "https://oauth2.example/token",
					      "https://www.googleapis.com/auth/bigquery",
					      1700000000, &b),
			 0);
	const char *jwt = b.p + strlen("assertion=");
	const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	assert_non_null(dot2);
	assert_null(strchr(jwt, '='));

	json_t *head = part_json(jwt, (size_t)(dot1 - jwt));
	assert_string_equal(json_string_value(json_object_get(head, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(head, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(head, "kid")), "k1");
	json_t *c = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	assert_string_equal(json_string_value(json_object_get(c, "iss")), sa.email);
	assert_string_equal(json_string_value(json_object_get(c, "scope")),
			    "https://www.googleapis.com/auth/bigquery");
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
			    "https://oauth2.example/token");
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1700000000);
	assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1700003600);
	assert_int_equal(json_object_size(c), 5);

	unsigned char sig[1024];
	size_t siglen = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
	assert_int_equal(siglen, 256);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, sa.key), 1);
	assert_int_equal(
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
	/* one byte changed in the claims: the signature no longer holds */
	char *bad = strdup(jwt);
	bad[dot1 - jwt + 3] ^= 1;
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, sa.key), 1);
	assert_int_not_equal(
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)bad, (size_t)(dot2 - jwt)), 1);
	free(bad);
	EVP_MD_CTX_free(md);
	json_decref(head);
	json_decref(c);
	EVP_PKEY_free(sa.key);
	buf_fini(&b);
}

static void test_assertion_without_key_id_has_no_kid(void **state)
{
	struct export_sa sa = {.email = "svc@p", .key_id = ""};
	struct buf b;

	sa.key = EVP_RSA_gen(2048);
	buf_init(&b);
	assert_int_equal(export_jwt_assertion(&sa, "aud", "scope", 1, &b), 0);
	json_t *head = part_json(b.p, (size_t)(strchr(b.p, '.') - b.p));
	assert_null(json_object_get(head, "kid"));
	json_decref(head);
	EVP_PKEY_free(sa.key);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64url_rfc4648_vectors),
	    cmocka_unit_test(test_b64url_alphabet_and_no_padding),
	    cmocka_unit_test(test_assertion_claims_and_signature),
	    cmocka_unit_test(test_assertion_without_key_id_has_no_kid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
