/*
 * head.c — sizing up a request head before evhttp parses it.
 *
 * conn.c copies the bytes of each request head as they arrive and asks
 * three questions of the copy: has the head ended yet (the empty line of
 * RFC 9112 §2.1), is it well formed, and how large a body does it announce
 * (Content-Length, RFC 9112 §6.2).  The answers decide 400, 501, 505, 431
 * and 413 before evhttp, whose 2.1 answers are its own HTML pages, has seen
 * the head whole.
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
	struct str rest = { h.p + *at, h.len - *at };
	ptrdiff_t nl = str_index(rest, '\n');
	size_t n = nl < 0 ? rest.len : (size_t)nl;

	*at += nl < 0 ? rest.len : n + 1;
	if (n && rest.p[n - 1] == '\r')
		n--;
	*line = (struct str){ rest.p, n };
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
		*name = (struct str){ line.p, (size_t)colon };
		*value = str_trim((struct str){ line.p + colon + 1, line.len - (size_t)colon - 1 });
		return true;
	}
	return false;
}

bool http_head_chunked(struct str h)
{
	struct str line, name, value;
	size_t at = 0;
	bool chunked = false;

	head_line_next(h, &at, &line); /* the request line */
	while (head_field_next(h, &at, &name, &value)) {
		if (!str_caseeq_cstr(name, "Transfer-Encoding"))
			continue;
		/* The last coding of the last field is what frames the body. */
		ptrdiff_t comma;
		while ((comma = str_index(value, ',')) >= 0)
			value = str_trim((struct str){ value.p + comma + 1, value.len - (size_t)comma - 1 });
		chunked = str_caseeq_cstr(value, "chunked");
	}
	return chunked;
}

int http_head_content_length(struct str h, uint64_t *len)
{
	struct str line, name, value;
	size_t at = 0;
	int rc = -ENOENT;

	*len = 0;
	head_line_next(h, &at, &line); /* the request line */
	while (head_field_next(h, &at, &name, &value)) {
		uint64_t v;
		if (!str_caseeq_cstr(name, "Content-Length"))
			continue;
		if (head_length_parse(value, &v) < 0)
			return -EINVAL; /* evhttp answers 400 for it */
		/* Several fields: the largest one is what a limit must judge. */
		if (v > *len)
			*len = v;
		rc = 0;
	}
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

/* Sets the detail of a refusal and returns its status. */
static int head_refuse(const char **why, int status, const char *detail)
{
	*why = detail;
	return status;
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
	method = (struct str){ line.p, (size_t)sp1 };
	rest = (struct str){ line.p + sp1 + 1, line.len - (size_t)sp1 - 1 };
	ptrdiff_t sp2 = str_index(rest, ' ');
	if (sp2 < 0 || !head_is_token(method))
		return head_refuse(why, 400, "the request line is not \"method target version\"");
	*target = (struct str){ rest.p, (size_t)sp2 };
	version = (struct str){ rest.p + sp2 + 1, rest.len - (size_t)sp2 - 1 };
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
		if (colon <= 0 || !head_is_token((struct str){ line.p, (size_t)colon }))
			return head_refuse(why, 400, "a header field line is not \"name: value\"");
		struct str value = { line.p + colon + 1, line.len - (size_t)colon - 1 };
		if (!head_is_field_value(value))
			return head_refuse(why, 400,
					   "a header field value holds a control character");
		if ((size_t)colon == 4 && str_caseeq_cstr((struct str){ line.p, 4 }, "Host"))
			hosts++;
	}
	/* RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request. */
	if (hosts > 1 || (http11 && hosts == 0))
		return head_refuse(why, 400,
				   hosts ? "more than one Host header field"
					 : "an HTTP/1.1 request must carry a Host header field");
	return 0;
}
