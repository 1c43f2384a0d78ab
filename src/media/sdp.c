/*
 * sdp.c — indexes an SDP body (RFC 8866) into views.
 *
 * The relay reads an offer or answer once, looks at the few fields it needs
 * (addresses, ports, codecs, rtcp, ICE) and then rewrites the body with
 * sdp_rewrite (sdp_rewrite.c), which walks the same lines again.  Nothing
 * is copied: every field is a view into the body.  Attribute values are
 * parsed in sdp_attr.c.  The grammar is checked where a wrong value would
 * mislead the relay (v=, o=, c=, m=, rtpmap, fmtp, rtcp); other lines are
 * kept as they are.
 */
#include "media/sdp_lines.h"

#include <string.h>

struct sdp_parser {
	struct sdp_session *s;
	struct sdp_media *m; /* the current media section, NULL in the session part */
	bool have_version, have_origin, have_name;
};

int sdp_conn_parse(struct str value, struct sdp_conn *c)
{
	struct str extra;

	if (!sdp_token_next(&value, &c->nettype) || !sdp_token_next(&value, &c->addrtype) ||
	    !sdp_token_next(&value, &c->address) || sdp_token_next(&value, &extra))
		return SDP_ERR_CONN;
	return 0;
}

/* "o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>"
 * (RFC 8866 §5.2): exactly six fields. */
static int sdp_origin_parse(struct sdp_parser *p, struct str value)
{
	struct sdp_session *s = p->s;

	if (p->have_origin)
		return SDP_ERR_ORIGIN;
	p->have_origin = true;
	if (!sdp_token_next(&value, &s->origin.username) ||
	    !sdp_token_next(&value, &s->origin.sess_id) ||
	    !sdp_token_next(&value, &s->origin.sess_version) ||
	    sdp_conn_parse(value, &s->origin.conn) < 0)
		return SDP_ERR_ORIGIN;
	return 0;
}

static int sdp_section_conn_parse(struct sdp_conn *c, struct str value)
{
	if (c->address.len)
		return SDP_ERR_CONN; /* one c= per section, RFC 8866 §5.7 */
	return sdp_conn_parse(value, c);
}

static int sdp_bw_add(struct str *bw, size_t *nbw, struct str value)
{
	if (*nbw >= SDP_BW_MAX)
		return SDP_ERR_LIMIT;
	bw[(*nbw)++] = value;
	return 0;
}

static int sdp_attr_add(struct sdp_parser *p, struct str line)
{
	struct sdp_session *s = p->s;
	size_t *n = p->m ? &p->m->nattrs : &s->nattrs;
	int rc;

	if (*n >= SDP_ATTR_MAX || s->nattrs_total >= SDP_ATTR_TOTAL_MAX)
		return SDP_ERR_LIMIT;
	rc = sdp_attr_parse(line, &s->attrs[s->nattrs_total]);
	if (rc < 0)
		return rc;
	s->nattrs_total++;
	(*n)++;
	return 0;
}

/* m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 8866 §5.14) */
static int sdp_media_fields_parse(struct sdp_media *m, struct str value)
{
	struct str port, count = STR_NULL, fmt;
	ptrdiff_t slash;
	uint16_t n = 1;

	if (!sdp_token_next(&value, &m->type) || !sdp_token_next(&value, &m->port_token) ||
	    !sdp_token_next(&value, &m->proto))
		return SDP_ERR_MEDIA;
	port = m->port_token;
	slash = str_index(port, '/');
	if (slash >= 0) {
		count = (struct str){port.p + slash + 1, port.len - (size_t)slash - 1};
		port.len = (size_t)slash;
		if (sdp_port_parse(count, &n) < 0 || n == 0)
			return SDP_ERR_PORT;
	}
	if (sdp_port_parse(port, &m->port) < 0)
		return SDP_ERR_PORT;
	m->port_count = n;
	m->rtp = true;
	while (sdp_token_next(&value, &fmt)) {
		uint64_t pt;

		if (m->nfmts == SDP_FMT_MAX)
			return SDP_ERR_LIMIT;
		m->fmts[m->nfmts++] = fmt;
		if (str_to_u64(fmt, &pt) < 0 || pt > 127)
			m->rtp = false;
	}
	return m->nfmts ? 0 : SDP_ERR_MEDIA;
}

static int sdp_media_begin(struct sdp_parser *p, struct str line)
{
	struct sdp_session *s = p->s;
	struct sdp_media *m;

	if (s->nmedia == SDP_MEDIA_MAX)
		return SDP_ERR_LIMIT;
	m = &s->media[s->nmedia++];
	m->line = line;
	m->attr_first = s->nattrs_total;
	p->m = m;
	return sdp_media_fields_parse(m, (struct str){line.p + 2, line.len - 2});
}

static int sdp_session_line(struct sdp_parser *p, char type, struct str value)
{
	struct sdp_session *s = p->s;

	switch (type) {
	case 'o':
		return sdp_origin_parse(p, value);
	case 's':
		if (p->have_name)
			return SDP_ERR_SESSION;
		p->have_name = true;
		s->name = value;
		return 0;
	case 'c':
		return sdp_section_conn_parse(&s->conn, value);
	case 'b':
		return sdp_bw_add(s->bw, &s->nbw, value);
	case 't':
		if (!s->timing.p)
			s->timing = value;
		return 0;
	case 'v':
		return SDP_ERR_VERSION;
	default:
		return 0; /* i= u= e= p= r= z= k=: kept raw */
	}
}

static int sdp_media_line(struct sdp_parser *p, char type, struct str value)
{
	switch (type) {
	case 'c':
		return sdp_section_conn_parse(&p->m->conn, value);
	case 'b':
		return sdp_bw_add(p->m->bw, &p->m->nbw, value);
	case 'v':
	case 'o':
	case 's':
		return SDP_ERR_SESSION; /* RFC 8866 §5: session fields come first */
	default:
		return 0;
	}
}

/* "<letter>=", and no NUL or stray CR (RFC 8866 §9 "text" excludes them). */
static int sdp_line_check(struct str line)
{
	if (line.len < 2 || line.p[0] < 'a' || line.p[0] > 'z' || line.p[1] != '=')
		return SDP_ERR_LINE;
	if (memchr(line.p, '\0', line.len) || memchr(line.p, '\r', line.len))
		return SDP_ERR_LINE;
	return 0;
}

static int sdp_line_dispatch(struct sdp_parser *p, struct str line)
{
	struct str value = {line.p + 2, line.len - 2};
	int rc = sdp_line_check(line);

	if (rc < 0)
		return rc;
	if (!p->have_version) {
		/* RFC 8866 §5.1: v=0 is the first line. */
		if (!str_eq_cstr(line, "v=0"))
			return SDP_ERR_VERSION;
		p->have_version = true;
		p->s->version = value;
		return 0;
	}
	if (line.p[0] == 'm')
		return sdp_media_begin(p, line);
	if (line.p[0] == 'a')
		return sdp_attr_add(p, line);
	return p->m ? sdp_media_line(p, line.p[0], value) : sdp_session_line(p, line.p[0], value);
}

static enum sdp_dir sdp_dir_of(const struct sdp_session *s, const struct sdp_media *m,
			       enum sdp_dir def)
{
	if (sdp_attr_find(s, m, SDP_ATTR_SENDONLY))
		return SDP_DIR_SENDONLY;
	if (sdp_attr_find(s, m, SDP_ATTR_RECVONLY))
		return SDP_DIR_RECVONLY;
	if (sdp_attr_find(s, m, SDP_ATTR_INACTIVE))
		return SDP_DIR_INACTIVE;
	if (sdp_attr_find(s, m, SDP_ATTR_SENDRECV))
		return SDP_DIR_SENDRECV;
	return def;
}

static void sdp_session_finish(struct sdp_session *s)
{
	size_t i;

	s->dir = sdp_dir_of(s, NULL, SDP_DIR_SENDRECV);
	for (i = 0; i < s->nmedia; i++) {
		s->media[i].dir = sdp_dir_of(s, &s->media[i], s->dir);
		s->media[i].rtcp_mux = sdp_attr_find(s, &s->media[i], SDP_ATTR_RTCP_MUX) != NULL;
	}
}

int sdp_parse(struct sdp_session *s, struct str body)
{
	struct sdp_parser p = {.s = s};
	struct sdp_line_iter it = {body.p, body.p + body.len};
	struct str line, eol;
	unsigned lineno = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	s->body = body;
	if (!body.p || body.len == 0)
		return SDP_ERR_EMPTY;
	while (sdp_line_next(&it, &line, &eol)) {
		lineno++;
		if (line.len == 0)
			continue;
		rc = sdp_line_dispatch(&p, line);
		if (rc < 0) {
			s->err_line = lineno;
			return rc;
		}
	}
	s->err_line = lineno;
	if (!p.have_version)
		return SDP_ERR_VERSION;
	if (!p.have_origin)
		return SDP_ERR_ORIGIN;
	if (!p.have_name)
		return SDP_ERR_SESSION;
	s->err_line = 0;
	sdp_session_finish(s);
	return 0;
}

const char *sdp_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case SDP_ERR_EMPTY:
		return "empty SDP";
	case SDP_ERR_LINE:
		return "malformed line";
	case SDP_ERR_VERSION:
		return "missing or bad v= line";
	case SDP_ERR_ORIGIN:
		return "missing or bad o= line";
	case SDP_ERR_SESSION:
		return "missing or misplaced s= line";
	case SDP_ERR_CONN:
		return "bad c= line";
	case SDP_ERR_MEDIA:
		return "bad m= line";
	case SDP_ERR_PORT:
		return "bad port";
	case SDP_ERR_ATTR:
		return "bad attribute value";
	case SDP_ERR_LIMIT:
		return "too many media, attributes or formats";
	case SDP_ERR_EDIT:
		return "bad SDP edit";
	case SDP_ERR_CODEC:
		return "no codec left";
	case SDP_ERR_NOMEM:
		return "out of memory";
	default:
		return "unknown error";
	}
}

const struct sdp_attr *sdp_attr_find(const struct sdp_session *s, const struct sdp_media *m,
				     enum sdp_attr_kind kind)
{
	size_t first = m ? m->attr_first : s->attr_first;
	size_t n = m ? m->nattrs : s->nattrs;
	size_t i;

	for (i = first; i < first + n; i++)
		if (s->attrs[i].kind == kind)
			return &s->attrs[i];
	return NULL;
}

const struct sdp_attr *sdp_rtpmap_find(const struct sdp_session *s, const struct sdp_media *m,
				       int pt)
{
	size_t i;

	for (i = m->attr_first; i < m->attr_first + m->nattrs; i++)
		if (s->attrs[i].kind == SDP_ATTR_RTPMAP && s->attrs[i].pt == pt)
			return &s->attrs[i];
	return NULL;
}
