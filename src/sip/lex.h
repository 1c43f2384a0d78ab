/*
 * lex.h — private to src/sip: the small lexical pieces of RFC 3261 §25 that
 * every header parser shares (LWS, token, quoted-string, comma lists,
 * generic-params).  They work on a struct str "rest" cursor that they advance.
 *
 * Inside a header value the index has already checked that every CR LF is
 * followed by SP or HT, so CR and LF there are folding and count as LWS.
 */
#ifndef WARP_SIP_LEX_H
#define WARP_SIP_LEX_H

#include <string.h>

#include "sip/sip.h"

static inline bool sip_lex_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool sip_lex_is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool sip_lex_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* token chars: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
static inline bool sip_lex_is_token(char c)
{
	return sip_lex_is_alnum(c) || (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

static inline void sip_lex_advance(struct str *s, size_t n)
{
	s->p += n;
	s->len -= n;
}

/* Skips LWS (SP, HT, folding CR LF). */
void sip_lex_skip_ws(struct str *s);
/* Removes LWS from both ends. */
struct str sip_lex_trim(struct str s);
/* Takes the longest token prefix; empty when none. */
struct str sip_lex_token(struct str *s);
/* Takes a quoted-string starting at s->p[0] == '"'; *inner excludes the
 * quotes.  -1 when unterminated or on a bad quoted-pair. */
int sip_lex_quoted(struct str *s, struct str *inner);
/* Next comma-separated element of a header value from *off, skipping quoted
 * strings and <...>; trimmed.  0, or SIP_E_NOT_FOUND when done. */
int sip_lex_next_value(struct str value, size_t *off, struct str *out);
/* One ";name[=value]" at the head of *s, LWS allowed around ';' and '='.
 * 0 and advances; SIP_E_NOT_FOUND at the end; SIP_E_URI when malformed. */
int sip_lex_param_next(struct str *s, struct str *name, struct str *value);
/* Digits only into *out, at most max. */
int sip_lex_uint(struct str s, uint64_t max, uint64_t *out);
/* host (hostname, IPv4 or [IPv6]) and optional ":port" at the head of *s. */
int sip_lex_hostport(struct str *s, struct str *host, bool *ipv6, uint16_t *port);

/* Records err (and text, or the code's phrase) as m's error unless one is
 * already recorded; returns err. */
int sip_msg_fail(struct sip_msg *m, int err, const char *text);

/* Value parsers behind the lazy accessors (scalar.c). */
int sip_call_id_parse(struct str value, struct str *out);
int sip_uint_value_parse(struct str value, uint64_t max, uint64_t *out);
int sip_content_type_parse(struct str value, struct str *type, struct str *params);
int sip_date_parse(struct str value, int64_t *wall_ms);

#endif
