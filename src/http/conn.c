/*
 * conn.c — what evhttp 2.1 cannot answer in JSON: 400, 408, 413, 414, 431, 501
 * and 505.
 *
 * libevent 2.1's evhttp_set_timeout is an inactivity timeout on the socket:
 * a client that sends a byte now and then never trips it, and when it does
 * trip evhttp closes the connection without a word (http.c,
 * evhttp_connection_incoming_fail: "we just drop the connections").  Its
 * answers to a body over evhttp_set_max_body_size (413) and to headers over
 * evhttp_set_max_headers_size (400) are its own HTML pages, with no
 * X-Request-Id, sent before any of our code runs.  2.1 has no hook for a
 * request that has started but not finished, so this file keeps its own
 * record per connection:
 *
 *   - evhttp_set_bevcb lets us create each connection's bufferevent; we note
 *     it, watch its input buffer for bytes and, right after the accept
 *     callback returns, learn its evhttp_connection (the argument evhttp
 *     gives the bufferevent's callbacks) and ask for a close callback, so
 *     the record dies with the connection;
 *   - while a request head is being read (from the connection's start, and
 *     again from the moment evhttp hands a request to us), the input
 *     buffer's callback copies the head's bytes as they arrive (evhttp
 *     drains them line by line, so only a copy shows the whole head).  The
 *     callback runs inside evbuffer_read, before evhttp's read callback sees
 *     the bytes.  A head longer than max_headers is answered 431 (RFC 6585
 *     §5), or 414 (RFC 9110 §15.5.15) when its request line alone is; a
 *     complete head whose Content-Length is over max_body is answered
 *     413 (RFC 9110 §15.5.14) without reading the body.  Either way the
 *     input is drained at once, so evhttp never sees the end of that head
 *     and never answers on its own, and the answer is written from an event
 *     (never from inside the buffer callback, where freeing the connection
 *     would pull the bufferevent from under evhttp_read);
 *   - the deadline runs from the connection's start (or the end of the
 *     previous reply) until evhttp hands us the complete request; when it
 *     fires and bytes of a request have arrived, the client gets "408
 *     Request Timeout" (RFC 9110 §15.5.9); an idle connection is closed
 *     silently, as a 408 nobody asked for could be read as the answer to the
 *     client's next request (RFC 9112 §9.5).
 *
 * The three answers carry the JSON error body, X-Request-Id and Connection:
 * close, and are written straight to the socket: they are small, nothing
 * else is queued while a request is being read, and evhttp has no request
 * object we could answer on.  A refusal decided while an earlier request on
 * the connection is still with a handler (pipelining) waits for that reply.
 * More refusals use the same path: a head evhttp would answer with an HTML
 * page or should not accept (head.c's http_head_check: 400, 501 for a
 * method not served, 505 for an HTTP version other than 1.x; a target that
 * is not a URI; head.c's http_head_framing: a body framed ambiguously —
 * differing Content-Lengths, both Content-Length and Transfer-Encoding,
 * two Transfer-Encoding fields — or with a coding other than chunked, 501),
 * and a chunked body, whose size no head announces: its bytes are scanned
 * (chunk.c) and counted as they arrive in the input buffer, bad framing is
 * refused with 400, and once they reach evhttp's own limit
 * (http_evhttp_max_body; framing counted too, so this comes first) with
 * 413.  The byte ending a chunk size before an extension is made a space
 * in the buffer, the one form evhttp reads (RFC 9112 §7.1.1 extensions are
 * ignored).
 */
#include "http/http_private.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct http_conn {
	struct http_thread *t;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until attached */
	struct event *attach;
	struct event *deadline;
	struct event *refuse;	       /* writes the refusal and closes */
	bool got_bytes;		       /* of the request being read */
	bool reading_head;	       /* head bytes are being copied into head */
	bool in_flight;		       /* a request is with the handlers */
	bool counting_body;	       /* a chunked body is arriving: body_bytes counts it */
	int refusal;		       /* the status once decided, else 0 */
	const char *why;	       /* its detail for a malformed head (static) */
	uint64_t announced;	       /* the Content-Length refused with 413 (0: chunked) */
	uint64_t body_bytes;	       /* of the chunked body, framing included */
	struct http_chunk_scan chunks; /* its framing (chunk.c) */
	size_t body_tail;	       /* of its bytes, those the head's copy took */
	struct buf head;	       /* the head so far, only while reading_head */
	size_t scanned;		       /* bytes of head already searched for its end */
	struct http_conn *next;
};

/* The answers of this file: status, reason phrase (also the error title)
 * and the error code of the JSON body. */
static const struct {
	int status;
	const char *reason;
	const char *code;
} conn_errors[] = {
    {400, "Bad Request", "bad_request"},
    {408, "Request Timeout", "request_timeout"},
    {413, "Content Too Large", "payload_too_large"},
    {414, "URI Too Long", "uri_too_long"},
    {431, "Request Header Fields Too Large", "header_fields_too_large"},
    {501, "Not Implemented", "not_implemented"},
    {505, "HTTP Version Not Supported", "http_version_not_supported"},
};

static size_t conn_error_index(int status)
{
	size_t i = 0;

	while (i + 1 < sizeof(conn_errors) / sizeof(conn_errors[0]) &&
	       conn_errors[i].status != status)
		i++;
	return i;
}

static size_t conn_slot(const void *evcon)
{
	return (size_t)(((uintptr_t)evcon * 0x9E3779B97F4A7C15ull) >> 56) % HTTP_CONN_BUCKETS;
}

static struct http_conn *conn_find(struct http_thread *t, const struct evhttp_connection *evcon)
{
	for (struct http_conn *c = t->conns[conn_slot(evcon)]; c; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void conn_unlink(struct http_conn *c)
{
	for (struct http_conn **p = &c->t->conns[conn_slot(c->evcon)]; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static size_t conn_head_max(const struct http_conn *c)
{
	size_t m = c->t->srv->opts.max_headers;
	return m ? m : HTTP_HEAD_MAX_DEFAULT;
}

static void conn_head_done(struct http_conn *c)
{
	c->reading_head = false;
	c->scanned = 0;
	buf_fini(&c->head);
}

/* Decides a refusal: what evhttp has not read of the input it never will
 * (without the end of the head it cannot answer on its own), and the
 * answer waits for the reply of a request still with a handler. */
static void conn_refuse(struct http_conn *c, int status, uint64_t announced, const char *why)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->refusal = status;
	c->why = why;
	c->announced = announced;
	conn_head_done(c);
	evtimer_del(c->deadline);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (!c->in_flight)
		event_active(c->refuse, EV_TIMEOUT, 1);
}

/* A complete head evhttp would refuse with an HTML page, or accept though
 * RFC 9112 says not to (a space before a field's colon, a control
 * character in a value, no Host: the stuff of request smuggling): the
 * status to refuse it with, else 0.  A target that is not a path is parsed
 * as evhttp will parse it (an origin-form path always parses). */
static int conn_head_malformed(struct str h, const char **why)
{
	struct str target;
	struct evhttp_uri *uri;
	char *copy;
	int status = http_head_check(h, &target, why);

	if (status || target.p[0] == '/')
		return status;
	if (!(copy = strndup(target.p, target.len)))
		return 0; /* out of memory: evhttp judges it */
	uri = evhttp_uri_parse_with_flags(copy, EVHTTP_URI_NONCONFORMANT);
	free(copy);
	if (uri) {
		evhttp_uri_free(uri);
		return 0;
	}
	*why = "the request target is not a URI";
	return 400;
}

/* Makes the byte at offset of buf a space, in place: the chains of a
 * socket's input buffer are the buffer's own memory (never references),
 * so what evbuffer_peek points at may be written. */
static void conn_byte_patch(struct evbuffer *buf, size_t offset)
{
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v;

	if (evbuffer_ptr_set(buf, &pos, offset, EVBUFFER_PTR_SET) == 0 &&
	    evbuffer_peek(buf, 1, &pos, &v, 1) >= 1 && v.iov_len)
		*(char *)v.iov_base = ' ';
}

/* Scans and counts n more bytes of a chunked body, copied from buf at
 * offset; refuses bad framing (chunk.c) and a body over evhttp's limit
 * before evhttp would. */
static void conn_body_scan(struct http_conn *c, struct evbuffer *buf, size_t offset, const char *p,
			   size_t n)
{
	size_t max_body = c->t->srv->opts.max_body, used, done = 0;
	const char *why = NULL;
	int rc = 0;

	while (!rc && done < n) {
		rc = http_chunk_scan(&c->chunks, (struct str){p + done, n - done}, &used, &why);
		done += used;
		if (c->chunks.patch)
			conn_byte_patch(buf, offset + done - 1);
	}
	c->body_bytes += done;
	if (rc == 1 || rc > 1)
		c->counting_body = false; /* ended: what follows is the next head */
	if (rc > 1)
		conn_refuse(c, rc, 0, why);
	else if (!rc && max_body && c->body_bytes >= http_evhttp_max_body(max_body)) {
		c->counting_body = false;
		conn_refuse(c, 413, 0, NULL);
	}
}

/* Feeds the bytes of buf from offset on to conn_body_scan. */
static void conn_body_take(struct http_conn *c, struct evbuffer *buf, size_t offset)
{
	size_t len = evbuffer_get_length(buf);
	struct evbuffer_ptr pos;
	char chunk[2048];

	while (c->counting_body && !c->refusal && offset < len) {
		size_t n = len - offset < sizeof(chunk) ? len - offset : sizeof(chunk);
		if (evbuffer_ptr_set(buf, &pos, offset, EVBUFFER_PTR_SET) < 0 ||
		    evbuffer_copyout_from(buf, &pos, chunk, n) != (ev_ssize_t)n)
			break;
		conn_body_scan(c, buf, offset, chunk, n);
		offset += n;
	}
}

/* Looks at the head copied so far: not ended yet, too long, announcing too
 * large a body, or fine (then the copy is dropped until the next head). */
static void conn_head_judge(struct http_conn *c)
{
	struct str h = {c->head.p, c->head.len};
	size_t max = conn_head_max(c), end = http_head_end(h, c->scanned);
	size_t max_body = c->t->srv->opts.max_body;
	struct http_framing f;
	const char *why;
	int status;

	if (end > max || (!end && h.len > max)) {
		/* No line end yet: it is the request line, i.e. the target. */
		conn_refuse(c, str_index(h, '\n') < 0 ? 414 : 431, 0, NULL);
		return;
	}
	if (!end) {
		/* The empty line may start in the last two bytes. */
		c->scanned = h.len > 2 ? h.len - 2 : 0;
		return;
	}
	h.len = end;
	if ((status = conn_head_malformed(h, &why)) != 0) {
		conn_refuse(c, status, 0, why);
		return;
	}
	if ((status = http_head_framing(h, &f, &why)) != 0) {
		conn_refuse(c, status, 0, why);
		return;
	}
	if (f.chunked) {
		c->counting_body = true;
		c->body_bytes = 0;
		c->chunks = (struct http_chunk_scan){
		    .limit = max_body ? http_evhttp_max_body(max_body) : UINT64_MAX};
		/* Bytes copied past the head are the body's first:
		 * conn_head_take scans them in the input buffer. */
		c->body_tail = c->head.len - end;
	} else if (max_body && f.length > max_body) {
		conn_refuse(c, 413, f.length, NULL);
		return;
	}
	conn_head_done(c);
}

/* RFC 9112 §2.2: empty lines before a request line are ignored.  evhttp
 * 2.1 answers them 400 in HTML, so while nothing of a head has come those
 * at the front of the input leave it here, before evhttp reads it. */
static void conn_drop_leading_eols(struct evbuffer *buf)
{
	struct evbuffer_ptr pos;
	size_t n = 0, len = evbuffer_get_length(buf);
	char ch;

	while (n < len && evbuffer_ptr_set(buf, &pos, n, EVBUFFER_PTR_SET) == 0 &&
	       evbuffer_copyout_from(buf, &pos, &ch, 1) == 1 && (ch == '\r' || ch == '\n'))
		n++;
	if (n)
		evbuffer_drain(buf, n);
}

/* Copies the bytes of buf from offset on into the head, at most one byte
 * past the limit (enough to know it is exceeded), then judges it. */
static void conn_head_take(struct http_conn *c, struct evbuffer *buf, size_t offset)
{
	size_t len, room = conn_head_max(c) + 1;
	struct evbuffer_ptr pos;
	char chunk[2048];

	if (!c->head.len && !offset)
		conn_drop_leading_eols(buf);
	len = evbuffer_get_length(buf);

	while (offset < len && c->head.len < room) {
		size_t n = len - offset, skip = 0;
		if (n > sizeof(chunk))
			n = sizeof(chunk);
		if (n > room - c->head.len)
			n = room - c->head.len;
		if (evbuffer_ptr_set(buf, &pos, offset, EVBUFFER_PTR_SET) < 0 ||
		    evbuffer_copyout_from(buf, &pos, chunk, n) != (ev_ssize_t)n)
			break;
		offset += n;
		/* RFC 9112 §2.2: empty lines before the request line are ignored. */
		while (!c->head.len && skip < n && (chunk[skip] == '\r' || chunk[skip] == '\n'))
			skip++;
		if (buf_append(&c->head, chunk + skip, n - skip) < 0) {
			conn_head_done(c); /* out of memory: evhttp's limits still hold */
			return;
		}
	}
	c->body_tail = 0;
	conn_head_judge(c);
	/* A chunked body's bytes: those the head's copy took are the last
	 * ones copied, right before offset in the buffer. */
	if (c->counting_body && !c->refusal)
		conn_body_take(c, buf, offset - c->body_tail);
}

static void conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn *c = arg;

	if (!info->n_added)
		return;
	c->got_bytes = true;
	if (c->refusal)
		evbuffer_drain(buf, evbuffer_get_length(buf));
	else if (c->counting_body)
		conn_body_take(c, buf, evbuffer_get_length(buf) - info->n_added);
	else if (c->reading_head)
		/* Input callbacks run after each change, so the new bytes are
		 * the last n_added. */
		conn_head_take(c, buf, evbuffer_get_length(buf) - info->n_added);
}

static void conn_free(struct http_conn *c)
{
	if (c->bev)
		evbuffer_remove_cb(bufferevent_get_input(c->bev), conn_input, c);
	if (c->attach)
		event_free(c->attach);
	if (c->deadline)
		event_free(c->deadline);
	if (c->refuse)
		event_free(c->refuse);
	buf_fini(&c->head);
	free(c);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *c = arg;

	conn_unlink(c);
	conn_free(c);
}

static void conn_arm(struct http_conn *c)
{
	int ms = c->t->srv->opts.request_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (ms > 0)
		evtimer_add(c->deadline, &tv);
}

/* Runs right after the accept callback that created the bufferevent. */
static void conn_attach(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	struct bufferevent *bev = c->bev;
	bufferevent_event_cb event_cb = NULL;
	void *cbarg = NULL;

	bufferevent_getcb(bev, NULL, NULL, &event_cb, &cbarg);
	if (!event_cb || !cbarg) {
		/* evhttp gave up on the connection before it started. */
		conn_free(c);
	} else {
		c->evcon = cbarg;
		c->next = c->t->conns[conn_slot(c->evcon)];
		c->t->conns[conn_slot(c->evcon)] = c;
		evhttp_connection_set_closecb(c->evcon, conn_closed, c);
		conn_arm(c);
	}
	bufferevent_decref(bev);
}

/* The one way this file answers: the JSON error body of docs/openapi.yaml with a
 * fresh request id, Connection: close, the access log line and the
 * request counter (method UNKNOWN: no request was read whole). */
static void conn_send_error(struct http_conn *c, size_t which, const char *detail)
{
	json_t *doc =
	    http_error_doc(conn_errors[which].code, conn_errors[which].reason, NULL, detail);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	char id[ID_MAX] = "-", status[8], drain[512];
	struct buf body, out;

	buf_init(&body);
	buf_init(&out);
	id_new("req", id, sizeof(id));
	if (doc && http_json_write(&body, doc) == 0 &&
	    buf_printf(&out,
		       "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
		       "Content-Length: %zu\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n",
		       conn_errors[which].status, conn_errors[which].reason, body.len, id) == 0 &&
	    buf_append(&out, body.p, body.len) == 0)
		send(fd, out.p, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Unread input at close would make the kernel answer with a reset,
	 * which can destroy the answer before the client reads it. */
	while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
		;
	log_context_set(id);
	log_info("http", "- - %d %zu bytes: %s", conn_errors[which].status, body.len, detail);
	log_context_set(NULL);
	snprintf(status, sizeof(status), "%d", conn_errors[which].status);
	metric_inc(metric_get(c->t->srv->requests, "UNKNOWN", status));
	json_decref(doc);
	buf_fini(&body);
	buf_fini(&out);
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	char detail[96];

	/* evhttp answering on its own (400, 413) and still writing: leave the
	 * connection to evhttp's write timeout. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)))
		return;
	if (c->got_bytes || evbuffer_get_length(bufferevent_get_input(c->bev))) {
		snprintf(detail, sizeof(detail), "the request was not received in time (%d ms)",
			 c->t->srv->opts.request_timeout_ms);
		conn_send_error(c, conn_error_index(408), detail);
	}
	/* Calls conn_closed, which frees c. */
	evhttp_connection_free(c->evcon);
}

/* The refusal decided in conn_refuse, outside the buffer callback. */
static void conn_refused(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	char detail[128];

	/* conn_attach runs before the socket can be read, so evcon is set. */
	if (!c->evcon)
		return;
	if (c->why)
		snprintf(detail, sizeof(detail), "%s", c->why);
	else if (c->refusal == 413 && c->announced)
		snprintf(detail, sizeof(detail),
			 "Content-Length %" PRIu64 " is over the limit of %zu bytes", c->announced,
			 c->t->srv->opts.max_body);
	else if (c->refusal == 413)
		snprintf(detail, sizeof(detail), "the chunked body is over the limit of %zu bytes",
			 c->t->srv->opts.max_body);
	else if (c->refusal == 414)
		snprintf(detail, sizeof(detail), "the request line is over the limit of %zu bytes",
			 conn_head_max(c));
	else
		snprintf(detail, sizeof(detail),
			 "the request line and header fields are over the limit of %zu bytes",
			 conn_head_max(c));
	conn_send_error(c, conn_error_index(c->refusal), detail);
	/* Calls conn_closed, which frees c. */
	evhttp_connection_free(c->evcon);
}

struct bufferevent *http_conn_bev_new(struct event_base *base, void *arg)
{
	struct http_thread *t = arg;
	struct http_conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (!c || !bev)
		goto fail;
	c->t = t;
	c->bev = bev;
	c->reading_head = true;
	buf_init(&c->head);
	c->attach = event_new(base, -1, 0, conn_attach, c);
	c->deadline = evtimer_new(base, conn_deadline, c);
	c->refuse = event_new(base, -1, 0, conn_refused, c);
	if (!c->attach || !c->deadline || !c->refuse ||
	    !evbuffer_add_cb(bufferevent_get_input(bev), conn_input, c))
		goto fail;
	/* Held until conn_attach, so the bufferevent outlives an early failure. */
	bufferevent_incref(bev);
	event_active(c->attach, EV_TIMEOUT, 1);
	return bev;
fail:
	if (c)
		conn_free(c);
	return bev; /* evhttp still serves it, just without our limits */
}

/* evhttp has read a request whole (its body is out of the input buffer):
 * whatever input is left, and all that comes next, is the next head. */
void http_conn_request_read(struct http_thread *t, struct evhttp_request *ev)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct http_conn *c = evcon ? conn_find(t, evcon) : NULL;

	if (!c)
		return;
	evtimer_del(c->deadline);
	evhttp_request_set_on_complete_cb(ev, http_conn_reply_done, c);
	c->in_flight = true;
	c->counting_body = false;
	if (c->refusal)
		return;
	conn_head_done(c);
	c->reading_head = true;
	conn_head_take(c, bufferevent_get_input(c->bev), 0);
}

/* evhttp wrote the reply; a refusal decided meanwhile is sent now, else the
 * next request on a kept-alive connection gets a fresh deadline (pipelined
 * bytes may already be waiting). */
void http_conn_reply_done(struct evhttp_request *ev, void *arg)
{
	struct http_conn *c = arg;

	c->in_flight = false;
	if (c->refusal) {
		event_active(c->refuse, EV_TIMEOUT, 1);
		return;
	}
	c->got_bytes = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
	conn_arm(c);
}
