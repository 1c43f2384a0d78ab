/*
 * conn.c — a deadline for every request, answered with 408.
 *
 * libevent 2.1's evhttp_set_timeout is an inactivity timeout on the socket:
 * a client that sends a byte now and then never trips it, and when it does
 * trip evhttp closes the connection without a word (http.c,
 * evhttp_connection_incoming_fail: "we just drop the connections").  2.1 has
 * no hook for a request that has started but not finished, so this file
 * keeps its own record per connection:
 *
 *   - evhttp_set_bevcb lets us create each connection's bufferevent; we note
 *     it, watch its input buffer for bytes and, right after the accept
 *     callback returns, learn its evhttp_connection (the argument evhttp
 *     gives the bufferevent's callbacks) and ask for a close callback, so
 *     the record dies with the connection;
 *   - the deadline runs from the connection's start (or the end of the
 *     previous reply) until evhttp hands us the complete request;
 *   - when it fires and bytes of a request have arrived, the client gets
 *     "408 Request Timeout" with Connection: close (RFC 9110 §15.5.9) and
 *     the connection is closed; an idle connection is closed silently, as
 *     a 408 nobody asked for could be read as the answer to the client's
 *     next request (RFC 9112 §9.5).
 *
 * The 408 is written straight to the socket: it is small, nothing else is
 * queued while a request is being read, and evhttp has no request object
 * we could answer on.
 */
#include "http/http_private.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct http_conn {
	struct http_thread *t;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until attached */
	struct event *attach;
	struct event *deadline;
	bool got_bytes; /* of the request being read */
	struct http_conn *next;
};

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

static void conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct http_conn *c = arg;

	if (info->n_added)
		c->got_bytes = true;
}

static void conn_free(struct http_conn *c)
{
	if (c->bev)
		evbuffer_remove_cb(bufferevent_get_input(c->bev), conn_input, c);
	if (c->attach)
		event_free(c->attach);
	if (c->deadline)
		event_free(c->deadline);
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
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

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

static void conn_send_408(struct http_conn *c)
{
	static const char body[] =
		"{\"errors\":[{\"code\":\"request_timeout\",\"title\":\"Request Timeout\","
		"\"detail\":\"the request was not received in time\"}]}";
	char id[ID_MAX] = "-", head[256], drain[512];
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	int n;

	id_new("req", id, sizeof(id));
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; "
		     "charset=utf-8\r\nContent-Length: %zu\r\nX-Request-Id: %s\r\n"
		     "Connection: close\r\n\r\n",
		     sizeof(body) - 1, id);
	if (send(fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n)
		send(fd, body, sizeof(body) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Unread input at close would make the kernel answer with a reset,
	 * which can destroy the 408 before the client reads it. */
	while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
		;
	log_context_set(id);
	log_info("http", "- - 408 %zu bytes: request not complete after %d ms", sizeof(body) - 1,
		 c->t->srv->opts.request_timeout_ms);
	log_context_set(NULL);
	metric_inc(metric_get(c->t->srv->requests, "UNKNOWN", "408"));
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	/* evhttp answering on its own (400, 413) and still writing: leave the
	 * connection to evhttp's write timeout. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)))
		return;
	if (c->got_bytes || evbuffer_get_length(bufferevent_get_input(c->bev)))
		conn_send_408(c);
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
	c->attach = event_new(base, -1, 0, conn_attach, c);
	c->deadline = evtimer_new(base, conn_deadline, c);
	if (!c->attach || !c->deadline ||
	    !evbuffer_add_cb(bufferevent_get_input(bev), conn_input, c))
		goto fail;
	/* Held until conn_attach, so the bufferevent outlives an early failure. */
	bufferevent_incref(bev);
	event_active(c->attach, EV_TIMEOUT, 1);
	return bev;
fail:
	if (c)
		conn_free(c);
	return bev; /* evhttp still serves it, just without a deadline */
}

void http_conn_request_read(struct http_thread *t, struct evhttp_request *ev)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct http_conn *c = evcon ? conn_find(t, evcon) : NULL;

	if (!c)
		return;
	evtimer_del(c->deadline);
	evhttp_request_set_on_complete_cb(ev, http_conn_reply_done, c);
}

/* evhttp wrote the reply; the next request on a kept-alive connection gets
 * a fresh deadline (pipelined bytes may already be waiting). */
void http_conn_reply_done(struct evhttp_request *ev, void *arg)
{
	struct http_conn *c = arg;

	c->got_bytes = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
	conn_arm(c);
}
