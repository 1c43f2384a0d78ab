/*
 * jwt.c — base64url and the service-account JWT assertion: the bearer
 * grant of RFC 7523 §2.1, signed RS256 (RFC 7518 §3.3, RSASSA-PKCS1-v1_5
 * with SHA-256) by OpenSSL's EVP interface, as Google's OAuth 2.0 token
 * endpoint takes it for a service account.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

/* Google accepts an assertion valid for at most an hour. */
#define JWT_LIFETIME_S 3600
#define JWT_SIG_MAX 1024 /* RSA up to 8192 bits */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int export_b64url_encode(const void *data, size_t n, struct buf *out)
{
	const unsigned char *p = data;
	size_t i = 0;

	if (buf_reserve(out, (n + 2) / 3 * 4 + 1) < 0)
		return -ENOMEM;
	char *w = out->p + out->len;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*w++ = b64url_alphabet[v >> 18];
		*w++ = b64url_alphabet[(v >> 12) & 63];
		*w++ = b64url_alphabet[(v >> 6) & 63];
		*w++ = b64url_alphabet[v & 63];
	}
	if (n - i > 0) { /* RFC 7515 §2: no padding */
		uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
		*w++ = b64url_alphabet[v >> 18];
		*w++ = b64url_alphabet[(v >> 12) & 63];
		if (n - i == 2)
			*w++ = b64url_alphabet[(v >> 6) & 63];
	}
	out->len = (size_t)(w - out->p);
	out->p[out->len] = '\0';
	return 0;
}

/* Appends the compact JSON of o, base64url-encoded; takes o. */
static int b64url_json(json_t *o, struct buf *out)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int rc = text ? export_b64url_encode(text, strlen(text), out) : -ENOMEM;

	free(text);
	json_decref(o);
	return rc;
}

/* RS256 over the signing input out->p[from..len) (RFC 7515 §5.1), appended
 * as ".<signature>". */
static int jwt_sign(EVP_PKEY *key, struct buf *out, size_t from)
{
	unsigned char sig[JWT_SIG_MAX];
	size_t siglen = sizeof(sig);
	int rc = -EPROTO;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out->p + from,
			   out->len - from) == 1)
		rc = buf_append_char(out, '.') < 0 ? -ENOMEM
						   : export_b64url_encode(sig, siglen, out);
	EVP_MD_CTX_free(md);
	return rc;
}

int export_jwt_assertion(const struct export_sa *sa, const char *aud, const char *scope,
			 int64_t now_s, struct buf *out)
{
	json_t *head = json_pack("{s:s,s:s}", "alg", "RS256", "typ", "JWT");
	json_t *claims =
	    json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", sa->email, "scope", scope, "aud", aud, "iat",
		      (json_int_t)now_s, "exp", (json_int_t)(now_s + JWT_LIFETIME_S));

	size_t from = out->len;

	if (head && sa->key_id && sa->key_id[0])
		json_object_set_new(head, "kid", json_string(sa->key_id));
	int rc = b64url_json(head, out);
	rc = rc ? rc : buf_append_char(out, '.');
	if (rc == 0)
		rc = b64url_json(claims, out); /* takes claims */
	else
		json_decref(claims);
	return rc ? rc : jwt_sign(sa->key, out, from);
}
