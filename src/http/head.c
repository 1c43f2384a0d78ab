/*
 * head.c — sizing up a request head before evhttp parses it.
 *
 * conn.c copies the bytes of each request head as they arrive and asks two
 * questions of the copy: has the head ended yet (the empty line of RFC 9112
 * §2.1), and how large a body does it announce (Content-Length, RFC 9112
 * §6.2).  The answers decide 431 and 413 before evhttp, whose 2.1 answers
 * for both are its own HTML pages, has seen the head whole.
 *
 * Everything here reads a view and allocates nothing.  Lines end in LF with
 * an optional CR before it, as evhttp reads them (EVBUFFER_EOL_CRLF).
 */
#include "http/http_private.h"

#include <errno.h>

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
