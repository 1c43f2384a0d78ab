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
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "api/api_private.h"

#define SQL_MAX_PARAMS 48

/* The SQL text and parameters of one statement under construction. */
struct sql {
	struct buf text;
	struct store_param params[SQL_MAX_PARAMS];
	char *owned[SQL_MAX_PARAMS]; /* texts this statement allocated */
	size_t n;
};

static void sql_init(struct sql *q)
{
	memset(q, 0, sizeof(*q));
	buf_init(&q->text);
}

static void sql_fini(struct sql *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->owned[i]);
	buf_fini(&q->text);
}

/* Adds a parameter (taking ownership of owned, freed with the statement). */
static int sql_bind(struct sql *q, struct store_param p, char *owned)
{
	if (q->n == SQL_MAX_PARAMS) {
		free(owned);
		return -E2BIG;
	}
	q->params[q->n] = p;
	q->owned[q->n] = owned;
	q->n++;
	return 0;
}

/* Adds a parameter and writes its placeholder ("$3") into the text. */
static int sql_param(struct sql *q, struct store_param p, char *owned)
{
	int rc = sql_bind(q, p, owned);
	return rc ? rc : buf_printf(&q->text, "$%zu", q->n);
}

static const char *field_column(const struct api_field *f)
{
	return f->column ? f->column : f->name;
}

static bool res_has_customer(const struct api_resource *res)
{
	return res->scope == API_SCOPE_CUSTOMER;
}

/* "SELECT id, customer_id, carrier_id, name, …, created_at, updated_at FROM t" */
static int select_columns_build(struct buf *b, const struct api_resource *res)
{
	int rc = buf_append_cstr(b, "SELECT id");
	if (res_has_customer(res))
		rc = rc ? rc : buf_append_cstr(b, ", customer_id");
	if (res->parent_column)
		rc = rc ? rc : buf_printf(b, ", %s", res->parent_column);
	for (size_t i = 0; i < res->nfields && rc == 0; i++)
		if (!(res->fields[i].flags & API_F_WRITEONLY))
			rc = buf_printf(b, ", %s", field_column(&res->fields[i]));
	return rc ? rc : buf_printf(b, ", created_at, updated_at FROM %s", res->table);
}

/* A resource's SELECT list never changes, and building it with buf_printf
 * took an eighth of an authenticated GET (callgrind: ~20k instructions), so
 * each resource's text is built once and kept for the life of the process.
 * Readers scan without a lock: a slot's res is published (release) only
 * after its text is written; writers serialise on select_cache_lock. */
#define SELECT_CACHE_SLOTS 32
#define SELECT_TEXT_MAX 2048

static struct {
	_Atomic(const struct api_resource *) res;
	char text[SELECT_TEXT_MAX];
} select_cache[SELECT_CACHE_SLOTS];
static pthread_mutex_t select_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *select_cache_find(const struct api_resource *res)
{
	for (size_t i = 0; i < SELECT_CACHE_SLOTS; i++) {
		const struct api_resource *r =
			atomic_load_explicit(&select_cache[i].res, memory_order_acquire);
		if (r == res)
			return select_cache[i].text;
		if (!r)
			break;
	}
	return NULL;
}

/* Keeps text for res unless the table is full or the text too long (then
 * it is simply built each time). */
static void select_cache_put(const struct api_resource *res, const char *text, size_t len)
{
	if (len >= SELECT_TEXT_MAX)
		return;
	pthread_mutex_lock(&select_cache_lock);
	for (size_t i = 0; i < SELECT_CACHE_SLOTS; i++) {
		const struct api_resource *r =
			atomic_load_explicit(&select_cache[i].res, memory_order_relaxed);
		if (r == res)
			break;
		if (r)
			continue;
		memcpy(select_cache[i].text, text, len);
		select_cache[i].text[len] = '\0';
		atomic_store_explicit(&select_cache[i].res, res, memory_order_release);
		break;
	}
	pthread_mutex_unlock(&select_cache_lock);
}

static int select_columns(struct buf *b, const struct api_resource *res)
{
	const char *cached = select_cache_find(res);
	size_t start = b->len;

	if (cached)
		return buf_append_cstr(b, cached);
	int rc = select_columns_build(b, res);
	if (rc == 0)
		select_cache_put(res, b->p + start, b->len - start);
	return rc;
}

static json_t *value_json(const struct api_field *f, const struct store_res *r, size_t row,
			  size_t col)
{
	if (store_res_isnull(r, row, col))
		return json_null();
	switch (f->type) {
	case API_F_INT:
		return json_integer(store_res_int(r, row, col));
	case API_F_BOOL:
		return json_boolean(store_res_int(r, row, col) != 0);
	case API_F_JSON: {
		json_t *v = json_loads(store_res_text(r, row, col), JSON_DECODE_ANY, NULL);
		return v ? v : json_null();
	}
	default:
		return json_string(store_res_text(r, row, col));
	}
}

/* The columns of a row in select_columns order: id, customer_id, the
 * parent, the readable fields, created_at, updated_at.  A row is presented
 * two ways from this one walk: as a json_t (writes, events) and as text
 * (GET, the hot path, which needs no JSON objects at all). */
typedef int (*row_emit_fn)(void *out, const char *name, const struct api_field *f,
			   const struct store_res *r, size_t row, size_t col);

static const struct api_field row_text_column = { "id", NULL, API_F_STR, 0, 0, 0, NULL, NULL };
static const struct api_field row_time_column = { "created_at", NULL, API_F_INT, 0, 0, 0,
						   NULL, NULL };

static int row_walk(const struct api_resource *res, const struct store_res *r, size_t row,
		    row_emit_fn emit, void *out)
{
	size_t col = 0;
	int rc = emit(out, "id", &row_text_column, r, row, col++);

	if (rc == 0 && res_has_customer(res))
		rc = emit(out, "customer_id", &row_text_column, r, row, col++);
	if (rc == 0 && res->parent_column)
		rc = emit(out, res->parent_column, &row_text_column, r, row, col++);
	for (size_t i = 0; i < res->nfields && rc == 0; i++)
		if (!(res->fields[i].flags & API_F_WRITEONLY))
			rc = emit(out, res->fields[i].name, &res->fields[i], r, row, col++);
	if (rc == 0)
		rc = emit(out, "created_at", &row_time_column, r, row, col++);
	if (rc == 0)
		rc = emit(out, "updated_at", &row_time_column, r, row, col++);
	return rc;
}

/* A member that cannot be made (a string that is not UTF-8) is left out,
 * as it always was. */
static int row_emit_json(void *out, const char *name, const struct api_field *f,
			 const struct store_res *r, size_t row, size_t col)
{
	json_object_set_new(out, name, value_json(f, r, row, col));
	return 0;
}

/* One row, laid out by select_columns, as a JSON object. */
static json_t *row_json(const struct api_resource *res, const struct store_res *r, size_t row)
{
	json_t *o = json_object();

	if (o)
		row_walk(res, r, row, row_emit_json, o);
	return o;
}

static int int_text(struct buf *b, int64_t n)
{
	char digits[24];
	size_t i = sizeof(digits);
	uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;

	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		digits[--i] = '-';
	return buf_append(b, digits + i, sizeof(digits) - i);
}

/* A value as JSON text: what json_dumps(value_json(...)) gives. */
static int value_text(struct buf *b, const struct api_field *f, const struct store_res *r,
		      size_t row, size_t col)
{
	const char *text;
	int rc;

	if (store_res_isnull(r, row, col))
		return buf_append(b, "null", 4);
	switch (f->type) {
	case API_F_INT:
		return int_text(b, store_res_int(r, row, col));
	case API_F_BOOL:
		return store_res_int(r, row, col) ? buf_append(b, "true", 4)
						  : buf_append(b, "false", 5);
	case API_F_JSON:
		/* Stored as compact JSON text by value_bind (and the schema's
		 * defaults), so it is copied as it is. */
		text = store_res_text(r, row, col);
		return buf_append_cstr(b, text && *text ? text : "null");
	default:
		rc = buf_append_char(b, '"');
		rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(store_res_text(r, row, col)));
		return rc ? rc : buf_append_char(b, '"');
	}
}

struct row_text {
	struct buf *b;
	bool first;
};

static int row_emit_text(void *out, const char *name, const struct api_field *f,
			 const struct store_res *r, size_t row, size_t col)
{
	struct row_text *t = out;
	int rc = t->first ? buf_append_char(t->b, '"') : buf_append(t->b, ",\"", 2);

	t->first = false;
	rc = rc ? rc : buf_append_json_escaped(t->b, str_from_cstr(name));
	rc = rc ? rc : buf_append(t->b, "\":", 2);
	return rc ? rc : value_text(t->b, f, r, row, col);
}

/* " WHERE …" restricting to rows the caller may see (and the parent). */
static int scope_where(struct api_ctx *ctx, const struct api_resource *res, struct sql *q)
{
	int rc = buf_append_cstr(&q->text, " WHERE 1 = 1");
	const char *parent = res->parent_param ? http_req_param(ctx->req, res->parent_param) : NULL;

	if (!api_is_admin(ctx) && res->scope == API_SCOPE_CUSTOMER) {
		rc = rc ? rc : buf_append_cstr(&q->text, " AND customer_id = ");
		rc = rc ? rc : sql_param(q, store_p_text(ctx->who->customer_id), NULL);
	} else if (!api_is_admin(ctx) && res->scope == API_SCOPE_SELF) {
		rc = rc ? rc : buf_append_cstr(&q->text, " AND id = ");
		rc = rc ? rc : sql_param(q, store_p_text(ctx->who->customer_id), NULL);
	}
	if (parent) {
		rc = rc ? rc : buf_printf(&q->text, " AND %s = ", res->parent_column);
		rc = rc ? rc : sql_param(q, store_p_text(parent), NULL);
	}
	return rc;
}

/* The row of res with this id, if the caller may see it (*r NULL or empty
 * otherwise). */
static int resource_query(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			  struct store_res **r)
{
	struct sql q;

	sql_init(&q);
	int rc = select_columns(&q.text, res);
	rc = rc ? rc : scope_where(ctx, res, &q);
	rc = rc ? rc : buf_append_cstr(&q.text, " AND id = ");
	rc = rc ? rc : sql_param(&q, store_p_text(id), NULL);
	rc = rc ? rc : store_exec(ctx->conn, q.text.p, q.params, q.n, r);
	sql_fini(&q);
	return rc;
}

json_t *api_resource_load(struct api_ctx *ctx, const struct api_resource *res, const char *id)
{
	struct store_res *r = NULL;
	json_t *o = NULL;

	if (resource_query(ctx, res, id, &r) == 0 && store_res_rows(r) == 1)
		o = row_json(res, r, 0);
	store_res_free(r);
	return o;
}

/* {"data":{…}} for the row, as text: 1 when found, 0 when absent or not
 * visible, negative on failure. */
static int resource_load_text(struct api_ctx *ctx, const struct api_resource *res,
			      const char *id, struct buf *out)
{
	struct store_res *r = NULL;
	struct row_text t = { out, true };

	int rc = resource_query(ctx, res, id, &r);
	if (rc == 0 && store_res_rows(r) == 1) {
		rc = buf_append_cstr(out, "{\"data\":{");
		rc = rc ? rc : row_walk(res, r, 0, row_emit_text, &t);
		rc = rc ? rc : buf_append(out, "}}", 2);
		rc = rc ? rc : 1;
	}
	store_res_free(r);
	return rc;
}

bool api_row_visible(struct api_ctx *ctx, const char *table, const char *customer_col,
		     const char *id)
{
	struct store_res *r = NULL;
	struct buf sql;
	bool seen = false;

	buf_init(&sql);
	struct store_param p[2] = { store_p_text(id), store_p_text(ctx->who->customer_id) };
	bool scoped = customer_col && !api_is_admin(ctx);
	int rc = buf_printf(&sql, "SELECT 1 FROM %s WHERE id = $1", table);
	if (scoped)
		rc = rc ? rc : buf_printf(&sql, " AND %s = $2", customer_col);
	if (rc == 0 && store_exec(ctx->conn, sql.p, p, scoped ? 2 : 1, &r) == 0)
		seen = store_res_rows(r) == 1;
	store_res_free(r);
	buf_fini(&sql);
	return seen;
}

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
				   res_has_customer(res->parent) ? "customer_id" : NULL, pid))
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
	struct sql q;

	if (api_ctx_init(&ctx, req) < 0)
		return;
	if (res->scope == API_SCOPE_ADMIN && !api_require_admin(&ctx))
		return;
	if (!parent_visible(&ctx, res) || api_page_parse(&ctx, &page) < 0)
		return;
	sql_init(&q);
	int rc = select_columns(&q.text, res);
	rc = rc ? rc : scope_where(&ctx, res, &q);
	const char *cust = http_req_query(req, "customer_id");
	if (cust && res_has_customer(res) && api_is_admin(&ctx)) {
		rc = rc ? rc : buf_append_cstr(&q.text, " AND customer_id = ");
		rc = rc ? rc : sql_param(&q, store_p_text(cust), NULL);
	}
	if (page.after) {
		rc = rc ? rc : buf_append_cstr(&q.text, " AND id > ");
		rc = rc ? rc : sql_param(&q, store_p_text(page.after), NULL);
	}
	rc = rc ? rc : buf_append_cstr(&q.text, " ORDER BY id LIMIT ");
	rc = rc ? rc : sql_param(&q, store_p_int(page.limit + 1), NULL);
	rc = rc ? rc : store_exec(ctx.conn, q.text.p, q.params, q.n, &r);
	if (rc < 0) {
		api_reply_store_error(&ctx, rc, res->name);
	} else {
		json_t *items = json_array();
		for (size_t i = 0; i < store_res_rows(r); i++)
			json_array_append_new(items, row_json(res, r, i));
		api_page_reply(&ctx, &page, items, "id");
	}
	store_res_free(r);
	sql_fini(&q);
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
	if (resource_load_text(&ctx, res, http_req_param(req, "id"), &text) <= 0)
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

/* Validates every member of body against res, in place.  creating says
 * whether required fields must be present and immutable ones may be. */
static int body_validate(struct api_ctx *ctx, const struct api_resource *res, json_t *body,
			 bool creating, struct api_verr *e)
{
	const char *name;
	json_t *val;
	void *tmp;

	json_object_foreach_safe(body, tmp, name, val) {
		if (res_has_customer(res) && strcmp(name, "customer_id") == 0) {
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

/* The customer a new row belongs to: the caller's own, or for admins the
 * one the body names, which must exist. */
static int create_customer(struct api_ctx *ctx, json_t *body, const char **out,
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
static int value_bind(struct sql *q, const struct api_field *f, const json_t *v)
{
	if (!v || json_is_null(v))
		return sql_bind(q, store_p_null(), NULL);
	switch (f->type) {
	case API_F_INT:
		return sql_bind(q, store_p_int(json_integer_value(v)), NULL);
	case API_F_BOOL:
		return sql_bind(q, store_p_int(json_is_true(v)), NULL);
	case API_F_JSON: {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		return text ? sql_bind(q, store_p_text(text), text) : -ENOMEM;
	}
	default:
		return sql_bind(q, store_p_text(json_string_value(v)), NULL);
	}
}

/* One more "column" in the INSERT's list and its "$N" in vals. */
static int insert_column(struct sql *q, struct buf *vals, const char *column)
{
	int rc = buf_printf(&q->text, ", %s", column);
	return rc ? rc : buf_printf(vals, ", $%zu", q->n);
}

static const char *event_customer(const struct api_resource *res, const char *id, const json_t *o)
{
	if (res->scope == API_SCOPE_SELF)
		return id;
	if (res_has_customer(res))
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
	struct sql q;
	struct buf vals;
	int64_t now = time_wall_ms();
	const char *parent = res->parent_param ? http_req_param(ctx->req, res->parent_param) : NULL;

	sql_init(&q);
	buf_init(&vals);
	int rc = buf_printf(&q.text, "INSERT INTO %s (id", res->table);
	rc = rc ? rc : sql_bind(&q, store_p_text(id), NULL);
	rc = rc ? rc : buf_append_cstr(&vals, "$1");
	if (customer && rc == 0) {
		rc = sql_bind(&q, store_p_text(customer), NULL);
		rc = rc ? rc : insert_column(&q, &vals, "customer_id");
	}
	if (parent && rc == 0) {
		rc = sql_bind(&q, store_p_text(parent), NULL);
		rc = rc ? rc : insert_column(&q, &vals, res->parent_column);
	}
	for (size_t i = 0; i < res->nfields && rc == 0; i++) {
		const struct api_field *f = &res->fields[i];
		json_t *v = json_object_get(body, f->name);
		if (!v)
			continue; /* the column's default applies */
		rc = value_bind(&q, f, v);
		rc = rc ? rc : insert_column(&q, &vals, field_column(f));
	}
	rc = rc ? rc : sql_bind(&q, store_p_int(now), NULL);
	rc = rc ? rc : insert_column(&q, &vals, "created_at");
	rc = rc ? rc : sql_bind(&q, store_p_int(now), NULL);
	rc = rc ? rc : insert_column(&q, &vals, "updated_at");
	rc = rc ? rc : buf_printf(&q.text, ") VALUES (%s)", vals.p);
	rc = rc ? rc : store_exec(ctx->conn, q.text.p, q.params, q.n, NULL);
	buf_fini(&vals);
	sql_fini(&q);
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
	int rc = body_validate(&ctx, res, body, true, &e);
	if (rc == 0 && res_has_customer(res))
		rc = create_customer(&ctx, body, &customer, &e);
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
	struct sql q;
	const char *name;
	json_t *v;

	sql_init(&q);
	int rc = buf_printf(&q.text, "UPDATE %s SET updated_at = ", res->table);
	rc = rc ? rc : sql_param(&q, store_p_int(time_wall_ms()), NULL);
	json_object_foreach(body, name, v) {
		const struct api_field *f = field_find(res, name);
		if (!f || rc)
			continue;
		rc = value_bind(&q, f, v);
		rc = rc ? rc : buf_printf(&q.text, ", %s = $%zu", field_column(f), q.n);
	}
	rc = rc ? rc : buf_append_cstr(&q.text, " WHERE id = ");
	rc = rc ? rc : sql_param(&q, store_p_text(id), NULL);
	rc = rc ? rc : store_exec(ctx->conn, q.text.p, q.params, q.n, NULL);
	sql_fini(&q);
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
	int rc = body_validate(&ctx, res, body, false, &e);
	m = rc ? NULL : merged(cur, body);
	if (rc == 0 && res->validate)
		rc = res->validate(&ctx, id, m, false, &e);
	if (rc < 0) {
		api_reply_verr(&ctx, &e);
		goto out;
	}
	adopt_rewrites(body, m);
	rc = store_tx_begin(ctx.conn);
	rc = rc ? rc : update_row(&ctx, res, id, body);
	json_t *row = rc ? NULL : api_resource_load(&ctx, res, id);
	rc = rc ? (store_tx_rollback(ctx.conn), rc) : api_resource_finish_write(&ctx, res, id, "updated", row);
	if (rc < 0) {
		json_decref(row);
		api_reply_store_error(&ctx, rc, res->name);
		goto out;
	}
	http_reply_data(req, 200, row);
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
