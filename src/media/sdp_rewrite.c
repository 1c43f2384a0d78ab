/*
 * sdp_rewrite.c — produces a new SDP body from a parsed one and a list of
 * edits, in one pass over the original lines.
 *
 * A relay changes little in an SDP: the addresses and ports (to its own),
 * rtcp and rtcp-mux, ICE (removed when it terminates media), the codec list
 * and a few attributes of its own.  Everything else must reach the other
 * side exactly as written, so the rewriter first turns the edits into a
 * plan per section (session, media 0, media 1, ...) and then walks the
 * lines once: each line is copied, replaced or dropped according to the
 * plan, and new lines are inserted where RFC 8866 §5 puts them.
 */
#include "media/sdp_lines.h"

#include <stdarg.h>
#include <string.h>

struct sdp_plan {
	const struct sdp_edit *conn;
	const struct sdp_edit *port;
	const struct sdp_edit *rtcp_set;
	bool rtcp_remove, mux_add, mux_remove, ice_remove;
	const struct sdp_edit *proto;
	bool fmts_changed;
	uint8_t fmt_out[SDP_FMT_MAX]; /* indices into the m= formats, in output order */
	size_t nfmt_out;
	uint8_t fmt_add[SDP_FMT_MAX]; /* payload types appended (CODEC_ADD) */
	size_t nfmt_add;
	bool pt_drop[128];
};

struct sdp_writer {
	const struct sdp_session *s;
	const struct sdp_edit *edits;
	size_t nedits;
	struct buf *out;
	const struct sdp_edit *origin;
	struct sdp_plan plan[SDP_MEDIA_MAX + 1]; /* [0] session, [i + 1] media i */
	size_t section;
	size_t attr;	   /* next of s->attrs to meet */
	size_t nattrs_out; /* a= lines written in this section */
	size_t total_out;  /* a= lines written in all */
	bool conn_seen, rtcp_seen, mux_seen;
};

static const char SDP_CRLF[] = "\r\n";

static int sdp_out(struct sdp_writer *w, struct str s)
{
	return buf_append_str(w->out, s) < 0 ? SDP_ERR_NOMEM : 0;
}

/* A line ending as the original had it; CRLF for new lines and for a last
 * line that had none. */
static int sdp_out_eol(struct sdp_writer *w, struct str eol)
{
	return sdp_out(w, eol.len ? eol : STR_LIT(SDP_CRLF));
}

static int sdp_out_line(struct sdp_writer *w, struct str line, struct str eol)
{
	int rc = sdp_out(w, line);

	return rc < 0 ? rc : sdp_out_eol(w, eol);
}

static int sdp_out_fmt(struct sdp_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int sdp_out_fmt(struct sdp_writer *w, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(w->out, fmt, ap);
	va_end(ap);
	return rc < 0 ? SDP_ERR_NOMEM : 0;
}

/* ---------------------------------------------------------------- plan */

/* A value that becomes one token of a line: no spaces or line breaks. */
static bool sdp_token_ok(struct str s)
{
	size_t i;

	if (!s.p || s.len == 0)
		return false;
	for (i = 0; i < s.len; i++)
		if (s.p[i] == ' ' || s.p[i] == '\t' || s.p[i] == '\r' || s.p[i] == '\n' ||
		    s.p[i] == '\0')
			return false;
	return true;
}

static int sdp_edit_check(const struct sdp_session *s, const struct sdp_edit *e)
{
	if (e->media != SDP_SESSION && e->media != SDP_ALL_MEDIA &&
	    (e->media < 0 || (size_t)e->media >= s->nmedia))
		return SDP_ERR_EDIT;
	switch (e->op) {
	case SDP_EDIT_ORIGIN_ADDR:
	case SDP_EDIT_CONN:
		return sdp_token_ok(e->addrtype) && sdp_token_ok(e->addr) ? 0 : SDP_ERR_EDIT;
	case SDP_EDIT_RTCP_SET:
		if (e->media == SDP_SESSION)
			return SDP_ERR_EDIT;
		if (e->addr.len && !(sdp_token_ok(e->addrtype) && sdp_token_ok(e->addr)))
			return SDP_ERR_EDIT;
		return 0;
	case SDP_EDIT_PORT:
	case SDP_EDIT_CODEC_STRIP:
	case SDP_EDIT_CODEC_KEEP:
	case SDP_EDIT_CODEC_ADD:
		return e->media == SDP_SESSION || (e->npts && !e->pts) ? SDP_ERR_EDIT : 0;
	case SDP_EDIT_PROTO:
		return e->media != SDP_SESSION && sdp_token_ok(e->text) ? 0 : SDP_ERR_EDIT;
	case SDP_EDIT_ATTR_APPEND:
		return e->text.p && e->text.len ? 0 : SDP_ERR_EDIT; /* checked when written */
	case SDP_EDIT_RTCP_REMOVE:
	case SDP_EDIT_RTCP_MUX_ADD:
	case SDP_EDIT_RTCP_MUX_REMOVE:
	case SDP_EDIT_ICE_REMOVE:
		return 0;
	default:
		return SDP_ERR_EDIT;
	}
}

/* section 0 is the session part, section i + 1 is media i.  ICE removal
 * for all media also clears session-level ICE lines (ice-ufrag, ice-lite,
 * ... are often written there). */
static bool sdp_edit_applies(const struct sdp_edit *e, size_t section)
{
	if (e->media == SDP_SESSION)
		return section == 0;
	if (e->media == SDP_ALL_MEDIA)
		return section > 0 || e->op == SDP_EDIT_ICE_REMOVE;
	return (size_t)e->media + 1 == section;
}

static bool sdp_fmt_is(struct str fmt, unsigned pt)
{
	uint64_t v;

	return str_to_u64(fmt, &v) == 0 && v == pt;
}

static bool sdp_pts_has(const struct sdp_edit *e, struct str fmt)
{
	size_t i;

	for (i = 0; i < e->npts; i++)
		if (sdp_fmt_is(fmt, e->pts[i]))
			return true;
	return false;
}

static void sdp_plan_codec_strip(struct sdp_plan *p, const struct sdp_media *m,
				 const struct sdp_edit *e)
{
	size_t i, n = 0;

	for (i = 0; i < p->nfmt_out; i++)
		if (!sdp_pts_has(e, m->fmts[p->fmt_out[i]]))
			p->fmt_out[n++] = p->fmt_out[i];
	p->nfmt_out = n;
}

/* Each listed payload type present on the line, once, in the list's
 * order; the others leave the line. */
static void sdp_plan_codec_keep(struct sdp_plan *p, const struct sdp_media *m,
				const struct sdp_edit *e)
{
	uint8_t keep[SDP_FMT_MAX] = {0};
	bool taken[SDP_FMT_MAX] = {false};
	size_t i, j, n = 0;

	for (i = 0; i < e->npts; i++) {
		for (j = 0; j < p->nfmt_out; j++) {
			if (!taken[j] && sdp_fmt_is(m->fmts[p->fmt_out[j]], e->pts[i])) {
				taken[j] = true;
				keep[n++] = p->fmt_out[j];
				break;
			}
		}
	}
	memcpy(p->fmt_out, keep, n);
	p->nfmt_out = n;
}

/* Marks the payload types that left the m= line so that their rtpmap,
 * fmtp and rtcp-fb lines go too. */
static int sdp_plan_codec_finish(struct sdp_plan *p, const struct sdp_media *m)
{
	uint64_t pt;
	size_t i, j;

	p->fmts_changed = p->nfmt_out != m->nfmts;
	for (i = 0; i < m->nfmts; i++) {
		bool kept = false;

		for (j = 0; j < p->nfmt_out; j++)
			kept = kept || p->fmt_out[j] == i;
		if (p->nfmt_out > i && p->fmt_out[i] != i)
			p->fmts_changed = true;
		if (!kept && str_to_u64(m->fmts[i], &pt) == 0 && pt < 128)
			p->pt_drop[pt] = true;
	}
	/* An added payload type that was also on the line stays once, where it
	 * was; one that a strip removed comes back at the end (without its old
	 * rtpmap and fmtp lines: the caller appends the ones it means). */
	for (j = 0, i = 0; i < p->nfmt_add; i++) {
		bool on_line = false;

		for (size_t k = 0; k < p->nfmt_out; k++)
			on_line = on_line || sdp_fmt_is(m->fmts[p->fmt_out[k]], p->fmt_add[i]);
		if (!on_line)
			p->fmt_add[j++] = p->fmt_add[i];
	}
	p->nfmt_add = j;
	p->fmts_changed = p->fmts_changed || p->nfmt_add > 0;
	return p->nfmt_out + p->nfmt_add ? 0 : SDP_ERR_CODEC;
}

/* Payload types not already on the line or added, up to SDP_FMT_MAX in all. */
static void sdp_plan_codec_add(struct sdp_plan *p, const struct sdp_edit *e)
{
	size_t i, j;

	for (i = 0; i < e->npts && p->nfmt_add + p->nfmt_out < SDP_FMT_MAX; i++) {
		bool dup = false;

		for (j = 0; j < p->nfmt_add; j++)
			dup = dup || p->fmt_add[j] == e->pts[i];
		if (!dup && e->pts[i] < 128)
			p->fmt_add[p->nfmt_add++] = e->pts[i];
	}
}

static void sdp_plan_apply(struct sdp_plan *p, const struct sdp_media *m, const struct sdp_edit *e)
{
	switch (e->op) {
	case SDP_EDIT_CONN:
		p->conn = e;
		break;
	case SDP_EDIT_PORT:
		p->port = e;
		break;
	case SDP_EDIT_RTCP_SET:
		p->rtcp_set = e;
		p->rtcp_remove = false;
		break;
	case SDP_EDIT_RTCP_REMOVE:
		p->rtcp_remove = true;
		p->rtcp_set = NULL;
		break;
	case SDP_EDIT_RTCP_MUX_ADD:
		p->mux_add = true;
		p->mux_remove = false;
		break;
	case SDP_EDIT_RTCP_MUX_REMOVE:
		p->mux_remove = true;
		p->mux_add = false;
		break;
	case SDP_EDIT_ICE_REMOVE:
		p->ice_remove = true;
		break;
	case SDP_EDIT_CODEC_STRIP:
		if (m && m->rtp)
			sdp_plan_codec_strip(p, m, e);
		break;
	case SDP_EDIT_CODEC_KEEP:
		if (m && m->rtp)
			sdp_plan_codec_keep(p, m, e);
		break;
	case SDP_EDIT_CODEC_ADD:
		if (m && m->rtp)
			sdp_plan_codec_add(p, e);
		break;
	case SDP_EDIT_PROTO:
		p->proto = e;
		break;
	default:
		break;
	}
}

static int sdp_plan_build(struct sdp_writer *w)
{
	const struct sdp_session *s = w->s;
	size_t sec, i;
	int rc;

	for (i = 0; i < w->nedits; i++) {
		if ((rc = sdp_edit_check(s, &w->edits[i])) < 0)
			return rc;
		if (w->edits[i].op == SDP_EDIT_ORIGIN_ADDR)
			w->origin = &w->edits[i];
	}
	for (sec = 0; sec <= s->nmedia; sec++) {
		struct sdp_plan *p = &w->plan[sec];
		const struct sdp_media *m = sec ? &s->media[sec - 1] : NULL;

		memset(p, 0, sizeof(*p));
		for (i = 0; m && i < m->nfmts; i++)
			p->fmt_out[p->nfmt_out++] = (uint8_t)i;
		for (i = 0; i < w->nedits; i++)
			if (sdp_edit_applies(&w->edits[i], sec))
				sdp_plan_apply(p, m, &w->edits[i]);
		if (m && (rc = sdp_plan_codec_finish(p, m)) < 0)
			return rc;
	}
	return 0;
}

/* --------------------------------------------------------------- lines */

static int sdp_out_conn(struct sdp_writer *w, const struct sdp_edit *e)
{
	return sdp_out_fmt(w, "c=IN %.*s %.*s\r\n", STR_FMT(e->addrtype), STR_FMT(e->addr));
}

/* Counts an a= line against the same limits the parser enforces, so that
 * what we write can always be parsed again. */
static int sdp_attr_count(struct sdp_writer *w)
{
	if (w->nattrs_out >= SDP_ATTR_MAX || w->total_out >= SDP_ATTR_TOTAL_MAX)
		return SDP_ERR_LIMIT;
	w->nattrs_out++;
	w->total_out++;
	return 0;
}

static int sdp_out_rtcp(struct sdp_writer *w, const struct sdp_edit *e)
{
	int rc = sdp_attr_count(w);

	if (rc < 0)
		return rc;
	if (!e->addr.len)
		return sdp_out_fmt(w, "a=rtcp:%u\r\n", e->port);
	return sdp_out_fmt(w, "a=rtcp:%u IN %.*s %.*s\r\n", e->port, STR_FMT(e->addrtype),
			   STR_FMT(e->addr));
}

/* An appended attribute must itself be a valid SDP line: it is written,
 * then checked in place with the parser's own rules. */
static int sdp_out_append(struct sdp_writer *w, const struct sdp_edit *e)
{
	size_t start = w->out->len;
	struct sdp_attr a;
	struct str line;
	int rc;

	if ((rc = sdp_attr_count(w)) < 0 || (rc = sdp_out(w, STR_LIT("a="))) < 0 ||
	    (rc = sdp_out(w, e->text)) < 0)
		return rc;
	line = (struct str){w->out->p + start, w->out->len - start};
	if (memchr(line.p, '\n', line.len) || memchr(line.p, '\r', line.len) ||
	    memchr(line.p, '\0', line.len) || sdp_attr_parse(line, &a) < 0)
		return SDP_ERR_EDIT;
	return sdp_out(w, STR_LIT(SDP_CRLF));
}

/* What a section gets at its end: a c= it lacked, a=rtcp and a=rtcp-mux it
 * lacked, then the appended attributes in the order of the edits. */
static int sdp_section_end(struct sdp_writer *w)
{
	const struct sdp_plan *p = &w->plan[w->section];
	size_t i;
	int rc = 0;

	if (p->conn && !w->conn_seen && (rc = sdp_out_conn(w, p->conn)) < 0)
		return rc;
	if (p->rtcp_set && !w->rtcp_seen && (rc = sdp_out_rtcp(w, p->rtcp_set)) < 0)
		return rc;
	if (p->mux_add && !w->mux_seen &&
	    ((rc = sdp_attr_count(w)) < 0 || (rc = sdp_out(w, STR_LIT("a=rtcp-mux\r\n"))) < 0))
		return rc;
	for (i = 0; i < w->nedits && rc == 0; i++)
		if (w->edits[i].op == SDP_EDIT_ATTR_APPEND &&
		    sdp_edit_applies(&w->edits[i], w->section))
			rc = sdp_out_append(w, &w->edits[i]);
	return rc;
}

static int sdp_out_media(struct sdp_writer *w, struct str line, struct str eol)
{
	const struct sdp_media *m = &w->s->media[w->section - 1];
	const struct sdp_plan *p = &w->plan[w->section];
	ptrdiff_t slash = str_index(m->port_token, '/');
	size_t i;
	int rc;

	if (!p->port && !p->fmts_changed && !p->proto)
		return sdp_out_line(w, line, eol);
	rc = sdp_out_fmt(w, "m=%.*s ", STR_FMT(m->type));
	if (rc == 0 && p->port)
		rc = sdp_out_fmt(w, "%u", p->port->port);
	if (rc == 0 && p->port && slash >= 0)
		rc = sdp_out(
		    w, (struct str){m->port_token.p + slash, m->port_token.len - (size_t)slash});
	if (rc == 0 && !p->port)
		rc = sdp_out(w, m->port_token);
	if (rc == 0)
		rc = sdp_out_fmt(w, " %.*s", STR_FMT(p->proto ? p->proto->text : m->proto));
	for (i = 0; rc == 0 && i < p->nfmt_out; i++)
		rc = sdp_out_fmt(w, " %.*s", STR_FMT(m->fmts[p->fmt_out[i]]));
	for (i = 0; rc == 0 && i < p->nfmt_add; i++)
		rc = sdp_out_fmt(w, " %u", p->fmt_add[i]);
	return rc < 0 ? rc : sdp_out_eol(w, eol);
}

static int sdp_out_origin(struct sdp_writer *w, struct str eol)
{
	const struct sdp_session *s = w->s;
	const struct sdp_edit *e = w->origin;
	int rc;

	rc = sdp_out_fmt(w, "o=%.*s %.*s %.*s %.*s %.*s %.*s", STR_FMT(s->origin.username),
			 STR_FMT(s->origin.sess_id), STR_FMT(s->origin.sess_version),
			 STR_FMT(s->origin.conn.nettype), STR_FMT(e->addrtype), STR_FMT(e->addr));
	return rc < 0 ? rc : sdp_out_eol(w, eol);
}

static bool sdp_attr_is_ice(enum sdp_attr_kind k)
{
	return k == SDP_ATTR_CANDIDATE || k == SDP_ATTR_ICE_UFRAG || k == SDP_ATTR_ICE_PWD ||
	       k == SDP_ATTR_ICE_OPTIONS || k == SDP_ATTR_ICE_LITE || k == SDP_ATTR_ICE_MISMATCH ||
	       k == SDP_ATTR_REMOTE_CANDIDATES || k == SDP_ATTR_END_OF_CANDIDATES;
}

static int sdp_out_attr(struct sdp_writer *w, struct str line, struct str eol)
{
	const struct sdp_attr *a = &w->s->attrs[w->attr++];
	const struct sdp_plan *p = &w->plan[w->section];
	bool seen;
	int rc;

	if (sdp_attr_is_ice(a->kind) && p->ice_remove)
		return 0;
	if (a->pt >= 0 && p->pt_drop[a->pt])
		return 0; /* rtpmap, fmtp or rtcp-fb of a removed payload type */
	if (a->kind == SDP_ATTR_RTCP_MUX) {
		/* a repeated a=rtcp-mux is the peer's to send; we only avoid adding one */
		w->mux_seen = true;
		if (p->mux_remove)
			return 0;
	}
	if (a->kind == SDP_ATTR_RTCP) {
		seen = w->rtcp_seen;
		w->rtcp_seen = true;
		if (p->rtcp_remove || (p->rtcp_set && seen))
			return 0;
		if (p->rtcp_set)
			return sdp_out_rtcp(w, p->rtcp_set);
	}
	if ((rc = sdp_attr_count(w)) < 0)
		return rc;
	return sdp_out_line(w, line, eol);
}

/* Whether the original section has a c= line (then it is replaced where it
 * stands, wherever that is, rather than a second one inserted). */
static bool sdp_section_has_conn(const struct sdp_writer *w)
{
	const struct sdp_conn *c = w->section ? &w->s->media[w->section - 1].conn : &w->s->conn;

	return c->address.len > 0;
}

/* Where a missing c= goes: before the first of these lines in the section
 * (RFC 8866 §5 order: session v o s i u e p c b t r z k a; media m i c b k a). */
static bool sdp_conn_goes_before(const struct sdp_writer *w, char type)
{
	return strchr(w->section ? "bka" : "btrzka", type) != NULL;
}

static int sdp_out_one(struct sdp_writer *w, struct str line, struct str eol)
{
	const struct sdp_plan *p = &w->plan[w->section];
	char type = line.len ? line.p[0] : '\0';
	int rc;

	if (type == 'm') {
		if ((rc = sdp_section_end(w)) < 0)
			return rc;
		w->section++;
		w->nattrs_out = 0;
		w->conn_seen = w->rtcp_seen = w->mux_seen = false;
		return sdp_out_media(w, line, eol);
	}
	if (type && p->conn && !w->conn_seen && !sdp_section_has_conn(w) &&
	    sdp_conn_goes_before(w, type)) {
		w->conn_seen = true;
		if ((rc = sdp_out_conn(w, p->conn)) < 0)
			return rc;
	}
	if (type == 'a')
		return sdp_out_attr(w, line, eol);
	if (type == 'o' && w->origin)
		return sdp_out_origin(w, eol);
	if (type == 'c') {
		w->conn_seen = true;
		if (p->conn)
			return sdp_out_conn(w, p->conn);
	}
	return sdp_out_line(w, line, eol);
}

int sdp_rewrite(const struct sdp_session *s, const struct sdp_edit *edits, size_t nedits,
		struct buf *out)
{
	struct sdp_writer w = {.s = s, .edits = edits, .nedits = nedits, .out = out};
	struct sdp_line_iter it = {s->body.p, s->body.p + s->body.len};
	struct str line, eol;
	int rc;

	if (!s->body.p || (nedits && !edits))
		return SDP_ERR_EDIT;
	rc = sdp_plan_build(&w);
	while (rc == 0 && sdp_line_next(&it, &line, &eol))
		rc = sdp_out_one(&w, line, eol);
	return rc < 0 ? rc : sdp_section_end(&w);
}
