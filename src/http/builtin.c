/*
 * builtin.c — the routes every WARP role serves (principle 8 of
 * docs/ARCHITECTURE.md).
 *
 * GET /healthz answers as long as the thread's loop runs; GET /readyz asks
 * the server's readiness callback (the store reachable, snapshots loaded):
 * 200 "ready", 200 "degraded" with a reason (serving, but a shared backend
 * is missing: the sip role's cluster limits without Redis), or 503;
 * GET /metrics renders metrics_default() as Prometheus text 0.0.4.  They are
 * matched before the before-hook so probes and scrapers need no credentials
 * and are never rate limited.
 */
#include "http/http_private.h"

#include <string.h>

#define HTTP_READY_WHY_MAX 256

static void builtin_healthz(struct http_req *req, void *arg)
{
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void builtin_readyz(struct http_req *req, void *arg)
{
	struct http_server *srv = arg;
	char why[HTTP_READY_WHY_MAX] = "";
	int rc = 0;

	if (srv->opts.ready)
		rc = srv->opts.ready(srv->opts.ready_arg, why, sizeof(why));
	if (rc == 0) {
		http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
		return;
	}
	const char *status = rc > 0 ? "degraded" : "not ready";

	if (!why[0] && rc < 0)
		str_copy(why, sizeof(why), str_from_cstr(strerror(-rc)));
	json_t *body = json_pack("{s:s, s:s}", "status", status, "reason", why);
	if (!body) /* a reason that is not UTF-8 */
		body = json_pack("{s:s}", "status", status);
	http_reply_json(req, rc > 0 ? 200 : 503, body);
}

static void builtin_metrics(struct http_req *req, void *arg)
{
	struct buf out;

	buf_init(&out);
	if (metrics_render(metrics_default(), &out) < 0) {
		buf_fini(&out);
		http_reply_error(req, 500, "internal", "Internal Server Error", NULL,
				 "metrics could not be rendered");
		return;
	}
	http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.p, out.len);
	buf_fini(&out);
}

int http_builtin_add(struct http_server *srv)
{
	int rc = http_router_add(srv->builtin, HTTP_GET, "/healthz", builtin_healthz, srv);

	rc = rc ? rc : http_router_add(srv->builtin, HTTP_GET, "/readyz", builtin_readyz, srv);
	rc = rc ? rc : http_router_add(srv->builtin, HTTP_GET, "/metrics", builtin_metrics, srv);
	return rc;
}
