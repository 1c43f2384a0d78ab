/*
 * apikey.c — API keys: minting, hashing, storing, revoking and checking.
 *
 * A key's secret ("wk_" + 32 base32 characters, 160 random bits) is shown
 * once when created; the store keeps only its SHA-256 (hex) and the first
 * AUTH_KEY_PREFIX_LEN characters, so listings can say which key is which.
 * The admin bootstrap token ("warp_…", src/cmd/bootstrap.c) sits in the same
 * table and is checked the same way.  A secret is found by its hash, so the
 * store never sees a secret and the query does not leak timing about it; the
 * row's hash is compared once more in constant time all the same.
 */
#include "auth/auth_private.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#define KEY_SECRET_PREFIX "wk_"
#define KEY_SECRET_BYTES 20 /* 160 bits -> exactly 32 base32 characters */
#define KEY_SECRET_INPUT_MAX 256

static const char key_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int auth_key_secret_new(char *out, size_t n)
{
	unsigned char raw[KEY_SECRET_BYTES];
	size_t plen = sizeof(KEY_SECRET_PREFIX) - 1, o = plen;
	unsigned acc = 0, bits = 0;
	int rc;

	if (n < plen + KEY_SECRET_BYTES * 8 / 5 + 1)
		return -ENOSPC;
	rc = random_bytes(raw, sizeof(raw));
	if (rc < 0)
		return rc;
	memcpy(out, KEY_SECRET_PREFIX, plen);
	for (size_t i = 0; i < sizeof(raw); i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = key_alphabet[(acc >> bits) & 31];
		}
	}
	out[o] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* OpenSSL 3 looks EVP_sha256() up in its provider table on every digest
 * (about as many instructions as hashing a key); fetched once, the lookup
 * is gone.  The fetched EVP_MD lives for the process. */
static EVP_MD *key_sha256_fetched;

static void key_sha256_fetch(void)
{
	key_sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *key_sha256(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, key_sha256_fetch);
	return key_sha256_fetched ? key_sha256_fetched : EVP_sha256();
}

static int key_hash_view(struct str secret, char out[AUTH_KEY_HASH_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!EVP_Digest(secret.p, secret.len, md, &mdlen, key_sha256(), NULL) || mdlen != 32)
		return -EIO;
	hex_encode(md, sizeof(md), out);
	return 0;
}

int auth_key_hash(const char *secret, char out[AUTH_KEY_HASH_LEN])
{
	return key_hash_view(str_from_cstr(secret), out);
}

bool auth_key_hash_equal(const char *a, const char *b)
{
	size_t la = strnlen(a, AUTH_KEY_HASH_LEN), lb = strnlen(b, AUTH_KEY_HASH_LEN);

	return la == AUTH_KEY_HASH_LEN - 1 && la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static const char *key_scopes_text(unsigned scopes)
{
	if ((scopes & AUTH_SCOPE_READ) && (scopes & AUTH_SCOPE_WRITE))
		return "read,write";
	if (scopes & AUTH_SCOPE_WRITE)
		return "write";
	return "read";
}

/* One api_keys row into an identity; the row's hash must match in constant time. */
static int key_row_identity(const struct store_res *r, const char *hash, struct auth_identity *out)
{
	const char *role = store_res_text(r, 0, 2);

	if (!auth_key_hash_equal(store_res_text(r, 0, 7), hash))
		return AUTH_EKEY_UNKNOWN;
	if (!store_res_isnull(r, 0, 6))
		return AUTH_EKEY_REVOKED;
	memset(out, 0, sizeof(*out));
	out->kind = AUTH_KIND_API_KEY;
	if (strcmp(role, "admin") == 0)
		out->role = AUTH_ROLE_ADMIN;
	else if (strcmp(role, "customer") == 0 && !store_res_isnull(r, 0, 1))
		out->role = AUTH_ROLE_CUSTOMER;
	else
		return AUTH_EKEY_UNKNOWN; /* a row we cannot interpret grants nothing */
	out->scopes = scope_list_parse(str_from_cstr(store_res_text(r, 0, 3)), ',');
	out->rate_per_sec = store_res_int(r, 0, 4);
	out->burst = store_res_int(r, 0, 5);
	if (str_copy(out->key_id, sizeof(out->key_id), str_from_cstr(store_res_text(r, 0, 0))) <
		0 ||
	    str_copy(out->subject, sizeof(out->subject), str_from_cstr(out->key_id)) < 0)
		return AUTH_EKEY_UNKNOWN;
	if (out->role == AUTH_ROLE_CUSTOMER && str_copy(out->customer_id, sizeof(out->customer_id),
							str_from_cstr(store_res_text(r, 0, 1))) < 0)
		return AUTH_EKEY_UNKNOWN;
	return 0;
}

static int key_store_lookup(struct store *s, const char *hash, int64_t now_ms,
			    struct auth_identity *out)
{
	struct store_conn *c = store_conn(s);
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(hash)};
	int rc;

	if (!c)
		return AUTH_EUNAVAILABLE;
	rc = store_exec(c,
			"SELECT id, customer_id, role, scopes, rate_per_sec, burst, revoked_at, "
			"secret_hash FROM api_keys WHERE secret_hash = $1",
			p, 1, &r);
	if (rc < 0) {
		log_warn(AUTH_LOG, "API key lookup: %s", store_strerror(rc));
		rc = AUTH_EUNAVAILABLE;
	} else if (store_res_rows(r) != 1) {
		rc = AUTH_EKEY_UNKNOWN;
	} else {
		rc = key_row_identity(r, hash, out);
	}
	store_res_free(r);
	if (rc == 0) {
		/* Once per cache miss, so at most once a TTL per key; best effort. */
		struct store_param u[] = {store_p_int(now_ms), store_p_text(out->key_id)};
		store_exec(c, "UPDATE api_keys SET last_used_at = $1 WHERE id = $2", u, 2, NULL);
	}
	return rc;
}

int apikey_check(struct store *s, struct keycache *c, struct str secret, int64_t now_ms,
		 struct auth_identity *out)
{
	char hash[AUTH_KEY_HASH_LEN];
	int rc;

	if (!s)
		return AUTH_EKEY_UNKNOWN;
	if (secret.len == 0 || secret.len > KEY_SECRET_INPUT_MAX)
		return AUTH_EMALFORMED;
	rc = key_hash_view(secret, hash);
	if (rc < 0)
		return rc;
	if (keycache_get(c, hash, now_ms, &rc, out))
		return rc;
	rc = key_store_lookup(s, hash, now_ms, out);
	if (rc != AUTH_EUNAVAILABLE)
		keycache_put(c, hash, now_ms, rc, rc == 0 ? out : NULL);
	return rc;
}

static int key_spec_check(const struct auth_key_spec *spec)
{
	if (spec->role == AUTH_ROLE_CUSTOMER)
		return spec->customer_id && id_valid(str_from_cstr(spec->customer_id), "cus")
			   ? 0
			   : -EINVAL;
	return spec->role == AUTH_ROLE_ADMIN ? 0 : -EINVAL;
}

int auth_key_create(struct store *s, const struct auth_key_spec *spec, int64_t now_ms, char *id_out,
		    char *secret_out)
{
	char hash[AUTH_KEY_HASH_LEN], prefix[AUTH_KEY_PREFIX_LEN + 1];
	struct store_conn *c = store_conn(s);
	int rc = key_spec_check(spec);

	if (rc == 0 && !c)
		rc = -EIO;
	if (rc == 0)
		rc = id_new("key", id_out, ID_MAX);
	if (rc == 0)
		rc = auth_key_secret_new(secret_out, AUTH_KEY_SECRET_MAX);
	if (rc == 0)
		rc = auth_key_hash(secret_out, hash);
	if (rc < 0)
		return rc;
	str_copy(prefix, sizeof(prefix), (struct str){secret_out, AUTH_KEY_PREFIX_LEN});
	struct store_param p[] = {
	    store_p_text(id_out),
	    store_p_text(prefix),
	    store_p_text(hash),
	    store_p_text(spec->role == AUTH_ROLE_CUSTOMER ? spec->customer_id : NULL),
	    store_p_text(spec->role == AUTH_ROLE_ADMIN ? "admin" : "customer"),
	    store_p_text(key_scopes_text(spec->scopes)),
	    store_p_text(spec->name ? spec->name : ""),
	    spec->rate_per_sec > 0 ? store_p_int(spec->rate_per_sec) : store_p_null(),
	    spec->burst > 0 ? store_p_int(spec->burst) : store_p_null(),
	    store_p_int(now_ms),
	};
	return store_exec(
	    c,
	    "INSERT INTO api_keys (id, prefix, secret_hash, customer_id, role, scopes, "
	    "name, rate_per_sec, burst, created_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	    p, 10, NULL);
}

int auth_key_revoke(struct store *s, const char *id, int64_t now_ms)
{
	struct store_conn *c = store_conn(s);
	struct store_param p[] = {store_p_int(now_ms), store_p_text(id)};
	struct store_res *r = NULL;
	int rc;

	if (!c)
		return -EIO;
	rc = store_exec(c,
			"UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
			p, 2, &r);
	if (rc == 0 && store_res_changes(r) != 1)
		rc = -ENOENT;
	store_res_free(r);
	return rc;
}
