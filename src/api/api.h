/*
 * api.h — the api role: WARP's REST gateway and provisioning resources.
 *
 * Every request under /api/v1 passes the gateway first (api_before, the HTTP
 * server's before-hook): the bearer credential is checked (API key, JWT or
 * the admin bootstrap token), the caller's token bucket is charged, and the
 * RateLimit-* headers are set; then the router hands the request to one of
 * the resource handlers, which read and write the store and record every
 * change in the events outbox in the same transaction.
 */
#ifndef WARP_API_H
#define WARP_API_H

#include <stdbool.h>

#include "auth/auth.h"
#include "core/core.h"
#include "http/http.h"
#include "invoice/invoice.h"
#include "store/store.h"
#include "tendlc/tendlc.h"

struct api_opts {
	struct store *store;
	/* Snapshots rebuilt on config changes (the send checks' customers and
	 * routes); NULL: those checks ask the store every time. */
	struct snapshot_loader *loader;
	struct auth *auth;     /* credential checks; required */
	struct ratelimit *rl;  /* NULL: no rate limits */
	/* [webhooks] allow_private: webhook URLs may name a non-public host
	 * (webhook_target.c); false refuses them with 422. */
	bool webhooks_allow_private;
	/* [smsc] default_validity and max_validity: when a message sent over
	 * HTTP without a validity, or with a longer one, expires. */
	int64_t msg_default_validity_ms, msg_max_validity_ms;
	/* [billing] low_balance_threshold, micro-units: balance.low below it for
	 * customers without a threshold of their own. */
	int64_t low_balance_threshold;
	/* [invoice] keys: the closing delay of a period and the issuer printed
	 * on documents (the strings must outlive the api). */
	struct invoice_opts invoice;
	/* [tendlc] campaign_max_numbers and opt_out_scope (decision 0041). */
	int64_t campaign_max_numbers;
	struct tendlc_opts tendlc;
	/* The process's rating snapshot (NULL: none): a prepaid customer's HTTP
	 * send is priced and reserved by it (send_prepaid.c, decision 0038). */
	struct snapshot *rating;
};

struct api;

struct api *api_new(const struct api_opts *o, char *err, size_t errlen);
/* Commits what the HTTP handlers have queued and hands their answers to the
 * HTTP loops: call after loop_pool_stop and before loop_pool_drain (see
 * http_req_suspend); api_free does it too. */
void api_stop(struct api *a);
void api_free(struct api *a);

/* Adds every /api/v1 route to r. */
int api_routes_add(struct api *a, struct http_router *r);

/* The HTTP server's before-hook (arg: the struct api): authenticates and
 * rate-limits requests under /api/v1, answering 401/429 itself. */
bool api_before(struct http_req *req, void *arg);

/* ------------------------------------------------- mounted upstreams */

/* An HTTP service mounted behind the gateway ([route.NAME] prefix, upstream,
 * timeout): requests under prefix pass the gateway's credential check and
 * rate limit like /api/v1, then are proxied asynchronously to url with the
 * caller's identity in X-Warp-* headers (upstream.c). */
struct api_upstream_opts {
	const char *name;   /* the NAME of [route.NAME], for logs and metrics */
	const char *prefix; /* literal path segments: "/crm" */
	const char *url;    /* "http://host[:port][/path]"; the host is resolved now */
	int64_t timeout_ms; /* connect, write and read inactivity: then 504 */
};

/* Mounts one upstream on r; 0, or a negative code with a reason in err. */
int api_upstream_add(struct api *a, struct http_router *r, const struct api_upstream_opts *o,
		     char *err, size_t errlen);

/* ------------------------------------------------- webhook dispatcher */

/* A thread with its own store connection that fans each new event of the
 * outbox out to the matching enabled webhooks of its customer and POSTs it
 * to them, signed, in seq order per webhook, retried with backoff
 * (docs/decisions/0011-webhook-outbox.md). */
struct api_webhook_dispatch;

/* Starts it with the [webhooks] keys of cfg; NULL with a reason in err. */
struct api_webhook_dispatch *api_webhook_dispatch_start(struct store *s, const struct config *cfg, char *err,
					size_t errlen);
/* Stops it within about a second (a delivery in flight is abandoned and
 * attempted again later), joins the thread and frees; NULL is accepted. */
void api_webhook_dispatch_stop(struct api_webhook_dispatch *d);

#endif
