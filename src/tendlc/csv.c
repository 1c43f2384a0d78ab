/*
 * csv.c — the lines of an opt-out import: a customer's list of handsets
 * that opted out before WARP carried its traffic.  Each line is
 * "number,recipient" (the customer's sending number and the handset, both
 * E.164 with or without '+') and optionally the brand_id the opt-out
 * belongs to.  No quoting: no field of the format can hold a comma.
 * The same reading serves a number-portability import
 * (POST /api/v1/carrier-prefix-imports): "prefix,carrier" lines.
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

/* The next line of *rest, trimmed, CR before LF dropped; false at the end. */
static bool csv_line(struct str *rest, size_t *line, struct str *l)
{
	if (!rest->p || rest->len == 0)
		return false;
	ptrdiff_t nl = str_index(*rest, '\n');
	*l = (struct str){rest->p, nl < 0 ? rest->len : (size_t)nl};
	rest->p += nl < 0 ? rest->len : (size_t)nl + 1;
	rest->len -= nl < 0 ? rest->len : (size_t)nl + 1;
	++*line;
	if (l->len && l->p[l->len - 1] == '\r')
		l->len--; /* CRLF */
	*l = str_trim(*l);
	return true;
}

enum tendlc_csv_result tendlc_csv_next(struct str *rest, size_t *line, struct tendlc_csv_row *row)
{
	struct str f[3], l;

	if (!csv_line(rest, line, &l))
		return TENDLC_CSV_END;
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

/* A portability prefix: 1 to 15 digits, no '+' (a table of E.164 digits). */
static bool csv_prefix(struct str s)
{
	if (s.len < 1 || s.len > 15)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

enum tendlc_csv_result tendlc_prefix_csv_next(struct str *rest, size_t *line,
					      struct tendlc_prefix_row *row)
{
	struct str f[2], l;
	int c;

	if (!csv_line(rest, line, &l))
		return TENDLC_CSV_END;
	if (l.len == 0)
		return TENDLC_CSV_SKIP;
	size_t n = csv_fields(l, f, 2);
	if (n >= 1 && str_caseeq_cstr(f[0], "prefix"))
		return TENDLC_CSV_SKIP;
	if (n != 2 || !csv_prefix(f[0]) || (c = tendlc_carrier_parse(f[1])) < 0)
		return TENDLC_CSV_BAD;
	*row = (struct tendlc_prefix_row){f[0], (enum tendlc_carrier)c, *line};
	return TENDLC_CSV_ROW;
}
