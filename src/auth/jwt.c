/*
 * jwt.c — verifying a JWT (RFC 7519) in JWS compact form (RFC 7515).
 *
 * The order matters and follows RFC 8725 (JWT best practices):
 *   1. split and base64url-decode the header ourselves, strictly;
 *   2. check the header's alg against our allow-list and pick the key by
 *      kid; the key's own type decides the algorithm (§3.1), so "none", an
 *      HMAC token naming an RSA key (the RS256/HS256 confusion) or an RS256
 *      token naming an EC key are refused before any crypto runs;
 *   3. only then let cjose verify the signature with that key;
 *   4. parse the claims and check exp/nbf/iat (with skew), iss, aud (§3.8,
 *      §3.9), and take role, customer and scopes from the configured claims.
 * Scopes: an OAuth "scope" string (RFC 8693 §4.2) or an array of strings;
 * a token without the claim gets the configured default, "read" unless an
 * operator says otherwise: an identity provider that knows nothing of WARP's
 * scopes should not hand out write access by leaving them out.
 * Nothing here logs the token.
 */
#include "auth/auth_private.h"

#include <cjose/jws.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define JWT_MAX 8192
#define JWT_HEADER_MAX 1024

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int jwt_b64url_decode(struct str in, unsigned char *out, size_t cap, size_t *outlen)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;

	if (in.len % 4 == 1)
		return -EINVAL; /* 6 bits cannot end a byte */
	for (size_t i = 0; i < in.len; i++) {
		int v = b64url_value((unsigned char)in.p[i]);
		if (v < 0)
			return -EINVAL;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -ENOSPC;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = o;
	return 0;
}

static bool jwt_b64url_valid(struct str s)
{
	if (s.len % 4 == 1)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (b64url_value((unsigned char)s.p[i]) < 0)
			return false;
	return true;
}

/* Three base64url parts: header, payload, signature.  An empty signature
 * passes here so that an alg "none" token is named as such. */
static int jwt_split(struct str token, struct str parts[3])
{
	size_t start = 0, n = 0;

	if (token.len == 0 || token.len > JWT_MAX)
		return AUTH_EMALFORMED;
	for (size_t i = 0; i <= token.len; i++) {
		if (i < token.len && token.p[i] != '.')
			continue;
		if (n == 3)
			return AUTH_EMALFORMED;
		parts[n++] = (struct str){token.p + start, i - start};
		start = i + 1;
	}
	if (n != 3 || parts[0].len == 0 || parts[1].len == 0)
		return AUTH_EMALFORMED;
	for (int i = 0; i < 3; i++)
		if (!jwt_b64url_valid(parts[i]))
			return AUTH_EBASE64;
	return 0;
}

static json_t *jwt_json_object(const unsigned char *p, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);

	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static enum jwt_alg jwt_alg_parse(const char *alg)
{
	if (strcmp(alg, "RS256") == 0)
		return JWT_ALG_RS256;
	if (strcmp(alg, "ES256") == 0)
		return JWT_ALG_ES256;
	if (strcmp(alg, "HS256") == 0)
		return JWT_ALG_HS256;
	return JWT_ALG_UNKNOWN;
}

/* Header checks that need no key: alg present, not none, allowed, no crit. */
static int jwt_header_check(json_t *hdr, enum jwt_alg *alg, struct str *kid)
{
	const char *a = json_string_value(json_object_get(hdr, "alg"));
	json_t *k = json_object_get(hdr, "kid");

	if (!a)
		return AUTH_EJSON;
	if (strcasecmp(a, "none") == 0)
		return AUTH_EALG_NONE;
	*alg = jwt_alg_parse(a);
	if (*alg == JWT_ALG_UNKNOWN)
		return AUTH_EALG_REFUSED;
	/* RFC 7515 §4.1.11: we understand no extensions, so any crit fails. */
	if (json_object_get(hdr, "crit"))
		return AUTH_ECRIT;
	if (k && !json_is_string(k))
		return AUTH_EJSON;
	*kid = k ? (struct str){json_string_value(k), json_string_length(k)} : STR_NULL;
	return 0;
}

static int jwt_header_parse(struct str part, enum jwt_alg *alg, struct str *kid, json_t **hdr)
{
	unsigned char raw[JWT_HEADER_MAX];
	size_t len = 0;

	if (jwt_b64url_decode(part, raw, sizeof(raw), &len) < 0)
		return AUTH_EMALFORMED;
	*hdr = jwt_json_object(raw, len);
	if (!*hdr)
		return AUTH_EJSON;
	return jwt_header_check(*hdr, alg, kid);
}

/* cjose verifies with the key we chose; it reads alg from the header too,
 * which we have already matched to the key. */
static int jwt_signature_check(struct str token, const cjose_jwk_t *jwk, json_t **claims)
{
	cjose_err cerr;
	cjose_jws_t *jws = cjose_jws_import(token.p, token.len, &cerr);
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int rc = AUTH_EMALFORMED;

	if (!jws)
		return rc;
	rc = AUTH_ESIGNATURE;
	if (!cjose_jws_verify(jws, jwk, &cerr))
		goto done;
	rc = AUTH_EJSON;
	if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &cerr))
		goto done;
	*claims = jwt_json_object(plain, plain_len);
	if (*claims)
		rc = 0;
done:
	cjose_jws_release(jws);
	return rc;
}

/* Picks the key for this alg and kid, then verifies. */
static int jwt_key_verify(struct jwt_verifier *v, struct str token, enum jwt_alg alg,
			  struct str kid, int64_t now_ms, json_t **claims)
{
	const struct jwks_key *key = NULL;
	int rc;

	/* An HMAC token only needs to know whether its kid names a JWKS key;
	 * it must not be able to trigger fetches. */
	if (jwks_enabled(&v->jwks))
		key = jwks_acquire(&v->jwks, kid, now_ms, alg != JWT_ALG_HS256);
	if (alg == JWT_ALG_HS256) {
		/* A kid naming an RSA/EC key means someone HMAC-signed with a
		 * public key: the classic confusion attack. */
		if (key)
			rc = AUTH_EALG_CONFUSION;
		else if (!v->hs_key)
			rc = AUTH_EALG_REFUSED;
		else
			rc = jwt_signature_check(token, v->hs_key, claims);
	} else if (!key && jwks_enabled(&v->jwks) && !jwks_loaded(&v->jwks))
		/* No set has ever loaded (the issuer unreachable since start):
		 * the token may be valid, so this is 503, not 401. */
		rc = AUTH_EUNAVAILABLE;
	else if (!key)
		rc = AUTH_EKID_UNKNOWN;
	else if (key->alg != alg)
		rc = AUTH_EKTY_MISMATCH;
	else
		rc = jwt_signature_check(token, key->jwk, claims);
	if (jwks_enabled(&v->jwks))
		jwks_release(&v->jwks);
	return rc;
}

/* A NumericDate (RFC 7519 §2) in milliseconds; -1 when absent or bad. */
static int64_t jwt_time_ms(json_t *claims, const char *name, bool *present)
{
	json_t *t = json_object_get(claims, name);
	double d;

	*present = t != NULL;
	if (!json_is_number(t))
		return -1;
	d = json_number_value(t);
	if (!(d >= 0 && d < 1e14))
		return -1;
	return (int64_t)d * 1000;
}

static int jwt_times_check(const struct jwt_verifier *v, json_t *claims, int64_t now_ms)
{
	bool present;
	int64_t exp = jwt_time_ms(claims, "exp", &present);
	int64_t nbf, iat;

	/* RFC 7519 §4.1.4: the current time must be before exp.  We require
	 * exp: a token that never expires is a key that cannot be revoked. */
	if (exp < 0)
		return AUTH_EEXP_MISSING;
	if (now_ms >= exp + v->skew_ms)
		return AUTH_EEXPIRED;
	nbf = jwt_time_ms(claims, "nbf", &present);
	if (present && (nbf < 0 || now_ms + v->skew_ms < nbf))
		return AUTH_ENOTYET;
	iat = jwt_time_ms(claims, "iat", &present);
	if (present && (iat < 0 || iat > now_ms + v->skew_ms))
		return AUTH_ENOTYET;
	return 0;
}

static bool jwt_audience_ok(json_t *aud, const char *want)
{
	size_t i;
	json_t *a;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, a)
	{
		if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
			return true;
	}
	return false;
}

/* The scope claim as a space-separated string or an array of words; any
 * other type is a malformed token, not "no scopes". */
static int jwt_scopes_get(const struct jwt_verifier *v, json_t *claims, unsigned *out)
{
	json_t *c = json_object_get(claims, v->scope_claim), *w;
	size_t i;

	*out = 0;
	if (!c) {
		*out = v->default_scopes;
		return 0;
	}
	if (json_is_string(c)) {
		*out = scope_list_parse((struct str){json_string_value(c), json_string_length(c)},
					' ');
		return 0;
	}
	if (!json_is_array(c))
		return AUTH_ECLAIMS;
	json_array_foreach(c, i, w)
	{
		if (!json_is_string(w))
			return AUTH_ECLAIMS;
		*out |= scope_word_bits((struct str){json_string_value(w), json_string_length(w)});
	}
	return 0;
}

static int jwt_identity_fill(const struct jwt_verifier *v, json_t *claims,
			     struct auth_identity *out)
{
	const char *role = json_string_value(json_object_get(claims, v->role_claim));
	const char *cus = json_string_value(json_object_get(claims, v->customer_claim));
	const char *sub = json_string_value(json_object_get(claims, "sub"));

	memset(out, 0, sizeof(*out));
	out->kind = AUTH_KIND_JWT;
	if (jwt_scopes_get(v, claims, &out->scopes) < 0)
		return AUTH_ECLAIMS;
	if (!sub || str_copy(out->subject, sizeof(out->subject), str_from_cstr(sub)) < 0)
		return AUTH_ECLAIMS;
	if (role && strcmp(role, "admin") == 0) {
		out->role = AUTH_ROLE_ADMIN;
		return 0;
	}
	if (!role || strcmp(role, "customer") != 0 || !cus || !id_valid(str_from_cstr(cus), "cus"))
		return AUTH_ECLAIMS;
	out->role = AUTH_ROLE_CUSTOMER;
	return str_copy(out->customer_id, sizeof(out->customer_id), str_from_cstr(cus)) < 0
		   ? AUTH_ECLAIMS
		   : 0;
}

static int jwt_claims_check(const struct jwt_verifier *v, json_t *claims, int64_t now_ms,
			    struct auth_identity *out)
{
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	int rc = jwt_times_check(v, claims, now_ms);

	if (rc < 0)
		return rc;
	if (!iss || strcmp(iss, v->issuer) != 0)
		return AUTH_EISSUER;
	if (v->audience && !jwt_audience_ok(json_object_get(claims, "aud"), v->audience))
		return AUTH_EAUDIENCE;
	return jwt_identity_fill(v, claims, out);
}

int jwt_verify(struct jwt_verifier *v, struct str token, int64_t now_ms, struct auth_identity *out)
{
	struct str parts[3], kid = STR_NULL;
	enum jwt_alg alg = JWT_ALG_UNKNOWN;
	json_t *hdr = NULL, *claims = NULL;
	int rc = jwt_split(token, parts);

	if (rc == 0)
		rc = jwt_header_parse(parts[0], &alg, &kid, &hdr);
	if (rc == 0 && parts[2].len == 0)
		rc = AUTH_ESIGNATURE;
	if (rc == 0)
		rc = jwt_key_verify(v, token, alg, kid, now_ms, &claims);
	if (rc == 0)
		rc = jwt_claims_check(v, claims, now_ms, out);
	json_decref(claims);
	json_decref(hdr);
	return rc;
}

static int jwt_dup(const char *s, const char *def, char **out)
{
	const char *v = s && *s ? s : def;

	*out = v ? strdup(v) : NULL;
	return v && !*out ? -ENOMEM : 0;
}

int jwt_verifier_init(struct jwt_verifier *v, const struct auth_opts *o)
{
	cjose_err cerr;
	int rc;

	memset(v, 0, sizeof(*v));
	v->skew_ms = o->skew_s * 1000;
	rc = jwks_init(&v->jwks, o);
	if (rc == 0)
		rc = jwt_dup(o->issuer, NULL, &v->issuer);
	if (rc == 0)
		rc = jwt_dup(o->audience, NULL, &v->audience);
	if (rc == 0)
		rc = jwt_dup(o->role_claim, "warp_role", &v->role_claim);
	if (rc == 0)
		rc = jwt_dup(o->customer_claim, "customer_id", &v->customer_claim);
	if (rc == 0)
		rc = jwt_dup(o->scope_claim, "scope", &v->scope_claim);
	v->default_scopes =
	    scope_list_parse(str_from_cstr(o->default_scopes ? o->default_scopes : "read"), ',');
	if (rc == 0 && !v->default_scopes)
		rc = -EINVAL;
	if (rc == 0 && o->hs256_secret && *o->hs256_secret) {
		/* RFC 7518 §3.2: an HS256 key must be at least 256 bits. */
		if (strlen(o->hs256_secret) < 32)
			return -EINVAL;
		v->hs_key = cjose_jwk_create_oct_spec((const uint8_t *)o->hs256_secret,
						      strlen(o->hs256_secret), &cerr);
		if (!v->hs_key)
			rc = -ENOMEM;
	}
	if (rc == 0 && jwt_verifier_enabled(v) && !v->issuer)
		rc = -EINVAL;
	return rc;
}

bool jwt_verifier_enabled(const struct jwt_verifier *v)
{
	return jwks_enabled(&v->jwks) || v->hs_key;
}

void jwt_verifier_fini(struct jwt_verifier *v)
{
	jwks_fini(&v->jwks);
	if (v->hs_key)
		cjose_jwk_release(v->hs_key);
	free(v->issuer);
	free(v->audience);
	free(v->role_claim);
	free(v->customer_claim);
	free(v->scope_claim);
}
