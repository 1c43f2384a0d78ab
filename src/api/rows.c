/*
 * rows.c — the read side of the resource engine: the SELECT of a resource
 * (built once per resource and kept), the scope that hides other
 * customers' rows, and a row rendered as JSON or straight as text.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "api/api_private.h"

/* "SELECT id, customer_id, carrier_id, name, …, created_at, updated_at FROM t" */
static int select_columns_build(struct buf *b, const struct api_resource *res)
{
	int rc = buf_append_cstr(b, "SELECT id");
	if (api_res_has_customer(res))
		rc = rc ? rc : buf_append_cstr(b, ", customer_id");
	if (res->parent_column)
		rc = rc ? rc : buf_printf(b, ", %s", res->parent_column);
	for (size_t i = 0; i < res->nfields && rc == 0; i++)
		if (!(res->fields[i].flags & API_F_WRITEONLY))
			rc = buf_printf(b, ", %s", api_field_column(&res->fields[i]));
	return rc ? rc : buf_printf(b, ", created_at, updated_at FROM %s", res->table);
}

/* A resource's SELECT list never changes, and building it with buf_printf
 * took an eighth of an authenticated GET (callgrind: ~20k instructions), so
 * each resource's text is built once and kept for the life of the process.
 * Readers scan without a lock: a slot's res is published (release) only
 * after its text is written; writers serialise on select_cache_lock. */
#define SELECT_CACHE_SLOTS 32
#define SELECT_TEXT_MAX 2048
#define ROW_COLS_MAX 64

/* Beside the SELECT, a row's member names as GET writes them (",\"name\":")
 * in column order with each column's field: the names are the same for
 * every row, so they are escaped once (ncols 0: not kept, walk instead). */
struct select_slot {
	_Atomic(const struct api_resource *) res;
	char text[SELECT_TEXT_MAX];
	char keys[SELECT_TEXT_MAX];
	uint16_t key_end[ROW_COLS_MAX];
	const struct api_field *field[ROW_COLS_MAX];
	size_t ncols;
};

static struct select_slot select_cache[SELECT_CACHE_SLOTS];
static pthread_mutex_t select_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void row_keys_build(struct select_slot *slot, const struct api_resource *res);

static const struct select_slot *select_cache_find(const struct api_resource *res)
{
	for (size_t i = 0; i < SELECT_CACHE_SLOTS; i++) {
		const struct api_resource *r =
			atomic_load_explicit(&select_cache[i].res, memory_order_acquire);
		if (r == res)
			return &select_cache[i];
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
		row_keys_build(&select_cache[i], res);
		atomic_store_explicit(&select_cache[i].res, res, memory_order_release);
		break;
	}
	pthread_mutex_unlock(&select_cache_lock);
}

int api_rows_select(struct buf *b, const struct api_resource *res)
{
	const struct select_slot *cached = select_cache_find(res);
	size_t start = b->len;

	if (cached)
		return buf_append_cstr(b, cached->text);
	int rc = select_columns_build(b, res);
	if (rc == 0)
		select_cache_put(res, b->p + start, b->len - start);
	return rc;
}

/* A stored string as it is shown: a URL's password never leaves the
 * store (the dispatcher reads the row itself). */
static const char *shown_text(const struct api_field *f, const char *text,
			      char shown[URL_REDACT_MAX])
{
	return f->flags & API_F_URL ? url_redact(text, shown, URL_REDACT_MAX) : text;
}

static json_t *value_json(const struct api_field *f, const struct store_res *r, size_t row,
			  size_t col)
{
	char shown[URL_REDACT_MAX];

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
		return json_string(shown_text(f, store_res_text(r, row, col), shown));
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

	if (rc == 0 && api_res_has_customer(res))
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
json_t *api_row_json(const struct api_resource *res, const struct store_res *r, size_t row)
{
	json_t *o = json_object();

	if (o)
		row_walk(res, r, row, row_emit_json, o);
	return o;
}

static int int_text(struct buf *b, int64_t n)
{
	char digits[STR_I64_MAX];

	return buf_append_str(b, str_from_i64(n, digits));
}

/* s as a JSON string, quotes included, with one reserve for the common
 * case of nothing to escape. */
static int string_text(struct buf *b, struct str s)
{
	int rc = buf_reserve(b, s.len + 2);

	if (rc)
		return rc;
	b->p[b->len++] = '"';
	rc = buf_append_json_escaped(b, s);
	return rc ? rc : buf_append_char(b, '"');
}

/* A value as JSON text: what json_dumps(value_json(...)) gives. */
static int value_text(struct buf *b, const struct api_field *f, const struct store_res *r,
		      size_t row, size_t col)
{
	char shown[URL_REDACT_MAX];
	const char *text;

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
		text = shown_text(f, store_res_text(r, row, col), shown);
		return string_text(b, str_from_cstr(text));
	}
}

struct row_text {
	struct buf *b;
	bool first;
};

/* ",\"name\":" (no comma before the first member). */
static int member_name(struct buf *b, const char *name, bool first)
{
	int rc = first ? 0 : buf_append_char(b, ',');

	rc = rc ? rc : string_text(b, str_from_cstr(name));
	return rc ? rc : buf_append_char(b, ':');
}

static int row_emit_text(void *out, const char *name, const struct api_field *f,
			 const struct store_res *r, size_t row, size_t col)
{
	struct row_text *t = out;
	int rc = member_name(t->b, name, t->first);

	t->first = false;
	return rc ? rc : value_text(t->b, f, r, row, col);
}

/* Collects each column's member name text and field into a slot. */
struct row_keys {
	struct select_slot *slot;
	struct buf text;
};

static int row_emit_key(void *out, const char *name, const struct api_field *f,
			const struct store_res *r, size_t row, size_t col)
{
	struct row_keys *k = out;
	int rc;

	(void)r;
	(void)row;
	if (col >= ROW_COLS_MAX)
		return -E2BIG;
	rc = member_name(&k->text, name, col == 0);
	if (rc == 0 && k->text.len >= SELECT_TEXT_MAX)
		rc = -E2BIG;
	if (rc == 0) {
		k->slot->key_end[col] = (uint16_t)k->text.len;
		k->slot->field[col] = f;
		k->slot->ncols = col + 1;
	}
	return rc;
}

/* Called under select_cache_lock before the slot is published; a resource
 * whose names do not fit keeps ncols 0. */
static void row_keys_build(struct select_slot *slot, const struct api_resource *res)
{
	struct row_keys k = { slot, { NULL, 0, 0 } };

	slot->ncols = 0;
	if (row_walk(res, NULL, 0, row_emit_key, &k) == 0 && k.text.len)
		memcpy(slot->keys, k.text.p, k.text.len);
	else
		slot->ncols = 0;
	buf_fini(&k.text);
}

/* The row's members from the slot's names: what row_walk with
 * row_emit_text writes, without escaping the names again. */
static int row_text_cached(struct buf *b, const struct select_slot *slot,
			   const struct store_res *r)
{
	size_t at = 0;
	int rc = 0;

	for (size_t i = 0; i < slot->ncols && rc == 0; i++) {
		rc = buf_append(b, slot->keys + at, slot->key_end[i] - at);
		at = slot->key_end[i];
		rc = rc ? rc : value_text(b, slot->field[i], r, 0, i);
	}
	return rc;
}

/* " WHERE …" restricting to rows the caller may see (and the parent). */
int api_rows_scope(struct api_ctx *ctx, const struct api_resource *res, struct api_sql *q)
{
	int rc = buf_append_cstr(&q->text, " WHERE 1 = 1");
	const char *parent = res->parent_param ? http_req_param(ctx->req, res->parent_param) : NULL;

	if (!api_is_admin(ctx) && res->scope == API_SCOPE_CUSTOMER) {
		rc = rc ? rc : buf_append_cstr(&q->text, " AND customer_id = ");
		rc = rc ? rc : api_sql_param(q, store_p_text(ctx->who->customer_id), NULL);
	} else if (!api_is_admin(ctx) && res->scope == API_SCOPE_SELF) {
		rc = rc ? rc : buf_append_cstr(&q->text, " AND id = ");
		rc = rc ? rc : api_sql_param(q, store_p_text(ctx->who->customer_id), NULL);
	}
	if (parent) {
		rc = rc ? rc : buf_printf(&q->text, " AND %s = ", res->parent_column);
		rc = rc ? rc : api_sql_param(q, store_p_text(parent), NULL);
	}
	return rc;
}

/* The row of res with this id, if the caller may see it (*r NULL or empty
 * otherwise). */
static int resource_query(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			  struct store_res **r)
{
	struct api_sql q;

	api_sql_init(&q);
	int rc = api_rows_select(&q.text, res);
	rc = rc ? rc : api_rows_scope(ctx, res, &q);
	rc = rc ? rc : buf_append_cstr(&q.text, " AND id = ");
	rc = rc ? rc : api_sql_param(&q, store_p_text(id), NULL);
	rc = rc ? rc : store_exec(ctx->conn, q.text.p, q.params, q.n, r);
	api_sql_fini(&q);
	return rc;
}

json_t *api_resource_load(struct api_ctx *ctx, const struct api_resource *res, const char *id)
{
	struct store_res *r = NULL;
	json_t *o = NULL;

	if (resource_query(ctx, res, id, &r) == 0 && store_res_rows(r) == 1)
		o = api_row_json(res, r, 0);
	store_res_free(r);
	return o;
}

/* {"data":{…}} for the row, as text: 1 when found, 0 when absent or not
 * visible, negative on failure. */
int api_resource_load_text(struct api_ctx *ctx, const struct api_resource *res,
			      const char *id, struct buf *out)
{
	struct store_res *r = NULL;
	struct row_text t = { out, true };

	int rc = resource_query(ctx, res, id, &r);
	if (rc == 0 && store_res_rows(r) == 1) {
		/* Most rows fit: one allocation instead of a doubling series
		 * (1 KiB: buf rounds up to a power of two, and glibc serves
		 * blocks up to 1 KiB from its per-thread cache; 2 KiB cost
		 * about 2,000 instructions more per GET). */
		rc = buf_reserve(out, 512);
		const struct select_slot *slot = select_cache_find(res);
		rc = rc ? rc : buf_append_cstr(out, "{\"data\":{");
		if (slot && slot->ncols == store_res_cols(r))
			rc = rc ? rc : row_text_cached(out, slot, r);
		else
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


void api_reply_owned_row(struct api_ctx *ctx, const char *columns, const char *what,
			 api_row_render_fn render, void *arg)
{
	struct store_res *r = NULL;
	struct buf sql;
	const char *id = http_req_param(ctx->req, "id");
	const char *cust = api_is_admin(ctx) ? NULL : ctx->who->customer_id;
	struct store_param p[] = { store_p_text(id), store_p_text(cust) };

	buf_init(&sql);
	int rc = buf_printf(&sql, "%s WHERE id = $1 AND (%s OR customer_id = $2)", columns,
			    API_SQL_UNSET("$2", "TEXT"));
	rc = rc ? rc : store_exec(ctx->conn, sql.p, p, 2, &r);
	if (rc < 0)
		api_reply_store_error(ctx, rc, what);
	else if (store_res_rows(r) == 0)
		http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no %s %s", what, id);
	else
		http_reply_data(ctx->req, 200, render(r, 0, arg));
	store_res_free(r);
	buf_fini(&sql);
}
