/*
 * build.c — the bytes the proxy core writes: forwarded requests (RFC 3261
 * §16.6), its own responses (§8.2.6), responses without our Via (§16.7
 * step 3), CANCEL (§9.1) and the hop-by-hop ACK for a non-2xx (§17.1.1.3).
 *
 * Everything is spliced from the parsed message's header lines: a header we
 * do not change goes out byte for byte, as a proxy must (§16.6: "copy").
 */
#include "sip/th.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *sip_tp_name(enum sip_transport_kind tp)
{
	return tp == SIP_TRANSPORT_TCP ? "TCP" : tp == SIP_TRANSPORT_TLS ? "TLS" : "UDP";
}

const char *sip_reason_phrase(int status)
{
	static const struct {
		int code;
		const char *text;
	} phrases[] = {
	    {100, "Trying"},
	    {180, "Ringing"},
	    {200, "OK"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {407, "Proxy Authentication Required"},
	    {408, "Request Timeout"},
	    {413, "Request Entity Too Large"},
	    {416, "Unsupported URI Scheme"},
	    {480, "Temporarily Unavailable"},
	    {481, "Call/Transaction Does Not Exist"},
	    {482, "Loop Detected"},
	    {483, "Too Many Hops"},
	    {484, "Address Incomplete"},
	    {486, "Busy Here"},
	    {487, "Request Terminated"},
	    {488, "Not Acceptable Here"},
	    {491, "Request Pending"},
	    {500, "Server Internal Error"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Server Time-out"},
	    {505, "Version Not Supported"},
	    {513, "Message Too Large"},
	    {600, "Busy Everywhere"},
	    {603, "Decline"},
	};
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (phrases[i].code == status)
			return phrases[i].text;
	return status < 300 ? "OK" : "Error";
}

int sip_build_uri(char *out, size_t n, const char *user, const char *host, uint16_t port,
		  enum sip_transport_kind tp)
{
	bool v6 = strchr(host, ':') && host[0] != '[';
	int len = snprintf(out, n, "sip:%s%s%s%s%s", user, *user ? "@" : "", v6 ? "[" : "", host,
			   v6 ? "]" : "");
	if (len >= 0 && (size_t)len < n && port)
		len += snprintf(out + len, n - (size_t)len, ":%u", port);
	if (len >= 0 && (size_t)len < n && tp != SIP_TRANSPORT_UDP)
		len += snprintf(out + len, n - (size_t)len, ";transport=%s",
				tp == SIP_TRANSPORT_TLS ? "tls" : "tcp");
	return len < 0 || (size_t)len >= n ? -ENOSPC : 0;
}

/* Appends the via-parm's params without received and rport, then ours. */
static int sip_build_via_params(struct buf *out, const struct sip_via *via,
				const struct sip_peer *src)
{
	struct str rest = via->params;
	int rc = 0;
	while (rest.len > 0 && rc == 0) {
		ptrdiff_t semi = str_index((struct str){rest.p + 1, rest.len - 1}, ';');
		size_t n = semi < 0 ? rest.len : (size_t)semi + 1;
		struct str one = str_trim((struct str){rest.p + 1, n - 1});
		ptrdiff_t eq = str_index(one, '=');
		struct str name = str_trim((struct str){one.p, eq < 0 ? one.len : (size_t)eq});
		if (one.len > 0 && !str_caseeq_cstr(name, "rport") &&
		    !str_caseeq_cstr(name, "received"))
			rc = buf_printf(out, ";%.*s", STR_FMT(one));
		rest = (struct str){rest.p + n, rest.len - n};
	}
	char ip[NET_ADDR_STRLEN];
	if (rc == 0 && net_addr_format_ip(&src->addr, ip, sizeof(ip)) == 0) {
		/* RFC 3581 §4: received always, rport with the source port. */
		rc = buf_printf(out, ";received=%s", ip);
		if (rc == 0 && via->rport.p)
			rc = buf_printf(out, ";rport=%u", net_addr_port(&src->addr));
	}
	return rc;
}

/* The first Via header line with its first via-parm given received/rport. */
int sip_build_top_via(struct buf *out, struct sip_msg *m, const struct sip_hdr *h,
		      const struct sip_peer *src)
{
	struct sip_via via;
	if (!src || sip_msg_via(m, 0, &via) != 0 || via.raw.p < h->line.p)
		return buf_append_str(out, h->line);
	const char *line_end = h->line.p + h->line.len;
	const char *params = via.params.len ? via.params.p : via.raw.p + via.raw.len;
	int rc = buf_append(out, h->line.p, (size_t)(params - h->line.p));
	if (rc == 0)
		rc = sip_build_via_params(out, &via, src);
	const char *after = via.raw.p + via.raw.len;
	if (rc == 0)
		rc = buf_append(out, after, (size_t)(line_end - after));
	return rc;
}

/* Route values left after dropping our own at the top, as one header. */
static int sip_build_routes(struct buf *out, struct sip_msg *m, size_t drop)
{
	struct sip_value_iter it;
	struct str v;
	size_t i = 0, kept = 0;
	int rc = 0;

	sip_value_iter_init(&it, m, SIP_HDR_ROUTE);
	while (rc == 0 && sip_value_iter_next(&it, &v, NULL) == 0) {
		if (i++ < drop)
			continue;
		rc = buf_printf(out, "%s%.*s", kept++ ? ", " : "Route: ", STR_FMT(v));
	}
	if (rc == 0 && kept)
		rc = buf_append_cstr(out, "\r\n");
	return rc;
}

/* The address a hop over tp names us by: a TLS hop the TLS listener of l's
 * family when there is one (else l, reachable over UDP and TCP). */
const struct sip_listen *sip_build_listen_at(const struct sip_listen *l, enum sip_transport_kind tp)
{
	return tp == SIP_TRANSPORT_TLS && l->tls ? l->tls : l;
}

/* RFC 3261 §26.2 with RFC 5630 kept simple: a TLS hop's entry says
 * ;transport=tls, so in-dialog requests come back over TLS. */
int sip_build_rr(struct buf *out, const struct sip_listen *l, enum sip_transport_kind tp)
{
	l = sip_build_listen_at(l, tp);
	return buf_printf(out, "Record-Route: <sip:%s:%u%s;lr>\r\n", l->host, l->port,
			  l->tls == l		    ? ";transport=tls"
			  : tp == SIP_TRANSPORT_TCP ? ";transport=tcp"
						    : "");
}

static int sip_build_fwd_head(struct buf *out, struct sip_msg *m, const struct sip_fwd *f)
{
	struct str ruri = f->ruri.len ? f->ruri : m->ruri;
	const struct sip_listen *at = sip_build_listen_at(f->via_at, f->via_transport);
	int rc = buf_printf(out, "%.*s %.*s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%.*s;rport\r\n",
			    STR_FMT(m->method_name), STR_FMT(ruri), sip_tp_name(f->via_transport),
			    at->host, at->port, STR_FMT(f->branch));
	/* RFC 5658: two entries when the request changes interface or
	 * transport; the one facing the next hop goes on top. */
	bool two = f->rr_out && (sip_build_listen_at(f->rr_out, f->rr_out_tp) !=
				     sip_build_listen_at(f->rr_in, f->rr_in_tp) ||
				 f->rr_out_tp != f->rr_in_tp);
	if (rc == 0 && two)
		rc = sip_build_rr(out, f->rr_out, f->rr_out_tp);
	if (rc == 0 && f->rr_in)
		rc = sip_build_rr(out, f->rr_in, f->rr_in_tp);
	if (rc == 0 && f->th && f->th_route && f->th_route[0])
		rc = buf_printf(out, "Route: %s\r\n", f->th_route);
	return rc;
}

/* A header line of a request forwarded with topology hiding: the sender's
 * Via, Record-Route and Route lines stay here (the head has ours), the
 * rest as sip_th_header shows them or unchanged. */
static int sip_build_fwd_hidden(struct buf *out, const struct sip_hdr *h, const struct sip_fwd *f)
{
	if (h->id == SIP_HDR_VIA || h->id == SIP_HDR_RECORD_ROUTE || h->id == SIP_HDR_ROUTE)
		return 0;
	int rc = sip_th_header(out, h, f->th);
	return rc < 0 ? rc : rc == 1 ? 0 : buf_append_str(out, h->line);
}

int sip_build_forward(struct buf *out, struct sip_msg *m, const struct sip_fwd *f)
{
	bool via_done = false, routes_done = false, mf_done = false;
	int rc = sip_build_fwd_head(out, m, f);

	for (uint16_t i = 0; rc == 0 && i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];
		if (f->th && h->id != SIP_HDR_MAX_FORWARDS) {
			rc = sip_build_fwd_hidden(out, h, f);
		} else if (h->id == SIP_HDR_VIA && !via_done) {
			via_done = true;
			rc = sip_build_top_via(out, m, h, f->src);
		} else if (h->id == SIP_HDR_MAX_FORWARDS) {
			/* §16.6 step 3: one Max-Forwards, decremented. */
			if (!mf_done)
				rc = buf_printf(out, "Max-Forwards: %d\r\n", f->max_forwards);
			mf_done = true;
		} else if (h->id == SIP_HDR_ROUTE) {
			if (!routes_done)
				rc = sip_build_routes(out, m, f->drop_routes);
			routes_done = true;
		} else {
			rc = buf_append_str(out, h->line);
		}
	}
	if (rc == 0 && !mf_done)
		rc = buf_printf(out, "Max-Forwards: %d\r\n", f->max_forwards);
	if (rc == 0 && m->content_length < 0)
		rc = buf_printf(out, "Content-Length: %zu\r\n", m->body.len);
	if (rc == 0)
		rc = buf_append_cstr(out, "\r\n");
	if (rc == 0)
		rc = buf_append_str(out, m->body);
	return rc;
}

/* The To line, given our tag when it has none. */
static int sip_build_to(struct buf *out, struct sip_msg *m, const struct sip_hdr *h,
			const char *tag)
{
	struct sip_addr to;
	if (!tag || sip_msg_to(m, &to) != 0 || to.tag.p)
		return buf_append_str(out, h->line);
	struct str line = h->line;
	while (line.len && (line.p[line.len - 1] == '\n' || line.p[line.len - 1] == '\r'))
		line.len--;
	return buf_printf(out, "%.*s;tag=%s\r\n", STR_FMT(line), tag);
}

int sip_build_response(struct buf *out, struct sip_msg *m, int status, const char *reason,
		       const char *to_tag, const struct sip_peer *src, const char *extra)
{
	bool via_done = false;
	int rc = buf_printf(out, "SIP/2.0 %d %s\r\n", status,
			    reason ? reason : sip_reason_phrase(status));

	for (uint16_t i = 0; rc == 0 && i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];
		switch (h->id) {
		case SIP_HDR_VIA:
			rc = via_done ? buf_append_str(out, h->line)
				      : sip_build_top_via(out, m, h, src);
			via_done = true;
			break;
		case SIP_HDR_TO:
			rc = sip_build_to(out, m, h, status > 100 ? to_tag : NULL);
			break;
		case SIP_HDR_FROM:
		case SIP_HDR_CALL_ID:
		case SIP_HDR_CSEQ:
			rc = buf_append_str(out, h->line);
			break;
		default:
			break;
		}
	}
	if (rc == 0 && extra)
		rc = buf_append_cstr(out, extra);
	if (rc == 0)
		rc = buf_append_cstr(out, "Server: WARP\r\nContent-Length: 0\r\n\r\n");
	return rc;
}

int sip_build_strip_via(struct buf *out, struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_VIA);
	struct sip_via via;
	if (!h || sip_msg_via(m, 0, &via) != 0)
		return -EINVAL;
	const char *raw_end = m->raw.p + m->raw.len;
	const char *line_end = h->line.p + h->line.len;
	int rc = buf_append(out, m->raw.p, (size_t)(h->line.p - m->raw.p));
	/* Another via-parm on the same line: keep the line without ours. */
	struct str after = {via.raw.p + via.raw.len,
			    (size_t)(h->value.p + h->value.len - (via.raw.p + via.raw.len))};
	after = str_trim(after);
	if (rc == 0 && after.len > 1 && after.p[0] == ',')
		rc = buf_printf(out, "%.*s: %.*s\r\n", STR_FMT(h->name),
				STR_FMT(str_trim((struct str){after.p + 1, after.len - 1})));
	if (rc == 0)
		rc = buf_append(out, line_end, (size_t)(raw_end - line_end));
	return rc;
}

/* CANCEL and ACK share everything but the method and To (§9.1, §17.1.1.3). */
static int sip_build_hop(struct buf *out, struct sip_msg *inv, const char *method,
			 const struct sip_hdr *to)
{
	struct sip_cseq cs;
	const struct sip_hdr *via = sip_msg_hdr_first(inv, SIP_HDR_VIA);
	if (!via || !to || sip_msg_cseq(inv, &cs) != 0)
		return -EINVAL;
	int rc = buf_printf(out, "%s %.*s SIP/2.0\r\n", method, STR_FMT(inv->ruri));
	if (rc == 0)
		rc = buf_append_str(out, via->line); /* our Via: its own line */
	for (uint16_t i = 0; rc == 0 && i < inv->nhdrs; i++) {
		enum sip_hdr_id id = inv->hdrs[i].id;
		if (id == SIP_HDR_ROUTE || id == SIP_HDR_FROM || id == SIP_HDR_CALL_ID)
			rc = buf_append_str(out, inv->hdrs[i].line);
	}
	if (rc == 0)
		rc = buf_append_str(out, to->line);
	if (rc == 0)
		rc = buf_printf(out, "CSeq: %u %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
				cs.number, method);
	return rc;
}

int sip_build_cancel(struct buf *out, struct sip_msg *invite)
{
	return sip_build_hop(out, invite, "CANCEL", sip_msg_hdr_first(invite, SIP_HDR_TO));
}

int sip_build_ack(struct buf *out, struct sip_msg *invite, struct sip_msg *resp)
{
	return sip_build_hop(out, invite, "ACK", sip_msg_hdr_first(resp, SIP_HDR_TO));
}

/* ------------------------------------------------- requests of our own */

/* Appends ", " and v to out (n bytes), or fails when it does not fit. */
static int sip_route_append(char *out, size_t n, size_t *len, struct str v)
{
	int k = snprintf(out + *len, n - *len, "%s%.*s", *len ? ", " : "", STR_FMT(v));
	if (k < 0 || (size_t)k >= n - *len)
		return -ENOSPC;
	*len += (size_t)k;
	return 0;
}

int sip_build_route_set(char *out, size_t n, const struct sip_proxy *p, struct sip_msg *m,
			bool toward_callee)
{
	struct str rr[SIP_ROUTE_MAX];
	size_t nrr = 0, first = SIZE_MAX, last = 0, len = 0;
	struct sip_value_iter it;
	struct str v;

	out[0] = '\0';
	sip_value_iter_init(&it, m, SIP_HDR_RECORD_ROUTE);
	while (nrr < SIP_ROUTE_MAX && sip_value_iter_next(&it, &v, NULL) == 0) {
		struct sip_addr a;
		if (sip_addr_parse(v, &a) == 0 && sip_uri_is_ours(p, &a.uri)) {
			first = first == SIZE_MAX ? nrr : first;
			last = nrr;
		}
		rr[nrr++] = v;
	}
	bool ours = first != SIZE_MAX;
	/* §12.1.2: the caller's route set is the Record-Route list reversed;
	 * towards the callee we stand where the caller would, past our own. */
	if (toward_callee) {
		for (size_t i = ours ? first : nrr; i-- > 0;)
			if (sip_route_append(out, n, &len, rr[i]) < 0)
				return -ENOSPC;
		return 0;
	}
	/* §12.1.1: the callee's route set is the list in order; towards the
	 * caller, the entries below ours. */
	for (size_t i = ours ? last + 1 : 0; i < nrr; i++)
		if (sip_route_append(out, n, &len, rr[i]) < 0)
			return -ENOSPC;
	return 0;
}

int sip_build_request(struct buf *out, const struct sip_req *r)
{
	const struct sip_listen *at = sip_build_listen_at(r->via_at, r->transport);
	int rc = buf_printf(out,
			    "%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
			    "Max-Forwards: 70\r\n",
			    r->method, r->ruri, sip_tp_name(r->transport), at->host, at->port,
			    r->branch);
	if (rc == 0 && r->route && r->route[0])
		rc = buf_printf(out, "Route: %s\r\n", r->route);
	if (rc == 0)
		rc = buf_printf(out,
				"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n%s"
				"Content-Length: 0\r\n\r\n",
				r->from, r->to, r->call_id, r->cseq, r->method,
				r->extra ? r->extra : "");
	return rc;
}
