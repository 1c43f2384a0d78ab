/*
 * bootstrap.c — the first admin token.
 *
 * A new installation has no credential to call the API with, so the first
 * `warp run` on an empty store makes one.  Only its SHA-256 is kept: the token
 * is printed once and cannot be recovered, as with any API key.  Operators who
 * deploy with secrets (Kubernetes) set WARP_ADMIN_TOKEN instead.
 */
#include "cmd/bootstrap.h"

#include "auth/auth.h"

#include <errno.h>
#include <string.h>

#define TOKEN_PREFIX "warp"
#define TOKEN_VISIBLE 10 /* "warp_" and 5 characters, shown in key listings */
#define TOKEN_MIN_LEN 16

static int admin_key_count(struct store_conn *c, int64_t *count)
{
	struct store_res *res = NULL;
	int rc = store_exec(c, "SELECT count(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL",
			    NULL, 0, &res);
	if (rc == 0)
		*count = store_res_int(res, 0, 0);
	store_res_free(res);
	return rc;
}

static int admin_key_insert(struct store_conn *c, const char *token, const char *name)
{
	char id[ID_MAX], hash[AUTH_KEY_HASH_LEN], prefix[TOKEN_VISIBLE + 1];
	int rc = id_new("key", id, sizeof(id));
	if (rc == 0)
		rc = auth_key_hash(token, hash);
	if (rc < 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "%s", token);
	struct store_param p[] = {
		store_p_text(id), store_p_text(prefix), store_p_text(hash),
		store_p_text(name), store_p_int(time_wall_ms()),
	};
	return store_exec(c,
			  "INSERT INTO api_keys (id, prefix, secret_hash, role, scopes, name, created_at) "
			  "VALUES ($1, $2, $3, 'admin', 'read,write', $4, $5) "
			  "ON CONFLICT (secret_hash) DO NOTHING",
			  p, 5, NULL);
}

int bootstrap_admin_token(struct store *s, const char *env_token, FILE *out, char *err,
			  size_t errlen)
{
	struct store_conn *c = store_conn(s);
	char token[ID_MAX];
	int64_t count = 0;
	int rc;

	if (!c) {
		snprintf(err, errlen, "store unreachable");
		return -EIO;
	}
	if (env_token && *env_token) {
		if (strlen(env_token) < TOKEN_MIN_LEN) {
			snprintf(err, errlen, "WARP_ADMIN_TOKEN must be at least %d characters", TOKEN_MIN_LEN);
			return -EINVAL;
		}
		rc = admin_key_insert(c, env_token, "WARP_ADMIN_TOKEN");
		goto done;
	}
	rc = admin_key_count(c, &count);
	if (rc < 0 || count > 0)
		goto done;
	rc = id_new(TOKEN_PREFIX, token, sizeof(token));
	if (rc == 0)
		rc = admin_key_insert(c, token, "bootstrap");
	if (rc == 0) {
		fprintf(out, "admin token (shown once; keep it now): %s\n", token);
		fflush(out);
	}
done:
	if (rc < 0)
		snprintf(err, errlen, "admin token: %s: %s", store_strerror(rc), store_conn_errmsg(c));
	return rc;
}
