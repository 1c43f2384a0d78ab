/*
 * row.c — one store row as the JSON object BigQuery reads, for a load
 * file's line (NEWLINE_DELIMITED_JSON) and an insertAll row's "json" alike:
 * TIMESTAMP as RFC 3339 UTC with milliseconds, NUMERIC as an exact decimal
 * string from integer micro-units (principle 4: no floating point), INTEGER
 * as a JSON number, NULL left out (a missing NULLABLE field is NULL).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "export/export_private.h"

/* The encoder runs once per row and field (a million rows a second is the
 * aim): no printf, whose parsing of the format was a third of its time. */

static void put_digits(char *at, unsigned v, int n)
{
	while (n-- > 0) {
		at[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* epoch ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (RFC 3339, UTC): the civil date
 * from the day number by the era arithmetic of the proleptic Gregorian
 * calendar (400-year eras of 146097 days, years starting in March). */
static int row_timestamp(int64_t ms, struct buf *out)
{
	int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	int64_t rest = ms - days * 86400000; /* 0 .. 86399999 */
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	unsigned day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = (int64_t)yoe + era * 400 + (month <= 2);
	char t[] = "\"0000-00-00T00:00:00.000Z\"";

	if (year < 0 || year > 9999) { /* BigQuery refuses it: the row is quarantined */
		char slow[40];
		return time_format_rfc3339(ms, slow, sizeof(slow)) < 0
			   ? -EINVAL
			   : buf_printf(out, "\"%s\"", slow);
	}
	put_digits(t + 1, (unsigned)year, 4);
	put_digits(t + 6, month, 2);
	put_digits(t + 9, day, 2);
	put_digits(t + 12, (unsigned)(rest / 3600000), 2);
	put_digits(t + 15, (unsigned)(rest / 60000 % 60), 2);
	put_digits(t + 18, (unsigned)(rest / 1000 % 60), 2);
	put_digits(t + 21, (unsigned)(rest % 1000), 3);
	return buf_append(out, t, sizeof(t) - 1);
}

/* An integer column: the store's text of it when that is already a JSON
 * number (an INTEGER column's text always is: an optional '-' and digits
 * without a leading zero), copied without a parse and a format; anything
 * else through the integer the store reads, so the output is a number. */
static int row_int(const struct store_res *r, size_t row, size_t col, struct buf *out)
{
	const char *t = store_res_text(r, row, col);
	size_t i = t[0] == '-', n = i;
	char tmp[STR_I64_MAX];

	while (t[n] >= '0' && t[n] <= '9' && n < 20)
		n++;
	bool number = n > i && t[n] == '\0' && (t[i] != '0' || (n == 1 && !i));
	if (number)
		return buf_append(out, t, n);
	return buf_append_str(out, str_from_i64(store_res_int(r, row, col), tmp));
}

/* micro-units as "-12.345678" */
static int row_numeric(int64_t micros, struct buf *out)
{
	uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;
	char tmp[32], *w = tmp + sizeof(tmp);

	*--w = '"';
	for (int i = 0; i < 6; i++, m /= 10)
		*--w = (char)('0' + m % 10);
	*--w = '.';
	do {
		*--w = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (micros < 0)
		*--w = '-';
	*--w = '"';
	return buf_append(out, w, (size_t)(tmp + sizeof(tmp) - w));
}

/* RFC 8259 §7: the escape of one byte (quote, backslash, control); its
 * length (2 or 6). */
static size_t row_escape(unsigned char c, char *w)
{
	static const char hex[] = "0123456789abcdef";

	w[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		w[1] = (char)c;
		return 2;
	case '\n':
		w[1] = 'n';
		return 2;
	case '\r':
		w[1] = 'r';
		return 2;
	case '\t':
		w[1] = 't';
		return 2;
	}
	memcpy(w + 1, "u00", 3);
	w[4] = hex[c >> 4];
	w[5] = hex[c & 15];
	return 6;
}

/* A string value, quoted and escaped straight into the buffer: one
 * reservation for the worst case (every byte six) instead of a call per
 * run of plain bytes.  UTF-8 passes through as it is (RFC 8259 §8.1). */
static int row_string(const char *s, struct buf *out)
{
	size_t n = strlen(s);

	if (n > (SIZE_MAX - 2) / 6 || buf_reserve(out, 6 * n + 2) < 0)
		return -ENOMEM;
	char *w = out->p + out->len;
	*w++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			*w++ = (char)c;
		else
			w += row_escape(c, w);
	}
	*w++ = '"';
	out->len = (size_t)(w - out->p);
	out->p[out->len] = '\0';
	return 0;
}

static int row_value(const struct export_column *c, const struct store_res *r, size_t row,
		     size_t col, struct buf *out)
{
	switch (c->kind) {
	case EXPORT_K_STRING:
		return row_string(store_res_text(r, row, col), out);
	case EXPORT_K_INT64:
		return row_int(r, row, col, out);
	case EXPORT_K_TIMESTAMP:
		return row_timestamp(store_res_int(r, row, col), out);
	case EXPORT_K_NUMERIC:
		return row_numeric(store_res_int(r, row, col), out);
	}
	return -EINVAL;
}

/* `,"name":` (no comma before the first field) in one reservation. */
static int row_name(const char *name, bool first, struct buf *out)
{
	size_t n = strlen(name);

	if (buf_reserve(out, n + 4) < 0)
		return -ENOMEM;
	char *w = out->p + out->len;
	if (!first)
		*w++ = ',';
	*w++ = '"';
	memcpy(w, name, n);
	w += n;
	*w++ = '"';
	*w++ = ':';
	out->len = (size_t)(w - out->p);
	out->p[out->len] = '\0';
	return 0;
}

int export_row_encode(const struct export_table *t, const struct store_res *r, size_t row,
		      struct buf *out)
{
	bool first = true;

	if (buf_append_char(out, '{') < 0)
		return -ENOMEM;
	for (size_t i = 0; i < t->ncols; i++) {
		size_t col = i + 2; /* after the cursor's ts and id */
		if (store_res_isnull(r, row, col))
			continue;
		if (row_name(t->cols[i].name, first, out) < 0 ||
		    row_value(&t->cols[i], r, row, col, out) < 0)
			return -ENOMEM;
		first = false;
	}
	return buf_append_char(out, '}') < 0 ? -ENOMEM : 0;
}
