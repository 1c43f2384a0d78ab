/*
 * sdp_attr.c — the values of the SDP attributes the relay acts on.
 *
 * An "a=" line is split into name and value (RFC 8866 §5.13); the names the
 * relay cares about get a kind, and rtpmap, fmtp, rtcp, rtcp-fb and ptime
 * get their fields parsed.  ICE candidates are parsed only when asked
 * (sdp_candidate_parse): a relay that strips ICE never needs their fields.
 */
#include "media/sdp_lines.h"

#include <string.h>

static const struct {
	const char *name;
	enum sdp_attr_kind kind;
} sdp_attr_names[] = {
    {"rtpmap", SDP_ATTR_RTPMAP},
    {"fmtp", SDP_ATTR_FMTP},
    {"rtcp", SDP_ATTR_RTCP},
    {"rtcp-mux", SDP_ATTR_RTCP_MUX},
    {"rtcp-fb", SDP_ATTR_RTCP_FB},
    {"sendrecv", SDP_ATTR_SENDRECV},
    {"sendonly", SDP_ATTR_SENDONLY},
    {"recvonly", SDP_ATTR_RECVONLY},
    {"inactive", SDP_ATTR_INACTIVE},
    {"ptime", SDP_ATTR_PTIME},
    {"candidate", SDP_ATTR_CANDIDATE},
    {"ice-ufrag", SDP_ATTR_ICE_UFRAG},
    {"ice-pwd", SDP_ATTR_ICE_PWD},
    {"ice-options", SDP_ATTR_ICE_OPTIONS},
    {"ice-lite", SDP_ATTR_ICE_LITE},
    {"ice-mismatch", SDP_ATTR_ICE_MISMATCH},
    {"remote-candidates", SDP_ATTR_REMOTE_CANDIDATES},
    {"end-of-candidates", SDP_ATTR_END_OF_CANDIDATES},
};

static enum sdp_attr_kind sdp_attr_kind_of(struct str name)
{
	size_t i;

	/* Attribute names are case-sensitive (RFC 8866 §5.13 "att-field"). */
	for (i = 0; i < sizeof(sdp_attr_names) / sizeof(sdp_attr_names[0]); i++)
		if (str_eq_cstr(name, sdp_attr_names[i].name))
			return sdp_attr_names[i].kind;
	return SDP_ATTR_OTHER;
}

static int sdp_u32_parse(struct str s, uint32_t *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* A payload type 0..127 (RFC 3550 §5.1: seven bits). */
static int sdp_pt_parse(struct str s, int *out)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v > 127)
		return SDP_ERR_ATTR;
	*out = (int)v;
	return 0;
}

/* "<pt> <encoding name>/<clock rate>[/<encoding parameters>]" (§6.6) */
static int sdp_rtpmap_parse(struct sdp_attr *a)
{
	struct str rest = a->value, pt, enc, rate;
	ptrdiff_t slash;

	if (!sdp_token_next(&rest, &pt) || sdp_pt_parse(pt, &a->pt) < 0 ||
	    !sdp_token_next(&rest, &enc))
		return SDP_ERR_ATTR;
	slash = str_index(enc, '/');
	if (slash <= 0)
		return SDP_ERR_ATTR;
	rate = (struct str){enc.p + slash + 1, enc.len - (size_t)slash - 1};
	enc.len = (size_t)slash;
	a->u.rtpmap.encoding = enc;
	slash = str_index(rate, '/');
	if (slash >= 0) {
		struct str ch = {rate.p + slash + 1, rate.len - (size_t)slash - 1};

		rate.len = (size_t)slash;
		if (sdp_u32_parse(ch, &a->u.rtpmap.channels) < 0)
			return SDP_ERR_ATTR;
	}
	if (sdp_u32_parse(rate, &a->u.rtpmap.rate) < 0)
		return SDP_ERR_ATTR;
	return 0;
}

/* "<pt> <format specific parameters>" (§6.15); the parameters may be
 * empty in practice. */
static int sdp_fmtp_parse(struct sdp_attr *a)
{
	struct str rest = a->value, pt;

	if (!sdp_token_next(&rest, &pt) || sdp_pt_parse(pt, &a->pt) < 0)
		return SDP_ERR_ATTR;
	a->u.fmtp_params = str_trim(rest);
	return 0;
}

/* "<port> [<nettype> <addrtype> <connection-address>]" (RFC 3605 §2.1) */
static int sdp_rtcp_parse(struct sdp_attr *a)
{
	struct str rest = a->value, port;

	if (!sdp_token_next(&rest, &port) || sdp_port_parse(port, &a->u.rtcp.port) < 0)
		return SDP_ERR_ATTR;
	rest = str_trim(rest);
	if (rest.len && sdp_conn_parse(rest, &a->u.rtcp.conn) < 0)
		return SDP_ERR_ATTR;
	return 0;
}

/* "<pt>|* <feedback>" (RFC 4585 §4.2); anything else stays pt -1. */
static void sdp_rtcp_fb_parse(struct sdp_attr *a)
{
	struct str rest = a->value, pt;

	if (sdp_token_next(&rest, &pt) && sdp_pt_parse(pt, &a->pt) < 0)
		a->pt = -1;
}

int sdp_attr_parse(struct str line, struct sdp_attr *a)
{
	struct str body = {line.p + 2, line.len - 2};
	ptrdiff_t colon = str_index(body, ':');

	memset(a, 0, sizeof(*a));
	a->line = line;
	a->pt = -1;
	a->name = body;
	if (colon >= 0) {
		a->name.len = (size_t)colon;
		a->value = (struct str){body.p + colon + 1, body.len - (size_t)colon - 1};
	}
	if (a->name.len == 0)
		return SDP_ERR_ATTR;
	a->kind = sdp_attr_kind_of(a->name);
	switch (a->kind) {
	case SDP_ATTR_RTPMAP:
		return sdp_rtpmap_parse(a);
	case SDP_ATTR_FMTP:
		return sdp_fmtp_parse(a);
	case SDP_ATTR_RTCP:
		return sdp_rtcp_parse(a);
	case SDP_ATTR_RTCP_FB:
		sdp_rtcp_fb_parse(a);
		return 0;
	case SDP_ATTR_PTIME:
		/* Some stacks write "20.0"; ptime is advisory, so 0 = unknown. */
		if (sdp_u32_parse(str_trim(a->value), &a->u.ptime) < 0)
			a->u.ptime = 0;
		return 0;
	default:
		return 0;
	}
}

/* Extension pairs after "typ <type>": "raddr <a> rport <p> generation 0". */
static int sdp_candidate_ext_parse(struct str rest, struct sdp_candidate *c)
{
	struct str key, val;

	while (sdp_token_next(&rest, &key)) {
		if (!sdp_token_next(&rest, &val))
			return SDP_ERR_ATTR;
		if (str_eq_cstr(key, "raddr"))
			c->rel_addr = val;
		else if (str_eq_cstr(key, "rport") && sdp_port_parse(val, &c->rel_port) < 0)
			return SDP_ERR_ATTR;
	}
	return 0;
}

/* RFC 8839 §5.1: foundation component-id transport priority
 * connection-address port "typ" cand-type *(extension) */
int sdp_candidate_parse(const struct sdp_attr *a, struct sdp_candidate *c)
{
	struct str rest = a->value, comp, prio, port, typ;

	memset(c, 0, sizeof(*c));
	if (a->kind != SDP_ATTR_CANDIDATE)
		return SDP_ERR_ATTR;
	if (!sdp_token_next(&rest, &c->foundation) || !sdp_token_next(&rest, &comp) ||
	    !sdp_token_next(&rest, &c->transport) || !sdp_token_next(&rest, &prio) ||
	    !sdp_token_next(&rest, &c->address) || !sdp_token_next(&rest, &port) ||
	    !sdp_token_next(&rest, &typ) || !sdp_token_next(&rest, &c->type))
		return SDP_ERR_ATTR;
	if (sdp_u32_parse(comp, &c->component) < 0 || c->component == 0 || c->component > 256 ||
	    sdp_u32_parse(prio, &c->priority) < 0 || sdp_port_parse(port, &c->port) < 0 ||
	    !str_eq_cstr(typ, "typ"))
		return SDP_ERR_ATTR;
	return sdp_candidate_ext_parse(rest, c);
}
