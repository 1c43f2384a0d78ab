/*
 * bootstrap.c — admin tokens made outside the API.
 *
 * A new installation has no credential to call the API with, so the first
 * `warp run` on an empty store makes one.  Only its SHA-256 is kept: the token
 * is printed once and cannot be recovered, as with any API key.  Operators who
 * deploy with secrets (Kubernetes) set WARP_ADMIN_TOKEN instead.  On a store
 * that has lost its admin tokens, `warp admin-token create` makes another and
 * `warp admin-token revoke ID` retires one (the row stays, marked revoked_at,
 * as the API's revocation does).
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

static int admin_key_insert(struct store_conn *c, const char *token, const char *name,
			    char id[ID_MAX])
{
	char hash[AUTH_KEY_HASH_LEN], prefix[TOKEN_VISIBLE + 1];
	int rc = id_new("key", id, ID_MAX);
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

/* A new random token, stored as an admin key named name; printed once,
 * with its key id when with_id (the first start's line stays as it was:
 * deployments read it). */
static int admin_token_new(struct store_conn *c, const char *name, bool with_id, FILE *out)
{
	char token[ID_MAX], id[ID_MAX];
	int rc = id_new(TOKEN_PREFIX, token, sizeof(token));

	if (rc == 0)
		rc = admin_key_insert(c, token, name, id);
	if (rc == 0) {
		fprintf(out, "admin token%s%s (shown once; keep it now): %s\n", with_id ? " " : "",
			with_id ? id : "", token);
		fflush(out);
	}
	return rc;
}

int bootstrap_admin_token(struct store *s, const char *env_token, FILE *out, char *err,
			  size_t errlen)
{
	struct store_conn *c = store_conn(s);
	char id[ID_MAX];
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
		rc = admin_key_insert(c, env_token, "WARP_ADMIN_TOKEN", id);
		goto done;
	}
	rc = admin_key_count(c, &count);
	if (rc < 0 || count > 0)
		goto done;
	rc = admin_token_new(c, "bootstrap", false, out);
done:
	if (rc < 0)
		snprintf(err, errlen, "admin token: %s: %s", store_strerror(rc), store_conn_errmsg(c));
	return rc;
}

int bootstrap_admin_token_create(struct store *s, const char *name, FILE *out, char *err,
				 size_t errlen)
{
	struct store_conn *c = store_conn(s);
	int rc = c ? admin_token_new(c, name && *name ? name : "admin-token", true, out) : -EIO;

	if (rc < 0)
		snprintf(err, errlen, "admin token: %s: %s", store_strerror(rc),
			 c ? store_conn_errmsg(c) : "store unreachable");
	return rc;
}

int bootstrap_admin_token_revoke(struct store *s, const char *id, char *err, size_t errlen)
{
	struct store_conn *c = store_conn(s);
	struct store_param p[] = {store_p_int(time_wall_ms()), store_p_text(id)};
	struct store_res *r = NULL;
	int rc = -EIO;

	if (c)
		rc = store_exec(c,
				"UPDATE api_keys SET revoked_at = $1 "
				"WHERE id = $2 AND role = 'admin' AND revoked_at IS NULL",
				p, 2, &r);
	if (rc == 0 && store_res_changes(r) != 1)
		rc = -ENOENT;
	store_res_free(r);
	if (rc == -ENOENT)
		snprintf(err, errlen, "no admin token %s that is not revoked", id);
	else if (rc < 0)
		snprintf(err, errlen, "admin token: %s: %s", store_strerror(rc),
			 c ? store_conn_errmsg(c) : "store unreachable");
	return rc;
}
