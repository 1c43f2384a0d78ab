/*
 * http_private.h — what server.c, request.c, reply.c and builtin.c share.
 *
 * A struct http_req lives from the moment evhttp hands us a complete
 * request until the one reply to it is sent: http_reply_* logs the access
 * line, counts the metrics and frees it.  Everything in it belongs to the
 * worker thread whose base read the request.
 */
#ifndef WARP_HTTP_PRIVATE_H
#define WARP_HTTP_PRIVATE_H

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "http/http.h"
#include "http/router.h"

/* X-Request-Id we accept from callers: 1..64 of [A-Za-z0-9._-]. */
#define HTTP_REQ_ID_MAX 64

/* Buckets of a thread's table of connections (conn.c). */
#define HTTP_CONN_BUCKETS 256

struct http_conn;

/* Slots of the request counter cache: methods by bit (0 = other), status
 * codes 100..599. */
#define HTTP_METHOD_SLOTS 8
#define HTTP_STATUS_FIRST 100
#define HTTP_STATUS_SLOTS 500

/* One per worker thread; touched only by that thread once set up. */
struct http_thread {
	struct http_server *srv;
	unsigned index;
	int fd;		     /* ours until evhttp takes it */
	struct evhttp *http; /* set on the thread itself */
	struct http_conn *conns[HTTP_CONN_BUCKETS];
};

struct http_server {
	struct http_server_opts opts;
	const struct http_router *router;
	struct http_router *builtin; /* /healthz, /readyz, /metrics */
	struct loop_pool *pool;
	struct http_thread *threads;
	unsigned nthreads;
	struct metric_family *requests; /* warp_http_requests_total{method,code} */
	struct metric_family *duration; /* warp_http_request_duration_seconds */
	/* Their children, looked up once and kept (request.c): metric_get
	 * takes the registry's lock and compares label strings. */
	_Atomic(struct metric *) counted[HTTP_METHOD_SLOTS][HTTP_STATUS_SLOTS];
	_Atomic(struct metric *) timed;
	/* warp_http_requests_suspended: requests waiting in http_req_suspend. */
	struct metric *suspended;
};

struct http_req_param {
	const char *name;
	const char *value;
};

struct http_req {
	struct evhttp_request *ev;
	struct http_server *srv;
	struct event_base *base;
	unsigned thread; /* the index of base's thread in srv->pool */
	bool suspended;	 /* between http_req_suspend and the resume's call */
	/* The hand-off of http_req_resume (suspend.c). */
	struct loop_task resume;
	http_handler_fn resume_fn;
	void *resume_arg;
	enum http_method method;
	int64_t start_us;
	char id[HTTP_REQ_ID_MAX + 1];
	const char *raw_path; /* as received, for the access log (owned by ev) */
	char *path;	      /* percent-decoded, owned */
	char *param_text;     /* the decoded parameter values, owned */
	size_t nparams;
	struct http_req_param params[HTTP_ROUTE_MAX_PARAMS];
	struct evkeyvalq query;
	struct net_addr peer;
	struct str body;
	void *user;
	void (*user_free)(void *);
};

/* request.c.  Returns NULL only when out of memory.  *bad is set to a
 * reason when the request line cannot be used (the caller answers 400). */
struct http_req *http_req_new(struct http_server *srv, unsigned thread, struct evhttp_request *ev,
			      const char **bad);
void http_req_free(struct http_req *req);
/* Decodes the matched parameters of m (views into req->raw_path). */
int http_req_params_set(struct http_req *req, const struct http_route_match *m);
/* The access log line and metrics for the reply about to be sent. */
void http_req_account(struct http_req *req, int status, size_t bytes);
const char *http_method_name(enum http_method m);

/* Head size when http_server_opts.max_headers is 0: conn.c's copy of a
 * head is bounded by it either way. */
#define HTTP_HEAD_MAX_DEFAULT 65536

/* conn.c: request deadlines answered with 408, heads over max_headers with
 * 431 and Content-Length over max_body with 413, all before evhttp sees the
 * head whole.  bev_new is evhttp's bufferevent callback (arg: the
 * http_thread); request_read stops the deadline when evhttp hands over a
 * complete request and starts watching the next head. */
struct bufferevent *http_conn_bev_new(struct event_base *base, void *arg);
void http_conn_request_read(struct http_thread *t, struct evhttp_request *ev);
void http_conn_reply_done(struct evhttp_request *ev, void *arg);

/* reply.c: the error document of docs/openapi.yaml {"errors":[{code,title,detail,
 * source.pointer}]}; pointer may be NULL.  NULL when out of memory. */
json_t *http_error_doc(const char *code, const char *title, const char *pointer,
		       const char *detail);

/* head.c: a request head as conn.c copies it in (request line first).
 * head_end is the offset just past the empty line that ends it, searching
 * from `from` (0: not arrived). */
size_t http_head_end(struct str h, size_t from);
/* How a complete head frames its body (RFC 9112 §6): chunked, or
 * has_length with length (saturating at UINT64_MAX), or neither.  0, or
 * the status to refuse the head with (400 for ambiguous or bad framing:
 * differing Content-Lengths, non-digits, two Transfer-Encoding fields,
 * both headers, identity, chunked not last; 501 for a coding other than
 * chunked) and *why, a static sentence for the error's detail. */
struct http_framing {
	bool chunked;
	bool has_length;
	uint64_t length;
};
int http_head_framing(struct str h, struct http_framing *f, const char **why);
/* chunk.c: a chunked body's framing, fed as it arrives.  limit: evhttp's
 * body limit (a chunk that large is 413).  Returns 0 while more is
 * expected, 1 once the body (trailer included) has ended after *used bytes
 * of in, or the status to refuse it with (400, 413) and *why.  When patch
 * is set on return, the scan stopped after in.p[*used - 1], the byte ending
 * a chunk size (';' or HTAB), which evhttp needs to be a space; scan the
 * rest with another call. */
struct http_chunk_scan {
	int state;
	bool patch;
	unsigned digits;
	uint64_t size, remaining, limit;
	size_t line; /* bytes of the trailer line so far */
};
int http_chunk_scan(struct http_chunk_scan *s, struct str in, size_t *used, const char **why);
/* Whether a complete head is well formed (RFC 9112 §2-5): 0, or the status
 * to refuse it with (400; 501 for a method not served; 505 for a version
 * other than HTTP/1.x) and *why, a static sentence for the error's detail.
 * *target is the request line's target (empty unless the line parsed). */
int http_head_check(struct str h, struct str *target, const char **why);

/* evhttp's own body limit, set above ours so that ours answer first:
 * between max_body and this a body is read and refused with our JSON 413
 * (server.c); conn.c refuses a chunked body in JSON before evhttp has
 * decoded this much of it. */
static inline size_t http_evhttp_max_body(size_t max_body)
{
	return max_body + max_body / 2;
}

/* builtin.c: adds /healthz, /readyz and /metrics to srv->builtin. */
int http_builtin_add(struct http_server *srv);

/* Appends the compact JSON text of v (json_write.c): what json_dumps with
 * JSON_COMPACT gives, faster.  0, or a negative errno. */
int http_json_write(struct buf *b, const json_t *v);

#endif
