/*
 * deck_row.c — a rate deck's header and rows: which column is which under
 * the names carriers give them, each field turned into struct
 * billing_rate's integers (prices through billing_money_parse, exact), and
 * the check that no prefix is priced twice for the same time.
 *
 * Header names are compared after folding case and turning spaces, '-' and
 * '.' into '_', with a trailing unit in parentheses dropped ("Rate (USD)"
 * is "rate").  Columns no alias names are ignored: carriers add their own
 * (country codes, notes), and refusing them would refuse most real files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deck_private.h"

#define DEFAULT_INCREMENT_S 60

static const struct {
	enum deck_col col;
	const char *names; /* '|'-separated aliases, folded */
} deck_aliases[] = {
    {DECK_COL_PREFIX, "prefix|code|dial_code|dialcode|dialing_code|destination_code"},
    {DECK_COL_DESTINATION, "destination|description|destination_name|name"},
    {DECK_COL_ZONE, "zone|region|destination_zone"},
    {DECK_COL_RATE, "rate|price|rate_per_min|rate_per_minute|price_per_minute|per_minute|"
		    "price_per_segment|rate_per_segment|sms_rate"},
    {DECK_COL_FEE, "connection_fee|connect_fee|setup_fee|connection_charge"},
    {DECK_COL_INCREMENTS, "increments|increment|billing_increment|billing_increments|interval"},
    {DECK_COL_INITIAL, "initial_increment|initial|first_increment|initial_interval"},
    {DECK_COL_SUBSEQUENT, "subsequent_increment|subsequent|next_increment|next_interval"},
    {DECK_COL_MIN_DURATION, "min_duration|minimum_duration|min_time"},
    {DECK_COL_FROM, "effective_from|effective_date|effective|valid_from|start_date"},
    {DECK_COL_TO, "effective_to|end_date|valid_to|expiry_date|expires"},
    {DECK_COL_SERVICE, "service|service_type"},
};

/* The folded header name into out (truncated names simply match nothing). */
static void name_fold(struct str name, char *out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < name.len && name.p[i] != '(' && k + 1 < n; i++) {
		char c = name.p[i];
		if (c == ' ' || c == '-' || c == '.')
			c = '_';
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[k++] = c;
	}
	while (k && out[k - 1] == '_')
		k--;
	out[k] = '\0';
}

static bool alias_in(const char *names, const char *folded)
{
	size_t len = strlen(folded);

	for (const char *s = names; len && *s;) {
		size_t n = strcspn(s, "|");
		if (n == len && memcmp(s, folded, len) == 0)
			return true;
		s += n + (s[n] == '|');
	}
	return false;
}

static enum deck_col column_of(struct str name)
{
	char folded[48];

	name_fold(name, folded, sizeof(folded));
	for (size_t i = 0; i < sizeof(deck_aliases) / sizeof(deck_aliases[0]); i++)
		if (alias_in(deck_aliases[i].names, folded))
			return deck_aliases[i].col;
	return DECK_COL_IGNORED;
}

/* The column position of col in h, or -1. */
static int header_find(const struct deck_header *h, enum deck_col col)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->col[i] == col)
			return (int)i;
	return -1;
}

static bool header_clashes(const struct deck_header *h, enum deck_col c)
{
	if (header_find(h, c) >= 0)
		return true;
	if (c == DECK_COL_INCREMENTS)
		return header_find(h, DECK_COL_INITIAL) >= 0 ||
		       header_find(h, DECK_COL_SUBSEQUENT) >= 0;
	if (c == DECK_COL_INITIAL || c == DECK_COL_SUBSEQUENT)
		return header_find(h, DECK_COL_INCREMENTS) >= 0;
	return false;
}

int deck_header_read(struct billing_csv *d, const struct str *fields, size_t n, uint32_t line,
		     struct deck_header *h)
{
	size_t before = d->nerrors_total;

	memset(h, 0, sizeof(*h));
	if (n > DECK_FIELDS_MAX) {
		deck_error_add(d, line, DECK_FIELDS_MAX + 1, STR_NULL, BILLING_CSV_FIELD_COUNT,
			       "a header has at most %d columns", DECK_FIELDS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		enum deck_col c = column_of(fields[i]);
		if (c != DECK_COL_IGNORED && header_clashes(h, c))
			deck_error_add(d, line, (uint32_t)i + 1, fields[i], BILLING_CSV_DUP_COLUMN,
				       "'%.*s' names a field an earlier column already gives",
				       STR_FMT(fields[i]));
		else
			h->col[i] = c;
		h->name[i] = fields[i];
		h->n = i + 1;
	}
	if (header_find(h, DECK_COL_PREFIX) < 0)
		deck_error_add(d, line, 0, STR_NULL, BILLING_CSV_MISSING_COLUMN,
			       "the header has no prefix column (prefix, code or dial_code)");
	if (header_find(h, DECK_COL_RATE) < 0)
		deck_error_add(d, line, 0, STR_NULL, BILLING_CSV_MISSING_COLUMN,
			       "the header has no rate column (rate, price or rate_per_min)");
	return d->nerrors_total == before ? 0 : -EINVAL;
}

/* ------------------------------------------------------------ fields */

/* Where a field's error is reported. */
struct field_at {
	struct billing_csv *d;
	uint32_t line, column;
	struct str name;
};

static int prefix_read(const struct field_at *at, struct str v, struct billing_rate *r)
{
	if (v.len && v.p[0] == '+') {
		v.p++;
		v.len--;
	}
	bool digits = v.len > 0 && v.len <= BILLING_PREFIX_MAX;
	for (size_t i = 0; digits && i < v.len; i++)
		digits = v.p[i] >= '0' && v.p[i] <= '9';
	if (!digits) {
		deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_PREFIX,
			       "a prefix is 1 to %d digits, optionally after '+'",
			       BILLING_PREFIX_MAX);
		return -EINVAL;
	}
	memcpy(r->prefix, v.p, v.len);
	r->prefix[v.len] = '\0';
	return 0;
}

static int money_read(const struct field_at *at, struct str v, int64_t *out)
{
	int rc = billing_money_parse(v, false, out);
	const char *why = rc < 0 ? billing_money_strerror(rc) : NULL;

	if (rc == 0 && *out > BILLING_CSV_PRICE_MAX)
		why = "more than 9223372.036854, the most a price may be";
	if (why)
		deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_MONEY,
			       "'%.*s': %s", (int)(v.len > 40 ? 40 : v.len), v.p, why);
	return why ? -EINVAL : 0;
}

static int seconds_read(struct str v, int64_t min, int64_t max, int32_t *out)
{
	int64_t n;

	if (str_to_i64(str_trim(v), &n) < 0 || n < min || n > max)
		return -EINVAL;
	*out = (int32_t)n;
	return 0;
}

static int increment_read(const struct field_at *at, struct str v, int32_t *out)
{
	if (seconds_read(v, 1, BILLING_CSV_INCREMENT_MAX, out) == 0)
		return 0;
	deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_INCREMENT,
		       "an increment is 1 to %d whole seconds", BILLING_CSV_INCREMENT_MAX);
	return -EINVAL;
}

/* "60/60", "30/6", or one number for both ("6" is 6/6). */
static int increments_read(const struct field_at *at, struct str v, struct billing_rate *r)
{
	ptrdiff_t slash = str_index(v, '/');
	struct str first = slash < 0 ? v : (struct str){v.p, (size_t)slash};
	struct str next = slash < 0 ? v : (struct str){v.p + slash + 1, v.len - (size_t)slash - 1};

	if (seconds_read(first, 1, BILLING_CSV_INCREMENT_MAX, &r->initial_s) == 0 &&
	    seconds_read(next, 1, BILLING_CSV_INCREMENT_MAX, &r->increment_s) == 0)
		return 0;
	deck_error_add(
	    at->d, at->line, at->column, at->name, BILLING_CSV_INCREMENT,
	    "increments are initial/subsequent seconds such as 60/60 or 30/6, each 1 to %d",
	    BILLING_CSV_INCREMENT_MAX);
	return -EINVAL;
}

static int time_read(const struct field_at *at, struct str v, int64_t *out)
{
	if (billing_csv_time_parse(v, out) == 0)
		return 0;
	deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_DATE,
		       "a date is YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or RFC 3339 (UTC unless an "
		       "offset is given)");
	return -EINVAL;
}

static int service_read(const struct field_at *at, struct str v, struct billing_rate *r)
{
	if (str_caseeq_cstr(v, "voice")) {
		r->service = BILLING_VOICE;
		return 0;
	}
	if (str_caseeq_cstr(v, "sms")) {
		r->service = BILLING_SMS;
		return 0;
	}
	deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_SERVICE,
		       "a service is voice or sms");
	return -EINVAL;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when invalid
 * (RFC 3629 §4: no overlongs, no surrogates, nothing past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80	     ? 1
		     : (s[0] & 0xE0) == 0xC0 ? 2
		     : (s[0] & 0xF0) == 0xE0 ? 3
		     : (s[0] & 0xF8) == 0xF0 ? 4
					     : 0;
	uint32_t cp = len == 1	 ? s[0]
		      : len == 2 ? s[0] & 0x1Fu
		      : len == 3 ? s[0] & 0x0Fu
				 : s[0] & 7u;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static int text_read(const struct field_at *at, struct str v, struct str *out)
{
	bool ok = v.len <= BILLING_CSV_TEXT_MAX;

	for (size_t i = 0; ok && i < v.len;) {
		size_t n = utf8_seq((const unsigned char *)v.p + i, v.len - i);
		ok = n > 0 && (unsigned char)v.p[i] >= 0x20 && v.p[i] != 0x7f;
		i += n;
	}
	if (!ok) {
		deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_TEXT,
			       "text is UTF-8 without control characters, at most %d bytes",
			       BILLING_CSV_TEXT_MAX);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* One field of a row, by its column. */
static int field_read(const struct field_at *at, enum deck_col col, struct str v,
		      struct billing_csv_row *row)
{
	struct billing_rate *r = &row->rate;

	switch (col) {
	case DECK_COL_PREFIX:
		return prefix_read(at, v, r);
	case DECK_COL_DESTINATION:
		return text_read(at, v, &row->destination);
	case DECK_COL_ZONE:
		return text_read(at, v, &row->zone);
	case DECK_COL_RATE:
		return money_read(at, v, &r->rate);
	case DECK_COL_FEE:
		return money_read(at, v, &r->connection_fee);
	case DECK_COL_INCREMENTS:
		return increments_read(at, v, r);
	case DECK_COL_INITIAL:
		return increment_read(at, v, &r->initial_s);
	case DECK_COL_SUBSEQUENT:
		return increment_read(at, v, &r->increment_s);
	case DECK_COL_MIN_DURATION:
		if (seconds_read(v, 0, BILLING_CSV_MIN_DURATION_MAX, &r->min_duration_s) == 0)
			return 0;
		deck_error_add(at->d, at->line, at->column, at->name, BILLING_CSV_DURATION,
			       "a minimum duration is 0 to %d whole seconds",
			       BILLING_CSV_MIN_DURATION_MAX);
		return -EINVAL;
	case DECK_COL_FROM:
		return time_read(at, v, &r->effective_from);
	case DECK_COL_TO:
		return time_read(at, v, &r->effective_to);
	case DECK_COL_SERVICE:
		return service_read(at, v, r);
	default:
		return 0;
	}
}

static void row_defaults(struct billing_csv_row *row, uint32_t line)
{
	memset(row, 0, sizeof(*row));
	row->rate.service = BILLING_VOICE;
	row->rate.initial_s = DEFAULT_INCREMENT_S;
	row->rate.increment_s = DEFAULT_INCREMENT_S;
	row->line = line;
}

/* An empty prefix or rate is missing; any other empty field keeps its
 * default. */
static bool field_required(enum deck_col c)
{
	return c == DECK_COL_PREFIX || c == DECK_COL_RATE;
}

int deck_row_read(struct billing_csv *d, const struct deck_header *h, const struct str *fields,
		  size_t n, uint32_t line, struct billing_csv_row *row)
{
	size_t before = d->nerrors_total;

	row_defaults(row, line);
	if (n != h->n) {
		deck_error_add(d, line, 0, STR_NULL, BILLING_CSV_FIELD_COUNT,
			       "%zu fields where the header has %zu", n, h->n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct field_at at = {d, line, (uint32_t)i + 1, h->name[i]};
		if (fields[i].len == 0 && field_required(h->col[i]))
			deck_error_add(d, line, at.column, at.name, BILLING_CSV_REQUIRED,
				       "'%.*s' is required", STR_FMT(h->name[i]));
		else if (fields[i].len)
			field_read(&at, h->col[i], fields[i], row);
	}
	struct billing_rate *r = &row->rate;
	if (r->effective_to && r->effective_to <= r->effective_from) {
		int col = header_find(h, DECK_COL_TO);
		deck_error_add(d, line, (uint32_t)col + 1, h->name[col], BILLING_CSV_WINDOW,
			       "effective_to must be after effective_from");
	}
	if (r->service == BILLING_SMS) {
		r->initial_s = r->increment_s = 1; /* a segment is a segment */
		r->min_duration_s = 0;
	}
	return d->nerrors_total == before ? 0 : -EINVAL;
}

/* ------------------------------------------------------- duplicates */

static int row_cmp(const void *a, const void *b)
{
	const struct billing_csv_row *x = a, *y = b;
	int c = strcmp(x->rate.prefix, y->rate.prefix);

	if (c)
		return c;
	if (x->rate.service != y->rate.service)
		return x->rate.service < y->rate.service ? -1 : 1;
	if (x->rate.effective_from != y->rate.effective_from)
		return x->rate.effective_from < y->rate.effective_from ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static bool same_key(const struct billing_csv_row *a, const struct billing_csv_row *b)
{
	return a->rate.service == b->rate.service && strcmp(a->rate.prefix, b->rate.prefix) == 0;
}

void deck_duplicates_check(struct billing_csv *d, const struct deck_header *h)
{
	/* Sorted by start, a row overlaps an earlier one of its key exactly
	 * when it starts before the latest end seen so far (0: never ends). */
	int col = header_find(h, DECK_COL_PREFIX);
	int64_t end = 0;
	uint32_t end_line = 0;

	if (d->nrows > 1)
		qsort(d->rows, d->nrows, sizeof(*d->rows), row_cmp);
	for (size_t i = 0; i < d->nrows; i++) {
		const struct billing_csv_row *row = &d->rows[i];
		const struct billing_rate *r = &row->rate;
		if (i == 0 || !same_key(&d->rows[i - 1], row)) {
			end = r->effective_to;
			end_line = row->line;
			continue;
		}
		if (end == 0 || r->effective_from < end)
			deck_error_add(
			    d, row->line, (uint32_t)col + 1, h->name[col], BILLING_CSV_DUPLICATE,
			    "prefix %s (%s) is already priced on line %u for an "
			    "overlapping time",
			    r->prefix, r->service == BILLING_SMS ? "sms" : "voice", end_line);
		if (end != 0 && (r->effective_to == 0 || r->effective_to > end)) {
			end = r->effective_to;
			end_line = row->line;
		}
	}
}

const char *billing_csv_err_code(enum billing_csv_err kind)
{
	static const char *const codes[] = {
	    [BILLING_CSV_EMPTY] = "empty_deck",
	    [BILLING_CSV_QUOTE] = "bad_quote",
	    [BILLING_CSV_DUP_COLUMN] = "duplicate_column",
	    [BILLING_CSV_MISSING_COLUMN] = "missing_column",
	    [BILLING_CSV_FIELD_COUNT] = "field_count",
	    [BILLING_CSV_REQUIRED] = "required",
	    [BILLING_CSV_PREFIX] = "invalid_prefix",
	    [BILLING_CSV_MONEY] = "invalid_amount",
	    [BILLING_CSV_INCREMENT] = "invalid_increment",
	    [BILLING_CSV_DURATION] = "invalid_duration",
	    [BILLING_CSV_DATE] = "invalid_date",
	    [BILLING_CSV_WINDOW] = "invalid_window",
	    [BILLING_CSV_SERVICE] = "invalid_service",
	    [BILLING_CSV_TEXT] = "invalid_text",
	    [BILLING_CSV_DUPLICATE] = "duplicate_prefix",
	    [BILLING_CSV_TOO_MANY_ROWS] = "too_many_rows",
	};
	if ((size_t)kind < sizeof(codes) / sizeof(codes[0]) && codes[kind])
		return codes[kind];
	return "invalid";
}
