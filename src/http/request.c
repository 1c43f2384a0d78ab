/*
 * request.c — one HTTP request as handlers see it.
 *
 * http_req_new indexes what evhttp has read: method, decoded path, query
 * parameters, peer and body (made contiguous once), and picks the request
 * id: the caller's X-Request-Id when it is short and plain, so an id can be
 * followed across services, otherwise a fresh "req_…" id.  The id is what
 * the log context, the X-Request-Id reply header and the access log carry.
 *
 * http_req_json is the one place request bodies become JSON: it insists on
 * a JSON media type (415) and an object (400), and reports where a syntax
 * error is so a client can fix its payload.
 */
#include "http/http_private.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	enum evhttp_cmd_type cmd;
	enum http_method method;
	const char *name;
} http_methods[] = {
    {EVHTTP_REQ_GET, HTTP_GET, "GET"},
    {EVHTTP_REQ_POST, HTTP_POST, "POST"},
    {EVHTTP_REQ_PUT, HTTP_PUT, "PUT"},
    {EVHTTP_REQ_PATCH, HTTP_PATCH, "PATCH"},
    {EVHTTP_REQ_DELETE, HTTP_DELETE, "DELETE"},
    {EVHTTP_REQ_HEAD, HTTP_HEAD, "HEAD"},
    {EVHTTP_REQ_OPTIONS, HTTP_OPTIONS, "OPTIONS"},
};

#define HTTP_NMETHODS (sizeof(http_methods) / sizeof(http_methods[0]))

const char *http_method_name(enum http_method m)
{
	for (size_t i = 0; i < HTTP_NMETHODS; i++)
		if (http_methods[i].method == m)
			return http_methods[i].name;
	return "OTHER";
}

static enum http_method method_from_cmd(enum evhttp_cmd_type cmd)
{
	for (size_t i = 0; i < HTTP_NMETHODS; i++)
		if (http_methods[i].cmd == cmd)
			return http_methods[i].method;
	return 0; /* evhttp_set_allowed_methods keeps others out */
}

static bool req_id_acceptable(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > HTTP_REQ_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int req_id_pick(struct http_req *req)
{
	const char *given =
	    evhttp_find_header(evhttp_request_get_input_headers(req->ev), "X-Request-Id");

	if (req_id_acceptable(given))
		return str_copy(req->id, sizeof(req->id), str_from_cstr(given));
	return id_new("req", req->id, sizeof(req->id));
}

static void req_peer_read(struct http_req *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req->ev);
	const struct sockaddr *sa = c ? evhttp_connection_get_addr(c) : NULL;

	if (!sa)
		return;
	socklen_t len =
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	net_addr_from_sockaddr(sa, len, &req->peer);
}

/* Decodes path and query; returns a reason for a 400 or NULL. */
static const char *req_uri_read(struct http_req *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	size_t len = 0;

	req->raw_path = path && *path ? path : "/";
	req->path = evhttp_uridecode(req->raw_path, 0, &len);
	if (!req->path)
		return "request path cannot be decoded";
	if (strlen(req->path) != len)
		return "request path contains a NUL byte";
	if (req->path[0] != '/')
		return "request path must start with /";
	if (query && evhttp_parse_query_str(query, &req->query) < 0)
		return "malformed query string";
	return NULL;
}

struct http_req *http_req_new(struct http_server *srv, unsigned thread, struct evhttp_request *ev,
			      const char **bad)
{
	struct http_req *req = calloc(1, sizeof(*req));
	struct evbuffer *in = evhttp_request_get_input_buffer(ev);

	*bad = NULL;
	if (!req)
		return NULL;
	req->ev = ev;
	req->srv = srv;
	req->base = loop_pool_base(srv->pool, thread);
	req->thread = thread;
	req->start_us = time_mono_us();
	req->method = method_from_cmd(evhttp_request_get_command(ev));
	TAILQ_INIT(&req->query);
	if (req_id_pick(req) < 0) {
		free(req);
		return NULL;
	}
	req_peer_read(req);
	*bad = req_uri_read(req);
	req->body.len = evbuffer_get_length(in);
	req->body.p = req->body.len ? (const char *)evbuffer_pullup(in, -1) : "";
	return req;
}

void http_req_free(struct http_req *req)
{
	if (!req)
		return;
	if (req->user_free)
		req->user_free(req->user);
	evhttp_clear_headers(&req->query);
	free(req->path);
	free(req->param_text);
	free(req);
}

/* Values arrive as views of the path as received; each is decoded only
 * now, after the router has split the path, so an encoded '/' stays in its
 * value. */
int http_req_params_set(struct http_req *req, const struct http_route_match *m)
{
	size_t room = 0, at = 0;

	req->nparams = 0;
	if (!m->nparams)
		return 0;
	for (size_t i = 0; i < m->nparams; i++)
		room += m->params[i].value.len + 1;
	req->param_text = malloc(room);
	if (!req->param_text)
		return -ENOMEM;
	for (size_t i = 0; i < m->nparams; i++) {
		char *v = req->param_text + at;
		at += http_path_decode(m->params[i].value, v) + 1;
		req->params[i] = (struct http_req_param){m->params[i].name, v};
	}
	req->nparams = m->nparams;
	return 0;
}

/* The counter child for a method and status; cached in srv so that the hot
 * path takes no lock (a child lives as long as its family). */
static struct metric *req_counter(struct http_server *srv, enum http_method method, int status)
{
	char code[8];
	size_t m = method ? (size_t)__builtin_ctz((unsigned)method) + 1 : 0;
	bool cacheable = m < HTTP_METHOD_SLOTS && status >= HTTP_STATUS_FIRST &&
			 status < HTTP_STATUS_FIRST + HTTP_STATUS_SLOTS;
	_Atomic(struct metric *) *slot =
	    cacheable ? &srv->counted[m][status - HTTP_STATUS_FIRST] : NULL;
	struct metric *c = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;

	if (c)
		return c;
	snprintf(code, sizeof(code), "%d", status);
	c = metric_get(srv->requests, http_method_name(method), code);
	if (slot)
		atomic_store_explicit(slot, c, memory_order_release);
	return c;
}

static struct metric *req_timer(struct http_server *srv)
{
	struct metric *c = atomic_load_explicit(&srv->timed, memory_order_acquire);

	if (!c) {
		c = metric_get(srv->duration);
		atomic_store_explicit(&srv->timed, c, memory_order_release);
	}
	return c;
}

/* The access log line, formatted only when info lines are written. */
static void req_access_log(const struct http_req *req, int status, size_t bytes, int64_t us)
{
	char peer[NET_ADDR_STRLEN] = "-";
	char saved[HTTP_REQ_ID_MAX + 1] = "";
	const char *ctx = log_context_get();

	if (!log_enabled(LOG_INFO))
		return;
	str_copy(saved, sizeof(saved), str_from_cstr(ctx));
	if (req->peer.len)
		net_addr_format(&req->peer, peer, sizeof(peer));
	log_context_set(req->id);
	log_info("http", "%s %s %d %zu bytes %lld.%03lld ms peer %s", http_method_name(req->method),
		 req->raw_path, status, bytes, (long long)(us / 1000), (long long)(us % 1000),
		 peer);
	log_context_set(saved[0] ? saved : NULL);
}

void http_req_account(struct http_req *req, int status, size_t bytes)
{
	int64_t us = time_mono_us() - req->start_us;

	req_access_log(req, status, bytes, us);
	metric_inc(req_counter(req->srv, req->method, status));
	metric_observe(req_timer(req->srv), (double)us / 1e6);
}

/* ------------------------------------------------------------ accessors */

enum http_method http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *http_req_path(const struct http_req *req)
{
	return req->path;
}

const char *http_req_id(const struct http_req *req)
{
	return req->id;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	return evhttp_find_header(&req->query, name);
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const struct net_addr *http_req_peer(const struct http_req *req)
{
	return &req->peer;
}

struct str http_req_body(const struct http_req *req)
{
	return req->body;
}

void http_req_set_user(struct http_req *req, void *user, void (*free_fn)(void *))
{
	if (req->user_free)
		req->user_free(req->user);
	req->user = user;
	req->user_free = free_fn;
}

void *http_req_user(const struct http_req *req)
{
	return req->user;
}

struct evhttp_request *http_req_evhttp(struct http_req *req)
{
	return req->ev;
}

struct event_base *http_req_base(const struct http_req *req)
{
	return req->base;
}

/* ----------------------------------------------------------------- json */

/* application/json, or any application/…+json (RFC 6839 §3.1), with or
 * without parameters such as charset. */
static bool content_type_is_json(const char *ct)
{
	struct str t = str_from_cstr(ct);
	ptrdiff_t semi = str_index(t, ';');

	if (semi >= 0)
		t.len = (size_t)semi;
	t = str_trim(t);
	if (str_caseeq_cstr(t, "application/json"))
		return true;
	return t.len > 17 && str_has_prefix(t, STR_LIT("application/")) &&
	       str_caseeq_cstr((struct str){t.p + t.len - 5, 5}, "+json");
}

json_t *http_req_json(struct http_req *req)
{
	const char *ct = http_req_header(req, "Content-Type");
	json_error_t err;
	json_t *j;

	if (!ct || !content_type_is_json(ct)) {
		http_reply_error(req, 415, "unsupported_media_type", "Unsupported Media Type", NULL,
				 "Content-Type must be application/json, not %s",
				 ct ? ct : "absent");
		return NULL;
	}
	j = json_loadb(req->body.p, req->body.len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		http_reply_error(req, 400, "invalid_json", "Invalid JSON", NULL,
				 "line %d column %d (byte %d): %s", err.line, err.column,
				 err.position, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(req, 400, "invalid_json", "Invalid JSON", "",
				 "body must be a JSON object");
		return NULL;
	}
	return j;
}
