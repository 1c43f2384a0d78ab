/*
 * lex.c — the shared lexical pieces of SIP header values (RFC 3261 §25.1):
 * LWS, tokens, quoted strings, comma-separated lists and generic-params.
 * Every function is bounded by its view and loops without recursion.
 */
#include "sip/lex.h"

#include <arpa/inet.h>

/* hot path: no allocation, no locks, no I/O */

void sip_lex_skip_ws(struct str *s)
{
	while (s->len > 0 && sip_lex_is_ws(s->p[0]))
		sip_lex_advance(s, 1);
}

struct str sip_lex_trim(struct str s)
{
	sip_lex_skip_ws(&s);
	while (s.len > 0 && sip_lex_is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

struct str sip_lex_token(struct str *s)
{
	size_t n = 0;

	while (n < s->len && sip_lex_is_token(s->p[n]))
		n++;
	struct str t = {s->p, n};
	sip_lex_advance(s, n);
	return t;
}

int sip_lex_quoted(struct str *s, struct str *inner)
{
	if (s->len == 0 || s->p[0] != '"')
		return -1;
	for (size_t i = 1; i < s->len; i++) {
		if (s->p[i] == '\\') {
			/* quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F) */
			if (i + 1 >= s->len || s->p[i + 1] == '\r' || s->p[i + 1] == '\n' ||
			    (unsigned char)s->p[i + 1] > 0x7f)
				return -1;
			i++;
		} else if (s->p[i] == '"') {
			*inner = (struct str){s->p + 1, i - 1};
			sip_lex_advance(s, i + 1);
			return 0;
		}
	}
	return -1;
}

/* Length of the element starting at v.p[0], up to an unquoted, unbracketed comma. */
static size_t sip_lex_element_len(struct str v)
{
	bool quoted = false;
	bool angle = false;

	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = false;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '<') {
			angle = true;
		} else if (c == '>') {
			angle = false;
		} else if (c == ',' && !angle) {
			return i;
		}
	}
	return v.len;
}

int sip_lex_next_value(struct str value, size_t *off, struct str *out)
{
	if (*off > value.len)
		return SIP_E_NOT_FOUND;
	struct str rest = {value.p + *off, value.len - *off};
	size_t n = sip_lex_element_len(rest);

	*out = sip_lex_trim((struct str){rest.p, n});
	/* Past the end once the last element (no comma after it) is handed out. */
	*off += n + 1;
	return 0;
}

/* gen-value = token / host / quoted-string; host adds ':' '[' ']' to token chars. */
static int sip_lex_gen_value(struct str *s, struct str *value)
{
	if (s->len > 0 && s->p[0] == '"') {
		const char *start = s->p;
		struct str inner;
		if (sip_lex_quoted(s, &inner) != 0)
			return SIP_E_URI;
		*value = (struct str){start, (size_t)(s->p - start)};
		return 0;
	}
	size_t n = 0;
	while (n < s->len &&
	       (sip_lex_is_token(s->p[n]) || s->p[n] == ':' || s->p[n] == '[' || s->p[n] == ']'))
		n++;
	if (n == 0)
		return SIP_E_URI;
	*value = (struct str){s->p, n};
	sip_lex_advance(s, n);
	return 0;
}

int sip_lex_param_next(struct str *s, struct str *name, struct str *value)
{
	sip_lex_skip_ws(s);
	if (s->len == 0)
		return SIP_E_NOT_FOUND;
	if (s->p[0] != ';')
		return SIP_E_URI;
	sip_lex_advance(s, 1);
	sip_lex_skip_ws(s);
	*name = sip_lex_token(s);
	if (name->len == 0)
		return SIP_E_URI;
	struct str look = *s;
	sip_lex_skip_ws(&look);
	if (look.len == 0 || look.p[0] != '=') {
		*value = (struct str){name->p + name->len, 0};
		return 0;
	}
	sip_lex_advance(&look, 1);
	sip_lex_skip_ws(&look);
	*s = look;
	return sip_lex_gen_value(s, value);
}

int sip_lex_uint(struct str s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		if (!sip_lex_is_digit(s.p[i]))
			return -1;
		unsigned d = (unsigned)(s.p[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int sip_lex_ipv6(struct str *s, struct str *host)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	size_t n = 1;

	while (n < s->len && s->p[n] != ']')
		n++;
	if (n >= s->len || n - 1 == 0 || n - 1 >= sizeof(tmp))
		return -1;
	memcpy(tmp, s->p + 1, n - 1);
	tmp[n - 1] = '\0';
	if (inet_pton(AF_INET6, tmp, bin) != 1)
		return -1;
	*host = (struct str){s->p + 1, n - 1};
	sip_lex_advance(s, n + 1);
	return 0;
}

int sip_lex_hostport(struct str *s, struct str *host, bool *ipv6, uint16_t *port)
{
	*ipv6 = false;
	*port = 0;
	if (s->len > 0 && s->p[0] == '[') {
		if (sip_lex_ipv6(s, host) != 0)
			return -1;
		*ipv6 = true;
	} else {
		size_t n = 0;
		/* hostname / IPv4address; '_' is tolerated as deployed DNS has it. */
		while (n < s->len && (sip_lex_is_alnum(s->p[n]) || s->p[n] == '-' ||
				      s->p[n] == '.' || s->p[n] == '_'))
			n++;
		if (n == 0 || s->p[0] == '.' || s->p[0] == '-')
			return -1;
		*host = (struct str){s->p, n};
		sip_lex_advance(s, n);
	}
	if (s->len == 0 || s->p[0] != ':')
		return 0;
	sip_lex_advance(s, 1);
	size_t d = 0;
	while (d < s->len && sip_lex_is_digit(s->p[d]))
		d++;
	uint64_t v;
	if (sip_lex_uint((struct str){s->p, d}, 65535, &v) != 0 || v == 0)
		return -1;
	*port = (uint16_t)v;
	sip_lex_advance(s, d);
	return 0;
}
