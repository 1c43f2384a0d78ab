/*
 * reply.c — answering a request, exactly once.
 *
 * Every reply goes through reply_send, which adds X-Request-Id (every
 * response carries it: docs/openapi.yaml), writes the access log line and the metrics,
 * hands the body to evhttp and frees the http_req: after any http_reply_*
 * the handler must not touch req again.  Errors follow docs/openapi.yaml:
 *   {"errors":[{"code","title","detail","source":{"pointer"}}]}
 */
#include "http/http_private.h"

#include <event2/buffer.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The Date header (RFC 9110 §6.6.1) in evhttp's own format.  evhttp would
 * format it with gmtime on every HTTP/1.1 reply (callgrind: about 3,400
 * instructions of an API GET); its text changes once a second, so each
 * worker thread keeps the last one. */
static const char *reply_date(void)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static _Thread_local time_t at = -1;
	static _Thread_local char text[48];
	time_t now = time(NULL);
	struct tm tm;

	if (now != at && gmtime_r(&now, &tm)) {
		snprintf(text, sizeof(text), "%s, %02d %s %4d %02d:%02d:%02d GMT", days[tm.tm_wday],
			 tm.tm_mday, months[tm.tm_mon], 1900 + tm.tm_year, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		at = now;
	}
	return at == now ? text : NULL;
}

/* Which of the headers reply_send may add a handler has set already: one
 * pass over the list instead of an evhttp_find_header (a case-insensitive
 * compare with every header) for each. */
struct reply_present {
	bool type, date, length;
};

static bool reply_name_is(const char *key, const char *name, size_t len)
{
	return strlen(key) == len && str_caseeq_cstr((struct str){ key, len }, name);
}

static struct reply_present reply_headers_present(const struct evkeyvalq *h)
{
	struct reply_present p = { false, false, false };
	const struct evkeyval *kv;

	TAILQ_FOREACH(kv, h, next) {
		p.type = p.type || reply_name_is(kv->key, "Content-Type", 12);
		p.date = p.date || reply_name_is(kv->key, "Date", 4);
		p.length = p.length || reply_name_is(kv->key, "Content-Length", 14);
	}
	return p;
}

/* Date and Content-Length exactly where evhttp_make_header would add them
 * (HTTP/1.1, a status that has content), set here where they are cheap:
 * evhttp then finds them and leaves them be. */
static void reply_framing_headers(struct http_req *req, struct evkeyvalq *h,
				  struct reply_present p, int status, size_t bytes)
{
	char n[STR_I64_MAX];
	const char *date;

	if (req->ev->major != 1 || req->ev->minor < 1)
		return;
	date = reply_date();
	if (date && !p.date)
		evhttp_add_header(h, "Date", date);
	if (bytes && status >= 200 && status != 204 && status != 304 && req->method != HTTP_HEAD &&
	    !p.length)
		evhttp_add_header(h, "Content-Length", str_from_i64((int64_t)bytes, n).p);
}

static void reply_send(struct http_req *req, int status, const char *content_type,
		       struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
	size_t bytes = body ? evbuffer_get_length(body) : 0;
	struct reply_present present = reply_headers_present(h);

	if (content_type && !present.type)
		evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Request-Id", req->id);
	/* RFC 9110 §9.3.2: HEAD gets GET's headers and no content; evhttp 2.1
	 * would send the body, so it is left out here. */
	if (req->method == HTTP_HEAD && body) {
		char n[STR_I64_MAX];
		evhttp_add_header(h, "Content-Length", str_from_i64((int64_t)bytes, n).p);
		body = NULL;
	}
	reply_framing_headers(req, h, present, status, body ? bytes : 0);
	/* Accounting first: evhttp may free its request inside send_reply when
	 * the client has already gone. */
	http_req_account(req, status, bytes);
	evhttp_send_reply(req->ev, status, NULL, body);
	http_req_free(req);
}

static void reply_free_dump(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

void http_reply_header(struct http_req *req, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

void http_reply_json(struct http_req *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	struct buf text;

	buf_init(&text);
	int rc = body ? http_json_write(&text, body) : 0;
	json_decref(body);
	if (!out || rc < 0) {
		buf_fini(&text);
		if (out)
			evbuffer_free(out);
		reply_send(req, 500, NULL, NULL);
		return;
	}
	size_t len = text.len;
	char *p = buf_steal(&text);
	if (p && evbuffer_add_reference(out, p, len, reply_free_dump, NULL) < 0)
		free(p);
	reply_send(req, status, "application/json; charset=utf-8", out);
	evbuffer_free(out);
}

void http_reply_data(struct http_req *req, int status, json_t *data)
{
	http_reply_json(req, status, json_pack("{s:o}", "data", data ? data : json_null()));
}

/* One error object, or NULL when out of memory. */
static json_t *error_object(const char *code, const char *title, const char *pointer,
			    const char *detail)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "code", code, "title", title, "detail", detail);

	/* The detail may quote what a client sent, which need not be UTF-8. */
	if (!e)
		e = json_pack("{s:s, s:s, s:s}", "code", code, "title", title, "detail",
			      "(detail is not valid UTF-8)");

	if (e && pointer)
		json_object_set_new(e, "source", json_pack("{s:s}", "pointer", pointer));
	return e;
}

json_t *http_error_doc(const char *code, const char *title, const char *pointer,
		       const char *detail)
{
	json_t *e = error_object(code, title, pointer, detail);

	return e ? json_pack("{s:[o]}", "errors", e) : NULL;
}

void http_reply_error(struct http_req *req, int status, const char *code, const char *title,
		      const char *pointer, const char *fmt, ...)
{
	struct buf detail;
	va_list ap;

	buf_init(&detail);
	va_start(ap, fmt);
	buf_vprintf(&detail, fmt, ap);
	va_end(ap);
	json_t *doc = http_error_doc(code, title, pointer, detail.p ? detail.p : "");
	buf_fini(&detail);
	http_reply_json(req, status, doc);
}

void http_reply_raw(struct http_req *req, int status, const char *content_type,
		    const void *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();

	if (out && len)
		evbuffer_add(out, body, len);
	reply_send(req, status, content_type, out);
	if (out)
		evbuffer_free(out);
}
