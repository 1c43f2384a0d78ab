/*
 * fuzz_invoice_period.c — libFuzzer target for the period of an invoice run
 * (POST /api/v1/invoice-runs, `warp invoice run --period`): whatever
 * invoice_period_parse accepts is a real month, 28 to 31 days long, named as
 * it was given, that ends where the next month starts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoice/invoice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[16], next[16], day[16];
	struct invoice_period p, n;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (invoice_period_parse(text, &p) != 0)
		return 0;
	int64_t days = (p.end_ms - p.start_ms) / 86400000;
	if (strcmp(p.name, text) != 0 || days < 28 || days > 31 || p.start_ms % 86400000 != 0)
		abort();
	snprintf(next, sizeof(next), "%04d-%02d", p.month == 12 ? p.year + 1 : p.year,
		 p.month == 12 ? 1 : p.month + 1);
	if (p.year < 9999 || p.month < 12) {
		if (invoice_period_parse(next, &n) != 0 || n.start_ms != p.end_ms)
			abort();
	}
	invoice_period_last_day(&p, day, sizeof(day));
	if (strncmp(day, text, 7) != 0 || atoi(day + 8) != (int)days)
		abort();
	return 0;
}
