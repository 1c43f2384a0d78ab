/*
 * test_auth_jwt.c — the JWT verifier against an independent signer.
 *
 * Keys (RSA 2048, EC P-256) are generated here with OpenSSL, the JWKS JSON
 * and the tokens are built here (OpenSSL EVP signatures, our own base64url),
 * so cjose and our checks are tested against code that shares nothing with
 * them.  JWKS over HTTP is served by a tiny server thread on 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"

#define ISSUER "https://securetoken.google.com/warp-test"
#define AUDIENCE "warp-test"
#define HS_SECRET "0123456789abcdef0123456789abcdef-hs"

static EVP_PKEY *rsa_key, *rsa_key2, *ec_key;
static char customer[ID_MAX];
static int64_t now0; /* whole seconds, in ms */

/* ------------------------------------------------------------ signer */

static void b64url(const unsigned char *in, size_t n, struct buf *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i = 0;

	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		char q[4] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
		buf_append(out, q, 4);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		char q[2] = {a[v >> 18], a[(v >> 12) & 63]};
		buf_append(out, q, 2);
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		char q[3] = {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63]};
		buf_append(out, q, 3);
	}
}

static void b64url_bn(EVP_PKEY *k, const char *param, size_t pad, struct buf *out)
{
	BIGNUM *bn = NULL;
	unsigned char raw[512];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = pad ? BN_bn2binpad(bn, raw, (int)pad) : BN_bn2bin(bn, raw);
	assert_true(n > 0);
	b64url(raw, (size_t)n, out);
	BN_free(bn);
}

static void jwk_append(struct buf *b, EVP_PKEY *k, const char *kid, const char *extra)
{
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
		buf_printf(b, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\"%s,\"n\":\"", kid,
			   extra);
		b64url_bn(k, OSSL_PKEY_PARAM_RSA_N, 0, b);
		buf_append_cstr(b, "\",\"e\":\"");
		b64url_bn(k, OSSL_PKEY_PARAM_RSA_E, 0, b);
	} else {
		buf_printf(b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\"%s,\"x\":\"", kid,
			   extra);
		b64url_bn(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, b);
		buf_append_cstr(b, "\",\"y\":\"");
		b64url_bn(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
	}
	buf_append_cstr(b, "\"}");
}

/* {"keys":[rsa "rsa1", ec "ec1"]} plus rsa2 "rsa2" when with_rsa2. */
static char *jwks_json(bool with_rsa2)
{
	struct buf b;

	buf_init(&b);
	buf_append_cstr(&b, "{\"keys\":[");
	jwk_append(&b, rsa_key, "rsa1", ",\"alg\":\"RS256\"");
	buf_append_char(&b, ',');
	jwk_append(&b, ec_key, "ec1", "");
	if (with_rsa2) {
		buf_append_char(&b, ',');
		jwk_append(&b, rsa_key2, "rsa2", "");
	}
	buf_append_cstr(&b, "]}");
	return buf_steal(&b);
}

/* JOSE wants r||s, 32 bytes each (RFC 7518 §3.4); OpenSSL gives DER. */
static size_t ecdsa_der_to_jose(const unsigned char *der, size_t len, unsigned char *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;

	assert_non_null(sig);
	ECDSA_SIG_get0(sig, &r, &s);
	BN_bn2binpad(r, out, 32);
	BN_bn2binpad(s, out + 32, 32);
	ECDSA_SIG_free(sig);
	return 64;
}

static size_t sign_pkey(EVP_PKEY *k, const char *input, size_t len, unsigned char *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[600];
	size_t slen = sizeof(der);

	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, der, &slen, (const unsigned char *)input, len), 1);
	EVP_MD_CTX_free(md);
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC)
		return ecdsa_der_to_jose(der, slen, sig);
	memcpy(sig, der, slen);
	return slen;
}

enum signer { SIGN_KEY, SIGN_HMAC, SIGN_NONE };

/* header.payload.signature; hmac_key used for SIGN_HMAC.  Caller frees. */
static char *token_make(const char *header, const char *payload, enum signer how, EVP_PKEY *k,
			const void *hmac_key, size_t hmac_len)
{
	unsigned char sig[600] = {0};
	unsigned int hlen = 0;
	size_t slen = 0;
	struct buf b;

	buf_init(&b);
	b64url((const unsigned char *)header, strlen(header), &b);
	buf_append_char(&b, '.');
	b64url((const unsigned char *)payload, strlen(payload), &b);
	if (how == SIGN_KEY)
		slen = sign_pkey(k, b.p, b.len, sig);
	else if (how == SIGN_HMAC) {
		HMAC(EVP_sha256(), hmac_key, (int)hmac_len, (const unsigned char *)b.p, b.len, sig,
		     &hlen);
		slen = hlen;
	}
	buf_append_char(&b, '.');
	b64url(sig, slen, &b);
	return buf_steal(&b);
}

/* Claims with times relative to now0 in seconds; NULL role/customer left out. */
static char *claims_make(const char *iss, const char *aud_json, int64_t exp_rel, const char *extra)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "{\"iss\":\"%s\",\"aud\":%s,\"sub\":\"user-1\",\"iat\":%lld,\"exp\":%lld%s}",
		   iss, aud_json, (long long)(now0 / 1000 - 10), (long long)(now0 / 1000 + exp_rel),
		   extra);
	return buf_steal(&b);
}

static char *claims_admin(void)
{
	return claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, ",\"warp_role\":\"admin\"");
}

/* ------------------------------------------------------------ fixtures */

static char jwks_path[] = "/tmp/warp-test-jwks-XXXXXX";

static int group_setup(void **state)
{
	char *json;
	int fd;

	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa_key2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!rsa_key || !rsa_key2 || !ec_key || id_new("cus", customer, sizeof(customer)) < 0)
		return -1;
	now0 = time_wall_ms() / 1000 * 1000;
	fd = mkstemp(jwks_path);
	json = jwks_json(false);
	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json))
		return -1;
	close(fd);
	free(json);
	return 0;
}

static int group_teardown(void **state)
{
	unlink(jwks_path);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(rsa_key2);
	EVP_PKEY_free(ec_key);
	return 0;
}

/* Defaults with the JWKS file and the issuer: what every checker here needs. */
static void opts_file(struct auth_opts *o)
{
	auth_opts_init(o);
	o->jwks_file = jwks_path;
	o->issuer = ISSUER;
}

static struct auth *auth_file(bool with_hs)
{
	struct auth_opts o;
	char err[256];
	struct auth *a;

	opts_file(&o);
	o.audience = AUDIENCE;
	o.hs256_secret = with_hs ? HS_SECRET : NULL;
	a = auth_new(&o, err, sizeof(err));
	if (!a)
		fail_msg("auth_new: %s", err);
	return a;
}

/* Runs "Bearer <token>" through a and returns the code; frees token. */
static int check(struct auth *a, char *token, int64_t now_ms, struct auth_identity *id)
{
	struct auth_identity scratch;
	struct buf h;
	const char *reason = NULL;
	int rc;

	buf_init(&h);
	buf_printf(&h, "Bearer %s", token);
	rc = auth_check_bearer(a, h.p, now_ms, id ? id : &scratch, &reason);
	assert_non_null(reason);
	buf_fini(&h);
	free(token);
	return rc;
}

static int check_rs(struct auth *a, const char *header, char *claims, int64_t now_ms)
{
	char *t = token_make(header, claims, SIGN_KEY, rsa_key, NULL, 0);
	free(claims);
	return check(a, t, now_ms, NULL);
}

#define RS1 "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}"

/* ------------------------------------------------------------ accepted */

static void test_rs256_valid_token_gives_admin(void **state)
{
	struct auth *a = auth_file(false);
	struct auth_identity id;
	char *claims = claims_admin();
	char *t = token_make(RS1, claims, SIGN_KEY, rsa_key, NULL, 0);

	assert_int_equal(check(a, t, now0, &id), 0);
	assert_int_equal(id.kind, AUTH_KIND_JWT);
	assert_int_equal(id.role, AUTH_ROLE_ADMIN);
	assert_string_equal(id.subject, "user-1");
	assert_string_equal(id.customer_id, "");
	free(claims);
	auth_free(a);
}

static void test_es256_valid_token_gives_customer(void **state)
{
	struct auth *a = auth_file(false);
	struct auth_identity id;
	char extra[128];
	snprintf(extra, sizeof(extra), ",\"warp_role\":\"customer\",\"customer_id\":\"%s\"",
		 customer);
	char *claims = claims_make(ISSUER, "[\"other\",\"" AUDIENCE "\"]", 3600, extra);
	char *t =
	    token_make("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", claims, SIGN_KEY, ec_key, NULL, 0);

	assert_int_equal(check(a, t, now0, &id), 0);
	assert_int_equal(id.role, AUTH_ROLE_CUSTOMER);
	assert_string_equal(id.customer_id, customer);
	assert_int_equal(id.scopes, AUTH_SCOPE_READ); /* no scope claim: the default */
	free(claims);
	auth_free(a);
}

static void test_custom_claim_names_are_used(void **state)
{
	struct auth_opts o;
	char err[256], extra[160];
	auth_opts_init(&o);
	o.jwks_file = jwks_path;
	o.issuer = ISSUER;
	o.role_claim = "https://warp/role";
	o.customer_claim = "tenant";
	struct auth *a = auth_new(&o, err, sizeof(err));
	struct auth_identity id;

	snprintf(extra, sizeof(extra), ",\"https://warp/role\":\"customer\",\"tenant\":\"%s\"",
		 customer);
	char *claims = claims_make(ISSUER, "\"x\"", 3600, extra);
	assert_int_equal(check(a, token_make(RS1, claims, SIGN_KEY, rsa_key, NULL, 0), now0, &id),
			 0);
	assert_string_equal(id.customer_id, customer);
	free(claims);
	auth_free(a);
}

static void test_hs256_accepted_with_configured_secret(void **state)
{
	struct auth *a = auth_file(true);
	char *claims = claims_admin();
	char *t = token_make("{\"alg\":\"HS256\"}", claims, SIGN_HMAC, NULL, HS_SECRET,
			     strlen(HS_SECRET));

	assert_int_equal(check(a, t, now0, NULL), 0);
	free(claims);
	auth_free(a);
}

/* ------------------------------------------------------------ rejected */

static void test_alg_none_rejected(void **state)
{
	struct auth *a = auth_file(true);
	char *claims = claims_admin();
	const char *reason = NULL;
	struct auth_identity id;
	struct buf h;

	buf_init(&h);
	buf_append_cstr(&h, "Bearer ");
	char *t =
	    token_make("{\"alg\":\"none\",\"kid\":\"rsa1\"}", claims, SIGN_NONE, NULL, NULL, 0);
	buf_append_cstr(&h, t);
	assert_int_equal(auth_check_bearer(a, h.p, now0, &id, &reason), AUTH_EALG_NONE);
	assert_string_equal(reason, "unsigned token (alg none) refused");
	free(t);
	t = token_make("{\"alg\":\"NoNe\"}", claims, SIGN_NONE, NULL, NULL, 0);
	assert_int_equal(check(a, t, now0, NULL), AUTH_EALG_NONE);
	buf_fini(&h);
	free(claims);
	auth_free(a);
}

/* HS256 with the RSA public key (as PEM) for the HMAC secret. */
static char *confusion_token(const char *claims)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa_key), 1);
	len = BIO_get_mem_data(bio, &pem);
	char *t = token_make("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", claims, SIGN_HMAC, NULL, pem,
			     (size_t)len);
	BIO_free(bio);
	return t;
}

static void test_alg_confusion_rejected_without_hs_secret(void **state)
{
	struct auth *a = auth_file(false);
	char *claims = claims_admin();

	assert_int_equal(check(a, confusion_token(claims), now0, NULL), AUTH_EALG_CONFUSION);
	free(claims);
	auth_free(a);
}

static void test_alg_confusion_rejected_with_hs_secret(void **state)
{
	struct auth *a = auth_file(true);
	char *claims = claims_admin();

	assert_int_equal(check(a, confusion_token(claims), now0, NULL), AUTH_EALG_CONFUSION);
	free(claims);
	auth_free(a);
}

static void test_alg_not_on_allow_list_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check_rs(a, "{\"alg\":\"RS512\",\"kid\":\"rsa1\"}", claims_admin(), now0),
			 AUTH_EALG_REFUSED);
	assert_int_equal(check_rs(a, "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", claims_admin(), now0),
			 AUTH_EALG_REFUSED);
	char *claims = claims_admin();
	char *t = token_make("{\"alg\":\"HS256\"}", claims, SIGN_HMAC, NULL, HS_SECRET,
			     strlen(HS_SECRET));
	assert_int_equal(check(a, t, now0, NULL), AUTH_EALG_REFUSED); /* no secret configured */
	free(claims);
	auth_free(a);
}

static void test_crit_header_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check_rs(a,
				  "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"x\"],\"x\":1}",
				  claims_admin(), now0),
			 AUTH_ECRIT);
	assert_non_null(strstr(auth_strerror(AUTH_ECRIT), "crit"));
	auth_free(a);
}

static void test_unknown_kid_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check_rs(a, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", claims_admin(), now0),
			 AUTH_EKID_UNKNOWN);
	assert_int_equal(check_rs(a, "{\"alg\":\"RS256\"}", claims_admin(), now0),
			 AUTH_EKID_UNKNOWN);
	auth_free(a);
}

static void test_key_type_mismatch_rejected(void **state)
{
	struct auth *a = auth_file(false);

	/* RS256 naming the EC key, and ES256 naming the RSA key. */
	assert_int_equal(check_rs(a, "{\"alg\":\"RS256\",\"kid\":\"ec1\"}", claims_admin(), now0),
			 AUTH_EKTY_MISMATCH);
	char *claims = claims_admin();
	char *t =
	    token_make("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", claims, SIGN_KEY, ec_key, NULL, 0);
	assert_int_equal(check(a, t, now0, NULL), AUTH_EKTY_MISMATCH);
	free(claims);
	auth_free(a);
}

static void test_bad_signature_rejected(void **state)
{
	struct auth *a = auth_file(false);
	char *claims = claims_admin();
	char *t = token_make(RS1, claims, SIGN_KEY, rsa_key, NULL, 0);
	char *sig = strrchr(t, '.') + 10;

	*sig = *sig == 'A' ? 'B' : 'A';
	assert_int_equal(check(a, t, now0, NULL), AUTH_ESIGNATURE);
	/* Signed by another RSA key under rsa1's kid. */
	t = token_make(RS1, claims, SIGN_KEY, rsa_key2, NULL, 0);
	assert_int_equal(check(a, t, now0, NULL), AUTH_ESIGNATURE);
	/* Payload swapped after signing. */
	char *other = claims_make(ISSUER, "\"" AUDIENCE "\"", 7200, ",\"warp_role\":\"admin\"");
	char *t1 = token_make(RS1, claims, SIGN_KEY, rsa_key, NULL, 0);
	char *t2 = token_make(RS1, other, SIGN_KEY, rsa_key, NULL, 0);
	struct buf mix;
	buf_init(&mix);
	buf_append(&mix, t2, (size_t)(strrchr(t2, '.') - t2));
	buf_append_cstr(&mix, strrchr(t1, '.'));
	assert_int_equal(check(a, buf_steal(&mix), now0, NULL), AUTH_ESIGNATURE);
	free(t1);
	free(t2);
	free(other);
	free(claims);
	auth_free(a);
}

static void test_expired_token_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(
	    check_rs(a, RS1,
		     claims_make(ISSUER, "\"" AUDIENCE "\"", -3600, ",\"warp_role\":\"admin\""),
		     now0),
	    AUTH_EEXPIRED);
	auth_free(a);
}

static void test_missing_exp_rejected(void **state)
{
	struct auth *a = auth_file(false);
	char *claims = strdup("{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE
			      "\",\"sub\":\"u\",\"warp_role\":\"admin\"}");

	/* Its own reason: "token expired" would send a user chasing clocks. */
	assert_int_equal(check_rs(a, RS1, claims, now0), AUTH_EEXP_MISSING);
	assert_null(strstr(auth_strerror(AUTH_EEXP_MISSING), "expired"));
	auth_free(a);
}

static void test_not_yet_valid_token_rejected(void **state)
{
	struct auth *a = auth_file(false);
	char extra[128];

	snprintf(extra, sizeof(extra), ",\"warp_role\":\"admin\",\"nbf\":%lld",
		 (long long)(now0 / 1000 + 600));
	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, extra), now0),
	    AUTH_ENOTYET);
	auth_free(a);
}

static void test_iat_in_future_rejected(void **state)
{
	struct auth *a = auth_file(false);
	char claims[256];

	snprintf(
	    claims, sizeof(claims),
	    "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"u\",\"warp_role\":\"admin\",\"iat\":%lld,"
	    "\"exp\":%lld}",
	    ISSUER, AUDIENCE, (long long)(now0 / 1000 + 600), (long long)(now0 / 1000 + 3600));
	assert_int_equal(check_rs(a, RS1, strdup(claims), now0), AUTH_ENOTYET);
	auth_free(a);
}

static void test_clock_skew_edges(void **state)
{
	struct auth *a = auth_file(false);
	const char *admin = ",\"warp_role\":\"admin\"";
	char extra[128];

	/* exp 59 s ago: within the 60 s skew; exactly 60 s ago: expired. */
	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"" AUDIENCE "\"", -59, admin), now0), 0);
	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"" AUDIENCE "\"", -60, admin), now0),
	    AUTH_EEXPIRED);
	/* nbf 60 s ahead: accepted; 61 s ahead: not yet. */
	snprintf(extra, sizeof(extra), "%s,\"nbf\":%lld", admin, (long long)(now0 / 1000 + 60));
	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, extra), now0), 0);
	snprintf(extra, sizeof(extra), "%s,\"nbf\":%lld", admin, (long long)(now0 / 1000 + 61));
	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, extra), now0),
	    AUTH_ENOTYET);
	auth_free(a);
}

static void test_clock_skew_is_configurable(void **state)
{
	struct auth_opts o;
	char err[256];
	auth_opts_init(&o);
	o.jwks_file = jwks_path;
	o.issuer = ISSUER;
	o.skew_s = 0;
	struct auth *a = auth_new(&o, err, sizeof(err));

	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"a\"", -1, ",\"warp_role\":\"admin\""), now0),
	    AUTH_EEXPIRED);
	assert_int_equal(
	    check_rs(a, RS1, claims_make(ISSUER, "\"a\"", 1, ",\"warp_role\":\"admin\""), now0), 0);
	auth_free(a);
}

static void test_wrong_issuer_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check_rs(a, RS1,
				  claims_make("https://evil.example", "\"" AUDIENCE "\"", 3600,
					      ",\"warp_role\":\"admin\""),
				  now0),
			 AUTH_EISSUER);
	auth_free(a);
}

static void test_wrong_audience_rejected(void **state)
{
	struct auth *a = auth_file(false);
	const char *admin = ",\"warp_role\":\"admin\"";

	assert_int_equal(check_rs(a, RS1, claims_make(ISSUER, "\"other\"", 3600, admin), now0),
			 AUTH_EAUDIENCE);
	assert_int_equal(check_rs(a, RS1, claims_make(ISSUER, "[\"a\",\"b\"]", 3600, admin), now0),
			 AUTH_EAUDIENCE);
	assert_int_equal(check_rs(a, RS1, claims_make(ISSUER, "17", 3600, admin), now0),
			 AUTH_EAUDIENCE);
	auth_free(a);
}

static void test_malformed_base64_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check(a, strdup("eyJ$.eyJ.abc"), now0, NULL), AUTH_EBASE64);
	assert_int_equal(check(a, strdup("eyJh=.eyJh.abcd"), now0, NULL), AUTH_EBASE64);
	assert_int_equal(check(a, strdup("eyJhb.eyJh.abcd"), now0, NULL),
			 AUTH_EBASE64); /* 5 chars */
	auth_free(a);
}

static void test_malformed_json_rejected(void **state)
{
	struct auth *a = auth_file(false);
	char *claims = claims_admin();

	assert_int_equal(check(a,
			       token_make("{\"alg\":\"RS256\"", claims, SIGN_KEY, rsa_key, NULL, 0),
			       now0, NULL),
			 AUTH_EJSON);
	assert_int_equal(
	    check(a, token_make("[1,2]", claims, SIGN_KEY, rsa_key, NULL, 0), now0, NULL),
	    AUTH_EJSON);
	assert_int_equal(check(a,
			       token_make("{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
					  claims, SIGN_KEY, rsa_key, NULL, 0),
			       now0, NULL),
			 AUTH_EJSON); /* duplicate member */
	assert_int_equal(
	    check(a, token_make(RS1, "{not json", SIGN_KEY, rsa_key, NULL, 0), now0, NULL),
	    AUTH_EJSON);
	free(claims);
	auth_free(a);
}

static void test_malformed_structure_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check(a, strdup("a.b"), now0, NULL), AUTH_EMALFORMED);
	assert_int_equal(check(a, strdup("a.b.c.d"), now0, NULL), AUTH_EMALFORMED);
	assert_int_equal(check(a, strdup(".eyJh.abcd"), now0, NULL), AUTH_EMALFORMED);
	auth_free(a);
}

static void test_missing_role_claim_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(check_rs(a, RS1, claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, ""), now0),
			 AUTH_ECLAIMS);
	assert_int_equal(
	    check_rs(a, RS1,
		     claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, ",\"warp_role\":\"customer\""),
		     now0),
	    AUTH_ECLAIMS);
	auth_free(a);
}

static void test_no_bearer_scheme_rejected(void **state)
{
	struct auth *a = auth_file(false);
	struct auth_identity id;

	assert_int_equal(auth_check_bearer(a, NULL, now0, &id, NULL), AUTH_ENOCRED);
	assert_int_equal(auth_check_bearer(a, "Basic dXNlcjpwYXNz", now0, &id, NULL), AUTH_ENOCRED);
	assert_int_equal(auth_check_bearer(a, "Bearer ", now0, &id, NULL), AUTH_ENOCRED);
	auth_free(a);
}

static void test_rejection_log_never_contains_token(void **state)
{
	struct auth *a = auth_file(false);
	FILE *log = tmpfile();
	char *claims = claims_make(ISSUER, "\"" AUDIENCE "\"", -3600, ",\"warp_role\":\"admin\"");
	char *t = token_make(RS1, claims, SIGN_KEY, rsa_key, NULL, 0);
	char text[4096] = {0};
	struct auth_identity id;
	struct buf h;

	buf_init(&h);
	buf_printf(&h, "Bearer %s", t);
	log_setup(LOG_DEBUG, LOG_FORMAT_TEXT, log);
	assert_int_equal(auth_check_bearer(a, h.p, now0, &id, NULL), AUTH_EEXPIRED);
	log_setup(LOG_INFO, LOG_FORMAT_TEXT, stderr);
	rewind(log);
	size_t n = fread(text, 1, sizeof(text) - 1, log);
	assert_true(n > 0);
	assert_non_null(strstr(text, "token expired"));
	assert_null(strstr(text, strrchr(t, '.') + 1));
	assert_null(strstr(text, t + 20));
	fclose(log);
	buf_fini(&h);
	free(t);
	free(claims);
	auth_free(a);
}

/* ------------------------------------------------------------ JWKS URL */

struct jwks_server {
	int fd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	atomic_int hits;
	pthread_mutex_t lock;
	char *body;
	int max_age;
	atomic_int delay_ms; /* before answering: a slow issuer */
};

static void jwks_server_answer(struct jwks_server *s, int c)
{
	char req[2048], head[256];
	size_t got = 0;

	for (int i = 0; i < 50 && !memmem(req, got, "\r\n\r\n", 4); i++) {
		ssize_t n = recv(c, req + got, sizeof(req) - got, 0);
		if (n <= 0)
			return;
		got += (size_t)n;
	}
	/* Counted before answering, so the client never sees an uncounted fetch. */
	atomic_fetch_add(&s->hits, 1);
	for (int waited = 0; waited < atomic_load(&s->delay_ms) && !atomic_load(&s->stop);
	     waited += 10)
		usleep(10000);
	pthread_mutex_lock(&s->lock);
	int hl =
	    snprintf(head, sizeof(head),
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: "
		     "public, max-age=%d, must-revalidate\r\nContent-Length: %zu\r\nConnection: "
		     "close\r\n\r\n",
		     s->max_age, strlen(s->body));
	if (send(c, head, (size_t)hl, MSG_NOSIGNAL) == hl)
		send(c, s->body, strlen(s->body), MSG_NOSIGNAL);
	pthread_mutex_unlock(&s->lock);
}

static void *jwks_server_run(void *arg)
{
	struct jwks_server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		jwks_server_answer(s, c);
		close(c);
	}
	return NULL;
}

static void jwks_server_start(struct jwks_server *s, char *body, int max_age)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->body = body;
	s->max_age = max_age;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, jwks_server_run, s), 0);
}

static void jwks_server_set_body(struct jwks_server *s, char *body)
{
	pthread_mutex_lock(&s->lock);
	free(s->body);
	s->body = body;
	pthread_mutex_unlock(&s->lock);
}

static void jwks_server_stop(struct jwks_server *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	free(s->body);
	pthread_mutex_destroy(&s->lock);
}

static struct auth *auth_url(struct jwks_server *s)
{
	struct auth_opts o;
	char err[256], url[128];
	struct auth *a;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/jwks.json", s->port);
	auth_opts_init(&o);
	o.jwks_url = url;
	o.issuer = ISSUER;
	o.jwks_min_refetch_ms = 10000;
	o.jwks_wait_ms = 5000; /* a loaded machine: the bound is tested alone */
	a = auth_new(&o, err, sizeof(err));
	if (!a)
		fail_msg("auth_new: %s", err);
	return a;
}

/* A refresh that asked without waiting: the fetcher's hit, within 5 s. */
static void hits_wait(struct jwks_server *s, int want)
{
	for (int i = 0; i < 500 && atomic_load(&s->hits) < want; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&s->hits), want);
}

static int check_kid(struct auth *a, EVP_PKEY *k, const char *kid, int64_t now_ms)
{
	char header[96];

	snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
	char *claims = claims_make(ISSUER, "\"x\"", 3600, ",\"warp_role\":\"admin\"");
	char *t = token_make(header, claims, SIGN_KEY, k, NULL, 0);
	free(claims);
	return check(a, t, now_ms, NULL);
}

static void test_jwks_url_fetched_on_first_use(void **state)
{
	struct jwks_server s;
	jwks_server_start(&s, jwks_json(false), 60);
	struct auth *a = auth_url(&s);

	assert_int_equal(atomic_load(&s.hits), 0);
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0), 0);
	assert_int_equal(atomic_load(&s.hits), 1);
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0 + 1000), 0);
	assert_int_equal(atomic_load(&s.hits), 1);
	auth_free(a);
	jwks_server_stop(&s);
}

static void test_jwks_url_unknown_kid_refetches_after_min_interval(void **state)
{
	struct jwks_server s;
	jwks_server_start(&s, jwks_json(false), 600);
	struct auth *a = auth_url(&s);

	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0), 0);
	jwks_server_set_body(&s, jwks_json(true)); /* the issuer rotates in rsa2 */
	/* Within the minimum interval: no fetch, the kid stays unknown. */
	assert_int_equal(check_kid(a, rsa_key2, "rsa2", now0 + 1000), AUTH_EKID_UNKNOWN);
	assert_int_equal(check_kid(a, rsa_key2, "rsa2", now0 + 9999), AUTH_EKID_UNKNOWN);
	assert_int_equal(atomic_load(&s.hits), 1);
	/* After it: one fetch finds the new key. */
	assert_int_equal(check_kid(a, rsa_key2, "rsa2", now0 + 10000), 0);
	assert_int_equal(atomic_load(&s.hits), 2);
	assert_int_equal(auth_jwks_fetches(a), 2);
	/* A flood of made-up kids costs nothing more within the interval. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(check_kid(a, rsa_key2, "made-up", now0 + 11000 + i),
				 AUTH_EKID_UNKNOWN);
	assert_int_equal(atomic_load(&s.hits), 2);
	auth_free(a);
	jwks_server_stop(&s);
}

static void test_jwks_url_refetched_after_max_age(void **state)
{
	struct jwks_server s;
	jwks_server_start(&s, jwks_json(false), 60);
	struct auth *a = auth_url(&s);

	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0), 0);
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0 + 59000), 0);
	assert_int_equal(atomic_load(&s.hits), 1);
	/* Stale: the token is checked against the set it has while the
	 * fetcher renews it. */
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0 + 60000), 0);
	hits_wait(&s, 2);
	/* The timer hook asks once stale, never waiting. */
	assert_int_equal(auth_jwks_refresh(a, now0 + 70000, false), 0);
	usleep(50000);
	assert_int_equal(atomic_load(&s.hits), 2);
	assert_int_equal(auth_jwks_refresh(a, now0 + 121000, false), 0);
	hits_wait(&s, 3);
	auth_free(a);
	jwks_server_stop(&s);
}

/* A kid the set fetched for it lacked is refuted: it causes no refetch in
 * later intervals, while a kid not yet looked for still does. */
static void test_jwks_url_refuted_kid_never_refetches(void **state)
{
	struct jwks_server s;
	jwks_server_start(&s, jwks_json(false), 600);
	struct auth *a = auth_url(&s);

	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0), 0);
	assert_int_equal(check_kid(a, rsa_key, "made-up", now0 + 10000), AUTH_EKID_UNKNOWN);
	assert_int_equal(atomic_load(&s.hits), 2);
	assert_int_equal(check_kid(a, rsa_key, "made-up", now0 + 20000), AUTH_EKID_UNKNOWN);
	assert_int_equal(check_kid(a, rsa_key, "made-up", now0 + 30000), AUTH_EKID_UNKNOWN);
	assert_int_equal(atomic_load(&s.hits), 2);
	jwks_server_set_body(&s, jwks_json(true));
	assert_int_equal(check_kid(a, rsa_key2, "rsa2", now0 + 30001), 0);
	assert_int_equal(atomic_load(&s.hits), 3);
	/* A new set: the refuted kid gets its chance again, once. */
	assert_int_equal(check_kid(a, rsa_key, "made-up", now0 + 40001), AUTH_EKID_UNKNOWN);
	assert_int_equal(check_kid(a, rsa_key, "made-up", now0 + 50001), AUTH_EKID_UNKNOWN);
	assert_int_equal(atomic_load(&s.hits), 4);
	/* A token without kid, or with one too long to name a key, never asks. */
	char *claims = claims_make(ISSUER, "\"x\"", 3600, ",\"warp_role\":\"admin\"");
	char *t = token_make("{\"alg\":\"RS256\"}", claims, SIGN_KEY, rsa_key, NULL, 0);
	free(claims);
	assert_int_equal(check(a, t, now0 + 60001, NULL), AUTH_EKID_UNKNOWN);
	assert_int_equal(atomic_load(&s.hits), 4);
	auth_free(a);
	jwks_server_stop(&s);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A slow issuer at a cold start: the token waits jwks_wait, not the fetch,
 * and is told to retry (503); freeing aborts the hung transfer. */
static void test_jwks_url_slow_at_start_waits_only_jwks_wait(void **state)
{
	struct jwks_server s;
	struct auth_opts o;
	char err[256], url[128];

	jwks_server_start(&s, jwks_json(false), 600);
	atomic_store(&s.delay_ms, 4000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/jwks.json", s.port);
	auth_opts_init(&o);
	o.jwks_url = url;
	o.issuer = ISSUER;
	o.jwks_timeout_ms = 10000;
	o.jwks_wait_ms = 200;
	struct auth *a = auth_new(&o, err, sizeof(err));
	assert_non_null(a);
	int64_t t0 = mono_ms();
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0), AUTH_EUNAVAILABLE);
	int64_t took = mono_ms() - t0;
	assert_true(took >= 150 && took < 1500);
	/* Another token joins the fetch under way, as briefly; no second fetch. */
	t0 = mono_ms();
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0 + 100), AUTH_EUNAVAILABLE);
	assert_true(mono_ms() - t0 < 1500);
	assert_int_equal(atomic_load(&s.hits), 1);
	assert_true(auth_retry_after_s(a, now0 + 100) >= 9);
	t0 = mono_ms();
	auth_free(a);
	assert_true(mono_ms() - t0 < 2500);
	jwks_server_stop(&s);
}

static void test_hmac_token_never_triggers_jwks_fetch(void **state)
{
	struct jwks_server s;
	jwks_server_start(&s, jwks_json(false), 60);
	struct auth *a = auth_url(&s);
	char *claims = claims_admin();

	for (int i = 0; i < 3; i++) {
		char *t = token_make("{\"alg\":\"HS256\",\"kid\":\"whatever\"}", claims, SIGN_HMAC,
				     NULL, HS_SECRET, strlen(HS_SECRET));
		assert_int_equal(check(a, t, now0 + i * 20000, NULL), AUTH_EALG_REFUSED);
	}
	assert_int_equal(atomic_load(&s.hits), 0);
	free(claims);
	auth_free(a);
	jwks_server_stop(&s);
}

/* No set ever loaded: the token may be fine, so unavailable (503), not 401. */
static void test_jwks_url_unreachable_since_start_is_unavailable(void **state)
{
	struct auth_opts o;
	char err[256];
	auth_opts_init(&o);
	o.jwks_url = "http://127.0.0.1:1/jwks.json";
	o.issuer = ISSUER;
	o.jwks_timeout_ms = 500;
	struct auth *a = auth_new(&o, err, sizeof(err));

	assert_non_null(a);
	assert_int_equal(check_kid(a, rsa_key, "rsa1", now0), AUTH_EUNAVAILABLE);
	auth_free(a);
}

static void test_jwks_file_missing_fails_auth_new(void **state)
{
	struct auth_opts o;
	char err[256] = "";
	auth_opts_init(&o);
	o.jwks_file = "/nonexistent/jwks.json";
	o.issuer = ISSUER;

	assert_null(auth_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "JWKS"));
}

static void test_jwt_settings_without_issuer_refused(void **state)
{
	struct auth_opts o;
	char err[256] = "";
	auth_opts_init(&o);
	o.jwks_file = jwks_path;

	assert_null(auth_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "issuer"));
}

/* ------------------------------------------------------------ scopes */

/* The scopes an admin RS256 token with these extra claims gets, or -1. */
static int scopes_of(struct auth *a, const char *extra)
{
	struct auth_identity id;
	char all[256];
	char *claims, *t;
	int rc;

	snprintf(all, sizeof(all), ",\"warp_role\":\"admin\"%s", extra);
	claims = claims_make(ISSUER, "\"" AUDIENCE "\"", 3600, all);
	t = token_make(RS1, claims, SIGN_KEY, rsa_key, NULL, 0);
	free(claims);
	rc = check(a, t, now0, &id);
	return rc == 0 ? (int)id.scopes : -1;
}

static void test_token_without_scope_claim_only_reads(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(scopes_of(a, ""), AUTH_SCOPE_READ);
	auth_free(a);
}

static void test_scope_string_is_space_separated(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(scopes_of(a, ",\"scope\":\"openid read  write\""),
			 AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	assert_int_equal(scopes_of(a, ",\"scope\":\"read\""), AUTH_SCOPE_READ);
	/* A comma list is one unknown OAuth word, not two scopes. */
	assert_int_equal(scopes_of(a, ",\"scope\":\"read,write\""), 0);
	assert_int_equal(scopes_of(a, ",\"scope\":\"\""), 0);
	auth_free(a);
}

static void test_scope_array_is_accepted(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(scopes_of(a, ",\"scope\":[\"write\",\"email\"]"), AUTH_SCOPE_WRITE);
	assert_int_equal(scopes_of(a, ",\"scope\":[\"read\",\"write\"]"),
			 AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	assert_int_equal(scopes_of(a, ",\"scope\":[]"), 0);
	auth_free(a);
}

static void test_scope_claim_of_another_type_rejected(void **state)
{
	struct auth *a = auth_file(false);

	assert_int_equal(scopes_of(a, ",\"scope\":7"), -1);
	assert_int_equal(scopes_of(a, ",\"scope\":[\"read\",1]"), -1);
	assert_int_equal(scopes_of(a, ",\"scope\":{\"read\":true}"), -1);
	auth_free(a);
}

static void test_scope_claim_and_default_are_configurable(void **state)
{
	struct auth_opts o;
	char err[256];
	struct auth *a;

	opts_file(&o);
	o.scope_claim = "scp";
	o.default_scopes = "read,write";
	a = auth_new(&o, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(scopes_of(a, ""), AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	assert_int_equal(scopes_of(a, ",\"scp\":\"read\""), AUTH_SCOPE_READ);
	/* "scope" is now an ordinary claim: the default applies. */
	assert_int_equal(scopes_of(a, ",\"scope\":\"read\""), AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	auth_free(a);
}

static void test_default_scopes_without_read_or_write_refused(void **state)
{
	struct auth_opts o;
	char err[256] = "";

	opts_file(&o);
	o.default_scopes = "admin";
	assert_null(auth_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "default scopes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rs256_valid_token_gives_admin),
	    cmocka_unit_test(test_es256_valid_token_gives_customer),
	    cmocka_unit_test(test_custom_claim_names_are_used),
	    cmocka_unit_test(test_hs256_accepted_with_configured_secret),
	    cmocka_unit_test(test_alg_none_rejected),
	    cmocka_unit_test(test_alg_confusion_rejected_without_hs_secret),
	    cmocka_unit_test(test_alg_confusion_rejected_with_hs_secret),
	    cmocka_unit_test(test_alg_not_on_allow_list_rejected),
	    cmocka_unit_test(test_crit_header_rejected),
	    cmocka_unit_test(test_unknown_kid_rejected),
	    cmocka_unit_test(test_key_type_mismatch_rejected),
	    cmocka_unit_test(test_bad_signature_rejected),
	    cmocka_unit_test(test_expired_token_rejected),
	    cmocka_unit_test(test_missing_exp_rejected),
	    cmocka_unit_test(test_not_yet_valid_token_rejected),
	    cmocka_unit_test(test_iat_in_future_rejected),
	    cmocka_unit_test(test_clock_skew_edges),
	    cmocka_unit_test(test_clock_skew_is_configurable),
	    cmocka_unit_test(test_wrong_issuer_rejected),
	    cmocka_unit_test(test_wrong_audience_rejected),
	    cmocka_unit_test(test_malformed_base64_rejected),
	    cmocka_unit_test(test_malformed_json_rejected),
	    cmocka_unit_test(test_malformed_structure_rejected),
	    cmocka_unit_test(test_missing_role_claim_rejected),
	    cmocka_unit_test(test_no_bearer_scheme_rejected),
	    cmocka_unit_test(test_rejection_log_never_contains_token),
	    cmocka_unit_test(test_jwks_url_fetched_on_first_use),
	    cmocka_unit_test(test_jwks_url_unknown_kid_refetches_after_min_interval),
	    cmocka_unit_test(test_jwks_url_refetched_after_max_age),
	    cmocka_unit_test(test_jwks_url_refuted_kid_never_refetches),
	    cmocka_unit_test(test_jwks_url_slow_at_start_waits_only_jwks_wait),
	    cmocka_unit_test(test_hmac_token_never_triggers_jwks_fetch),
	    cmocka_unit_test(test_jwks_url_unreachable_since_start_is_unavailable),
	    cmocka_unit_test(test_jwks_file_missing_fails_auth_new),
	    cmocka_unit_test(test_jwt_settings_without_issuer_refused),
	    cmocka_unit_test(test_token_without_scope_claim_only_reads),
	    cmocka_unit_test(test_scope_string_is_space_separated),
	    cmocka_unit_test(test_scope_array_is_accepted),
	    cmocka_unit_test(test_scope_claim_of_another_type_rejected),
	    cmocka_unit_test(test_scope_claim_and_default_are_configurable),
	    cmocka_unit_test(test_default_scopes_without_read_or_write_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
