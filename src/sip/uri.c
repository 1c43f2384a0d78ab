/*
 * uri.c — SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).
 *
 * sip_uri_parse splits a URI into views without decoding anything: user,
 * password, host, port, the raw parameter list and the raw headers.  Escapes
 * stay as written (comparison rules differ per part, RFC 3261 §19.1.4);
 * sip_uri_unescape decodes a part into the caller's buffer when needed.
 * Any other absoluteURI scheme is accepted opaquely, since such URIs may
 * appear in header fields (RFC 4475 §3.3.4).
 */
#include "sip/lex.h"

#include <strings.h>

/* hot path: no allocation, no locks, no I/O */

static bool sip_uri_is_hex(char c)
{
	return sip_lex_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned sip_uri_hex_val(char c)
{
	if (sip_lex_is_digit(c))
		return (unsigned)(c - '0');
	return (unsigned)((c | 0x20) - 'a' + 10);
}

/* unreserved = alphanum / mark; mark = "-" "_" "." "!" "~" "*" "'" "(" ")" */
static bool sip_uri_is_unreserved(char c)
{
	return sip_lex_is_alnum(c) || (c != '\0' && strchr("-_.!~*'()", c) != NULL);
}

/* Every byte of s is unreserved, one of extra, or a valid %HH escape. */
static bool sip_uri_chars_ok(struct str s, const char *extra)
{
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '%') {
			if (i + 2 >= s.len || !sip_uri_is_hex(s.p[i + 1]) ||
			    !sip_uri_is_hex(s.p[i + 2]))
				return false;
			i += 2;
		} else if (!sip_uri_is_unreserved(c) && (c == '\0' || !strchr(extra, c))) {
			return false;
		}
	}
	return true;
}

/* uri-parameters: *( ";" pname [ "=" pvalue ] ), each pname non-empty. */
static bool sip_uri_params_ok(struct str params)
{
	size_t i = 0;

	while (i < params.len) {
		/* params.p[i] is ';' here. */
		size_t j = i + 1;
		while (j < params.len && params.p[j] != ';')
			j++;
		struct str one = {params.p + i + 1, j - i - 1};
		if (one.len == 0 || one.p[0] == '=' || !sip_uri_chars_ok(one, "[]/:&+$="))
			return false;
		i = j;
	}
	return true;
}

static void sip_uri_split_tail(struct str *rest, struct sip_uri *out)
{
	ptrdiff_t q = str_index(*rest, '?');

	if (q >= 0) {
		out->headers = (struct str){rest->p + q + 1, rest->len - (size_t)q - 1};
		rest->len = (size_t)q;
	}
	ptrdiff_t semi = str_index(*rest, ';');
	if (semi >= 0) {
		out->params = (struct str){rest->p + semi, rest->len - (size_t)semi};
		rest->len = (size_t)semi;
	}
}

static int sip_uri_parse_userinfo(struct str ui, struct sip_uri *out)
{
	ptrdiff_t colon = str_index(ui, ':');

	out->user = ui;
	if (colon >= 0) {
		out->user.len = (size_t)colon;
		out->password = (struct str){ui.p + colon + 1, ui.len - (size_t)colon - 1};
	}
	if (out->user.len == 0 || !sip_uri_chars_ok(out->user, "&=+$,;?/") ||
	    !sip_uri_chars_ok(out->password, "&=+$,"))
		return SIP_E_URI;
	return 0;
}

/* SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ] */
static int sip_uri_parse_sip(struct str rest, struct sip_uri *out)
{
	ptrdiff_t at = str_index(rest, '@');

	if (at >= 0) {
		if (sip_uri_parse_userinfo((struct str){rest.p, (size_t)at}, out) != 0)
			return SIP_E_URI;
		sip_lex_advance(&rest, (size_t)at + 1);
	}
	/* The host part ends at the first ';' or '?', which a host never holds. */
	sip_uri_split_tail(&rest, out);
	if (sip_lex_hostport(&rest, &out->host, &out->host_ipv6, &out->port) != 0 || rest.len != 0)
		return SIP_E_URI;
	if (!sip_uri_params_ok(out->params) || !sip_uri_chars_ok(out->headers, "[]/?:+$=&"))
		return SIP_E_URI;
	return 0;
}

/* RFC 3966: telephone-subscriber; digits, hex for local numbers, visual
 * separators, '*' '#', a leading '+' for global numbers. */
static int sip_uri_parse_tel(struct str rest, struct sip_uri *out)
{
	ptrdiff_t semi = str_index(rest, ';');

	out->user = rest;
	if (semi >= 0) {
		out->user.len = (size_t)semi;
		out->params = (struct str){rest.p + semi, rest.len - (size_t)semi};
	}
	if (out->user.len == 0)
		return SIP_E_URI;
	for (size_t i = 0; i < out->user.len; i++) {
		char c = out->user.p[i];
		if (!sip_uri_is_hex(c) && !strchr("*#-.()", c) && !(c == '+' && i == 0))
			return SIP_E_URI;
	}
	return sip_uri_params_ok(out->params) ? 0 : SIP_E_URI;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static int sip_uri_scheme(struct str s, struct str *scheme)
{
	size_t n = 0;

	while (n < s.len &&
	       (sip_lex_is_alnum(s.p[n]) || s.p[n] == '+' || s.p[n] == '-' || s.p[n] == '.'))
		n++;
	if (n == 0 || n >= s.len || s.p[n] != ':' || sip_lex_is_digit(s.p[0]) ||
	    !sip_lex_is_alnum(s.p[0]))
		return SIP_E_URI;
	*scheme = (struct str){s.p, n};
	return 0;
}

int sip_uri_parse(struct str s, struct sip_uri *out)
{
	*out = (struct sip_uri){.raw = s, .scheme = SIP_URI_OTHER};
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"')
			return SIP_E_URI;
	}
	if (sip_uri_scheme(s, &out->scheme_name) != 0)
		return SIP_E_URI;
	struct str rest = {s.p + out->scheme_name.len + 1, s.len - out->scheme_name.len - 1};
	out->opaque = rest;
	if (rest.len == 0)
		return SIP_E_URI;
	if (str_caseeq_cstr(out->scheme_name, "sip") || str_caseeq_cstr(out->scheme_name, "sips")) {
		out->scheme = out->scheme_name.len == 3 ? SIP_URI_SIP : SIP_URI_SIPS;
		return sip_uri_parse_sip(rest, out);
	}
	if (str_caseeq_cstr(out->scheme_name, "tel")) {
		out->scheme = SIP_URI_TEL;
		return sip_uri_parse_tel(rest, out);
	}
	return 0;
}

int sip_uri_param(const struct sip_uri *uri, const char *name, struct str *value)
{
	struct str p = uri->params;
	size_t nlen = strlen(name);

	while (p.len > 1) {
		sip_lex_advance(&p, 1); /* the ';' */
		ptrdiff_t end = str_index(p, ';');
		struct str one = {p.p, end < 0 ? p.len : (size_t)end};
		ptrdiff_t eq = str_index(one, '=');
		size_t klen = eq < 0 ? one.len : (size_t)eq;
		if (klen == nlen && strncasecmp(one.p, name, nlen) == 0) {
			if (value)
				*value =
				    eq < 0 ? (struct str){one.p + one.len, 0}
					   : (struct str){one.p + eq + 1, one.len - (size_t)eq - 1};
			return 0;
		}
		sip_lex_advance(&p, one.len);
	}
	return SIP_E_NOT_FOUND;
}

int sip_uri_unescape(struct str in, char *out, size_t n, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < in.len; i++) {
		char c = in.p[i];
		if (c == '%') {
			if (i + 2 >= in.len || !sip_uri_is_hex(in.p[i + 1]) ||
			    !sip_uri_is_hex(in.p[i + 2]))
				return SIP_E_URI;
			c = (char)(sip_uri_hex_val(in.p[i + 1]) << 4 |
				   sip_uri_hex_val(in.p[i + 2]));
			i += 2;
		}
		if (o >= n)
			return SIP_E_NO_SPACE;
		out[o++] = c;
	}
	*outlen = o;
	return 0;
}
