/*
 * deck_csv.c — reads a rate deck's CSV (RFC 4180) in one pass.
 *
 * Fields are views into the caller's buffer; only a quoted field holding
 * "" (RFC 4180 §2.7) is copied, once, into the deck's own buffer with the
 * quotes undone (never longer than the input, so one allocation of the
 * input's size covers every such field).  Lines end in CRLF (§2.1) or, as
 * most exports write them, LF; a UTF-8 BOM before the header is skipped;
 * blank lines, and rows of nothing but empty fields, are ignored.  A record's line is the one it
 * starts on, so a quoted field spanning lines does not shift the numbers
 * reported for the rows after it.
 *
 * Nothing stops at the first problem: each record is read, every bad field
 * reported, and the file read to its end, so one answer lists them all
 * (bounded by BILLING_CSV_ERRORS_MAX).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deck_private.h"

struct csv_reader {
	const char *p, *end;
	uint32_t line;
	char *out;   /* the deck's unescaped copies (allocated on first need) */
	size_t used; /* bytes of out used */
	size_t cap;  /* the input's length */
};

/* One record: its fields (up to DECK_FIELDS_MAX kept), how many there were,
 * and the line it started on. */
struct csv_record {
	struct str f[DECK_FIELDS_MAX];
	size_t n;
	uint32_t line;
};

void deck_error_add(struct billing_csv *d, uint32_t line, uint32_t column, struct str name,
		    enum billing_csv_err kind, const char *fmt, ...)
{
	va_list ap;

	d->nerrors_total++;
	if (d->nerrors >= BILLING_CSV_ERRORS_MAX)
		return;
	struct billing_csv_error *e = &d->errors[d->nerrors++];
	e->line = line;
	e->column = column;
	e->kind = kind;
	str_copy(e->column_name, sizeof(e->column_name), name);
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

static bool at_line_end(const struct csv_reader *r)
{
	return r->p == r->end || *r->p == '\n' || *r->p == '\r';
}

/* Consumes one line ending (CRLF, LF or a lone CR). */
static void line_end_skip(struct csv_reader *r)
{
	if (r->p < r->end && *r->p == '\r')
		r->p++;
	if (r->p < r->end && *r->p == '\n')
		r->p++;
	r->line++;
}

/* The text of a quoted field from open (after its quote) to close (at its
 * closing quote), with "" made ". */
static int quoted_unescape(struct csv_reader *r, const char *open, const char *close,
			   struct str *out)
{
	if (!r->out && !(r->out = malloc(r->cap ? r->cap : 1)))
		return -ENOMEM;
	char *dst = r->out + r->used;
	size_t n = 0;
	for (const char *s = open; s < close; s++) {
		dst[n++] = *s;
		if (*s == '"')
			s++; /* the second quote of a pair */
	}
	r->used += n;
	*out = (struct str){dst, n};
	return 0;
}

/* A quoted field (r->p at its opening quote).  -EINVAL, with the error
 * added, for a quote never closed (the rest of the file is then one
 * field) or text after the closing quote (skipped to the next field). */
static int field_quoted(struct csv_reader *r, struct billing_csv *d, const struct csv_record *rec,
			struct str *out)
{
	const char *open = ++r->p;
	bool escaped = false;
	uint32_t col = (uint32_t)rec->n + 1;

	for (;;) {
		if (r->p == r->end) {
			deck_error_add(d, rec->line, col, STR_NULL, BILLING_CSV_QUOTE,
				       "a quoted field is never closed");
			return -EINVAL;
		}
		if (*r->p == '"' && r->p + 1 < r->end && r->p[1] == '"') {
			escaped = true;
			r->p += 2;
			continue;
		}
		if (*r->p == '"')
			break;
		if (*r->p == '\n')
			r->line++;
		r->p++;
	}
	const char *close = r->p++;
	int rc = escaped ? quoted_unescape(r, open, close, out) : 0;
	if (!escaped)
		*out = (struct str){open, (size_t)(close - open)};
	if (rc == 0 && !at_line_end(r) && *r->p != ',') {
		deck_error_add(d, rec->line, col, STR_NULL, BILLING_CSV_QUOTE,
			       "text after the closing quote of a field");
		while (!at_line_end(r) && *r->p != ',')
			r->p++;
	}
	return rc;
}

/* The next record, or 0 fields at the end of the input.  Returns 0 or a
 * negative error (-EINVAL: the file cannot be read further). */
static int record_next(struct csv_reader *r, struct billing_csv *d, struct csv_record *rec)
{
	while (r->p < r->end && (*r->p == '\n' || *r->p == '\r'))
		line_end_skip(r); /* blank lines */
	rec->n = 0;
	rec->line = r->line;
	if (r->p == r->end)
		return 0;
	for (;;) {
		struct str f;
		if (r->p < r->end && *r->p == '"') {
			int rc = field_quoted(r, d, rec, &f);
			if (rc < 0)
				return rc;
		} else {
			const char *s = r->p;
			while (!at_line_end(r) && *r->p != ',')
				r->p++;
			f = str_trim((struct str){s, (size_t)(r->p - s)});
		}
		if (rec->n < DECK_FIELDS_MAX)
			rec->f[rec->n] = f;
		rec->n++;
		if (at_line_end(r))
			break;
		r->p++; /* the comma */
	}
	line_end_skip(r);
	return 0;
}

/* A record of nothing but empty fields (",,,," as spreadsheets export the
 * rows below a table) is skipped like a blank line. */
static bool record_empty(const struct csv_record *rec)
{
	for (size_t i = 0; i < rec->n && i < DECK_FIELDS_MAX; i++)
		if (rec->f[i].len)
			return false;
	return true;
}

static int deck_rows_grow(struct billing_csv *d, size_t *cap)
{
	size_t n = *cap ? *cap * 2 : 1024;
	struct billing_csv_row *rows = realloc(d->rows, n * sizeof(*rows));

	if (!rows)
		return -ENOMEM;
	d->rows = rows;
	*cap = n;
	return 0;
}

/* Every record after the header.  Good rows are kept even once another
 * row failed: the duplicate check runs over them too, so one answer lists
 * everything (and the deck, refused whole, then yields none). */
static int deck_body_read(struct csv_reader *r, struct billing_csv *d, const struct deck_header *h,
			  struct csv_record *rec)
{
	size_t cap = 0;
	struct billing_csv_row row;

	for (;;) {
		int rc = record_next(r, d, rec);
		if (rc < 0 || rec->n == 0)
			return rc == -EINVAL ? 0 : rc;
		if (record_empty(rec))
			continue;
		if (deck_row_read(d, h, rec->f, rec->n, rec->line, &row) < 0)
			continue;
		if (d->nrows >= BILLING_CSV_ROWS_MAX) {
			deck_error_add(d, rec->line, 0, STR_NULL, BILLING_CSV_TOO_MANY_ROWS,
				       "a deck holds at most %d rows", BILLING_CSV_ROWS_MAX);
			return 0;
		}
		if (d->nrows == cap && (rc = deck_rows_grow(d, &cap)) < 0)
			return rc;
		d->rows[d->nrows++] = row;
	}
}

static int error_cmp(const void *a, const void *b)
{
	const struct billing_csv_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

int billing_csv_parse(struct str csv, struct billing_csv *d)
{
	struct csv_reader r = {csv.p, csv.p + csv.len, 1, NULL, 0, csv.len};
	struct deck_header h;
	struct csv_record *rec = malloc(sizeof(*rec));
	int rc = 0;

	memset(d, 0, sizeof(*d));
	d->errors = calloc(BILLING_CSV_ERRORS_MAX, sizeof(*d->errors));
	if (!rec || !d->errors) {
		rc = -ENOMEM;
		goto out;
	}
	if (csv.len >= 3 && memcmp(csv.p, "\xEF\xBB\xBF", 3) == 0)
		r.p += 3;
	rc = record_next(&r, d, rec);
	if (rc == 0 && rec->n == 0)
		deck_error_add(d, 1, 0, STR_NULL, BILLING_CSV_EMPTY, "no header row");
	else if (rc == 0 && deck_header_read(d, rec->f, rec->n, rec->line, &h) == 0) {
		rc = deck_body_read(&r, d, &h, rec);
		if (rc == 0)
			deck_duplicates_check(d, &h);
	}
	rc = rc == -EINVAL ? 0 : rc;
out:
	d->unescaped = r.out;
	free(rec);
	if (rc == 0 && d->nerrors_total) {
		qsort(d->errors, d->nerrors, sizeof(*d->errors), error_cmp);
		d->nrows = 0;
		rc = -EINVAL;
	}
	return rc;
}

void billing_csv_fini(struct billing_csv *d)
{
	free(d->rows);
	free(d->errors);
	free(d->unescaped);
	memset(d, 0, sizeof(*d));
}
