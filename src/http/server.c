/*
 * server.c — one evhttp per worker thread, all on the same address.
 *
 * http_server_new binds one listening socket per thread of the loop pool
 * with SO_REUSEPORT, on the calling thread, so that a port in use fails
 * startup at once with a readable reason.  The evhttp object that accepts on
 * each socket is created on its own thread through loop_pool_call (before or
 * after loop_pool_start alike): nothing of a base is touched by another
 * thread.  The kernel spreads connections over the sockets; each thread
 * serves its connections start to end.
 *
 * A request evhttp has read whole goes through: built-in routes (/healthz,
 * /readyz, /metrics), then the before-hook (authentication, rate limits),
 * then the router: a handler, a 405 with Allow, or a 404.  Size and time
 * limits are conn.c's (408, 413, 431 in JSON); what evhttp still enforces
 * itself is documented in docs/decisions/0006-evhttp-jansson.md.
 */
#include "http/http_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double http_duration_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
					      0.25,  0.5,   1,	  2.5,	 5,    10};

static void server_not_found(struct http_req *req)
{
	http_reply_error(req, 404, "not_found", "Not Found", NULL, "no resource at %s",
			 http_req_path(req));
}

static void server_not_allowed(struct http_req *req, unsigned allow)
{
	char methods[64];

	/* RFC 9110 §15.5.6: a 405 lists the methods the resource supports. */
	http_methods_format(allow, methods, sizeof(methods));
	http_reply_header(req, "Allow", methods);
	http_reply_error(req, 405, "method_not_allowed", "Method Not Allowed", NULL,
			 "%s is not allowed here; allowed: %s", http_method_name(req->method),
			 methods);
}

static void server_route(struct http_server *srv, struct http_req *req)
{
	struct http_route_match m;
	/* Routed as received: the router decodes each segment after splitting
	 * (router.c), so %2F never acts as a separator. */
	struct str path = str_from_cstr(req->raw_path);
	enum http_route_result r = http_router_match(srv->builtin, req->method, path, &m);

	if (r == HTTP_ROUTE_NOT_FOUND) {
		if (srv->opts.before && srv->opts.before(req, srv->opts.before_arg))
			return;
		r = http_router_match(srv->router, req->method, path, &m);
	}
	switch (r) {
	case HTTP_ROUTE_FOUND:
		if (http_req_params_set(req, &m) < 0) {
			http_reply_error(req, 503, "unavailable", "Service Unavailable", NULL,
					 "out of memory");
			return;
		}
		m.fn(req, m.arg);
		return;
	case HTTP_ROUTE_NOT_ALLOWED:
		server_not_allowed(req, m.allow);
		return;
	case HTTP_ROUTE_NOT_FOUND:
		server_not_found(req);
		return;
	}
}

/* evhttp's callback for every request read whole. */
static void server_request(struct evhttp_request *ev, void *arg)
{
	struct http_thread *t = arg;
	const char *bad = NULL;
	struct http_req *req = http_req_new(t->srv, t->index, ev, &bad);

	http_conn_request_read(t, ev);
	if (!req) {
		evhttp_send_error(ev, 503, NULL);
		return;
	}
	log_context_set(req->id);
	if (bad)
		http_reply_error(req, 400, "bad_request", "Bad Request", NULL, "%s", bad);
	else if (t->srv->opts.max_body && req->body.len > t->srv->opts.max_body)
		/* A chunked body: conn.c only sees Content-Length. */
		http_reply_error(req, 413, "payload_too_large", "Content Too Large", NULL,
				 "the body of %zu bytes is over the limit of %zu bytes",
				 req->body.len, t->srv->opts.max_body);
	else
		server_route(t->srv, req);
	log_context_set(NULL);
}

static void server_http_configure(struct evhttp *http, struct http_thread *t)
{
	const struct http_server_opts *o = &t->srv->opts;
	/* conn.c's deadline answers slow requests with 408; evhttp's own
	 * inactivity timeout, a second later, only catches stalled writes. */
	int ms = o->request_timeout_ms + 1000;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	/* conn.c answers heads over max_headers (431), a Content-Length over
	 * max_body (413) or not plain digits (400), and a chunked body whose
	 * bytes reach evhttp's limit (413) in JSON before evhttp acts; evhttp's
	 * own limits sit above ours so that they never fire first.  A chunked
	 * body between max_body and that limit is read and server_request
	 * answers 413 in JSON. */
	if (o->max_body)
		evhttp_set_max_body_size(http, (ev_ssize_t)http_evhttp_max_body(o->max_body));
	evhttp_set_max_headers_size(
	    http, (ev_ssize_t)(2 * (o->max_headers ? o->max_headers : HTTP_HEAD_MAX_DEFAULT)));
	if (o->request_timeout_ms > 0)
		evhttp_set_timeout_tv(http, &tv);
	evhttp_set_bevcb(http, http_conn_bev_new, t);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	/* Handlers always set their own type; this only covers evhttp's own
	 * error pages. */
	evhttp_set_default_content_type(http, "text/html; charset=utf-8");
}

/* Runs on thread t->index. */
static void server_thread_setup(void *arg)
{
	struct http_thread *t = arg;
	struct event_base *base = loop_pool_base(t->srv->pool, t->index);
	struct evhttp *http = evhttp_new(base);

	if (!http)
		goto fail;
	server_http_configure(http, t);
	evhttp_set_gencb(http, server_request, t);
	if (!evhttp_accept_socket_with_handle(http, t->fd))
		goto fail;
	t->fd = -1; /* the listener closes it now */
	t->http = http;
	return;
fail:
	log_error("http", "thread %u: cannot serve HTTP: out of memory", t->index);
	if (http)
		evhttp_free(http);
}

static void server_bind_error(const struct net_addr *a, int rc, char *err, size_t errlen)
{
	char where[NET_ADDR_STRLEN] = "?";

	net_addr_format(a, where, sizeof(where));
	snprintf(err, errlen, "%s: %s", where,
		 rc == -EADDRINUSE ? "address in use" : strerror(-rc));
}

/* With port 0 every socket would get its own port: the first one picks it
 * and the others join it. */
static int server_bind_all(struct http_server *srv, char *err, size_t errlen)
{
	struct net_addr a = srv->opts.listen;

	for (unsigned i = 0; i < srv->nthreads; i++) {
		int fd = net_socket_bind(&a, SOCK_STREAM, true);
		if (fd < 0) {
			server_bind_error(&a, fd, err, errlen);
			return fd;
		}
		srv->threads[i].fd = fd;
		if (i == 0 && net_addr_port(&a) == 0) {
			a.len = sizeof(a.ss);
			if (getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0)
				return -errno;
		}
	}
	return 0;
}

static int server_metrics_register(struct http_server *srv)
{
	struct metrics *m = metrics_default();

	srv->requests =
	    metrics_counter(m, "warp_http_requests_total",
			    "HTTP requests answered, by method and status code", "method,code");
	srv->duration = metrics_histogram(
	    m, "warp_http_request_duration_seconds",
	    "Time from a request read whole to its reply handed to the socket", NULL,
	    http_duration_bounds, sizeof(http_duration_bounds) / sizeof(http_duration_bounds[0]));
	srv->suspended = metric_get(metrics_gauge(
	    m, "warp_http_requests_suspended",
	    "Requests whose handler waits on another thread (a commit) to answer them", NULL));
	return srv->requests && srv->duration && srv->suspended ? 0 : -EEXIST;
}

static struct http_server *server_alloc(const struct http_server_opts *opts,
					const struct http_router *router, struct loop_pool *pool)
{
	struct http_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->opts = *opts;
	srv->router = router;
	srv->pool = pool;
	srv->nthreads = loop_pool_size(pool);
	srv->threads = calloc(srv->nthreads, sizeof(*srv->threads));
	srv->builtin = http_router_new();
	for (unsigned i = 0; srv->threads && i < srv->nthreads; i++) {
		srv->threads[i].srv = srv;
		srv->threads[i].index = i;
		srv->threads[i].fd = -1;
	}
	if (!srv->threads || !srv->builtin || http_builtin_add(srv) < 0) {
		http_server_free(srv);
		return NULL;
	}
	return srv;
}

struct http_server *http_server_new(const struct http_server_opts *opts,
				    const struct http_router *router, struct loop_pool *pool,
				    char *err, size_t errlen)
{
	struct http_server *srv = NULL;
	int rc = -EINVAL;

	snprintf(err, errlen, "invalid HTTP server options");
	if (!opts || !router || !pool || !loop_pool_size(pool))
		goto fail;
	snprintf(err, errlen, "out of memory");
	srv = server_alloc(opts, router, pool);
	if (!srv)
		goto fail;
	snprintf(err, errlen, "HTTP metrics already registered with other labels");
	if (server_metrics_register(srv) < 0)
		goto fail;
	rc = server_bind_all(srv, err, errlen);
	if (rc < 0)
		goto fail;
	for (unsigned i = 0; i < srv->nthreads; i++) {
		rc = loop_pool_call(pool, i, server_thread_setup, &srv->threads[i]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot reach worker thread %u", i);
			goto fail;
		}
	}
	if (err && errlen)
		err[0] = '\0';
	return srv;
fail:
	http_server_free(srv);
	return NULL;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; s->threads && i < s->nthreads; i++) {
		if (s->threads[i].http)
			evhttp_free(s->threads[i].http);
		if (s->threads[i].fd >= 0)
			close(s->threads[i].fd);
	}
	http_router_free(s->builtin);
	free(s->threads);
	free(s);
}
