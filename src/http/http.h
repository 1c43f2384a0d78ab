/*
 * http.h — WARP's HTTP server on libevent's evhttp.
 *
 * One listener per worker thread on the same address (SO_REUSEPORT), each on
 * its thread's event base, all sharing one immutable router.  Every request
 * gets a request id (the caller's X-Request-Id when it is sane, a new one
 * otherwise) that is set as the thread's log context, echoed in the
 * response, and written to the access log with method, path, status, size
 * and duration.  Handlers answer with JSON through http_reply_*; a handler
 * whose answer waits on another thread suspends the request and has it
 * resumed on its own thread later (http_req_suspend below).
 *
 * Errors use the format of docs/openapi.yaml:
 *   {"errors":[{"code":"…","title":"…","detail":"…","source":{"pointer":"/ips/0"}}]}
 *
 * Built in: GET /healthz (the process is up), GET /readyz (the readiness
 * callback says yes), GET /metrics (Prometheus text of metrics_default()).
 */
#ifndef WARP_HTTP_H
#define WARP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct evhttp_request;

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_POST = 1 << 1,
	HTTP_PUT = 1 << 2,
	HTTP_PATCH = 1 << 3,
	HTTP_DELETE = 1 << 4,
	HTTP_HEAD = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
};

struct http_req;
typedef void (*http_handler_fn)(struct http_req *req, void *arg);

/* ---------------------------------------------------------------- router */

/* Patterns are literal segments and {name} parameters:
 * "/api/v1/carriers/{id}/gateways".  A pattern whose last segment is a lone
 * "*" matches any rest of the path (for mounted upstreams).  Literal segments win over
 * parameters.  A known path with another method answers 405 with Allow. */
struct http_router;

struct http_router *http_router_new(void);
void http_router_free(struct http_router *r);
int http_router_add(struct http_router *r, unsigned methods, const char *pattern,
		    http_handler_fn fn, void *arg);

/* ---------------------------------------------------------------- server */

struct http_server_opts {
	struct net_addr listen;
	size_t max_body;        /* bytes; a larger Content-Length (or chunked
				 * body) answers 413 */
	int request_timeout_ms; /* a request not read whole by then answers 408 */
	size_t max_headers;     /* bytes of the head (request line, header
				 * fields, empty line); larger answers 431 */
	/* /readyz: 0 when ready; > 0 when serving in a degraded mode (200
	 * with status "degraded" and the reason in why: keep it in a load
	 * balancer, page someone); else a negative code with a reason in why
	 * (503 "not ready"). */
	int (*ready)(void *arg, char *why, size_t n);
	void *ready_arg;
	/* Runs before routing (authentication, rate limits); returns true when
	 * it has answered the request itself.  NULL for none. */
	bool (*before)(struct http_req *req, void *arg);
	void *before_arg;
};

struct http_server;

/* Binds one listener per thread of pool (the first bind reports -EADDRINUSE
 * and friends so startup can fail with a clear reason); the router must
 * outlive the server. */
struct http_server *http_server_new(const struct http_server_opts *opts,
				    const struct http_router *router, struct loop_pool *pool,
				    char *err, size_t errlen);
/* Stops accepting and frees; call after the pool's loops have stopped. */
void http_server_free(struct http_server *s);

/* --------------------------------------------------------------- request */

enum http_method http_req_method(const struct http_req *req);
/* The path without the query string, percent-decoded. */
const char *http_req_path(const struct http_req *req);
const char *http_req_id(const struct http_req *req);
/* A path parameter by name ("id"); NULL when the pattern has none. */
const char *http_req_param(const struct http_req *req, const char *name);
/* A query parameter; NULL when absent. */
const char *http_req_query(const struct http_req *req, const char *name);
const char *http_req_header(const struct http_req *req, const char *name);
/* The peer's address. */
const struct net_addr *http_req_peer(const struct http_req *req);
struct str http_req_body(const struct http_req *req);
/* Parses the body as a JSON object.  On failure answers 400 (or 415 for a
 * non-JSON Content-Type) itself and returns NULL. */
json_t *http_req_json(struct http_req *req);
/* Per-request slot for the before-hook (the caller's identity). */
void http_req_set_user(struct http_req *req, void *user, void (*free_fn)(void *));
void *http_req_user(const struct http_req *req);
struct evhttp_request *http_req_evhttp(struct http_req *req);
struct event_base *http_req_base(const struct http_req *req);

/* --------------------------------------------------------------- suspend */

/*
 * A handler whose answer waits on another thread (the batching writer's
 * commit, a JWKS fetch) does not block its worker, which serves other
 * connections meanwhile: it calls http_req_suspend and returns without
 * answering.  Whoever finishes the work calls http_req_resume, from any
 * thread, exactly once; fn(req, arg) then runs on the request's own thread,
 * with its request id as log context, and answers with http_reply_* (or
 * suspends again).  Neither call can fail: the hand-off's storage is in the
 * request.  A client that closed its connection meanwhile is noticed only
 * when the answer is written, which is then dropped; req stays valid until
 * answered either way.  /metrics counts the requests waiting
 * (warp_http_requests_suspended).
 *
 * Shutdown: a request must not stay suspended past http_server_free.
 * Stop the loops (loop_pool_stop), finish the work that will resume
 * requests, run the resumptions (loop_pool_drain), then free the server;
 * answers given then are not written any more (no loop runs), the
 * connections close with the server.
 */
void http_req_suspend(struct http_req *req);
void http_req_resume(struct http_req *req, http_handler_fn fn, void *arg);

/* ----------------------------------------------------------------- reply */

/* Adds a response header (before the reply). */
void http_reply_header(struct http_req *req, const char *name, const char *value);
/* Sends body as JSON; steals the reference to body (NULL: no body). */
void http_reply_json(struct http_req *req, int status, json_t *body);
/* {"data": data}; steals data. */
void http_reply_data(struct http_req *req, int status, json_t *data);
/* One error object; pointer may be NULL. */
void http_reply_error(struct http_req *req, int status, const char *code, const char *title,
		      const char *pointer, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void http_reply_raw(struct http_req *req, int status, const char *content_type,
		    const void *body, size_t len);

#endif
