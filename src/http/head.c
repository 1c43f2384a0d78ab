/*
 * head.c — sizing up a request head before evhttp parses it.
 *
 * conn.c copies the bytes of each request head as they arrive and asks
 * three questions of the copy: has the head ended yet (the empty line of
 * RFC 9112 §2.1), is it well formed, and how is its body framed
 * (Content-Length or chunked, RFC 9112 §6: anything ambiguous is refused,
 * as a proxy or a second parser may frame it otherwise: smuggling).  The answers decide 400, 501,
 * 505, 431 and 413 before evhttp, whose 2.1 answers are its own HTML pages, has seen the head
 * whole.
 *
 * Everything here reads a view and allocates nothing.  Lines end in LF with
 * an optional CR before it, as evhttp reads them (EVBUFFER_EOL_CRLF).
 */
#include "http/http_private.h"

#include <errno.h>
#include <string.h>

/* hot path: no allocation, no locks, no I/O */
size_t http_head_end(struct str h, size_t from)
{
	for (size_t i = from; i < h.len; i++) {
		if (h.p[i] != '\n')
			continue;
		if (i + 1 < h.len && h.p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < h.len && h.p[i + 1] == '\r' && h.p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* A Content-Length value: 1*DIGIT only (RFC 9110 §8.6); larger than any
 * limit when it does not fit 64 bits. */
static int head_length_parse(struct str v, uint64_t *out)
{
	uint64_t n = 0;

	if (!v.len)
		return -EINVAL;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -EINVAL;
		n = n > (UINT64_MAX - 9) / 10 ? UINT64_MAX : n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

/* The next line of h from *at, without its CR LF. */
static bool head_line_next(struct str h, size_t *at, struct str *line)
{
	if (*at >= h.len)
		return false;
	struct str rest = {h.p + *at, h.len - *at};
	ptrdiff_t nl = str_index(rest, '\n');
	size_t n = nl < 0 ? rest.len : (size_t)nl;

	*at += nl < 0 ? rest.len : n + 1;
	if (n && rest.p[n - 1] == '\r')
		n--;
	*line = (struct str){rest.p, n};
	return true;
}

/* The field lines of a complete head, one by one: name and value views. */
static bool head_field_next(struct str h, size_t *at, struct str *name, struct str *value)
{
	struct str line;

	while (head_line_next(h, at, &line) && line.len) {
		ptrdiff_t colon = str_index(line, ':');
		if (colon <= 0)
			continue;
		*name = (struct str){line.p, (size_t)colon};
		*value = str_trim((struct str){line.p + colon + 1, line.len - (size_t)colon - 1});
		return true;
	}
	return false;
}

/* Sets the detail of a refusal and returns its status. */
static int head_refuse(const char **why, int status, const char *detail)
{
	*why = detail;
	return status;
}

/* One Transfer-Encoding field's codings (RFC 9112 §6.1, §7): *chunked
 * once "chunked" has come; 0, or the status to refuse with. */
static int head_codings_check(struct str value, bool *chunked, const char **why)
{
	while (value.len) {
		ptrdiff_t comma = str_index(value, ',');
		size_t n = comma < 0 ? value.len : (size_t)comma;
		struct str coding = str_trim((struct str){value.p, n});

		value = comma < 0 ? STR_NULL : (struct str){value.p + n + 1, value.len - n - 1};
		if (*chunked) /* §6.3: chunked must be the final coding, once */
			return head_refuse(why, 400, "chunked is not the final transfer coding");
		if (str_caseeq_cstr(coding, "chunked"))
			*chunked = true;
		else if (!coding.len || str_caseeq_cstr(coding, "identity"))
			/* identity is no transfer coding since RFC 7230 */
			return head_refuse(why, 400, "Transfer-Encoding names no valid coding");
		else
			/* §6.1: a coding not understood is 501; we decode none but
			 * chunked, and passing gzip on undecoded would be a lie. */
			return head_refuse(why, 501,
					   "only the chunked transfer coding is implemented");
	}
	if (!*chunked)
		return head_refuse(why, 400, "Transfer-Encoding names no valid coding");
	return 0;
}

/* Content-Length fields (RFC 9112 §6.3 item 5): fields with differing
 * values, or a value that is not digits, are unrecoverable framing errors;
 * identical repeats are one length (evhttp reads the first). */
static int head_length_merge(struct http_framing *f, struct str value, const char **why)
{
	uint64_t v;

	if (head_length_parse(value, &v) < 0)
		return head_refuse(why, 400, "Content-Length must be decimal digits");
	if (f->has_length && v != f->length)
		return head_refuse(why, 400, "Content-Length fields with differing values");
	f->has_length = true;
	f->length = v;
	return 0;
}

int http_head_framing(struct str h, struct http_framing *f, const char **why)
{
	struct str line, name, value;
	size_t at = 0;
	int te = 0, rc = 0;

	*f = (struct http_framing){0};
	head_line_next(h, &at, &line); /* the request line */
	while (!rc && head_field_next(h, &at, &name, &value)) {
		if (str_caseeq_cstr(name, "Content-Length"))
			rc = head_length_merge(f, value, why);
		else if (str_caseeq_cstr(name, "Transfer-Encoding") && te++)
			/* one field only: a second is how two parsers disagree */
			rc = head_refuse(why, 400, "more than one Transfer-Encoding field");
		else if (str_caseeq_cstr(name, "Transfer-Encoding"))
			rc = head_codings_check(value, &f->chunked, why);
	}
	/* §6.1: both is an attempt at smuggling; a server may refuse it and
	 * a gateway in front of others should. */
	if (!rc && te && f->has_length)
		rc = head_refuse(why, 400, "both Content-Length and Transfer-Encoding");
	return rc;
}

/* tchar of RFC 9110 §5.6.2 */
static bool head_is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool head_is_token(struct str t)
{
	for (size_t i = 0; i < t.len; i++)
		if (!head_is_tchar(t.p[i]))
			return false;
	return t.len > 0;
}

/* A field value: visible ASCII, obs-text, SP and HTAB (RFC 9110 §5.5);
 * a CR, LF or NUL inside one is what request smuggling is made of. */
static bool head_is_field_value(struct str v)
{
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* A request-target: visible ASCII only (RFC 9112 §3.2, RFC 3986). */
static bool head_is_target(struct str t)
{
	for (size_t i = 0; i < t.len; i++)
		if ((unsigned char)t.p[i] <= 0x20 || (unsigned char)t.p[i] >= 0x7f)
			return false;
	return t.len > 0;
}

static const char *const head_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
};

/* The request line: method SP request-target SP HTTP-version, single
 * spaces (RFC 9112 §3). */
static int head_check_request_line(struct str line, struct str *target, const char **why)
{
	ptrdiff_t sp1 = str_index(line, ' ');
	struct str method, rest, version;
	bool known = false;

	if (sp1 <= 0)
		return head_refuse(why, 400, "the request line is not \"method target version\"");
	method = (struct str){line.p, (size_t)sp1};
	rest = (struct str){line.p + sp1 + 1, line.len - (size_t)sp1 - 1};
	ptrdiff_t sp2 = str_index(rest, ' ');
	if (sp2 < 0 || !head_is_token(method))
		return head_refuse(why, 400, "the request line is not \"method target version\"");
	*target = (struct str){rest.p, (size_t)sp2};
	version = (struct str){rest.p + sp2 + 1, rest.len - (size_t)sp2 - 1};
	if (!head_is_target(*target))
		return head_refuse(why, 400,
				   "the request target is empty or holds a space or control "
				   "character");
	if (version.len != 8 || memcmp(version.p, "HTTP/", 5) != 0 || version.p[5] < '0' ||
	    version.p[5] > '9' || version.p[6] != '.' || version.p[7] < '0' || version.p[7] > '9')
		return head_refuse(why, 400, "the request line does not end in an HTTP version");
	if (version.p[5] != '1')
		return head_refuse(why, 505, "only HTTP/1.0 and HTTP/1.1 are served");
	for (size_t i = 0; i < sizeof(head_methods) / sizeof(head_methods[0]); i++)
		known = known || str_eq_cstr(method, head_methods[i]);
	if (!known)
		return head_refuse(why, 501, "the method is not one this server implements");
	return 0;
}

/* hot path: no allocation, no locks, no I/O */
int http_head_check(struct str h, struct str *target, const char **why)
{
	struct str line;
	size_t at = 0;
	int hosts = 0, rc;

	*target = STR_NULL;
	head_line_next(h, &at, &line);
	if ((rc = head_check_request_line(line, target, why)) != 0)
		return rc;
	bool http11 = line.p[line.len - 1] == '1';
	while (head_line_next(h, &at, &line) && line.len) {
		ptrdiff_t colon = str_index(line, ':');
		if (line.p[0] == ' ' || line.p[0] == '\t')
			return head_refuse(why, 400,
					   "a header field is folded over lines (obs-fold)");
		if (colon <= 0 || !head_is_token((struct str){line.p, (size_t)colon}))
			return head_refuse(why, 400, "a header field line is not \"name: value\"");
		struct str value = {line.p + colon + 1, line.len - (size_t)colon - 1};
		if (!head_is_field_value(value))
			return head_refuse(why, 400,
					   "a header field value holds a control character");
		if ((size_t)colon == 4 && str_caseeq_cstr((struct str){line.p, 4}, "Host"))
			hosts++;
	}
	/* RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request. */
	if (hosts > 1 || (http11 && hosts == 0))
		return head_refuse(why, 400,
				   hosts ? "more than one Host header field"
					 : "an HTTP/1.1 request must carry a Host header field");
	return 0;
}
