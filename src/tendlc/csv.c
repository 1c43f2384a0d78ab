/*
 * csv.c — the lines of an opt-out import: a customer's list of handsets
 * that opted out before WARP carried its traffic.  Each line is
 * "number,recipient" (the customer's sending number and the handset, both
 * E.164 with or without '+') and optionally the brand_id the opt-out
 * belongs to.  No quoting: no field of the format can hold a comma.
 */
#include <string.h>

#include "tendlc/tendlc.h"

/* E.164 (ITU-T E.164 §6.2.1): at most 15 digits; we take 7 or more. */
static bool csv_e164(struct str s)
{
	if (s.len && s.p[0] == '+') {
		s.p++;
		s.len--;
	}
	if (s.len < 7 || s.len > 15 || s.p[0] == '0')
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

/* Splits line at commas into at most n fields, trimmed; the count, or
 * n + 1 when there are more. */
static size_t csv_fields(struct str line, struct str *f, size_t n)
{
	size_t k = 0;

	for (;;) {
		ptrdiff_t c = str_index(line, ',');
		struct str field = {line.p, c < 0 ? line.len : (size_t)c};
		if (k == n)
			return n + 1;
		f[k++] = str_trim(field);
		if (c < 0)
			return k;
		line.p += c + 1;
		line.len -= (size_t)c + 1;
	}
}

enum tendlc_csv_result tendlc_csv_next(struct str *rest, size_t *line, struct tendlc_csv_row *row)
{
	struct str f[3];

	if (!rest->p || rest->len == 0)
		return TENDLC_CSV_END;
	ptrdiff_t nl = str_index(*rest, '\n');
	struct str l = {rest->p, nl < 0 ? rest->len : (size_t)nl};
	rest->p += nl < 0 ? rest->len : (size_t)nl + 1;
	rest->len -= nl < 0 ? rest->len : (size_t)nl + 1;
	++*line;
	if (l.len && l.p[l.len - 1] == '\r')
		l.len--; /* CRLF */
	l = str_trim(l);
	if (l.len == 0)
		return TENDLC_CSV_SKIP;
	size_t n = csv_fields(l, f, 3);
	if (n >= 1 && str_caseeq_cstr(f[0], "number"))
		return TENDLC_CSV_SKIP;
	if (n < 2 || n > 3 || !csv_e164(f[0]) || !csv_e164(f[1]))
		return TENDLC_CSV_BAD;
	*row = (struct tendlc_csv_row){f[0], f[1], n == 3 ? f[2] : STR_LIT(""), *line};
	return TENDLC_CSV_ROW;
}
