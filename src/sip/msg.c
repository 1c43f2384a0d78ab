/*
 * msg.c — sip_msg_parse: the one pass over a message that every other
 * accessor relies on.
 *
 * It reads the start line, indexes each header (id, name, value and line
 * span, linked per id so lookups skip unrelated headers) and frames the body
 * by Content-Length.  It parses no header value except Content-Length, which
 * framing needs.  Faults in the start line of a request and in the body are
 * recorded but indexing goes on, so a 400 or 505 can still be built from the
 * Via, From, To, Call-ID and CSeq lines (RFC 3261 §8.2.6.2).
 */
#include "sip/lex.h"

#include <strings.h>

/* hot path: no allocation, no locks, no I/O */

int sip_msg_fail(struct sip_msg *m, int err, const char *text)
{
	if (m->err == 0) {
		m->err = err;
		m->err_text = text ? text : sip_strerror(err);
	}
	return err;
}

static void sip_msg_reset(struct sip_msg *m, const char *buf, size_t len)
{
	m->raw = (struct str){buf, len};
	m->start_line = STR_NULL;
	m->is_request = false;
	m->headers_done = false;
	m->method = SIP_METHOD_OTHER;
	m->method_name = STR_NULL;
	m->ruri = STR_NULL;
	m->version = STR_NULL;
	m->status = 0;
	m->reason = STR_NULL;
	m->nhdrs = 0;
	memset(m->first, 0xff, sizeof(m->first));
	memset(m->last, 0xff, sizeof(m->last));
	m->body = STR_NULL;
	m->content_length = -1;
	m->trailing = STR_NULL;
	m->err = 0;
	m->parse_err = 0;
	m->err_text = NULL;
	memset(m->cache.rc, 1, sizeof(m->cache.rc));
}

/* "SIP/2.0" exactly, the literal being case-insensitive (RFC 3261 §7.1);
 * another well-formed "SIP/x.y" is a version we do not speak (505). */
static int sip_msg_check_version(struct str v)
{
	if (v.len == 7 && strncasecmp(v.p, "SIP/2.0", 7) == 0)
		return 0;
	if (v.len < 7 || strncasecmp(v.p, "SIP/", 4) != 0)
		return SIP_E_START_LINE;
	struct str rest = {v.p + 4, v.len - 4};
	ptrdiff_t dot = str_index(rest, '.');
	uint64_t n;
	if (dot <= 0 || sip_lex_uint((struct str){rest.p, (size_t)dot}, 999, &n) != 0 ||
	    sip_lex_uint((struct str){rest.p + dot + 1, rest.len - (size_t)dot - 1}, 999, &n) != 0)
		return SIP_E_START_LINE;
	return SIP_E_VERSION;
}

static bool sip_msg_ruri_chars_ok(struct str u)
{
	if (u.len == 0 || u.p[0] == '<')
		return false;
	for (size_t i = 0; i < u.len; i++)
		if ((unsigned char)u.p[i] <= 0x20 || u.p[i] == 0x7f)
			return false;
	return true;
}

/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2). */
static int sip_msg_status_line(struct sip_msg *m, struct str line)
{
	ptrdiff_t sp = str_index(line, ' ');
	uint64_t code;

	m->version = (struct str){line.p, (size_t)sp};
	int rc = sip_msg_check_version(m->version);
	if (rc != 0)
		return sip_msg_fail(m, rc, NULL);
	struct str rest = {line.p + sp + 1, line.len - (size_t)sp - 1};
	size_t d = 0;
	while (d < rest.len && sip_lex_is_digit(rest.p[d]))
		d++;
	if (d != 3 || (d < rest.len && rest.p[d] != ' '))
		return sip_msg_fail(m, SIP_E_STATUS, NULL);
	if (sip_lex_uint((struct str){rest.p, 3}, 999, &code) != 0 || code < 100 || code > 699)
		return sip_msg_fail(m, SIP_E_STATUS, NULL);
	m->status = (int)code;
	m->reason =
	    d < rest.len ? (struct str){rest.p + 4, rest.len - 4} : (struct str){rest.p + 3, 0};
	for (size_t i = 0; i < m->reason.len; i++)
		if ((unsigned char)m->reason.p[i] < 0x20 && m->reason.p[i] != '\t')
			return sip_msg_fail(m, SIP_E_START_LINE, "bad reason phrase");
	return 0;
}

/* Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1): single
 * spaces, no LWS anywhere (RFC 4475 §3.1.2.8-10). */
static int sip_msg_request_line(struct sip_msg *m, struct str line)
{
	struct str rest = line;
	struct str method = sip_lex_token(&rest);

	if (method.len == 0 || rest.len == 0 || rest.p[0] != ' ')
		return sip_msg_fail(m, SIP_E_START_LINE, "bad Request-Line");
	m->is_request = true;
	m->method_name = method;
	m->method = sip_method_from_str(method);
	sip_lex_advance(&rest, 1);
	ptrdiff_t sp = str_index(rest, ' ');
	if (sp < 0)
		return sip_msg_fail(m, SIP_E_START_LINE, "bad Request-Line");
	m->ruri = (struct str){rest.p, (size_t)sp};
	m->version = (struct str){rest.p + sp + 1, rest.len - (size_t)sp - 1};
	if (!sip_msg_ruri_chars_ok(m->ruri))
		return sip_msg_fail(m, SIP_E_RURI, NULL);
	if (str_index(m->version, ' ') >= 0 || str_index(m->version, '\t') >= 0)
		return sip_msg_fail(m, SIP_E_START_LINE, "bad Request-Line");
	int rc = sip_msg_check_version(m->version);
	return rc ? sip_msg_fail(m, rc, NULL) : 0;
}

/* Returns the offset just past the start line's CRLF, or a negative error. */
static long sip_msg_start_line(struct sip_msg *m)
{
	struct str s = m->raw;

	/* RFC 3261 §7.5: CRLFs before the start line are ignored. */
	while (s.len >= 2 && s.p[0] == '\r' && s.p[1] == '\n')
		sip_lex_advance(&s, 2);
	m->raw = s;
	const char *lf = memchr(s.p, '\n', s.len);
	if (!lf || lf == s.p || lf[-1] != '\r')
		return sip_msg_fail(m, SIP_E_INCOMPLETE, NULL);
	struct str line = {s.p, (size_t)(lf - 1 - s.p)};
	m->start_line = line;
	if (memchr(line.p, '\0', line.len))
		return sip_msg_fail(m, SIP_E_START_LINE, NULL);
	int rc;
	if (line.len > 4 && strncasecmp(line.p, "SIP/", 4) == 0 && str_index(line, ' ') > 0)
		rc = sip_msg_status_line(m, line);
	else
		rc = sip_msg_request_line(m, line);
	/* A request we can still answer keeps going; a bad response is dropped. */
	if (rc != 0 && !m->is_request)
		return rc;
	return (long)(lf + 1 - m->raw.p);
}

/* End of the logical header line starting at p: the CRLF not followed by SP or
 * HT (RFC 3261 §7.3.1 folding).  Returns the offset after that CRLF, or 0
 * when the headers run off the buffer or hold a bare LF.  NUL bytes are let
 * through: RFC 4475 §3.1.1.2 puts one in a quoted display name. */
static size_t sip_msg_line_end(const char *p, size_t len)
{
	size_t i = 0;

	for (;;) {
		const char *lf = memchr(p + i, '\n', len - i);
		if (!lf)
			return 0;
		size_t at = (size_t)(lf - p);
		if (at == 0 || p[at - 1] != '\r')
			return 0;
		i = at + 1;
		if (i >= len || (p[i] != ' ' && p[i] != '\t'))
			return i;
	}
}

static void sip_msg_hdr_link(struct sip_msg *m, uint16_t i)
{
	enum sip_hdr_id id = m->hdrs[i].id;

	m->hdrs[i].next = SIP_HDR_NONE;
	if (m->last[id] == SIP_HDR_NONE)
		m->first[id] = i;
	else
		m->hdrs[m->last[id]].next = i;
	m->last[id] = i;
}

/* message-header = field-name HCOLON field-value CRLF; HCOLON = *WSP ":" SWS. */
static int sip_msg_hdr_index(struct sip_msg *m, struct str line)
{
	struct str rest = {line.p, line.len - 2};
	struct str name = sip_lex_token(&rest);

	if (name.len == 0)
		return sip_msg_fail(m, SIP_E_HDR_LINE, NULL);
	while (rest.len > 0 && (rest.p[0] == ' ' || rest.p[0] == '\t'))
		sip_lex_advance(&rest, 1);
	if (rest.len == 0 || rest.p[0] != ':')
		return sip_msg_fail(m, SIP_E_HDR_LINE, NULL);
	sip_lex_advance(&rest, 1);
	if (m->nhdrs >= SIP_MSG_MAX_HDRS)
		return sip_msg_fail(m, SIP_E_TOO_MANY_HDRS, NULL);
	struct sip_hdr *h = &m->hdrs[m->nhdrs];
	h->id = sip_hdr_id_from_name(name);
	h->name = name;
	h->value = sip_lex_trim(rest);
	h->line = line;
	sip_msg_hdr_link(m, m->nhdrs);
	m->nhdrs++;
	return 0;
}

/* Indexes header lines from off; returns the offset of the body or an error. */
static long sip_msg_headers(struct sip_msg *m, size_t off)
{
	const char *p = m->raw.p;
	size_t len = m->raw.len;

	while (off < len) {
		if (len - off >= 2 && p[off] == '\r' && p[off + 1] == '\n') {
			m->headers_done = true;
			return (long)(off + 2);
		}
		if (p[off] == ' ' || p[off] == '\t')
			return sip_msg_fail(m, SIP_E_HDR_LINE, NULL);
		size_t n = sip_msg_line_end(p + off, len - off);
		if (n == 0)
			return sip_msg_fail(m, SIP_E_INCOMPLETE, NULL);
		int rc = sip_msg_hdr_index(m, (struct str){p + off, n});
		if (rc != 0)
			return rc;
		off += n;
	}
	return sip_msg_fail(m, SIP_E_INCOMPLETE, NULL);
}

/* Frames the body (RFC 3261 §18.3): a shorter body than Content-Length is an
 * error; octets past it in a datagram are ignored.  Without the header the
 * body is the rest of the datagram (a stream transport must frame first). */
static int sip_msg_frame_body(struct sip_msg *m, size_t off)
{
	struct str rest = {m->raw.p + off, m->raw.len - off};
	uint16_t i = m->first[SIP_HDR_CONTENT_LENGTH];
	uint64_t cl;

	if (i == SIP_HDR_NONE) {
		m->body = rest;
		return 0;
	}
	if (m->hdrs[i].next != SIP_HDR_NONE)
		return sip_msg_fail(m, SIP_E_CONTENT_LENGTH, "several Content-Length values");
	if (sip_lex_uint(m->hdrs[i].value, SIP_MSG_MAX_SIZE, &cl) != 0)
		return sip_msg_fail(m, SIP_E_CONTENT_LENGTH, NULL);
	m->content_length = (int64_t)cl;
	if (cl > rest.len)
		return sip_msg_fail(m, SIP_E_BODY_SHORT, NULL);
	m->body = (struct str){rest.p, (size_t)cl};
	m->trailing = (struct str){rest.p + cl, rest.len - (size_t)cl};
	m->raw.len = off + (size_t)cl;
	return 0;
}

int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len)
{
	sip_msg_reset(m, buf, len);
	if (!buf || len == 0)
		return m->parse_err = sip_msg_fail(m, SIP_E_INCOMPLETE, NULL);
	if (len > SIP_MSG_MAX_SIZE)
		return m->parse_err = sip_msg_fail(m, SIP_E_TOO_BIG, NULL);
	long off = sip_msg_start_line(m);
	if (off >= 0)
		off = sip_msg_headers(m, (size_t)off);
	if (off < 0) {
		m->parse_err = m->err;
		return m->err;
	}
	sip_msg_frame_body(m, (size_t)off);
	m->parse_err = m->err;
	return m->err;
}

const char *sip_msg_error(const struct sip_msg *m)
{
	return m->err ? m->err_text : NULL;
}

int sip_msg_error_code(const struct sip_msg *m)
{
	return m->err;
}
