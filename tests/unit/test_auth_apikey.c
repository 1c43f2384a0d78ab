/*
 * test_auth_apikey.c — API keys against a real SQLite store: minting,
 * hashing, lookup, revocation, the bootstrap admin token, and the lookup
 * cache's TTL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "store/store.h"

#define TTL_MS 5000

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
	struct auth *auth;
	char customer[ID_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char url[160], err[256];
	struct auth_opts o;

	snprintf(f->dir, sizeof(f->dir), "/tmp/warp-test-apikey-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/warp.db", f->dir);
	snprintf(url, sizeof(url), "sqlite:%s", f->path);
	f->store = store_open(url, err, sizeof(err));
	if (!f->store || store_migrate(f->store, err, sizeof(err)) < 0) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	auth_opts_init(&o);
	o.store = f->store;
	o.key_cache_ttl_ms = TTL_MS;
	f->auth = auth_new(&o, err, sizeof(err));
	if (!f->auth || id_new("cus", f->customer, sizeof(f->customer)) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char wal[160];

	auth_free(f->auth);
	store_conn_release(f->store);
	store_close(f->store);
	unlink(f->path);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", f->path);
	unlink(wal);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int check(struct fixture *f, const char *secret, int64_t now_ms, struct auth_identity *id)
{
	char header[160];
	struct auth_identity scratch;

	snprintf(header, sizeof(header), "Bearer %s", secret);
	return auth_check_bearer(f->auth, header, now_ms, id ? id : &scratch, NULL);
}

static void create_customer_key(struct fixture *f, unsigned scopes, char *id, char *secret)
{
	struct auth_key_spec spec = {
	    .role = AUTH_ROLE_CUSTOMER,
	    .customer_id = f->customer,
	    .scopes = scopes,
	    .name = "test",
	    .rate_per_sec = 7,
	    .burst = 9,
	};
	assert_int_equal(auth_key_create(f->store, &spec, 1000, id, secret), 0);
}

static struct store_res *key_row(struct fixture *f, const char *id)
{
	struct store_param p[] = {store_p_text(id)};
	struct store_res *r = NULL;

	assert_int_equal(
	    store_exec(store_conn(f->store),
		       "SELECT prefix, secret_hash, last_used_at FROM api_keys WHERE id = $1", p, 1,
		       &r),
	    0);
	assert_int_equal(store_res_rows(r), 1);
	return r;
}

static void test_secret_has_prefix_and_32_base32_chars(void **state)
{
	char a[AUTH_KEY_SECRET_MAX], b[AUTH_KEY_SECRET_MAX];

	assert_int_equal(auth_key_secret_new(a, sizeof(a)), 0);
	assert_int_equal(auth_key_secret_new(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), 3 + 32);
	assert_memory_equal(a, "wk_", 3);
	assert_int_equal(strspn(a + 3, "abcdefghijklmnopqrstuvwxyz234567"), 32);
	assert_string_not_equal(a, b);
	assert_int_equal(auth_key_secret_new(a, 20), -ENOSPC);
}

static void test_hash_is_sha256_hex(void **state)
{
	char h[AUTH_KEY_HASH_LEN];

	assert_int_equal(auth_key_hash("abc", h), 0);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hash_compare_is_exact(void **state)
{
	char h1[AUTH_KEY_HASH_LEN], h2[AUTH_KEY_HASH_LEN];

	auth_key_hash("one", h1);
	auth_key_hash("two", h2);
	assert_true(auth_key_hash_equal(h1, h1));
	assert_false(auth_key_hash_equal(h1, h2));
	assert_false(auth_key_hash_equal(h1, "ba78"));
	assert_false(auth_key_hash_equal("", ""));
}

static void test_created_key_authenticates_as_its_customer(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];
	struct auth_identity who;

	create_customer_key(f, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE, id, secret);
	assert_int_equal(check(f, secret, 2000, &who), 0);
	assert_int_equal(who.kind, AUTH_KIND_API_KEY);
	assert_int_equal(who.role, AUTH_ROLE_CUSTOMER);
	assert_string_equal(who.customer_id, f->customer);
	assert_string_equal(who.key_id, id);
	assert_int_equal(who.scopes, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	assert_int_equal(who.rate_per_sec, 7);
	assert_int_equal(who.burst, 9);
}

static void test_store_keeps_hash_and_prefix_not_secret(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX], hash[AUTH_KEY_HASH_LEN];

	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	struct store_res *r = key_row(f, id);
	auth_key_hash(secret, hash);
	assert_string_equal(store_res_text(r, 0, 1), hash);
	assert_int_equal(strlen(store_res_text(r, 0, 0)), AUTH_KEY_PREFIX_LEN);
	assert_memory_equal(store_res_text(r, 0, 0), secret, AUTH_KEY_PREFIX_LEN);
	store_res_free(r);
}

static void test_read_only_key_has_read_scope_only(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];
	struct auth_identity who;

	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	assert_int_equal(check(f, secret, 2000, &who), 0);
	assert_int_equal(who.scopes, AUTH_SCOPE_READ);
}

static void test_unknown_key_rejected(void **state)
{
	struct fixture *f = *state;
	char secret[AUTH_KEY_SECRET_MAX];
	const char *reason = NULL;
	struct auth_identity who;

	auth_key_secret_new(secret, sizeof(secret));
	assert_int_equal(check(f, secret, 2000, NULL), AUTH_EKEY_UNKNOWN);
	assert_int_equal(auth_check_bearer(f->auth, "bearer   not-a-key", 2000, &who, &reason),
			 AUTH_EKEY_UNKNOWN);
	assert_string_equal(reason, "unknown API key");
}

static void test_revoked_key_refused_after_cache_ttl(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];

	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	assert_int_equal(check(f, secret, 10000, NULL), 0);
	assert_int_equal(auth_key_revoke(f->store, id, 10500), 0);
	/* Cached: a revocation takes effect within the TTL, not at once. */
	assert_int_equal(check(f, secret, 10000 + TTL_MS - 1, NULL), 0);
	assert_int_equal(check(f, secret, 10000 + TTL_MS, NULL), AUTH_EKEY_REVOKED);
	assert_int_equal(auth_key_revoke(f->store, id, 20000), -ENOENT);
}

static void test_revoked_key_refused_when_not_cached(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];

	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	assert_int_equal(auth_key_revoke(f->store, id, 1500), 0);
	assert_int_equal(check(f, secret, 2000, NULL), AUTH_EKEY_REVOKED);
}

static void test_cache_answers_without_store_within_ttl(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];
	struct store_param p[] = {store_p_text(NULL)};

	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	assert_int_equal(check(f, secret, 50000, NULL), 0);
	p[0] = store_p_text(id);
	assert_int_equal(
	    store_exec(store_conn(f->store), "DELETE FROM api_keys WHERE id = $1", p, 1, NULL), 0);
	assert_int_equal(check(f, secret, 50000 + TTL_MS - 1, NULL), 0);
	assert_int_equal(check(f, secret, 50000 + TTL_MS, NULL), AUTH_EKEY_UNKNOWN);
}

static void test_negative_answer_cached_within_ttl(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];

	/* An unknown secret stays unknown for the TTL even if it appears. */
	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	assert_int_equal(auth_key_revoke(f->store, id, 1100), 0);
	assert_int_equal(check(f, secret, 2000, NULL), AUTH_EKEY_REVOKED);
	struct store_param p[] = {store_p_text(id)};
	assert_int_equal(store_exec(store_conn(f->store),
				    "UPDATE api_keys SET revoked_at = NULL WHERE id = $1", p, 1,
				    NULL),
			 0);
	assert_int_equal(check(f, secret, 2000 + TTL_MS - 1, NULL), AUTH_EKEY_REVOKED);
	assert_int_equal(check(f, secret, 2000 + TTL_MS, NULL), 0);
}

static void test_last_used_at_recorded(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];

	create_customer_key(f, AUTH_SCOPE_READ, id, secret);
	assert_int_equal(check(f, secret, 123456, NULL), 0);
	struct store_res *r = key_row(f, id);
	assert_int_equal(store_res_int(r, 0, 2), 123456);
	store_res_free(r);
}

/* The row src/cmd/bootstrap.c writes for the first admin token. */
static void test_bootstrap_admin_token_authenticates_as_admin(void **state)
{
	struct fixture *f = *state;
	char token[ID_MAX], kid[ID_MAX], hash[AUTH_KEY_HASH_LEN], prefix[11];
	struct auth_identity who;

	assert_int_equal(id_new("warp", token, sizeof(token)), 0);
	assert_int_equal(id_new("key", kid, sizeof(kid)), 0);
	auth_key_hash(token, hash);
	str_copy(prefix, sizeof(prefix), (struct str){token, 10});
	struct store_param p[] = {store_p_text(kid), store_p_text(prefix), store_p_text(hash),
				  store_p_int(1)};
	assert_int_equal(
	    store_exec(store_conn(f->store),
		       "INSERT INTO api_keys (id, prefix, secret_hash, role, scopes, name, "
		       "created_at) VALUES ($1, $2, $3, 'admin', 'read,write', 'bootstrap', $4)",
		       p, 4, NULL),
	    0);
	assert_int_equal(check(f, token, 2000, &who), 0);
	assert_int_equal(who.role, AUTH_ROLE_ADMIN);
	assert_string_equal(who.customer_id, "");
	assert_string_equal(who.key_id, kid);
	assert_int_equal(who.rate_per_sec, 0);
}

static void test_customer_key_needs_customer_id(void **state)
{
	struct fixture *f = *state;
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];
	struct auth_key_spec spec = {.role = AUTH_ROLE_CUSTOMER, .scopes = AUTH_SCOPE_READ};

	assert_int_equal(auth_key_create(f->store, &spec, 1, id, secret), -EINVAL);
	spec.customer_id = "not-an-id";
	assert_int_equal(auth_key_create(f->store, &spec, 1, id, secret), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_has_prefix_and_32_base32_chars),
	    cmocka_unit_test(test_hash_is_sha256_hex),
	    cmocka_unit_test(test_hash_compare_is_exact),
	    cmocka_unit_test_setup_teardown(test_created_key_authenticates_as_its_customer, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_store_keeps_hash_and_prefix_not_secret, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_read_only_key_has_read_scope_only, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_key_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revoked_key_refused_after_cache_ttl, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_revoked_key_refused_when_not_cached, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cache_answers_without_store_within_ttl, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_negative_answer_cached_within_ttl, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_last_used_at_recorded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bootstrap_admin_token_authenticates_as_admin,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_customer_key_needs_customer_id, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
