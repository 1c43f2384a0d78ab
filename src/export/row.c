/*
 * row.c — one store row as the JSON object BigQuery reads, for a load
 * file's line (NEWLINE_DELIMITED_JSON) and an insertAll row's "json" alike:
 * TIMESTAMP as RFC 3339 UTC with milliseconds, NUMERIC as an exact decimal
 * string from integer micro-units (principle 4: no floating point), INTEGER
 * as a JSON number, NULL left out (a missing NULLABLE field is NULL).
 */
#include <errno.h>
#include <inttypes.h>

#include "export/export_private.h"

/* micro-units as "-12.345678" */
static int row_numeric(int64_t micros, struct buf *out)
{
	uint64_t m = micros < 0 ? (uint64_t)0 - (uint64_t)micros : (uint64_t)micros;

	return buf_printf(out, "\"%s%" PRIu64 ".%06" PRIu64 "\"", micros < 0 ? "-" : "",
			  m / 1000000u, m % 1000000u);
}

static int row_value(const struct export_column *c, const struct store_res *r, size_t row,
		     size_t col, struct buf *out)
{
	char ts[32];

	switch (c->kind) {
	case EXPORT_K_STRING:
		if (buf_append_char(out, '"') < 0 ||
		    buf_append_json_escaped(out, str_from_cstr(store_res_text(r, row, col))) < 0)
			return -ENOMEM;
		return buf_append_char(out, '"');
	case EXPORT_K_INT64:
		return buf_printf(out, "%" PRId64, store_res_int(r, row, col));
	case EXPORT_K_TIMESTAMP:
		if (time_format_rfc3339(store_res_int(r, row, col), ts, sizeof(ts)) < 0)
			return -EINVAL;
		return buf_printf(out, "\"%s\"", ts);
	case EXPORT_K_NUMERIC:
		return row_numeric(store_res_int(r, row, col), out);
	}
	return -EINVAL;
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
		if (buf_printf(out, "%s\"%s\":", first ? "" : ",", t->cols[i].name) < 0 ||
		    row_value(&t->cols[i], r, row, col, out) < 0)
			return -ENOMEM;
		first = false;
	}
	return buf_append_char(out, '}') < 0 ? -ENOMEM : 0;
}
