/*
 * fuzz_tendlc_csv.c — libFuzzer target for the lines of an opt-out import
 * (POST /api/v1/opt-out-imports): tendlc_csv_next must consume the whole
 * input, one line a call, stay inside it, and hand back fields that lie
 * within it and hold only what a row may (E.164 numbers).  The same input
 * read as a portability import (tendlc_prefix_csv_next, "prefix,carrier")
 * must do the same with 1 to 15 digits and a known carrier.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tendlc/tendlc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void within(struct str f, const uint8_t *data, size_t size)
{
	if (f.len && (f.p < (const char *)data || f.p + f.len > (const char *)data + size))
		abort();
}

static void prefixes(const uint8_t *data, size_t size)
{
	struct str rest = {(const char *)data, size};
	struct tendlc_prefix_row row;
	size_t line = 0, calls = 0;
	enum tendlc_csv_result r;

	while ((r = tendlc_prefix_csv_next(&rest, &line, &row)) != TENDLC_CSV_END) {
		if (++calls > size + 1 || line != calls)
			abort();
		if (r != TENDLC_CSV_ROW)
			continue;
		within(row.prefix, data, size);
		if (row.prefix.len < 1 || row.prefix.len > 15 || row.carrier >= TENDLC_CARRIERS)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str rest = {(const char *)data, size};
	struct tendlc_csv_row row;
	size_t line = 0, calls = 0;
	enum tendlc_csv_result r;

	while ((r = tendlc_csv_next(&rest, &line, &row)) != TENDLC_CSV_END) {
		if (++calls > size + 1 || line != calls)
			abort(); /* every call takes a line */
		if (r != TENDLC_CSV_ROW)
			continue;
		within(row.number, data, size);
		within(row.recipient, data, size);
		within(row.brand_id, data, size);
		if (row.number.len < 7 || row.recipient.len < 7 || row.line != line)
			abort();
	}
	prefixes(data, size);
	return 0;
}
