/*
 * test_http_server.c — src/http/server.c end to end over loopback.
 *
 * A loop pool of two threads serves a small router on 127.0.0.1 and a free
 * port; each test talks raw HTTP/1.1 over a socket so what is asserted is
 * exactly what a client sees on the wire.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"

#define MAX_BODY 1024
#define TIMEOUT_MS 400

struct resp {
	int status;
	size_t len; /* bytes received in all */
	char raw[16384];
	const char *body;
};

static struct loop_pool *pool;
static struct http_router *router;
static struct http_server *server;
static uint16_t port;
static atomic_int ready_rc;

/* ------------------------------------------------------------ handlers */

static void handle_echo(struct http_req *req, void *arg)
{
	json_t *j = http_req_json(req);
	if (!j)
		return;
	http_reply_data(req, 200, j);
}

static void handle_item(struct http_req *req, void *arg)
{
	const char *q = http_req_query(req, "q");
	http_reply_data(req, 200,
			json_pack("{s:s, s:s?}", "id", http_req_param(req, "id"), "q", q));
}

/* GET /later?ms=N: suspended, then resumed N ms later from a thread of
 * its own, as a commit's done callback would. */
struct later {
	struct http_req *req;
	pthread_t handler;
	long delay_ms;
};

static atomic_int later_answered;

static void later_answer(struct http_req *req, void *arg)
{
	struct later *l = arg;
	bool same = pthread_equal(pthread_self(), l->handler);

	free(l);
	http_reply_data(req, 200, json_pack("{s:b}", "same_thread", same));
	atomic_fetch_add(&later_answered, 1);
}

static void *later_run(void *arg)
{
	struct later *l = arg;
	struct timespec ts = {l->delay_ms / 1000, (l->delay_ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
	http_req_resume(l->req, later_answer, l);
	return NULL;
}

static void handle_later(struct http_req *req, void *arg)
{
	struct later *l = malloc(sizeof(*l));
	const char *ms = http_req_query(req, "ms");
	pthread_t t;

	assert_non_null(l);
	l->req = req;
	l->handler = pthread_self();
	l->delay_ms = ms ? strtol(ms, NULL, 10) : 0;
	http_req_suspend(req);
	assert_int_equal(pthread_create(&t, NULL, later_run, l), 0);
	pthread_detach(t);
}

static bool before_deny(struct http_req *req, void *arg)
{
	if (!http_req_header(req, "X-Deny"))
		return false;
	http_reply_error(req, 401, "unauthorized", "Unauthorized", NULL, "denied by hook");
	return true;
}

static int ready_check(void *arg, char *why, size_t n)
{
	int rc = atomic_load(&ready_rc);
	if (rc < 0)
		snprintf(why, n, "store unreachable");
	return rc;
}

/* ------------------------------------------------------------- client */

static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int client_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until the server closes or wait_ms pass; parses the status. */
static void client_read(int fd, struct resp *r, int wait_ms)
{
	int waited = 0;

	memset(r, 0, sizeof(*r));
	while (waited < wait_ms && r->len < sizeof(r->raw) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) == 0) {
			waited += 50;
			continue;
		}
		ssize_t n = read(fd, r->raw + r->len, sizeof(r->raw) - 1 - r->len);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	r->raw[r->len] = '\0';
	if (sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	const char *end = strstr(r->raw, "\r\n\r\n");
	r->body = end ? end + 4 : "";
}

static void exchange(const char *request, struct resp *r)
{
	int fd = client_connect();
	size_t len = strlen(request);

	assert_int_equal(write(fd, request, len), (ssize_t)len);
	client_read(fd, r, 5000);
	close(fd);
}

static void exchangef(struct resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void exchangef(struct resp *r, const char *fmt, ...)
{
	char req[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	exchange(req, r);
}

static void get(const char *path, const char *extra_headers, struct resp *r)
{
	char req[1024];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n",
		 path, extra_headers ? extra_headers : "");
	exchange(req, r);
}

static void post(const char *path, const char *ctype, const char *body, struct resp *r)
{
	char req[4096];
	snprintf(req, sizeof(req),
		 "POST %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: %s\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 path, ctype, strlen(body), body);
	exchange(req, r);
}

/* The value of header name in r, copied into out; NULL when absent. */
static const char *header(const struct resp *r, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(r->raw, "\r\n"); p && p < r->body; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 3 + nl, *e = strstr(v, "\r\n");
			while (*v == ' ')
				v++;
			snprintf(out, n, "%.*s", (int)(e - v), v);
			return out;
		}
	}
	return NULL;
}

static json_t *body_json(const struct resp *r)
{
	json_t *j = json_loads(r->body, 0, NULL);
	assert_non_null(j);
	return j;
}

/* Asserts the error shape of docs/openapi.yaml and returns errors[0].code. */
static void assert_error(const struct resp *r, int status, const char *code)
{
	char ct[128];
	json_t *j = body_json(r);
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);

	assert_int_equal(r->status, status);
	assert_non_null(header(r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, "application/json; charset=utf-8");
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_non_null(json_string_value(json_object_get(e, "title")));
	assert_non_null(json_string_value(json_object_get(e, "detail")));
	json_decref(j);
}

/* ------------------------------------------------------------- fixture */

static int server_up(void **state)
{
	struct http_server_opts o = {.max_body = MAX_BODY,
				     .request_timeout_ms = TIMEOUT_MS,
				     .max_headers = 8192,
				     .ready = ready_check,
				     .before = before_deny};
	char addr[64], err[256];

	log_setup(LOG_WARN, LOG_FORMAT_TEXT, stderr);
	assert_int_equal(loop_global_init(), 0);
	pool = loop_pool_new(2, "http");
	router = http_router_new();
	assert_int_equal(http_router_add(router, HTTP_POST, "/echo", handle_echo, NULL), 0);
	assert_int_equal(http_router_add(router, HTTP_GET, "/items/{id}", handle_item, NULL), 0);
	assert_int_equal(http_router_add(router, HTTP_GET, "/later", handle_later, NULL), 0);
	port = free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(net_addr_parse(str_from_cstr(addr), 0, &o.listen), 0);
	server = http_server_new(&o, router, pool, err, sizeof(err));
	assert_non_null(server);
	assert_int_equal(loop_pool_start(pool), 0);
	return 0;
}

static int server_down(void **state)
{
	loop_pool_stop(pool);
	http_server_free(server);
	loop_pool_free(pool);
	http_router_free(router);
	return 0;
}

/* --------------------------------------------------------------- tests */

static void test_healthz_ok_with_new_request_id(void **state)
{
	struct resp r;
	char id[128];
	get("/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\"}");
	assert_non_null(header(&r, "X-Request-Id", id, sizeof(id)));
	assert_true(id_valid(str_from_cstr(id), "req"));
}

static void test_given_request_id_echoed(void **state)
{
	struct resp r;
	char id[128];
	get("/healthz", "X-Request-Id: abc.DEF_12-x\r\n", &r);
	assert_string_equal(header(&r, "X-Request-Id", id, sizeof(id)), "abc.DEF_12-x");
}

static void test_invalid_request_id_replaced(void **state)
{
	struct resp r;
	char id[128];
	get("/healthz", "X-Request-Id: no/slashes{}\r\n", &r);
	assert_true(id_valid(str_from_cstr(header(&r, "X-Request-Id", id, sizeof(id))), "req"));
	get("/healthz",
	    "X-Request-Id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
	    &r);
	assert_true(id_valid(str_from_cstr(header(&r, "X-Request-Id", id, sizeof(id))), "req"));
}

static void test_error_replies_carry_request_id(void **state)
{
	struct resp r;
	char id[128];
	get("/nowhere", "X-Request-Id: trace-1\r\n", &r);
	assert_string_equal(header(&r, "X-Request-Id", id, sizeof(id)), "trace-1");
}

static void test_readyz_ready(void **state)
{
	struct resp r;
	atomic_store(&ready_rc, 0);
	get("/readyz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ready\"}");
}

static void test_readyz_not_ready_with_reason(void **state)
{
	struct resp r;
	atomic_store(&ready_rc, -EIO);
	get("/readyz", NULL, &r);
	atomic_store(&ready_rc, 0);
	assert_int_equal(r.status, 503);
	json_t *j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "not ready");
	assert_string_equal(json_string_value(json_object_get(j, "reason")), "store unreachable");
	json_decref(j);
}

static void test_metrics_render_request_counter(void **state)
{
	struct resp r;
	char ct[128];
	get("/healthz", NULL, &r);
	get("/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", ct, sizeof(ct)),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "warp_http_requests_total{method=\"GET\",code=\"200\"}"));
	assert_non_null(strstr(r.body, "warp_http_request_duration_seconds_bucket"));
}

static void test_head_answers_without_body(void **state)
{
	struct resp r;
	exchange("HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "");
}

static void test_json_body_reaches_handler(void **state)
{
	struct resp r;
	post("/echo", "application/json", "{\"a\":1,\"b\":[true]}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"data\":{\"a\":1,\"b\":[true]}}");
}

static void test_json_charset_parameter_accepted(void **state)
{
	struct resp r;
	post("/echo", "Application/JSON; charset=utf-8", "{}", &r);
	assert_int_equal(r.status, 200);
}

static void test_bad_json_answers_400_with_position(void **state)
{
	struct resp r;
	post("/echo", "application/json", "{\"a\":}", &r);
	assert_error(&r, 400, "invalid_json");
	assert_non_null(strstr(r.body, "line 1 column"));
}

static void test_duplicate_keys_rejected(void **state)
{
	struct resp r;
	post("/echo", "application/json", "{\"a\":1,\"a\":2}", &r);
	assert_error(&r, 400, "invalid_json");
}

static void test_non_object_json_answers_400(void **state)
{
	struct resp r;
	post("/echo", "application/json", "[1,2]", &r);
	assert_error(&r, 400, "invalid_json");
	json_t *j = body_json(&r);
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "detail")),
			    "body must be a JSON object");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "source"), "pointer")), "");
	json_decref(j);
}

static void test_wrong_content_type_answers_415(void **state)
{
	struct resp r;
	post("/echo", "text/plain", "{}", &r);
	assert_error(&r, 415, "unsupported_media_type");
}

/* Asserts what every answer of conn.c carries besides the error body. */
static void assert_closing_error(const struct resp *r, int status, const char *code)
{
	char v[128];

	assert_error(r, status, code);
	assert_non_null(header(r, "X-Request-Id", v, sizeof(v)));
	assert_non_null(header(r, "Connection", v, sizeof(v)));
	assert_string_equal(v, "close");
	assert_null(strstr(r->raw, "<html"));
}

static void test_body_over_max_answers_413_json(void **state)
{
	struct resp r;
	/* Only the headers: the server must refuse on Content-Length alone. */
	exchangef(&r,
		  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
		  "Content-Length: %d\r\n\r\n",
		  MAX_BODY * 10);
	assert_closing_error(&r, 413, "payload_too_large");
}

static void test_content_length_case_insensitive_and_huge_answers_413(void **state)
{
	struct resp r;
	exchange(
	    "POST /echo HTTP/1.1\r\nHost: t\r\ncontent-LENGTH:  99999999999999999999999\r\n\r\n",
	    &r);
	assert_closing_error(&r, 413, "payload_too_large");
}

static void test_body_at_max_reaches_handler(void **state)
{
	static char body[MAX_BODY + 1];
	struct resp r;

	memset(body, ' ', MAX_BODY);
	body[0] = '{';
	body[MAX_BODY - 1] = '}';
	post("/echo", "application/json", body, &r);
	assert_int_equal(r.status, 200);
}

/* Chunked bodies have no Content-Length to judge: evhttp reads them (up to
 * its own, higher limit) and the server answers 413 in JSON. */
static void test_chunked_body_over_max_answers_413_json(void **state)
{
	static char req[4096];
	struct resp r;
	int n = snprintf(req, sizeof(req),
			 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "%x\r\n",
			 MAX_BODY + 10);
	memset(req + n, ' ', MAX_BODY + 10);
	snprintf(req + n + MAX_BODY + 10, sizeof(req) - (size_t)n - MAX_BODY - 10, "\r\n0\r\n\r\n");
	exchange(req, &r);
	assert_error(&r, 413, "payload_too_large");
}

/* RFC 6585 §5; evhttp alone would answer 400 in HTML. */
static void test_headers_over_max_answer_431_json(void **state)
{
	static char req[12000];
	struct resp r;
	int n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'a', 10000);
	memcpy(req + n + 10000, "\r\n\r\n", 5);
	exchange(req, &r);
	assert_closing_error(&r, 431, "header_fields_too_large");
}

/* A head that never ends is refused once it passes the limit, without
 * waiting for the deadline. */
static void test_endless_head_answers_431_before_deadline(void **state)
{
	static char part[9000];
	struct resp r;
	int fd = client_connect();
	int n = snprintf(part, sizeof(part), "GET /healthz HTTP/1.1\r\nX-Big: ");
	int64_t t0 = time_mono_ms();

	memset(part + n, 'b', sizeof(part) - (size_t)n);
	assert_int_equal(write(fd, part, sizeof(part)), (ssize_t)sizeof(part));
	client_read(fd, &r, 5000);
	close(fd);
	assert_closing_error(&r, 431, "header_fields_too_large");
	assert_true(time_mono_ms() - t0 < TIMEOUT_MS);
}

/* The second request on a kept-alive connection is judged too, after the
 * first one's reply. */
static void test_pipelined_request_over_max_answers_413_after_first(void **state)
{
	struct resp r;
	exchangef(&r,
		  "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
		  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n{",
		  MAX_BODY + 1);
	assert_int_equal(r.status, 200);
	const char *second = strstr(r.raw, "{\"status\":\"ok\"}");
	assert_non_null(second);
	second += strlen("{\"status\":\"ok\"}");
	assert_int_equal(strncmp(second, "HTTP/1.1 413 ", 13), 0);
	assert_non_null(strstr(second, "\"code\":\"payload_too_large\""));
}

static void test_unknown_path_answers_404_json(void **state)
{
	struct resp r;
	get("/api/v1/nothing", NULL, &r);
	assert_error(&r, 404, "not_found");
	json_t *j = body_json(&r);
	assert_null(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "source"));
	json_decref(j);
}

static void test_wrong_method_answers_405_with_allow(void **state)
{
	struct resp r;
	char allow[64];
	exchange("DELETE /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	assert_error(&r, 405, "method_not_allowed");
	assert_string_equal(header(&r, "Allow", allow, sizeof(allow)), "POST");
}

static void test_builtin_wrong_method_answers_405(void **state)
{
	struct resp r;
	char allow[64];
	post("/healthz", "application/json", "{}", &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(header(&r, "Allow", allow, sizeof(allow)), "GET, HEAD");
}

static void test_path_param_and_query_reach_handler(void **state)
{
	struct resp r;
	get("/items/a%20b?q=x%2By&z=1", NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = body_json(&r);
	json_t *d = json_object_get(j, "data");
	assert_string_equal(json_string_value(json_object_get(d, "id")), "a b");
	assert_string_equal(json_string_value(json_object_get(d, "q")), "x+y");
	json_decref(j);
}

static void test_encoded_slash_stays_in_path_param(void **state)
{
	struct resp r;
	get("/items/a%2Fb", NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = body_json(&r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"), "id")),
			    "a/b");
	json_decref(j);
	get("/items%2Fa", NULL, &r);
	assert_error(&r, 404, "not_found");
}

static void test_before_hook_guards_routes_not_probes(void **state)
{
	struct resp r;
	get("/items/1", "X-Deny: 1\r\n", &r);
	assert_error(&r, 401, "unauthorized");
	get("/healthz", "X-Deny: 1\r\n", &r);
	assert_int_equal(r.status, 200);
	get("/metrics", "X-Deny: 1\r\n", &r);
	assert_int_equal(r.status, 200);
}

static void test_keep_alive_serves_two_requests(void **state)
{
	struct resp r;
	const char *two = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
			  "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	exchange(two, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.raw, "{\"status\":\"ok\"}"));
	assert_non_null(strstr(r.raw, "{\"status\":\"ready\"}"));
}

static void test_slow_request_answers_408(void **state)
{
	struct resp r;
	int fd = client_connect();
	const char *part = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
			   "Content-Length: 20\r\n\r\n{\"a\"";
	int64_t t0 = time_mono_ms();

	assert_int_equal(write(fd, part, strlen(part)), (ssize_t)strlen(part));
	client_read(fd, &r, 5000);
	close(fd);
	assert_int_equal(r.status, 408);
	assert_true(time_mono_ms() - t0 < TIMEOUT_MS * 4);
	assert_error(&r, 408, "request_timeout");
}

static void test_trickling_request_answers_408(void **state)
{
	struct resp r;
	int fd = client_connect();
	const char *part = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
	int64_t t0 = time_mono_ms();

	/* A byte every 100 ms keeps the socket busy but the request never ends:
	 * the deadline is for the whole request, not for silence. */
	assert_int_equal(write(fd, part, strlen(part)), (ssize_t)strlen(part));
	for (int i = 0; i < 12; i++) {
		usleep(100 * 1000);
		if (send(fd, "X", 1, MSG_NOSIGNAL) != 1)
			break;
	}
	client_read(fd, &r, 3000);
	close(fd);
	assert_int_equal(r.status, 408);
	assert_true(time_mono_ms() - t0 < TIMEOUT_MS * 6);
}

static void test_idle_connection_closed_silently(void **state)
{
	struct resp r;
	int fd = client_connect();

	client_read(fd, &r, 5000);
	close(fd);
	assert_int_equal(r.len, 0);
}

static void wait_answered(int n)
{
	for (int i = 0; i < 200 && atomic_load(&later_answered) < n; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&later_answered), n);
}

static void test_suspended_request_answered_on_its_own_thread(void **state)
{
	struct resp r;
	int before = atomic_load(&later_answered);

	get("/later?ms=20", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"same_thread\":true"));
	wait_answered(before + 1);
}

static void test_suspended_requests_counted_while_waiting(void **state)
{
	const char req[] = "GET /later?ms=400 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	int fd = client_connect();
	struct resp m, r;

	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	usleep(100000);
	get("/metrics", NULL, &m);
	assert_non_null(strstr(m.body, "\nwarp_http_requests_suspended 1\n"));
	client_read(fd, &r, 5000);
	close(fd);
	assert_int_equal(r.status, 200);
	get("/metrics", NULL, &m);
	assert_non_null(strstr(m.body, "\nwarp_http_requests_suspended 0\n"));
}

/* The answer to a client gone meanwhile is dropped: no write to a freed
 * request (ASan), and the server goes on serving. */
static void test_client_gone_while_suspended(void **state)
{
	const char req[] = "GET /later?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n";
	int before = atomic_load(&later_answered);
	int fd = client_connect();
	struct resp r;

	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	usleep(20000); /* read whole and suspended */
	close(fd);
	wait_answered(before + 1);
	get("/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	get("/metrics", NULL, &r);
	assert_non_null(strstr(r.body, "\nwarp_http_requests_suspended 0\n"));
}

static void test_port_in_use_fails_with_reason(void **state)
{
	struct http_server_opts o = {.max_body = MAX_BODY, .request_timeout_ms = TIMEOUT_MS};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	char addr[64], err[256], want[96];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A plain listener without SO_REUSEPORT holds the port. */
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(a.sin_port));
	assert_int_equal(net_addr_parse(str_from_cstr(addr), 0, &o.listen), 0);
	assert_null(http_server_new(&o, router, pool, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: address in use", addr);
	assert_string_equal(err, want);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthz_ok_with_new_request_id),
	    cmocka_unit_test(test_given_request_id_echoed),
	    cmocka_unit_test(test_invalid_request_id_replaced),
	    cmocka_unit_test(test_error_replies_carry_request_id),
	    cmocka_unit_test(test_readyz_ready),
	    cmocka_unit_test(test_readyz_not_ready_with_reason),
	    cmocka_unit_test(test_metrics_render_request_counter),
	    cmocka_unit_test(test_head_answers_without_body),
	    cmocka_unit_test(test_json_body_reaches_handler),
	    cmocka_unit_test(test_json_charset_parameter_accepted),
	    cmocka_unit_test(test_bad_json_answers_400_with_position),
	    cmocka_unit_test(test_duplicate_keys_rejected),
	    cmocka_unit_test(test_non_object_json_answers_400),
	    cmocka_unit_test(test_wrong_content_type_answers_415),
	    cmocka_unit_test(test_body_over_max_answers_413_json),
	    cmocka_unit_test(test_content_length_case_insensitive_and_huge_answers_413),
	    cmocka_unit_test(test_body_at_max_reaches_handler),
	    cmocka_unit_test(test_chunked_body_over_max_answers_413_json),
	    cmocka_unit_test(test_headers_over_max_answer_431_json),
	    cmocka_unit_test(test_endless_head_answers_431_before_deadline),
	    cmocka_unit_test(test_pipelined_request_over_max_answers_413_after_first),
	    cmocka_unit_test(test_unknown_path_answers_404_json),
	    cmocka_unit_test(test_wrong_method_answers_405_with_allow),
	    cmocka_unit_test(test_builtin_wrong_method_answers_405),
	    cmocka_unit_test(test_path_param_and_query_reach_handler),
	    cmocka_unit_test(test_encoded_slash_stays_in_path_param),
	    cmocka_unit_test(test_before_hook_guards_routes_not_probes),
	    cmocka_unit_test(test_keep_alive_serves_two_requests),
	    cmocka_unit_test(test_slow_request_answers_408),
	    cmocka_unit_test(test_trickling_request_answers_408),
	    cmocka_unit_test(test_idle_connection_closed_silently),
	    cmocka_unit_test(test_suspended_request_answered_on_its_own_thread),
	    cmocka_unit_test(test_suspended_requests_counted_while_waiting),
	    cmocka_unit_test(test_client_gone_while_suspended),
	    cmocka_unit_test(test_port_in_use_fails_with_reason),
	};
	return cmocka_run_group_tests(tests, server_up, server_down);
}
