/*
 * chunk.c — the framing of a chunked body (RFC 9112 §7.1), scanned as its
 * bytes arrive and before evhttp reads them.
 *
 * evhttp 2.1 answers a chunk size it cannot read ("zz", "-5", twenty hex
 * digits) with its own HTML 413 page, so conn.c feeds each chunked body's
 * bytes through this scanner and answers such framing itself, in JSON: a
 * chunk-size that is not 1*HEXDIG, or longer than 16 digits, or data not
 * followed by CRLF, is 400; a chunk larger than evhttp's body limit 413.
 * A chunk extension (RFC 9112 §7.1.1, "e;foo=bar") is valid and ignored, but
 * evhttp's strtoll refuses a ';' or HTAB after the digits, so the scanner
 * stops right after that byte (patch) and conn.c turns it into a space in
 * the input buffer, which evhttp reads as the end of the size.
 * The scanner keeps a few integers, copies nothing and allocates nothing.
 */
#include "http/http_private.h"

#include <string.h>

enum {
	CHUNK_SIZE = 0, /* reading chunk-size digits */
	CHUNK_EXT,	/* after the digits: chunk-ext or BWS up to the LF */
	CHUNK_DATA,	/* chunk-data: remaining bytes to go */
	CHUNK_DATA_CR,	/* the CRLF after the data */
	CHUNK_DATA_LF,
	CHUNK_TRAILER, /* trailer field lines up to an empty one */
	CHUNK_DONE,
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int chunk_refuse(const char **why, int status, const char *detail)
{
	*why = detail;
	return status;
}

/* The end of a chunk-size line: the last chunk starts the trailer. */
static void chunk_size_done(struct http_chunk_scan *s)
{
	s->state = s->size ? CHUNK_DATA : CHUNK_TRAILER;
	s->remaining = s->size;
	s->line = 0;
}

/* One byte of a chunk-size line (RFC 9112 §7.1: chunk-size [ chunk-ext ]
 * CRLF; an extension is ignored, as §7.1.1 allows). */
static int chunk_size_byte(struct http_chunk_scan *s, char c, const char **why)
{
	int v = hex_value(c);

	if (s->state == CHUNK_SIZE && v >= 0) {
		if (++s->digits > 16)
			return chunk_refuse(why, 400, "a chunk size has more than 16 hex digits");
		s->size = s->size * 16 + (uint64_t)v; /* 16 digits fit */
		return 0;
	}
	if (!s->digits)
		return chunk_refuse(why, 400, "a chunk size is not hexadecimal digits");
	if (s->state == CHUNK_SIZE && s->size >= s->limit)
		return chunk_refuse(why, 413, "a chunk is larger than the body limit");
	if (c == '\n') {
		chunk_size_done(s);
		return 0;
	}
	if (s->state == CHUNK_SIZE && c != ';' && c != ' ' && c != '\t' && c != '\r')
		return chunk_refuse(why, 400, "a chunk size is not hexadecimal digits");
	/* evhttp 2.1 reads a size line only when a space or nothing follows
	 * the digits: the byte that ends them is to be made a space. */
	s->patch = s->state == CHUNK_SIZE && (c == ';' || c == '\t');
	s->state = CHUNK_EXT;
	return 0;
}

int http_chunk_scan(struct http_chunk_scan *s, struct str in, size_t *used, const char **why)
{
	size_t i = 0;
	int rc = 0;

	s->patch = false;
	while (i < in.len && !rc && s->state != CHUNK_DONE && !s->patch) {
		char c = in.p[i];
		if (s->state == CHUNK_DATA) {
			size_t n = in.len - i < s->remaining ? in.len - i : (size_t)s->remaining;
			s->remaining -= n;
			i += n;
			if (!s->remaining)
				s->state = CHUNK_DATA_CR;
			continue;
		}
		i++;
		if (s->state == CHUNK_SIZE || s->state == CHUNK_EXT)
			rc = chunk_size_byte(s, c, why);
		else if (s->state == CHUNK_DATA_CR && c == '\r')
			s->state = CHUNK_DATA_LF;
		else if ((s->state == CHUNK_DATA_CR || s->state == CHUNK_DATA_LF) && c == '\n')
			*s = (struct http_chunk_scan){.limit = s->limit};
		else if (s->state == CHUNK_DATA_CR || s->state == CHUNK_DATA_LF)
			rc = chunk_refuse(why, 400, "chunk data is not followed by CRLF");
		else if (c == '\n') /* the trailer: an empty line ends the body */
			s->state = s->line ? CHUNK_TRAILER : CHUNK_DONE, s->line = 0;
		else if (c != '\r')
			s->line++;
	}
	*used = i;
	if (rc)
		return rc;
	return s->state == CHUNK_DONE ? 1 : 0;
}
