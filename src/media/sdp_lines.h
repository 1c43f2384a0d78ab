/*
 * sdp_lines.h — private to src/media: what the SDP parser and the rewriter
 * share, so that both see exactly the same lines and attributes.
 */
#ifndef WARP_MEDIA_SDP_LINES_H
#define WARP_MEDIA_SDP_LINES_H

#include "media/media.h"

#include <string.h>

struct sdp_line_iter {
	const char *p;
	const char *end;
};

/* The next line without its ending, and the ending itself ("\r\n", "\n",
 * or empty for a last line without one).  RFC 8866 §5 says CRLF, but
 * parsers "should" accept a bare LF too, and SIP stacks do send it. */
static inline bool sdp_line_next(struct sdp_line_iter *it, struct str *line, struct str *eol)
{
	const char *nl;

	if (it->p >= it->end)
		return false;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	if (!nl) {
		*line = (struct str){it->p, (size_t)(it->end - it->p)};
		*eol = (struct str){it->end, 0};
		it->p = it->end;
		return true;
	}
	*line = (struct str){it->p, (size_t)(nl - it->p)};
	*eol = (struct str){nl, 1};
	if (line->len && nl[-1] == '\r') {
		line->len--;
		eol->p--;
		eol->len++;
	}
	it->p = nl + 1;
	return true;
}

/* The next space-separated token of *rest (runs of spaces count as one). */
static inline bool sdp_token_next(struct str *rest, struct str *tok)
{
	size_t i = 0, j;

	while (i < rest->len && rest->p[i] == ' ')
		i++;
	if (i == rest->len)
		return false;
	for (j = i; j < rest->len && rest->p[j] != ' '; j++)
		;
	*tok = (struct str){rest->p + i, j - i};
	rest->p += j;
	rest->len -= j;
	return true;
}

/* A port, 0..65535, digits only. */
static inline int sdp_port_parse(struct str s, uint16_t *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v > 65535)
		return SDP_ERR_PORT;
	*out = (uint16_t)v;
	return 0;
}

/* "nettype addrtype address" (RFC 8866 §5.7), exactly three tokens. */
int sdp_conn_parse(struct str value, struct sdp_conn *c);

/* Fills a from an "a=..." line (kind, name, value and the typed fields).
 * Returns 0 or SDP_ERR_ATTR. */
int sdp_attr_parse(struct str line, struct sdp_attr *a);

#endif
