/*
 * apikeys.c — /api/v1/api-keys: credentials for the API.
 *
 * A key's secret is generated here, returned once in the create response as
 * "secret", and stored only as its SHA-256 with a visible prefix.  Admins
 * create admin keys or keys for a customer; a customer creates keys for
 * itself, never with more scopes than its own credential has.  DELETE
 * revokes: the row stays for the audit trail, marked revoked_at, and the
 * gateway's key cache forgets it within [auth] key_cache_ttl.
 */
#include <string.h>

#include "api/api_private.h"

static const struct api_field key_fields[] = {
	{ "name", NULL, API_F_STR, 0, 0, 200, NULL, NULL },
	{ "prefix", NULL, API_F_STR, API_F_READONLY, 0, 0, NULL, NULL },
	{ "role", NULL, API_F_ENUM, API_F_IMMUTABLE, 0, 0, "admin|customer", NULL },
	{ "scopes", NULL, API_F_STR, API_F_IMMUTABLE, 1, 32, NULL, NULL },
	{ "rate_per_sec", NULL, API_F_INT, API_F_NULLABLE, 1, 1000000, NULL, NULL },
	{ "burst", NULL, API_F_INT, API_F_NULLABLE, 1, 1000000, NULL, NULL },
	{ "revoked_at", NULL, API_F_INT, API_F_READONLY, 0, 0, NULL, NULL },
	{ "last_used_at", NULL, API_F_INT, API_F_READONLY, 0, 0, NULL, NULL },
};

static void handle_create(struct http_req *req, void *arg);
static void handle_revoke(struct http_req *req, void *arg);
static int key_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			struct api_verr *e);

const struct api_resource api_keys = {
	.name = "api_key",
	.path = "/api/v1/api-keys",
	.table = "api_keys",
	.id_prefix = "key",
	.scope = API_SCOPE_CUSTOMER,
	.fields = key_fields,
	.nfields = sizeof(key_fields) / sizeof(key_fields[0]),
	.validate = key_validate,
	.create = handle_create,
	.destroy = handle_revoke,
};

/* A key's own rate limit is the platform's to grant: a customer setting it
 * on its keys would lift itself over its role's limit. */
static int rate_fields_check(struct api_ctx *ctx, const json_t *body, struct api_verr *e)
{
	static const char *const fields[] = { "rate_per_sec", "burst" };
	if (api_is_admin(ctx))
		return 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (json_object_get(body, fields[i]))
			return api_verr_set(e, 403, "forbidden", i == 0 ? "/rate_per_sec" : "/burst",
					    "only administrators set a key's rate limit");
	return 0;
}

/* PATCH through the generic engine (create has its own handler). */
static int key_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			struct api_verr *e)
{
	(void)id;
	(void)obj;
	(void)creating;
	return rate_fields_check(ctx, ctx->body, e);
}

/* "read", "write" or "read,write" into scope bits; 0 when malformed. */
static unsigned scopes_parse(const char *s)
{
	if (strcmp(s, "read") == 0)
		return AUTH_SCOPE_READ;
	if (strcmp(s, "write") == 0)
		return AUTH_SCOPE_WRITE;
	if (strcmp(s, "read,write") == 0 || strcmp(s, "write,read") == 0)
		return AUTH_SCOPE_READ | AUTH_SCOPE_WRITE;
	return 0;
}

/* Reads the body into spec; the strings stay owned by body. */
static int key_spec_from_body(struct api_ctx *ctx, json_t *body, struct auth_key_spec *spec,
			      struct api_verr *e)
{
	const char *role = json_string_value(json_object_get(body, "role"));
	const char *scopes = json_string_value(json_object_get(body, "scopes"));
	const char *cust = json_string_value(json_object_get(body, "customer_id"));

	spec->name = json_string_value(json_object_get(body, "name"));
	spec->rate_per_sec = json_integer_value(json_object_get(body, "rate_per_sec"));
	spec->burst = json_integer_value(json_object_get(body, "burst"));
	spec->scopes = scopes ? scopes_parse(scopes) : AUTH_SCOPE_READ | AUTH_SCOPE_WRITE;
	if (!spec->scopes)
		return api_verr_set(e, 422, "invalid_value", "/scopes",
				    "'scopes' is \"read\", \"write\" or \"read,write\"");
	if (spec->scopes & ~ctx->who->scopes)
		return api_verr_set(e, 422, "invalid_value", "/scopes",
				    "a key cannot have scopes its creator lacks");
	spec->role = role && strcmp(role, "admin") == 0 ? AUTH_ROLE_ADMIN : AUTH_ROLE_CUSTOMER;
	if (!api_is_admin(ctx)) {
		if (spec->role == AUTH_ROLE_ADMIN)
			return api_verr_set(e, 403, "forbidden", "/role",
					    "customers cannot create admin keys");
		if (cust && strcmp(cust, ctx->who->customer_id) != 0)
			return api_verr_set(e, 422, "not_found", "/customer_id", "no such customer");
		spec->customer_id = ctx->who->customer_id;
		return 0;
	}
	if (spec->role == AUTH_ROLE_CUSTOMER && !cust)
		return api_verr_set(e, 422, "required", "/customer_id",
				    "'customer_id' is required for a customer key");
	if (spec->role == AUTH_ROLE_CUSTOMER && !api_row_visible(ctx, "customers", NULL, cust))
		return api_verr_set(e, 422, "not_found", "/customer_id", "no customer %s", cust);
	if (spec->role == AUTH_ROLE_ADMIN && cust)
		return api_verr_set(e, 422, "invalid_value", "/customer_id",
				    "an admin key belongs to no customer");
	spec->customer_id = cust;
	return 0;
}

/* Type checks of the members, as the generic engine does them. */
static int key_body_check(struct api_ctx *ctx, json_t *body, struct api_verr *e)
{
	const char *name;
	json_t *v;
	json_object_foreach(body, name, v) {
		if (strcmp(name, "customer_id") == 0)
			continue;
		const struct api_field *f = NULL;
		for (size_t i = 0; i < api_keys.nfields; i++)
			if (strcmp(api_keys.fields[i].name, name) == 0)
				f = &api_keys.fields[i];
		char ptr[96];
		snprintf(ptr, sizeof(ptr), "/%s", name);
		if (!f || (f->flags & API_F_READONLY))
			return api_verr_set(e, 422, f ? "read_only" : "unknown_field", ptr,
					    "'%s' cannot be given", name);
		json_t *val = json_incref(v);
		int rc = api_field_validate(ctx, f, &val, e);
		json_decref(val);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void handle_create(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;
	struct api_verr e = { 0 };
	struct auth_key_spec spec = { 0 };
	char id[ID_MAX], secret[AUTH_KEY_SECRET_MAX];

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) || api_idempotency_replay(&ctx))
		return;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	int rc = key_body_check(&ctx, body, &e);
	rc = rc ? rc : rate_fields_check(&ctx, body, &e);
	rc = rc ? rc : key_spec_from_body(&ctx, body, &spec, &e);
	if (rc < 0) {
		api_reply_verr(&ctx, &e);
		goto out;
	}
	/* auth_key_create writes through this thread's connection, which is
	 * ctx.conn: the key, its event and the idempotency record commit as one. */
	rc = store_tx_begin(ctx.conn);
	rc = rc ? rc : auth_key_create(ctx.api->store, &spec, time_wall_ms(), id, secret);
	json_t *row = rc ? NULL : api_resource_load(&ctx, res, id);
	rc = rc ? (store_tx_rollback(ctx.conn), rc)
		: api_resource_finish_write(&ctx, res, id, "created", row);
	if (rc < 0) {
		memset(secret, 0, sizeof(secret));
		json_decref(row);
		api_reply_store_error(&ctx, rc, "api key");
		goto out;
	}
	/* The secret joins the response only after the commit: the event (seen
	 * at /api/v1/events and by webhooks) and the Idempotency-Key record
	 * hold the row without it, so the store never keeps it in clear.  A
	 * replayed create therefore answers without the secret. */
	json_object_set_new(row, "secret", json_string(secret));
	memset(secret, 0, sizeof(secret));
	http_reply_data(req, 201, row);
out:
	json_decref(body);
}

static void handle_revoke(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;
	const char *id = http_req_param(req, "id");

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx))
		return;
	json_t *cur = api_resource_load(&ctx, res, id);
	if (!cur || !json_is_null(json_object_get(cur, "revoked_at"))) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no active api key %s", id);
		json_decref(cur);
		return;
	}
	int rc = store_tx_begin(ctx.conn);
	rc = rc ? rc : auth_key_revoke(ctx.api->store, id, time_wall_ms());
	json_t *row = rc ? NULL : api_resource_load(&ctx, res, id);
	rc = rc ? (store_tx_rollback(ctx.conn), rc)
		: api_resource_finish_write(&ctx, res, id, "revoked", row);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "api key");
	else
		http_reply_json(req, 204, NULL);
	json_decref(row);
	json_decref(cur);
}
