/*
 * addr.c — name-addr / addr-spec values with header parameters: From, To,
 * Contact, Route, Record-Route, Refer-To ... (RFC 3261 §20.10, §25.1):
 *
 *   ( name-addr / addr-spec ) *( SEMI param )
 *   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 *
 * A URI outside <> ends at the first ';', which then starts the header's
 * parameters, not the URI's; such a URI may not hold ',' '?' or ';'
 * (RFC 3261 §20.10), which RFC 4475 §3.1.2.13 tests.
 */
#include "sip/lex.h"

#include <strings.h>

/* hot path: no allocation, no locks, no I/O */

/* display-name as *(token LWS): true when the tokens are followed by '<'. */
static bool sip_addr_token_display(struct str s, struct str *display, struct str *after)
{
	const char *start = s.p;
	const char *end = s.p;

	for (;;) {
		struct str t = sip_lex_token(&s);
		if (t.len == 0)
			break;
		end = s.p;
		sip_lex_skip_ws(&s);
	}
	if (s.len == 0 || s.p[0] != '<')
		return false;
	*display = (struct str){start, (size_t)(end - start)};
	*after = s;
	return true;
}

/* LAQUOT addr-spec RAQUOT, no LWS inside (RFC 4475 §3.1.2.14). */
static int sip_addr_angle(struct str *s, struct sip_addr *out)
{
	sip_lex_advance(s, 1);
	ptrdiff_t gt = str_index(*s, '>');
	if (gt <= 0)
		return -1;
	if (sip_uri_parse((struct str){s->p, (size_t)gt}, &out->uri) != 0)
		return -1;
	out->name_addr = true;
	sip_lex_advance(s, (size_t)gt + 1);
	return 0;
}

static int sip_addr_bare(struct str *s, struct sip_addr *out)
{
	size_t n = 0;

	while (n < s->len && s->p[n] != ';' && s->p[n] != ',' && !sip_lex_is_ws(s->p[n]))
		n++;
	struct str u = {s->p, n};
	if (str_index(u, '?') >= 0 || sip_uri_parse(u, &out->uri) != 0)
		return -1;
	sip_lex_advance(s, n);
	return 0;
}

static int sip_addr_uri_part(struct str *s, struct sip_addr *out)
{
	struct str after;

	if (s->len > 0 && s->p[0] == '"') {
		if (sip_lex_quoted(s, &out->display) != 0)
			return -1;
		out->display_quoted = true;
		sip_lex_skip_ws(s);
		if (s->len == 0 || s->p[0] != '<')
			return -1;
		return sip_addr_angle(s, out);
	}
	if (s->len > 0 && s->p[0] == '<')
		return sip_addr_angle(s, out);
	if (sip_addr_token_display(*s, &out->display, &after)) {
		*s = after;
		return sip_addr_angle(s, out);
	}
	return sip_addr_bare(s, out);
}

int sip_addr_parse(struct str value, struct sip_addr *out)
{
	struct str s = sip_lex_trim(value);
	struct str name, pval;
	int rc;

	*out = (struct sip_addr){.raw = s};
	if (s.len == 1 && s.p[0] == '*') {
		out->wildcard = true; /* Contact: * (RFC 3261 §10.2.2) */
		return 0;
	}
	if (sip_addr_uri_part(&s, out) != 0)
		return SIP_E_ADDR;
	sip_lex_skip_ws(&s);
	out->params = s;
	while ((rc = sip_lex_param_next(&s, &name, &pval)) == 0) {
		if (str_caseeq_cstr(name, "tag")) {
			if (pval.len == 0)
				return SIP_E_ADDR;
			out->tag = pval;
		}
	}
	return rc == SIP_E_NOT_FOUND ? 0 : SIP_E_ADDR;
}

int sip_params_find(struct str params, const char *name, struct str *value)
{
	struct str n, v;
	int rc;

	while ((rc = sip_lex_param_next(&params, &n, &v)) == 0) {
		if (str_caseeq_cstr(n, name)) {
			if (value)
				*value = v;
			return 0;
		}
	}
	return rc;
}
