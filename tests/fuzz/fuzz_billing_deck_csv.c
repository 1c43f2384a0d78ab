/*
 * fuzz_billing_deck_csv.c — libFuzzer target for the rate-deck CSV reader
 * (src/billing/deck_csv.c, deck_row.c, deck_time.c): a carrier's file is
 * outside input.  Beyond not crashing, what it returns must hold together:
 * either rows and no error, or errors and no rows; errors sorted by line;
 * every kept row's prefix digits only and its views inside the input or
 * the deck's own copy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "billing/deck_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool view_inside(struct str v, const uint8_t *data, size_t size, const char *copy)
{
	if (v.len == 0)
		return true;
	const char *lo = (const char *)data;
	if (v.p >= lo && v.p + v.len <= lo + size)
		return true;
	return copy && v.p >= copy && v.p + v.len <= copy + size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct billing_csv d;
	int rc = billing_csv_parse((struct str){(const char *)data, size}, &d);

	if (rc == 0 && d.nerrors)
		abort();
	if (rc == -EINVAL && (d.nrows || !d.nerrors || d.nerrors > d.nerrors_total))
		abort();
	for (size_t i = 1; i < d.nerrors; i++)
		if (d.errors[i].line < d.errors[i - 1].line)
			abort();
	for (size_t i = 0; i < d.nrows; i++) {
		const struct billing_csv_row *r = &d.rows[i];
		size_t n = strlen(r->rate.prefix);
		if (n == 0 || strspn(r->rate.prefix, "0123456789") != n)
			abort();
		if (!view_inside(r->destination, data, size, d.unescaped) ||
		    !view_inside(r->zone, data, size, d.unescaped) || r->rate.rate < 0)
			abort();
	}
	billing_csv_fini(&d);
	return 0;
}
