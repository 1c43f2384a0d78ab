/*
 * resource.c — the generic engine behind every table-backed resource.
 *
 * From a struct api_resource it serves
 *   GET    <path>          list, cursor-paged, scoped to the caller
 *   POST   <path>          create (Idempotency-Key honoured)
 *   GET    <path>/{id}     one row
 *   PATCH  <path>/{id}     change the given fields
 *   DELETE <path>/{id}     remove
 * Every write runs in one transaction with its outbox event and the
 * config-version bump, so a change is either wholly visible to the SIP and
 * SMSC snapshots and to webhook consumers, or not at all.
 *
 * Customer callers see only their own rows; another customer's row answers
 * 404 exactly as a missing one does, so ids cannot be probed.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"

/* Whether the caller may change rows of res at all. */
static bool may_write(struct api_ctx *ctx, const struct api_resource *res)
{
	if (!api_require_write(ctx))
		return false;
	if (res->scope != API_SCOPE_CUSTOMER)
		return api_require_admin(ctx);
	return true;
}

static bool parent_visible(struct api_ctx *ctx, const struct api_resource *res)
{
	if (!res->parent)
		return true;
	const char *pid = http_req_param(ctx->req, res->parent_param);
	if (pid && api_row_visible(ctx, res->parent->table,
				   api_res_has_customer(res->parent) ? "customer_id" : NULL, pid))
		return true;
	http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no %s %s",
			 res->parent->name, pid ? pid : "");
	return false;
}

/* ------------------------------------------------------------ handlers */

static void handle_list(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;
	struct api_page page;
	struct store_res *r = NULL;
	struct api_sql q;

	if (api_ctx_init(&ctx, req) < 0)
		return;
	if (res->scope == API_SCOPE_ADMIN && !api_require_admin(&ctx))
		return;
	if (!parent_visible(&ctx, res) || api_page_parse(&ctx, &page) < 0)
		return;
	api_sql_init(&q);
	int rc = api_rows_select(&q.text, res);
	rc = rc ? rc : api_rows_scope(&ctx, res, &q);
	const char *cust = http_req_query(req, "customer_id");
	if (cust && api_res_has_customer(res) && api_is_admin(&ctx)) {
		rc = rc ? rc : buf_append_cstr(&q.text, " AND customer_id = ");
		rc = rc ? rc : api_sql_param(&q, store_p_text(cust), NULL);
	}
	if (page.after) {
		rc = rc ? rc : buf_append_cstr(&q.text, " AND id > ");
		rc = rc ? rc : api_sql_param(&q, store_p_text(page.after), NULL);
	}
	rc = rc ? rc : buf_append_cstr(&q.text, " ORDER BY id LIMIT ");
	rc = rc ? rc : api_sql_param(&q, store_p_int(page.limit + 1), NULL);
	rc = rc ? rc : store_exec(ctx.conn, q.text.p, q.params, q.n, &r);
	if (rc < 0) {
		api_reply_store_error(&ctx, rc, res->name);
	} else {
		json_t *items = json_array();
		for (size_t i = 0; i < store_res_rows(r); i++)
			json_array_append_new(items, api_row_json(res, r, i));
		api_page_reply(&ctx, &page, items, "id");
	}
	store_res_free(r);
	api_sql_fini(&q);
}

static void handle_get(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;

	if (api_ctx_init(&ctx, req) < 0)
		return;
	if (res->scope == API_SCOPE_ADMIN && !api_require_admin(&ctx))
		return;
	if (!parent_visible(&ctx, res))
		return;
	struct buf text;
	buf_init(&text);
	if (api_resource_load_text(&ctx, res, http_req_param(req, "id"), &text) <= 0)
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no %s %s", res->name,
				 http_req_param(req, "id"));
	else
		http_reply_raw(req, 200, "application/json; charset=utf-8", text.p, text.len);
	buf_fini(&text);
}

static const struct api_field *field_find(const struct api_resource *res, const char *name)
{
	for (size_t i = 0; i < res->nfields; i++)
		if (strcmp(res->fields[i].name, name) == 0)
			return &res->fields[i];
	return NULL;
}

static int field_error(struct api_verr *e, const char *code, const char *name, const char *what)
{
	char pointer[96];
	snprintf(pointer, sizeof(pointer), "/%s", name);
	return api_verr_set(e, 422, code, pointer, "'%s' %s", name, what);
}

int api_body_validate(struct api_ctx *ctx, const struct api_resource *res, json_t *body,
		      bool creating, struct api_verr *e)
{
	const char *name;
	json_t *val;
	void *tmp;

	json_object_foreach_safe(body, tmp, name, val) {
		if (api_res_has_customer(res) && strcmp(name, "customer_id") == 0) {
			if (!creating)
				return api_verr_set(e, 422, "immutable", "/customer_id",
						    "customer_id cannot be changed");
			continue;
		}
		const struct api_field *f = field_find(res, name);
		if (!f)
			return field_error(e, "unknown_field", name, "unknown field");
		if (f->flags & API_F_READONLY)
			return field_error(e, "read_only", name, "is set by the server");
		if (!creating && (f->flags & API_F_IMMUTABLE))
			return field_error(e, "immutable", name, "cannot be changed");
		json_incref(val);
		int rc = api_field_validate(ctx, f, &val, e);
		if (rc == 0)
			json_object_set(body, name, val);
		json_decref(val);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; creating && i < res->nfields; i++) {
		const struct api_field *f = &res->fields[i];
		if ((f->flags & API_F_REQUIRED) && !json_object_get(body, f->name))
			return field_error(e, "required", f->name, "is required");
	}
	return 0;
}

int api_body_customer(struct api_ctx *ctx, const json_t *body, const char **out,
		      struct api_verr *e)
{
	const char *given = json_string_value(json_object_get(body, "customer_id"));
	if (json_object_get(body, "customer_id") && !given)
		return api_verr_set(e, 422, "invalid_type", "/customer_id", "must be a string");
	if (!api_is_admin(ctx)) {
		if (given && strcmp(given, ctx->who->customer_id) != 0)
			return api_verr_set(e, 422, "not_found", "/customer_id", "no such customer");
		*out = ctx->who->customer_id;
		return 0;
	}
	if (!given)
		return api_verr_set(e, 422, "required", "/customer_id", "'customer_id' is required");
	if (!api_row_visible(ctx, "customers", NULL, given))
		return api_verr_set(e, 422, "not_found", "/customer_id", "no customer %s", given);
	*out = given;
	return 0;
}

/* Binds the parameter for one JSON value of field f. */
static int value_bind(struct api_sql *q, const struct api_field *f, const json_t *v)
{
	if (!v || json_is_null(v))
		return api_sql_bind(q, store_p_null(), NULL);
	switch (f->type) {
	case API_F_INT:
		return api_sql_bind(q, store_p_int(json_integer_value(v)), NULL);
	case API_F_BOOL:
		return api_sql_bind(q, store_p_int(json_is_true(v)), NULL);
	case API_F_JSON: {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		return text ? api_sql_bind(q, store_p_text(text), text) : -ENOMEM;
	}
	default:
		return api_sql_bind(q, store_p_text(json_string_value(v)), NULL);
	}
}

/* One more "column" in the INSERT's list and its "$N" in vals. */
static int insert_column(struct api_sql *q, struct buf *vals, const char *column)
{
	int rc = buf_printf(&q->text, ", %s", column);
	return rc ? rc : buf_printf(vals, ", $%zu", q->n);
}

static const char *event_customer(const struct api_resource *res, const char *id, const json_t *o)
{
	if (res->scope == API_SCOPE_SELF)
		return id;
	if (api_res_has_customer(res))
		return json_string_value(json_object_get(o, "customer_id"));
	return NULL;
}

/* Emits "<name>.<verb>" with the row as data, records a create's response
 * for its Idempotency-Key, and commits; or rolls back. */
int api_resource_finish_write(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			const char *verb, json_t *row)
{
	char type[64];
	snprintf(type, sizeof(type), "%s.%s", res->name, verb);
	int rc = row ? 0 : -ENOENT;
	rc = rc ? rc : api_event_emit(ctx, event_customer(res, id, row), type, id, row);
	if (rc == 0 && strcmp(verb, "created") == 0) {
		json_t *body = json_pack("{s:O}", "data", row);
		rc = api_idempotency_record(ctx, 201, body);
		json_decref(body);
	}
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0)
		store_tx_rollback(ctx->conn);
	return rc;
}

static int insert_row(struct api_ctx *ctx, const struct api_resource *res, const char *id,
		      const char *customer, json_t *body)
{
	struct api_sql q;
	struct buf vals;
	int64_t now = time_wall_ms();
	const char *parent = res->parent_param ? http_req_param(ctx->req, res->parent_param) : NULL;

	api_sql_init(&q);
	buf_init(&vals);
	int rc = buf_printf(&q.text, "INSERT INTO %s (id", res->table);
	rc = rc ? rc : api_sql_bind(&q, store_p_text(id), NULL);
	rc = rc ? rc : buf_append_cstr(&vals, "$1");
	if (customer && rc == 0) {
		rc = api_sql_bind(&q, store_p_text(customer), NULL);
		rc = rc ? rc : insert_column(&q, &vals, "customer_id");
	}
	if (parent && rc == 0) {
		rc = api_sql_bind(&q, store_p_text(parent), NULL);
		rc = rc ? rc : insert_column(&q, &vals, res->parent_column);
	}
	for (size_t i = 0; i < res->nfields && rc == 0; i++) {
		const struct api_field *f = &res->fields[i];
		json_t *v = json_object_get(body, f->name);
		if (!v)
			continue; /* the column's default applies */
		rc = value_bind(&q, f, v);
		rc = rc ? rc : insert_column(&q, &vals, api_field_column(f));
	}
	rc = rc ? rc : api_sql_bind(&q, store_p_int(now), NULL);
	rc = rc ? rc : insert_column(&q, &vals, "created_at");
	rc = rc ? rc : api_sql_bind(&q, store_p_int(now), NULL);
	rc = rc ? rc : insert_column(&q, &vals, "updated_at");
	rc = rc ? rc : buf_printf(&q.text, ") VALUES (%s)", vals.p);
	rc = rc ? rc : store_exec(ctx->conn, q.text.p, q.params, q.n, NULL);
	buf_fini(&vals);
	api_sql_fini(&q);
	return rc;
}

static void handle_create(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;
	struct api_verr e = { 0 };
	const char *customer = NULL;
	char id[ID_MAX];

	if (api_ctx_init(&ctx, req) < 0 || !may_write(&ctx, res) || !parent_visible(&ctx, res))
		return;
	if (api_idempotency_replay(&ctx))
		return;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	ctx.body = body;
	int rc = api_body_validate(&ctx, res, body, true, &e);
	if (rc == 0 && api_res_has_customer(res))
		rc = api_body_customer(&ctx, body, &customer, &e);
	if (rc == 0 && res->validate)
		rc = res->validate(&ctx, NULL, body, true, &e);
	if (rc < 0) {
		api_reply_verr(&ctx, &e);
		goto out;
	}
	id_new(res->id_prefix, id, sizeof(id));
	rc = store_tx_begin(ctx.conn);
	rc = rc ? rc : insert_row(&ctx, res, id, customer, body);
	json_t *row = rc ? NULL : api_resource_load(&ctx, res, id);
	rc = rc ? (store_tx_rollback(ctx.conn), rc) : api_resource_finish_write(&ctx, res, id, "created", row);
	if (rc < 0) {
		json_decref(row);
		api_reply_store_error(&ctx, rc, res->name);
		goto out;
	}
	http_reply_data(req, 201, row);
out:
	json_decref(body);
}

static int update_row(struct api_ctx *ctx, const struct api_resource *res, const char *id,
		      json_t *body)
{
	struct api_sql q;
	const char *name;
	json_t *v;

	api_sql_init(&q);
	int rc = buf_printf(&q.text, "UPDATE %s SET updated_at = ", res->table);
	rc = rc ? rc : api_sql_param(&q, store_p_int(time_wall_ms()), NULL);
	json_object_foreach(body, name, v) {
		const struct api_field *f = field_find(res, name);
		if (!f || rc)
			continue;
		rc = value_bind(&q, f, v);
		rc = rc ? rc : buf_printf(&q.text, ", %s = $%zu", api_field_column(f), q.n);
	}
	rc = rc ? rc : buf_append_cstr(&q.text, " WHERE id = ");
	rc = rc ? rc : api_sql_param(&q, store_p_text(id), NULL);
	rc = rc ? rc : store_exec(ctx->conn, q.text.p, q.params, q.n, NULL);
	api_sql_fini(&q);
	return rc;
}

/* The stored row with the body's members laid over it, for validate(). */
static json_t *merged(const json_t *current, const json_t *body)
{
	json_t *m = json_deep_copy(current);
	json_object_update(m, (json_t *)body);
	return m;
}

/* validate() may rewrite what it checks (a password into its HA1): take
 * those rewrites back into the body that update_row writes. */
static void adopt_rewrites(json_t *body, json_t *m)
{
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(body, tmp, k, v) {
		json_t *nv = json_object_get(m, k);
		if (nv && nv != v)
			json_object_set(body, k, nv);
	}
}

/* True when a member of body would change the stored row cur.  A
 * write-only member (a secret, a password) is not in cur, so it cannot be
 * compared and always counts as a change. */
static bool body_changes(const json_t *cur, json_t *body)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		if (!json_equal(json_object_get(cur, k), v))
			return true;
	}
	return false;
}

/* The update, its event and the version bump in one transaction; the row
 * as it now is, or NULL with *rc set. */
static json_t *patch_write(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			   json_t *body, int *rc)
{
	*rc = store_tx_begin(ctx->conn);
	*rc = *rc ? *rc : update_row(ctx, res, id, body);
	json_t *row = *rc ? NULL : api_resource_load(ctx, res, id);
	*rc = *rc ? (store_tx_rollback(ctx->conn), *rc)
		  : api_resource_finish_write(ctx, res, id, "updated", row);
	if (*rc < 0) {
		json_decref(row);
		row = NULL;
	}
	return row;
}

/* A PATCH that changes nothing (an empty object, or only values equal to
 * the stored ones) answers the row and writes nothing: no updated_at, no
 * event, no config-version bump, so no snapshot rebuild or webhook. */
static void handle_patch(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;
	struct api_verr e = { 0 };
	const char *id = http_req_param(req, "id");
	json_t *body = NULL, *cur = NULL, *m = NULL;

	if (api_ctx_init(&ctx, req) < 0 || !may_write(&ctx, res) || !parent_visible(&ctx, res))
		return;
	cur = api_resource_load(&ctx, res, id);
	if (!cur) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no %s %s", res->name, id);
		return;
	}
	body = http_req_json(req);
	if (!body)
		goto out;
	ctx.body = body;
	int rc = api_body_validate(&ctx, res, body, false, &e);
	m = rc ? NULL : merged(cur, body);
	if (rc == 0 && res->validate)
		rc = res->validate(&ctx, id, m, false, &e);
	if (rc < 0) {
		api_reply_verr(&ctx, &e);
		goto out;
	}
	adopt_rewrites(body, m);
	if (!body_changes(cur, body)) {
		http_reply_data(req, 200, cur);
		cur = NULL;
		goto out;
	}
	json_t *row = patch_write(&ctx, res, id, body, &rc);
	if (row)
		http_reply_data(req, 200, row);
	else
		api_reply_store_error(&ctx, rc, res->name);
out:
	json_decref(m);
	json_decref(body);
	json_decref(cur);
}

static void handle_delete(struct http_req *req, void *arg)
{
	const struct api_resource *res = arg;
	struct api_ctx ctx;
	struct api_verr e = { 0 };
	const char *id = http_req_param(req, "id");
	char sql[128];

	if (api_ctx_init(&ctx, req) < 0 || !may_write(&ctx, res) || !parent_visible(&ctx, res))
		return;
	json_t *cur = api_resource_load(&ctx, res, id);
	if (!cur) {
		http_reply_error(req, 404, "not_found", "Not found", NULL, "no %s %s", res->name, id);
		return;
	}
	if (res->can_delete && res->can_delete(&ctx, id, &e) < 0) {
		api_reply_verr(&ctx, &e);
		json_decref(cur);
		return;
	}
	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = $1", res->table);
	struct store_param p = store_p_text(id);
	int rc = store_tx_begin(ctx.conn);
	rc = rc || !res->before_delete ? rc : res->before_delete(&ctx, id);
	rc = rc ? rc : store_exec(ctx.conn, sql, &p, 1, NULL);
	rc = rc ? (store_tx_rollback(ctx.conn), rc) : api_resource_finish_write(&ctx, res, id, "deleted", cur);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, res->name);
	else
		http_reply_json(req, 204, NULL);
	json_decref(cur);
}

int api_resource_routes(struct api *a, struct http_router *r, const struct api_resource *res)
{
	char item[160];
	(void)a;
	snprintf(item, sizeof(item), "%s/{id}", res->path);
	http_handler_fn create = res->create ? res->create : handle_create;
	http_handler_fn destroy = res->destroy ? res->destroy : handle_delete;
	int rc = http_router_add(r, HTTP_GET, res->path, handle_list, (void *)res);
	rc = rc ? rc : http_router_add(r, HTTP_POST, res->path, create, (void *)res);
	rc = rc ? rc : http_router_add(r, HTTP_GET, item, handle_get, (void *)res);
	rc = rc ? rc : http_router_add(r, HTTP_PATCH, item, handle_patch, (void *)res);
	rc = rc ? rc : http_router_add(r, HTTP_DELETE, item, destroy, (void *)res);
	return rc;
}
