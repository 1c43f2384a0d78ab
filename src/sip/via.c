/*
 * via.c — one via-parm (RFC 3261 §20.42, §25.1; RFC 3581 rport):
 *
 *   sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport
 *
 * LWS is allowed around every '/', ':' , ';' and '=' (RFC 4475 §3.1.1.1 packs
 * a folded line into most of them).  The well-known parameters are pulled out
 * as views; the rest stay in the raw params span for sip_params_find.
 */
#include "sip/lex.h"

#include <arpa/inet.h>
#include <strings.h>

/* hot path: no allocation, no locks, no I/O */

/* SLASH = SWS "/" SWS */
static int sip_via_slash(struct str *s)
{
	sip_lex_skip_ws(s);
	if (s->len == 0 || s->p[0] != '/')
		return -1;
	sip_lex_advance(s, 1);
	sip_lex_skip_ws(s);
	return 0;
}

static int sip_via_protocol(struct str *s, struct sip_via *v)
{
	v->protocol = sip_lex_token(s);
	if (v->protocol.len == 0 || sip_via_slash(s) != 0)
		return -1;
	v->version = sip_lex_token(s);
	if (v->version.len == 0 || sip_via_slash(s) != 0)
		return -1;
	v->transport = sip_lex_token(s);
	return v->transport.len == 0 ? -1 : 0;
}

/* sent-by = host [ COLON port ], COLON = SWS ":" SWS */
static int sip_via_sent_by(struct str *s, struct sip_via *v)
{
	struct str host_only;
	size_t n = 0;

	/* Cut at whitespace so the host scan does not take a spaced ':' port. */
	while (n < s->len && !sip_lex_is_ws(s->p[n]) && s->p[n] != ';' && s->p[n] != ',')
		n++;
	host_only = (struct str){s->p, n};
	if (sip_lex_hostport(&host_only, &v->host, &v->host_ipv6, &v->port) != 0 ||
	    host_only.len != 0)
		return -1;
	sip_lex_advance(s, n);
	if (v->port != 0)
		return 0;
	struct str look = *s;
	sip_lex_skip_ws(&look);
	if (look.len == 0 || look.p[0] != ':')
		return 0;
	sip_lex_advance(&look, 1);
	sip_lex_skip_ws(&look);
	size_t d = 0;
	uint64_t port;
	while (d < look.len && sip_lex_is_digit(look.p[d]))
		d++;
	if (sip_lex_uint((struct str){look.p, d}, 65535, &port) != 0 || port == 0)
		return -1;
	v->port = (uint16_t)port;
	sip_lex_advance(&look, d);
	*s = look;
	return 0;
}

static int sip_via_host_value(struct str value)
{
	struct str h;
	bool v6;
	uint16_t port;

	/* received / maddr hold a bare host; an IPv6 one may come with or
	 * without brackets (RFC 3261 §20.42 received = IPv4address / IPv6address). */
	if (value.len > 0 && value.p[0] != '[' && str_index(value, ':') >= 0) {
		char tmp[64];
		if (str_copy(tmp, sizeof(tmp), value) != 0)
			return -1;
		unsigned char bin[16];
		return inet_pton(AF_INET6, tmp, bin) == 1 ? 0 : -1;
	}
	if (sip_lex_hostport(&value, &h, &v6, &port) != 0 || value.len != 0 || port != 0)
		return -1;
	return 0;
}

static int sip_via_param(struct sip_via *v, struct str name, struct str value)
{
	uint64_t n;

	if (str_caseeq_cstr(name, "branch")) {
		v->branch = value;
		return value.len == 0 ? -1 : 0;
	}
	if (str_caseeq_cstr(name, "received")) {
		v->received = value;
		return sip_via_host_value(value);
	}
	if (str_caseeq_cstr(name, "maddr")) {
		v->maddr = value;
		return sip_via_host_value(value);
	}
	if (str_caseeq_cstr(name, "rport")) {
		v->rport = value;
		if (value.len == 0)
			return 0;
		if (sip_lex_uint(value, 65535, &n) != 0 || n == 0)
			return -1;
		v->rport_port = (uint16_t)n;
		return 0;
	}
	if (str_caseeq_cstr(name, "ttl")) {
		if (sip_lex_uint(value, 255, &n) != 0)
			return -1;
		v->ttl = (int)n;
	}
	return 0;
}

int sip_via_parse(struct str value, struct sip_via *out)
{
	struct str s = sip_lex_trim(value);
	struct str name, pval;
	int rc;

	*out = (struct sip_via){.raw = s, .ttl = -1};
	if (sip_via_protocol(&s, out) != 0)
		return SIP_E_VIA;
	if (s.len == 0 || !sip_lex_is_ws(s.p[0]))
		return SIP_E_VIA;
	sip_lex_skip_ws(&s);
	if (sip_via_sent_by(&s, out) != 0)
		return SIP_E_VIA;
	sip_lex_skip_ws(&s);
	out->params = s;
	while ((rc = sip_lex_param_next(&s, &name, &pval)) == 0)
		if (sip_via_param(out, name, pval) != 0)
			return SIP_E_VIA;
	return rc == SIP_E_NOT_FOUND ? 0 : SIP_E_VIA;
}

bool sip_via_branch_is_rfc3261(const struct sip_via *via)
{
	return via->branch.len > 7 && strncmp(via->branch.p, "z9hG4bK", 7) == 0;
}
