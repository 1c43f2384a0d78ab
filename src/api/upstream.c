/*
 * upstream.c — HTTP services mounted behind the gateway ([route.NAME]).
 *
 *   [route.crm]
 *   prefix = /crm
 *   upstream = http://10.0.0.7:8000/v2
 *   timeout = 10s
 *
 * Every request under the prefix passes the gateway first (api_before: the
 * bearer credential, the caller's token bucket, RateLimit-* headers), then
 * is relayed here without blocking the worker thread: an evhttp client
 * connection on the request's own event base carries it to the upstream
 * and the answer back.  The path below the prefix is appended to the
 * upstream's path (/crm/a?b=1 → /v2/a?b=1).
 *
 * The upstream learns who is calling from X-Warp-Role (admin|customer),
 * X-Warp-Customer-Id ("" for admins) and X-Warp-Credential-Id (the API key's
 * id, or the JWT's sub), which only WARP sets: the caller's own X-Warp-*
 * headers and its Authorization header are dropped, so the upstream never
 * sees the bearer credential and cannot be fooled by a forged identity.
 * X-Request-Id carries the gateway's request id; X-Forwarded-For gets the
 * peer's address appended.
 *
 * The upstream's host is resolved once at startup, so no request waits on
 * DNS (evhttp resolves with a blocking call when given no evdns base).  An
 * upstream that refuses or drops the connection answers 502; one silent for
 * longer than the timeout (connect, write or read inactivity) answers 504.
 * A call still in flight when the process stops is abandoned.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "api/api_private.h"

#define UPSTREAM_BODY_MAX (16 * 1024 * 1024)
#define UPSTREAM_HEADERS_MAX (64 * 1024)
#define UPSTREAM_HOST_MAX 256

enum upstream_outcome { UPSTREAM_OK, UPSTREAM_UNREACHABLE, UPSTREAM_TIMEOUT, UPSTREAM_NOUTCOMES };

struct api_upstream {
	char *name;
	char *prefix;	 /* "/crm", as configured */
	char *base_path; /* "" or "/v2", without a trailing '/' */
	char host_header[UPSTREAM_HOST_MAX + 8];
	char addr[NI_MAXHOST]; /* resolved at startup */
	uint16_t port;
	struct timeval timeout;
	struct metric *outcomes[UPSTREAM_NOUTCOMES];
};

/* One request being relayed; lives until the caller has its answer. */
struct upstream_call {
	struct http_req *req;
	const struct api_upstream *up;
	struct evhttp_connection *evcon;
	enum evhttp_request_error error;
	bool failed;
};

/* ------------------------------------------------------------ setup */

static void upstream_free(struct api_upstream *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->prefix);
	free(u->base_path);
	free(u);
}

void api_upstreams_free(struct api *a)
{
	for (size_t i = 0; i < a->nupstreams; i++)
		upstream_free(a->upstreams[i]);
	free(a->upstreams);
	a->upstreams = NULL;
	a->nupstreams = 0;
}

/* The address to connect to, found now so requests never wait on DNS. */
static int upstream_resolve(struct api_upstream *u, const char *host, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);

	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	rc = getnameinfo(res->ai_addr, res->ai_addrlen, u->addr, sizeof(u->addr), NULL, 0,
			 NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

/* Only plain http://host[:port][/path]: the upstream sits beside WARP on a
 * private network; a query or fragment in the base would be ambiguous. */
static int upstream_url_parse(struct api_upstream *u, const char *url, char *err, size_t errlen)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	char shown[URL_REDACT_MAX];
	int rc = -EINVAL;

	url_redact(url, shown, sizeof(shown));
	if (!uri || !evhttp_uri_get_scheme(uri) ||
	    strcmp(evhttp_uri_get_scheme(uri), "http") != 0 || !evhttp_uri_get_host(uri) ||
	    !*evhttp_uri_get_host(uri) || evhttp_uri_get_query(uri) ||
	    evhttp_uri_get_fragment(uri) || evhttp_uri_get_userinfo(uri)) {
		snprintf(err, errlen, "upstream '%s' is not http://host[:port][/path]", shown);
		goto out;
	}
	const char *host = evhttp_uri_get_host(uri);
	const char *path = evhttp_uri_get_path(uri);
	int port = evhttp_uri_get_port(uri);
	size_t plen = path ? strlen(path) : 0;

	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	u->port = port > 0 ? (uint16_t)port : 80;
	if (strlen(host) > UPSTREAM_HOST_MAX ||
	    !(u->base_path = str_dup((struct str){path, plen}))) {
		snprintf(err, errlen, "upstream '%s': host too long or out of memory", shown);
		goto out;
	}
	if (port > 0)
		snprintf(u->host_header, sizeof(u->host_header), "%s:%d", host, port);
	else
		snprintf(u->host_header, sizeof(u->host_header), "%s", host);
	rc = upstream_resolve(u, host, err, errlen);
out:
	if (uri)
		evhttp_uri_free(uri);
	return rc;
}

/* A prefix is one or more literal path segments: "/crm" or "/ext/billing". */
static bool upstream_prefix_valid(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 128)
		return false;
	bool segment = false;
	for (const char *c = p; *c; c++) {
		if (*c == '{' || *c == '}' || *c == '*' || *c == '?' || *c == '%' || *c == '#')
			return false;
		segment |= *c != '/';
	}
	return segment;
}

static void upstream_metrics(struct api_upstream *u)
{
	static const char *const names[UPSTREAM_NOUTCOMES] = {"ok", "unreachable", "timeout"};
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_api_upstream_requests_total",
	    "Requests relayed to mounted upstreams, by route and outcome.", "route,outcome");

	for (int i = 0; f && i < UPSTREAM_NOUTCOMES; i++)
		u->outcomes[i] = metric_get(f, u->name, names[i]);
}

static void upstream_count(const struct api_upstream *u, enum upstream_outcome o)
{
	if (u->outcomes[o])
		metric_inc(u->outcomes[o]);
}

/* ----------------------------------------------------------- request */

/* RFC 9110 §7.6.1: connection-specific fields are not forwarded, nor the
 * ones the Connection field names.  Authorization and X-Warp-* never leave
 * WARP; Host, Content-Length and X-Request-Id are set anew. */
static bool header_dropped(const char *name, const char *connection)
{
	static const char *const drop[] = {
	    "Connection",
	    "Keep-Alive",
	    "Proxy-Connection",
	    "Proxy-Authenticate",
	    "Proxy-Authorization",
	    "TE",
	    "Trailer",
	    "Transfer-Encoding",
	    "Upgrade",
	    "Authorization",
	    "Host",
	    "Content-Length",
	    "X-Request-Id",
	    "X-Forwarded-For",
	    "Expect",
	};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strcasecmp(name, drop[i]) == 0)
			return true;
	if (strncasecmp(name, "X-Warp-", 7) == 0)
		return true;
	struct str rest = str_from_cstr(connection), tok;
	while (connection && rest.len > 0) {
		ptrdiff_t comma = str_index(rest, ',');
		tok = str_trim((struct str){rest.p, comma < 0 ? rest.len : (size_t)comma});
		if (tok.len == strlen(name) && strncasecmp(tok.p, name, tok.len) == 0)
			return true;
		rest =
		    comma < 0 ? STR_NULL : (struct str){rest.p + comma + 1, rest.len - comma - 1};
	}
	return false;
}

static void headers_copy(struct evkeyvalq *to, struct evkeyvalq *from)
{
	const char *connection = evhttp_find_header(from, "Connection");

	for (struct evkeyval *h = TAILQ_FIRST(from); h; h = TAILQ_NEXT(h, next))
		if (!header_dropped(h->key, connection))
			evhttp_add_header(to, h->key, h->value);
}

static void identity_headers(struct evkeyvalq *out, struct http_req *req,
			     const struct api_upstream *up, const struct auth_identity *who)
{
	char peer[NET_ADDR_STRLEN] = "";
	const char *xff = http_req_header(req, "X-Forwarded-For");
	struct buf b;

	evhttp_add_header(out, "Host", up->host_header);
	evhttp_add_header(out, "X-Warp-Role", who->role == AUTH_ROLE_ADMIN ? "admin" : "customer");
	evhttp_add_header(out, "X-Warp-Customer-Id", who->customer_id);
	evhttp_add_header(out, "X-Warp-Credential-Id",
			  who->kind == AUTH_KIND_API_KEY ? who->key_id : who->subject);
	evhttp_add_header(out, "X-Request-Id", http_req_id(req));
	net_addr_format_ip(http_req_peer(req), peer, sizeof(peer));
	buf_init(&b);
	if (xff && *xff)
		buf_printf(&b, "%s, %s", xff, peer);
	else
		buf_append_cstr(&b, peer);
	evhttp_add_header(out, "X-Forwarded-For", b.p ? b.p : peer);
	buf_fini(&b);
}

/* The upstream's request-target: its base path and what follows the prefix
 * in the request as received (still percent-encoded, query included).  The
 * raw prefix segments must read exactly as configured; -EINVAL otherwise. */
static int upstream_target(const struct api_upstream *up, const char *raw, struct buf *out)
{
	struct str pre = str_from_cstr(up->prefix);
	const char *p = raw;

	if (!raw || raw[0] != '/')
		return -EINVAL;
	while (pre.len > 0) {
		while (pre.len > 0 && *pre.p == '/')
			pre.p++, pre.len--;
		size_t n = 0;
		while (n < pre.len && pre.p[n] != '/')
			n++;
		while (*p == '/')
			p++;
		if (n > 0 && (strncmp(p, pre.p, n) != 0 || (p[n] && p[n] != '/' && p[n] != '?')))
			return -EINVAL;
		p += n;
		pre.p += n, pre.len -= n;
	}
	buf_append_cstr(out, up->base_path);
	if (*p != '/')
		buf_append_char(out, '/');
	return buf_append_cstr(out, p);
}

static enum evhttp_cmd_type upstream_cmd(enum http_method m)
{
	switch (m) {
	case HTTP_POST:
		return EVHTTP_REQ_POST;
	case HTTP_PUT:
		return EVHTTP_REQ_PUT;
	case HTTP_PATCH:
		return EVHTTP_REQ_PATCH;
	case HTTP_DELETE:
		return EVHTTP_REQ_DELETE;
	case HTTP_HEAD:
		return EVHTTP_REQ_HEAD;
	case HTTP_OPTIONS:
		return EVHTTP_REQ_OPTIONS;
	default:
		return EVHTTP_REQ_GET;
	}
}

/* ----------------------------------------------------------- response */

static void evcon_free_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evhttp_connection_free(arg);
}

static bool response_header_dropped(const char *name, const char *connection)
{
	/* Ours win: the gateway's rate-limit headers and the request id. */
	return header_dropped(name, connection) || strncasecmp(name, "RateLimit-", 10) == 0 ||
	       strcasecmp(name, "Retry-After") == 0 || strcasecmp(name, "Content-Type") == 0;
}

static void upstream_relay(struct upstream_call *c, struct evhttp_request *resp)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(resp);
	struct evkeyvalq *out = evhttp_request_get_output_headers(http_req_evhttp(c->req));
	struct evbuffer *body = evhttp_request_get_input_buffer(resp);
	const char *connection = evhttp_find_header(in, "Connection");
	const char *type = evhttp_find_header(in, "Content-Type");
	size_t len = evbuffer_get_length(body);

	for (struct evkeyval *h = TAILQ_FIRST(in); h; h = TAILQ_NEXT(h, next))
		if (!response_header_dropped(h->key, connection))
			evhttp_add_header(out, h->key, h->value);
	upstream_count(c->up, UPSTREAM_OK);
	http_reply_raw(c->req, evhttp_request_get_response_code(resp), type,
		       len ? evbuffer_pullup(body, -1) : NULL, len);
}

/* evhttp's answer: resp is NULL when the exchange failed (error_cb said why
 * just before).  Runs on the request's own thread. */
static void upstream_done(struct evhttp_request *resp, void *arg)
{
	struct upstream_call *c = arg;
	const struct api_upstream *up = c->up;
	static const struct timeval now = {0, 0};

	log_context_set(http_req_id(c->req));
	if (resp && evhttp_request_get_response_code(resp) >= 100) {
		upstream_relay(c, resp);
	} else if (c->failed && c->error == EVREQ_HTTP_TIMEOUT) {
		upstream_count(up, UPSTREAM_TIMEOUT);
		log_warn("api", "upstream %s timed out", up->name);
		http_reply_error(c->req, 504, "upstream_timeout", "Gateway Timeout", NULL,
				 "upstream %s did not answer in time", up->name);
	} else {
		upstream_count(up, UPSTREAM_UNREACHABLE);
		log_warn("api", "upstream %s unreachable (%d)", up->name,
			 c->failed ? (int)c->error : -1);
		http_reply_error(c->req, 502, "upstream_unreachable", "Bad Gateway", NULL,
				 "upstream %s cannot be reached", up->name);
	}
	log_context_set(NULL);
	/* evhttp still uses the connection after this callback returns. */
	if (event_base_once(evhttp_connection_get_base(c->evcon), -1, EV_TIMEOUT, evcon_free_later,
			    c->evcon, &now) < 0)
		log_error("api", "upstream %s: connection leaked", up->name);
	free(c);
}

static void upstream_error(enum evhttp_request_error error, void *arg)
{
	struct upstream_call *c = arg;
	c->failed = true;
	c->error = error;
}

/* ------------------------------------------------------------ handler */

static struct evhttp_request *upstream_request_new(struct upstream_call *c,
						   const struct auth_identity *who)
{
	struct evhttp_request *out = evhttp_request_new(upstream_done, c);
	struct str body = http_req_body(c->req);
	char n[24];

	if (!out)
		return NULL;
	evhttp_request_set_error_cb(out, upstream_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(out);
	headers_copy(h, evhttp_request_get_input_headers(http_req_evhttp(c->req)));
	identity_headers(h, c->req, c->up, who);
	/* evhttp 2.1 adds Content-Length to POST and PUT only. */
	if (body.len > 0 || http_req_method(c->req) & (HTTP_POST | HTTP_PUT | HTTP_PATCH)) {
		snprintf(n, sizeof(n), "%zu", body.len);
		evhttp_add_header(h, "Content-Length", n);
	}
	if (body.len > 0 &&
	    evbuffer_add(evhttp_request_get_output_buffer(out), body.p, body.len) < 0) {
		evhttp_request_free(out);
		return NULL;
	}
	return out;
}

static int upstream_start(struct upstream_call *c, const struct auth_identity *who,
			  const char *target)
{
	const struct api_upstream *up = c->up;
	struct evhttp_request *out = NULL;

	c->evcon = evhttp_connection_base_new(http_req_base(c->req), NULL, up->addr, up->port);
	if (!c->evcon)
		return -ENOMEM;
	evhttp_connection_set_timeout_tv(c->evcon, &up->timeout);
	evhttp_connection_set_max_body_size(c->evcon, UPSTREAM_BODY_MAX);
	evhttp_connection_set_max_headers_size(c->evcon, UPSTREAM_HEADERS_MAX);
	out = upstream_request_new(c, who);
	if (!out ||
	    evhttp_make_request(c->evcon, out, upstream_cmd(http_req_method(c->req)), target) < 0) {
		/* Not queued: neither callback will run and the request is ours. */
		if (out)
			evhttp_request_free(out);
		evhttp_connection_free(c->evcon);
		return -EIO;
	}
	return 0;
}

static void upstream_handle(struct http_req *req, void *arg)
{
	const struct api_upstream *up = arg;
	const struct api_principal *p = http_req_user(req);
	struct upstream_call *c = NULL;
	struct buf target;

	buf_init(&target);
	if (!p) { /* the gateway did not run: never proxy an unknown caller */
		http_reply_error(req, 401, "unauthenticated", "Unauthorized", NULL,
				 "no credential");
		goto out;
	}
	if (upstream_target(up, evhttp_request_get_uri(http_req_evhttp(req)), &target) < 0 ||
	    !target.p) {
		http_reply_error(req, 400, "bad_request", "Bad Request", NULL,
				 "the path does not name %s literally", up->prefix);
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_reply_error(req, 503, "unavailable", "Service unavailable", NULL,
				 "out of memory");
		goto out;
	}
	*c = (struct upstream_call){.req = req, .up = up};
	if (upstream_start(c, &p->who, target.p) < 0) {
		upstream_count(up, UPSTREAM_UNREACHABLE);
		http_reply_error(req, 502, "upstream_unreachable", "Bad Gateway", NULL,
				 "upstream %s cannot be reached", up->name);
		free(c);
	}
out:
	buf_fini(&target);
}

/* ------------------------------------------------------------ public */

static int upstream_parse(struct api_upstream *u, const struct api_upstream_opts *o, char *err,
			  size_t errlen)
{
	if (!upstream_prefix_valid(o->prefix)) {
		snprintf(err, errlen, "route.%s: prefix '%s' is not a literal path like /crm",
			 o->name, o->prefix ? o->prefix : "");
		return -EINVAL;
	}
	struct str prefix = str_from_cstr(o->prefix);
	while (prefix.len > 1 && prefix.p[prefix.len - 1] == '/')
		prefix.len--;
	u->timeout = (struct timeval){(time_t)(o->timeout_ms / 1000),
				      (suseconds_t)(o->timeout_ms % 1000) * 1000};
	u->name = str_dup(str_from_cstr(o->name));
	u->prefix = str_dup(prefix);
	if (!u->name || !u->prefix) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return upstream_url_parse(u, o->url, err, errlen);
}

int api_upstream_add(struct api *a, struct http_router *r, const struct api_upstream_opts *o,
		     char *err, size_t errlen)
{
	struct api_upstream *u = calloc(1, sizeof(*u));
	struct api_upstream **v = realloc(a->upstreams, (a->nupstreams + 1) * sizeof(*v));
	struct buf pattern;
	int rc = -ENOMEM;

	buf_init(&pattern);
	if (v)
		a->upstreams = v;
	if (!u || !v || buf_printf(&pattern, "%s/*", o->prefix ? o->prefix : "") < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = upstream_parse(u, o, err, errlen);
	if (rc < 0)
		goto fail;
	buf_reset(&pattern);
	buf_printf(&pattern, "%s/*", u->prefix);
	rc = http_router_add(r,
			     HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE |
				 HTTP_HEAD | HTTP_OPTIONS,
			     pattern.p, upstream_handle, u);
	if (rc < 0) {
		snprintf(err, errlen, "route.%s: prefix %s clashes with another route", o->name,
			 u->prefix);
		goto fail;
	}
	upstream_metrics(u);
	a->upstreams[a->nupstreams++] = u;
	buf_fini(&pattern);
	return 0;
fail:
	buf_fini(&pattern);
	upstream_free(u);
	return rc;
}

bool api_upstream_covers(const struct api *a, const char *path)
{
	for (size_t i = 0; i < a->nupstreams; i++)
		if (api_path_under(path, a->upstreams[i]->prefix))
			return true;
	return false;
}
