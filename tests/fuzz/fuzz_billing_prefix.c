/*
 * fuzz_billing_prefix.c — libFuzzer target for the dialled number a prefix
 * lookup reads (billing_prefix_lookup: '+', digits, anything after them),
 * over a fixed deck of nested, sibling, windowed and 24-digit prefixes and
 * 5,000 more, so that the index has its table by the first four digits.
 * Whatever the bytes, the answer must be the one a brute-force scan of the
 * deck gives for the same digits; otherwise abort.  The first 8 bytes, when
 * there are 8, choose the lookup time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	const char *prefix;
	int64_t from, to;
} deck[] = {
    {"1", 0, 0},
    {"12", 0, 0},
    {"123", 0, 0},
    {"1234", 100, 200},
    {"1234", 200, 0},
    {"129", 0, 0},
    {"4", 0, 50},
    {"44", 0, 0},
    {"447", 10, 0},
    {"0", 0, 0},
    {"00", 0, 0},
    {"9999999999999999", 0, 0},
    {"99999999999999999", 0, 0},
    {"123456789012345678901234", 0, 0},
};
#define NDECK (sizeof(deck) / sizeof(deck[0]))

#define NFILL 5000
#define NROWS (NDECK + NFILL)

static struct billing_rate rows[NROWS]; /* filled once, read only after */

static const char *brute_force(const char *digits, int64_t t)
{
	const char *best = NULL;
	for (size_t i = 0; i < NROWS; i++) {
		const struct billing_rate *r = &rows[i];
		size_t len = strlen(r->prefix);
		if (strncmp(r->prefix, digits, len) || r->effective_from > t ||
		    (r->effective_to && t >= r->effective_to))
			continue;
		if (!best || len > strlen(best))
			best = r->prefix;
	}
	return best;
}

static struct billing_prefix_index *index_get(void)
{
	static struct billing_prefix_index *ix; /* built once, read only after */

	if (ix)
		return ix;
	for (size_t i = 0; i < NROWS; i++) {
		rows[i] = (struct billing_rate){
		    .service = BILLING_VOICE, .rate = (int64_t)i, .initial_s = 1, .increment_s = 1};
		if (i < NDECK) {
			rows[i].effective_from = deck[i].from;
			rows[i].effective_to = deck[i].to;
			snprintf(rows[i].prefix, sizeof(rows[i].prefix), "%s", deck[i].prefix);
		} else {
			snprintf(rows[i].prefix, sizeof(rows[i].prefix), "5%05zu", (i - NDECK) * 7);
		}
	}
	if (billing_prefix_build(rows, NROWS, BILLING_VOICE, &ix, NULL))
		abort();
	return ix;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct billing_prefix_index *ix = index_get();
	char digits[32];
	size_t i = 0, n = 0;
	int64_t t = 150;
	struct billing_rate out;
	const char *want;
	bool found;

	if (size >= 8) {
		memcpy(&t, data, 8);
		t %= 300; /* around the windows above */
		data += 8;
		size -= 8;
	}
	found = billing_prefix_lookup(ix, (struct str){(const char *)data, size}, t, &out);
	/* the reference reads the number as the header says: '+', digits */
	if (size && data[0] == '+')
		i = 1;
	for (; i < size && n < BILLING_PREFIX_MAX && data[i] >= '0' && data[i] <= '9'; i++)
		digits[n++] = (char)data[i];
	digits[n] = '\0';
	want = brute_force(digits, t);
	if (found != (want != NULL) || (want && strcmp(out.prefix, want)))
		abort();
	return 0;
}
