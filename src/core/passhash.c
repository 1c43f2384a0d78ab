/*
 * passhash.c — slow, salted password hashes (PBKDF2-HMAC-SHA256).
 *
 * SMPP 3.4 sends a bind's password in clear and limits it to 8 characters,
 * so what the store keeps must resist offline guessing when a copy of the
 * store leaks: a fast hash of an 8-character secret does not.  PBKDF2 is in
 * OpenSSL (no new dependency); the iteration count is part of the stored
 * text, so raising it later leaves existing hashes verifiable.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PREFIX "pbkdf2-sha256$"
/* A stored count above this is refused: verifying must stay bounded. */
#define ITERATIONS_MAX 10000000u

static int derive(struct str pw, const unsigned char *salt, size_t salt_len, unsigned iter,
		  unsigned char *out)
{
	if (pw.len > INT_MAX)
		return -EINVAL;
	if (!PKCS5_PBKDF2_HMAC(pw.p ? pw.p : "", (int)pw.len, salt, (int)salt_len, (int)iter,
			       EVP_sha256(), HASH_LEN, out))
		return -ENOMEM;
	return 0;
}

int passhash_make(struct str pw, unsigned iterations, char *out, size_t n)
{
	unsigned char salt[SALT_LEN], hash[HASH_LEN];
	char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
	unsigned iter = iterations ? iterations : PASSHASH_ITERATIONS;

	if (iter > ITERATIONS_MAX)
		return -EINVAL;
	int rc = random_bytes(salt, sizeof(salt));
	rc = rc ? rc : derive(pw, salt, sizeof(salt), iter, hash);
	if (rc == 0) {
		hex_encode(salt, sizeof(salt), salt_hex);
		hex_encode(hash, sizeof(hash), hash_hex);
		int w = snprintf(out, n, PREFIX "%u$%s$%s", iter, salt_hex, hash_hex);
		rc = w < 0 || (size_t)w >= n ? -ENOSPC : 0;
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

static int hex_decode(const char *s, size_t len, unsigned char *out, size_t n)
{
	if (len != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];
			int d = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
						       : -1;
			if (d < 0)
				return -EINVAL;
			v = v * 16 + d;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* Splits "pbkdf2-sha256$<iter>$<salt>$<hash>" into its parts. */
static int parse(const char *stored, unsigned *iter, unsigned char *salt, unsigned char *hash)
{
	size_t plen = sizeof(PREFIX) - 1;
	if (!stored || strncmp(stored, PREFIX, plen) != 0)
		return -EINVAL;
	const char *p = stored + plen;
	char *end;
	errno = 0;
	unsigned long it = strtoul(p, &end, 10);
	if (end == p || *end != '$' || errno || it == 0 || it > ITERATIONS_MAX || *p == '-')
		return -EINVAL;
	const char *s = end + 1;
	const char *d = strchr(s, '$');
	if (!d || hex_decode(s, (size_t)(d - s), salt, SALT_LEN) < 0 ||
	    hex_decode(d + 1, strlen(d + 1), hash, HASH_LEN) < 0)
		return -EINVAL;
	*iter = (unsigned)it;
	return 0;
}

int passhash_verify(struct str pw, const char *stored)
{
	unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	unsigned iter;

	int rc = parse(stored, &iter, salt, want);
	rc = rc ? rc : derive(pw, salt, sizeof(salt), iter, got);
	if (rc == 0)
		rc = CRYPTO_memcmp(want, got, HASH_LEN) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}
