/*
 * balances.c — a customer's money through the API, over the billing
 * module's ledger (src/billing/ledger.c, decision 0035):
 *
 *   POST /api/v1/customers/{id}/balance-transactions   admins: a top-up or an adjustment
 *   GET  /api/v1/customers/{id}/balance                balance, credit limit, available
 *   GET  /api/v1/customers/{id}/ledger                 entries, newest first
 *
 * Amounts travel as exact decimal strings ("12.50", parsed by
 * billing_money_parse, never through a float) next to their integer
 * micro-units.  The Idempotency-Key of a POST is the ledger entry's own key
 * (unique per customer, kept for ever), not the generic 24-hour record of
 * idempotency.c: a retry answers the first entry again, another body under
 * the key answers 409.  A customer's credential reads its own balance and
 * ledger and gets 404 for any other customer's.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"

/* "12.50": exact, with at least the currency's decimals. */
static json_t *money_json(int64_t micro, int decimals)
{
	char b[BILLING_MONEY_BUF];
	return billing_money_format_exact(micro, decimals, b, sizeof(b)) < 0 ? json_null()
									     : json_string(b);
}

/* name and name_micros into o. */
static void money_set(json_t *o, const char *name, int64_t micro, int decimals)
{
	char key[64];
	json_object_set_new(o, name, money_json(micro, decimals));
	snprintf(key, sizeof(key), "%s_micros", name);
	json_object_set_new(o, key, json_integer(micro));
}

static json_t *opt_text(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *entry_json(const struct billing_entry *e, bool admin)
{
	int dec = billing_currency_decimals(e->currency);
	json_t *o = json_pack(
	    "{s:s,s:s,s:I,s:s,s:s,s:s,s:I}", "id", e->id, "customer_id", e->customer_id, "seq",
	    (json_int_t)e->seq, "type", billing_entry_kind_name(e->kind), "currency", e->currency,
	    "description", e->description, "created_at", (json_int_t)e->created_at);

	money_set(o, "amount", e->amount, dec);
	money_set(o, "balance_after", e->balance_after, dec);
	json_object_set_new(o, "reference",
			    e->reference_type[0] ? json_pack("{s:s,s:o}", "type", e->reference_type,
							     "id", opt_text(e->reference_id))
						 : json_null());
	if (admin) { /* who posted it, and under which key, is the operator's business */
		json_object_set_new(o, "created_by", json_string(e->created_by));
		json_object_set_new(o, "idempotency_key", opt_text(e->idempotency_key));
	}
	return o;
}

/* The path's customer when the caller may see it; 404 answered otherwise. */
static const char *customer_visible(struct api_ctx *ctx)
{
	const char *id = http_req_param(ctx->req, "id");
	if (id && (api_is_admin(ctx) || strcmp(id, ctx->who->customer_id) == 0))
		return id;
	http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no customer %s",
			 id ? id : "");
	return NULL;
}

/* Answers a ledger failure. */
static void reply_ledger_error(struct api_ctx *ctx, int rc, const char *customer)
{
	switch (rc) {
	case BILLING_LEDGER_ENOCUSTOMER:
		http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no customer %s",
				 customer);
		break;
	case BILLING_LEDGER_EKEYREUSED:
		http_reply_error(ctx->req, 409, "idempotency_key_reused", "Conflict", NULL,
				 "this Idempotency-Key was used for another balance transaction");
		break;
	case BILLING_LEDGER_ECURRENCY:
		http_reply_error(ctx->req, 409, "currency_mismatch", "Conflict", NULL,
				 "the customer's currency is not the one its balance is kept in");
		break;
	case BILLING_LEDGER_ERANGE:
		http_reply_error(ctx->req, 422, "out_of_range", "Invalid field", "/amount",
				 "the amount, or the balance it would leave, is out of range");
		break;
	case BILLING_LEDGER_ESIGN:
		http_reply_error(ctx->req, 422, "invalid_value", "Invalid field", "/amount",
				 "a top-up is positive and an adjustment is not zero");
		break;
	default:
		api_reply_store_error(ctx, rc, "balance transaction");
	}
}

/* ------------------------------------------------------------ posting */

/* The body {type, amount, description} into e; 0, or e filled. */
static int transaction_parse(const json_t *body, struct billing_entry *e, struct api_verr *v)
{
	const json_t *type = json_object_get(body, "type");
	const json_t *amount = json_object_get(body, "amount");
	const json_t *desc = json_object_get(body, "description");
	int rc = api_check_members(body, "", "type|amount|description", v);

	if (rc < 0)
		return rc;
	if (!json_is_string(type) ||
	    billing_entry_kind_parse(json_string_value(type), &e->kind) < 0 ||
	    (e->kind != BILLING_TOPUP && e->kind != BILLING_ADJUSTMENT))
		return api_verr_set(v, 422, "invalid_value", "/type",
				    "'type' must be topup or adjustment");
	if (!json_is_string(amount))
		return api_verr_set(v, 422, "invalid_type", "/amount",
				    "'amount' must be a decimal string such as \"10.00\"");
	rc = billing_money_parse(str_from_cstr(json_string_value(amount)),
				 e->kind == BILLING_ADJUSTMENT, &e->amount);
	if (rc < 0)
		return api_verr_set(v, 422, "invalid_value", "/amount", "'amount': %s",
				    billing_money_strerror(rc));
	if (desc && (!json_is_string(desc) || json_string_length(desc) > BILLING_LEDGER_TEXT_MAX))
		return api_verr_set(v, 422, "invalid_value", "/description",
				    "'description' must be a string of at most %d bytes",
				    BILLING_LEDGER_TEXT_MAX);
	snprintf(e->description, sizeof(e->description), "%s", desc ? json_string_value(desc) : "");
	return 0;
}

/* The Idempotency-Key header into e; 400 answered when it is malformed. */
static int transaction_key(struct api_ctx *ctx, struct billing_entry *e)
{
	const char *key = http_req_header(ctx->req, "Idempotency-Key");

	if (!key)
		return 0;
	if (!*key || strlen(key) > BILLING_LEDGER_KEY_MAX || !api_is_printable(key)) {
		http_reply_error(ctx->req, 400, "invalid_header", "Bad request", NULL,
				 "Idempotency-Key must be 1 to %d printable characters",
				 BILLING_LEDGER_KEY_MAX);
		return -EINVAL;
	}
	snprintf(e->idempotency_key, sizeof(e->idempotency_key), "%s", key);
	return 0;
}

static void handle_post(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct billing_entry e = {0};
	struct api_verr v = {0};
	bool replayed = false;
	json_t *body = NULL;
	const char *id;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) || !api_require_write(&ctx))
		return;
	/* The customer first, as for any parent: a missing one is 404 whatever
	 * the body. */
	id = http_req_param(req, "id");
	if (!id || !api_row_visible(&ctx, "customers", NULL, id)) {
		reply_ledger_error(&ctx, BILLING_LEDGER_ENOCUSTOMER, id ? id : "");
		return;
	}
	if (transaction_key(&ctx, &e) < 0 || !(body = http_req_json(req)))
		return;
	if (transaction_parse(body, &e, &v) < 0) {
		api_reply_verr(&ctx, &v);
		goto out;
	}
	snprintf(e.customer_id, sizeof(e.customer_id), "%s", id);
	snprintf(e.created_by, sizeof(e.created_by), "%s",
		 ctx.who->key_id[0] ? ctx.who->key_id : ctx.who->subject);
	int rc = billing_ledger_post(ctx.conn, &ctx.api->ledger, &e, &replayed);
	if (rc < 0) {
		reply_ledger_error(&ctx, rc, e.customer_id);
		goto out;
	}
	if (replayed)
		http_reply_header(req, "Idempotent-Replayed", "true");
	http_reply_data(req, 201, entry_json(&e, true));
out:
	json_decref(body);
}

/* ------------------------------------------------------------ reading */

static void handle_balance(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct billing_balance b;
	const char *id;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !(id = customer_visible(&ctx)))
		return;
	int rc = billing_balance_get(ctx.conn, &ctx.api->ledger, id, &b);
	if (rc < 0) {
		reply_ledger_error(&ctx, rc, id);
		return;
	}
	int dec = billing_currency_decimals(b.currency);
	json_t *o = json_pack("{s:s,s:s,s:i,s:b,s:I,s:I}", "customer_id", id, "currency",
			      b.currency, "currency_decimals", dec, "low", b.low, "seq",
			      (json_int_t)b.seq, "updated_at", (json_int_t)b.updated_at);
	money_set(o, "balance", b.balance, dec);
	money_set(o, "credit_limit", b.credit_limit, dec);
	money_set(o, "reserved", b.reserved, dec);
	money_set(o, "available", b.available, dec);
	money_set(o, "low_balance_threshold", b.low_threshold, dec);
	http_reply_data(req, 200, o);
}

struct ledger_page {
	json_t *items;
	bool admin;
};

static int ledger_page_add(const struct billing_entry *e, void *arg)
{
	struct ledger_page *p = arg;
	return json_array_append_new(p->items, entry_json(e, p->admin)) == 0 ? 0 : -ENOMEM;
}

/* An optional epoch-ms query parameter into *out (0 when absent). */
static int query_ms(struct api_ctx *ctx, const char *name, int64_t *out)
{
	const char *v = http_req_query(ctx->req, name);

	*out = 0;
	if (v && (str_to_i64(str_from_cstr(v), out) < 0 || *out <= 0)) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "%s must be epoch milliseconds", name);
		return -EINVAL;
	}
	return 0;
}

/* The query of GET …/ledger into f; 400 answered when it is bad. */
static int ledger_query(struct api_ctx *ctx, struct api_page *page, struct billing_ledger_filter *f)
{
	const char *type = http_req_query(ctx->req, "type");
	enum billing_entry_kind k;

	f->kind = -1;
	if (type && billing_entry_kind_parse(type, &k) < 0) {
		http_reply_error(ctx->req, 400, "invalid_parameter", "Bad request", NULL,
				 "type must be topup, adjustment, call_charge, message_charge or "
				 "refund");
		return -EINVAL;
	}
	if (type)
		f->kind = (int)k;
	if (api_page_parse(ctx, page) < 0 || api_page_after_seq(ctx, page, &f->before_seq) < 0 ||
	    query_ms(ctx, "from", &f->from_ms) < 0 || query_ms(ctx, "to", &f->to_ms) < 0)
		return -EINVAL;
	f->limit = page->limit + 1; /* one more tells that another page exists */
	return 0;
}

static void handle_ledger(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct billing_ledger_filter f = {0};
	struct billing_balance b;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !(f.customer_id = customer_visible(&ctx)) ||
	    ledger_query(&ctx, &page, &f) < 0)
		return;
	/* An unknown customer is 404, not an empty ledger. */
	int rc = billing_balance_get(ctx.conn, &ctx.api->ledger, f.customer_id, &b);
	struct ledger_page p = {json_array(), api_is_admin(&ctx)};
	rc = rc < 0 ? rc : billing_ledger_list(ctx.conn, &f, ledger_page_add, &p);
	if (rc < 0) {
		json_decref(p.items);
		reply_ledger_error(&ctx, rc, f.customer_id);
		return;
	}
	api_page_reply(&ctx, &page, p.items, "seq");
}

int api_balances_routes(struct http_router *r)
{
	int rc = http_router_add(r, HTTP_POST, "/api/v1/customers/{id}/balance-transactions",
				 handle_post, NULL);
	rc = rc ? rc
		: http_router_add(r, HTTP_GET, "/api/v1/customers/{id}/balance", handle_balance,
				  NULL);
	return rc ? rc
		  : http_router_add(r, HTTP_GET, "/api/v1/customers/{id}/ledger", handle_ledger,
				    NULL);
}
