/*
 * scalar.c — the single-value headers whose values are a number, a word or
 * a date: CSeq, Call-ID, Max-Forwards, Expires, Content-Type and Date
 * (RFC 3261 §20).  Each range is the RFC's; overlarge values are refused
 * rather than clamped (RFC 4475 §3.1.2.4-5).
 */
#include "sip/lex.h"

#include <strings.h>

/* hot path: no allocation, no locks, no I/O */

/* CSeq = 1*DIGIT LWS Method; the number is below 2^31 (RFC 3261 §8.1.1.5). */
int sip_cseq_parse(struct str value, struct sip_cseq *out)
{
	struct str s = sip_lex_trim(value);
	size_t d = 0;
	uint64_t n;

	while (d < s.len && sip_lex_is_digit(s.p[d]))
		d++;
	if (sip_lex_uint((struct str){s.p, d}, 0x7fffffffu, &n) != 0)
		return SIP_E_CSEQ;
	sip_lex_advance(&s, d);
	if (s.len == 0 || !sip_lex_is_ws(s.p[0]))
		return SIP_E_CSEQ;
	sip_lex_skip_ws(&s);
	out->method_name = sip_lex_token(&s);
	if (out->method_name.len == 0 || s.len != 0)
		return SIP_E_CSEQ;
	out->number = (uint32_t)n;
	out->method = sip_method_from_str(out->method_name);
	return 0;
}

/* callid = word [ "@" word ]; word = 1*(alphanum / "-" "." "!" "%" "*" "_"
 * "+" "`" "'" "~" "(" ")" "<" ">" ":" "\" DQUOTE "/" "[" "]" "?" "{" "}") */
int sip_call_id_parse(struct str value, struct str *out)
{
	struct str s = sip_lex_trim(value);
	bool at = false;

	if (s.len == 0)
		return SIP_E_CALL_ID;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '@' && !at && i > 0 && i + 1 < s.len) {
			at = true;
			continue;
		}
		if (!sip_lex_is_token(c) && !strchr("()<>:\\\"/[]?{}", c))
			return SIP_E_CALL_ID;
	}
	*out = s;
	return 0;
}

int sip_uint_value_parse(struct str value, uint64_t max, uint64_t *out)
{
	return sip_lex_uint(sip_lex_trim(value), max, out);
}

/* media-type = m-type SLASH m-subtype *(SEMI m-parameter) */
int sip_content_type_parse(struct str value, struct str *type, struct str *params)
{
	struct str s = sip_lex_trim(value);
	const char *start = s.p;
	struct str name, pval;
	int rc;

	if (sip_lex_token(&s).len == 0)
		return SIP_E_CONTENT_TYPE;
	sip_lex_skip_ws(&s);
	if (s.len == 0 || s.p[0] != '/')
		return SIP_E_CONTENT_TYPE;
	sip_lex_advance(&s, 1);
	sip_lex_skip_ws(&s);
	if (sip_lex_token(&s).len == 0)
		return SIP_E_CONTENT_TYPE;
	*type = (struct str){start, (size_t)(s.p - start)};
	sip_lex_skip_ws(&s);
	*params = s;
	while ((rc = sip_lex_param_next(&s, &name, &pval)) == 0)
		;
	return rc == SIP_E_NOT_FOUND ? 0 : SIP_E_CONTENT_TYPE;
}

static int sip_date_pick(struct str s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (str_eq_cstr(s, names[i]))
			return i;
	return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method). */
static int64_t sip_date_days(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int sip_date_num(struct str s, size_t off, size_t n, uint64_t max, uint64_t *out)
{
	if (off + n > s.len)
		return -1;
	return sip_lex_uint((struct str){s.p + off, n}, max, out);
}

/* rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §20.17):
 * "Sat, 13 Nov 2010 23:29:00 GMT", fixed widths. */
int sip_date_parse(struct str value, int64_t *wall_ms)
{
	static const char *const wk[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct str s = sip_lex_trim(value);
	uint64_t d, y, hh, mm, ss;

	if (s.len != 29 || s.p[3] != ',' || s.p[4] != ' ' || s.p[7] != ' ' || s.p[11] != ' ' ||
	    s.p[16] != ' ' || s.p[19] != ':' || s.p[22] != ':' || s.p[25] != ' ')
		return SIP_E_DATE;
	int m = sip_date_pick((struct str){s.p + 8, 3}, mon, 12);
	if (sip_date_pick((struct str){s.p, 3}, wk, 7) < 0 || m < 0 ||
	    !str_eq_cstr((struct str){s.p + 26, 3}, "GMT") || sip_date_num(s, 5, 2, 31, &d) ||
	    sip_date_num(s, 12, 4, 9999, &y) || sip_date_num(s, 17, 2, 23, &hh) ||
	    sip_date_num(s, 20, 2, 59, &mm) || sip_date_num(s, 23, 2, 60, &ss) || d == 0)
		return SIP_E_DATE;
	int64_t days = sip_date_days((int64_t)y, m + 1, (int64_t)d);
	*wall_ms = ((days * 24 + (int64_t)hh) * 60 + (int64_t)mm) * 60000 + (int64_t)ss * 1000;
	return 0;
}
