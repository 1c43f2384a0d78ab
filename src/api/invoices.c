/*
 * invoices.c — invoices through the API, over the invoice module
 * (src/invoice/, decision 0040):
 *
 *   POST /api/v1/invoice-runs          admins: run a closed period (or preview it, dry_run)
 *   GET  /api/v1/invoice-runs          admins: the recorded runs, newest first
 *   GET  /api/v1/invoices              documents, newest first (by customer, period, NetSuite
 * state) GET  /api/v1/invoices/{id}         one document with its lines and NetSuite state GET
 * /api/v1/invoices/{id}/html    the printable document (text/html)
 *
 * A run here issues documents and commits them; the billing role's
 * delivery thread sends them to NetSuite (decision 0054), so no HTTP worker
 * waits on NetSuite.  A customer's credential
 * reads its own documents and gets 404 for others'.  /metrics shows the
 * last run and the documents NetSuite has not accepted, read from the
 * store at each scrape (the runs may be other processes').
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "api/api_private.h"

static void reply_invoice_error(struct api_ctx *ctx, int rc)
{
	if (rc == INVOICE_EPERIOD)
		http_reply_error(ctx->req, 422, "invalid_value", "Invalid field", "/period",
				 "'period': %s", invoice_strerror(rc));
	else if (rc == INVOICE_EOPEN)
		http_reply_error(ctx->req, 409, "period_open", "Period not closed", "/period",
				 "the period has not ended, or ended less than [invoice] "
				 "close_delay ago");
	else if (rc == INVOICE_ENOCUSTOMER)
		http_reply_error(ctx->req, 422, "invalid_reference", "Invalid field",
				 "/customer_id", "no such customer");
	else if (rc == INVOICE_ENOTFOUND)
		http_reply_error(ctx->req, 404, "not_found", "Not found", NULL, "no such invoice");
	else
		api_reply_store_error(ctx, rc, "invoice");
}

/* {"period": "2026-11", "customer_id": …, "dry_run": false} */
static int run_body(struct api_ctx *ctx, const json_t *body, const char **period,
		    const char **customer, bool *dry)
{
	const json_t *p = json_object_get(body, "period"),
		     *c = json_object_get(body, "customer_id");
	const json_t *d = json_object_get(body, "dry_run");
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)body, k, v)
	{
		if (strcmp(k, "period") && strcmp(k, "customer_id") && strcmp(k, "dry_run")) {
			char ptr[80];
			snprintf(ptr, sizeof(ptr), "/%.70s", k);
			http_reply_error(ctx->req, 422, "unknown_field", "Invalid field", ptr,
					 "unknown member '%s'", k);
			return -EINVAL;
		}
	}
	*period = json_string_value(p);
	*customer = json_string_value(c);
	*dry = json_is_true(d);
	if (!*period) {
		http_reply_error(ctx->req, 422, "required", "Invalid field", "/period",
				 "'period' (YYYY-MM) is required");
		return -EINVAL;
	}
	if ((c && !json_is_null(c) && !*customer) || (d && !json_is_boolean(d))) {
		http_reply_error(ctx->req, 422, "invalid_type", "Invalid field",
				 d && !json_is_boolean(d) ? "/dry_run" : "/customer_id",
				 "customer_id is a string, dry_run a boolean");
		return -EINVAL;
	}
	return 0;
}

static void handle_run(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct invoice_run run = {0};
	const char *period, *customer;
	bool dry;
	json_t *body = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) || !api_require_write(&ctx) ||
	    api_idempotency_replay(&ctx) || !(body = http_req_json(req)))
		return;
	if (run_body(&ctx, body, &period, &customer, &dry) == 0) {
		int rc = invoice_run(ctx.conn, &ctx.api->invoice, period, customer, dry,
				     time_wall_ms(), &run);
		if (rc == 0)
			rc = invoice_run_finish(ctx.conn, &run, time_wall_ms());
		json_t *data = rc < 0 ? NULL : invoice_run_json(&run);
		json_t *answer = data ? json_pack("{s:o}", "data", data) : NULL;
		/* A retry under the key answers this run again; a run is
		 * idempotent anyway, so its own commits come first. */
		if (answer)
			rc = api_idempotency_record(&ctx, dry ? 200 : 201, answer);
		if (rc < 0)
			reply_invoice_error(&ctx, rc);
		else
			http_reply_json(req, dry ? 200 : 201, json_incref(answer));
		json_decref(answer);
		invoice_run_fini(&run);
	}
	json_decref(body);
}

static void handle_runs(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	json_t *items = NULL;
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) ||
	    api_page_parse(&ctx, &page) < 0)
		return;
	int rc = invoice_runs_json(ctx.conn, page.limit, &items);
	if (rc < 0) {
		json_decref(items);
		api_reply_store_error(&ctx, rc, "invoice run");
		return;
	}
	http_reply_data(req, 200, items);
}

/* The document when the caller may see it; answered otherwise. */
static int visible_load(struct api_ctx *ctx, struct invoice *inv)
{
	int rc = invoice_load(ctx->conn, http_req_param(ctx->req, "id"), inv);
	if (rc == 0 && !api_is_admin(ctx) && strcmp(inv->customer_id, ctx->who->customer_id) != 0)
		rc = INVOICE_ENOTFOUND;
	if (rc < 0)
		reply_invoice_error(ctx, rc);
	return rc;
}

static void handle_get(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct invoice inv;
	(void)arg;

	invoice_init(&inv);
	if (api_ctx_init(&ctx, req) == 0 && visible_load(&ctx, &inv) == 0)
		http_reply_data(req, 200, invoice_json(&inv));
	invoice_fini(&inv);
}

static void handle_html(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct invoice inv;
	struct buf b;
	(void)arg;

	invoice_init(&inv);
	buf_init(&b);
	if (api_ctx_init(&ctx, req) == 0 && visible_load(&ctx, &inv) == 0) {
		if (invoice_html(&inv, &ctx.api->invoice, &b) < 0)
			api_reply_store_error(&ctx, -ENOMEM, "invoice");
		else
			http_reply_raw(req, 200, "text/html; charset=utf-8", b.p, b.len);
	}
	buf_fini(&b);
	invoice_fini(&inv);
}

static int list_add(const struct invoice *inv, void *arg)
{
	return json_array_append_new(arg, invoice_json(inv)) == 0 ? 0 : -ENOMEM;
}

static void handle_list(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_page page;
	struct invoice_filter f = {0};
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || api_page_parse(&ctx, &page) < 0 ||
	    api_page_after_seq(&ctx, &page, &f.before_seq) < 0)
		return;
	f.customer_id =
	    api_is_admin(&ctx) ? http_req_query(req, "customer_id") : ctx.who->customer_id;
	f.period = http_req_query(req, "period");
	f.ns_state = http_req_query(req, "netsuite_state");
	f.limit = page.limit + 1;
	json_t *items = json_array();
	int rc = invoice_list(ctx.conn, &f, list_add, items);
	if (rc < 0) {
		json_decref(items);
		api_reply_store_error(&ctx, rc, "invoice");
		return;
	}
	api_page_reply(&ctx, &page, items, "number_seq");
}

/* ------------------------------------------------------------- metrics */

enum { STATE_LAST_RUN, STATE_LAST_FAILURES, STATE_PENDING, STATE_FAILED };

/* What the four gauges show, read from the store at most once a second
 * however many there are and however often /metrics is scraped; guarded
 * by its lock, which a scrape holds for that one query at most. */
static struct {
	pthread_mutex_t lock;
	int64_t read_at; /* monotonic ms; 0: never */
	int64_t v[4];
} state_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void state_refresh(struct api *a, int64_t now)
{
	struct store_conn *c = store_conn(a->store);
	struct invoice_state s;

	if (c && invoice_state_get(c, &s) == 0) {
		state_cache.v[STATE_LAST_RUN] = s.last_run_at / 1000;
		state_cache.v[STATE_LAST_FAILURES] = s.last_run_failures;
		state_cache.v[STATE_PENDING] = s.ns_pending;
		state_cache.v[STATE_FAILED] = s.ns_failed;
	} else {
		for (int i = 0; i < 4; i++)
			state_cache.v[i] = -1; /* the store did not answer */
	}
	state_cache.read_at = now;
}

static int64_t state_read(void *arg)
{
	const struct api_invoice_gauge *g = arg;
	int64_t now = time_mono_ms(), v;

	pthread_mutex_lock(&state_cache.lock);
	if (!state_cache.read_at || now - state_cache.read_at >= 1000)
		state_refresh(g->api, now);
	v = state_cache.v[g->which];
	pthread_mutex_unlock(&state_cache.lock);
	return v;
}

static void state_gauges(struct api *a)
{
	static const char *const names[4][2] = {
	    {"warp_invoice_last_run_timestamp_seconds",
	     "When the last invoice run finished (Unix time; 0: none yet; -1 in all four: the "
	     "store did not answer)."},
	    {"warp_invoice_last_run_failures",
	     "Customers and NetSuite deliveries the last invoice run failed."},
	    {"warp_invoice_netsuite_pending", "Invoices and notes not yet sent to NetSuite."},
	    {"warp_invoice_netsuite_failed",
	     "Invoices and notes whose last NetSuite delivery failed (a rerun retries them)."},
	};
	for (int i = 0; i < 4; i++) {
		a->invoice_gauges[i] = (struct api_invoice_gauge){a, i};
		/* -EEXIST for a second api in one process: the first's stay. */
		metrics_gauge_fn(metrics_default(), names[i][0], names[i][1], state_read,
				 &a->invoice_gauges[i]);
	}
}

int api_invoices_routes(struct api *a, struct http_router *r)
{
	int rc = http_router_add(r, HTTP_POST, "/api/v1/invoice-runs", handle_run, NULL);
	rc = rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/invoice-runs", handle_runs, NULL);
	rc = rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/invoices", handle_list, NULL);
	rc = rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/invoices/{id}", handle_get, NULL);
	rc =
	    rc ? rc : http_router_add(r, HTTP_GET, "/api/v1/invoices/{id}/html", handle_html, NULL);
	if (rc == 0)
		state_gauges(a);
	return rc;
}
