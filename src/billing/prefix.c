/*
 * prefix.c — reading the prefix index: which deck row rates a number at a
 * given time.  The layout, and why a sorted array with parent links finds
 * the longest prefix, is in prefix_private.h; building it in prefix_build.c.
 *
 * A lookup touches only the immutable arrays, so any number of threads may
 * look up in one index at once; it never allocates, locks or blocks.
 */
#include "prefix_private.h"

#include <stdlib.h>
#include <string.h>

/* The number's key: '+' skipped, digits up to the first non-digit, at most
 * the 24 a prefix can have (later digits cannot change the match).
 * Returns how many digits it took. */
static size_t px_number_key(struct str number, uint64_t *hi, uint32_t *lo)
{
	size_t i = 0, n;

	if (number.len && number.p[0] == '+')
		i = 1;
	for (n = i; n < number.len && n - i < BILLING_PREFIX_MAX; n++)
		if (number.p[n] < '0' || number.p[n] > '9')
			break;
	px_key_encode(number.p + i, n - i, hi, lo);
	return n - i;
}

/* The last key <= (hi, lo) in a .. b - 1, else a - 1 (PX_NONE below 0). */
static uint32_t px_floor_in(const struct billing_prefix_index *ix, size_t a, size_t b, uint64_t hi,
			    uint32_t lo)
{
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (px_key_cmp(ix->keys[m].hi, ix->keys[m].lo, hi, lo) <= 0)
			a = m + 1;
		else
			b = m;
	}
	return a ? (uint32_t)(a - 1) : PX_NONE;
}

/* The last key <= the number's key, narrowed by its first digits. */
static uint32_t px_floor(const struct billing_prefix_index *ix, uint64_t hi, uint32_t lo,
			 size_t ndigits)
{
	unsigned b = 0;

	if (!ix->lead || ndigits < PX_LEAD_DIGITS)
		return px_floor_in(ix, 0, ix->nkeys, hi, lo);
	for (int i = 0; i < PX_LEAD_DIGITS; i++)
		b = b * 10 + (unsigned)((hi >> (60 - 4 * i)) & 15) - 1;
	return px_floor_in(ix, ix->lead[b], ix->lead[b + 1], hi, lo);
}

/* The row of key k in force at t: windows are disjoint and sorted, so the
 * last row starting at or before t is the only candidate. */
static const struct px_row *px_row_at(const struct billing_prefix_index *ix, uint32_t k, int64_t t)
{
	for (uint32_t i = ix->first[k + 1]; i > ix->first[k]; i--) {
		const struct px_row *r = &ix->rows[i - 1];
		if (r->effective_from <= t)
			return r->effective_to == 0 || t < r->effective_to ? r : NULL;
	}
	return NULL;
}

static void px_key_decode(const struct px_key *k, char *out)
{
	size_t len = px_key_len(k->hi, k->lo);

	for (size_t i = 0; i < len; i++) {
		unsigned nib = i < 16 ? (unsigned)(k->hi >> (60 - 4 * i)) & 15
				      : (unsigned)(k->lo >> (28 - 4 * (i - 16))) & 15;
		out[i] = (char)('0' + nib - 1);
	}
	out[len] = '\0';
}

static const char *px_string(const struct billing_prefix_index *ix, uint32_t off)
{
	return off == PX_NONE ? NULL : ix->strings + off;
}

static void px_row_fill(const struct billing_prefix_index *ix, uint32_t k, const struct px_row *r,
			struct billing_rate *out)
{
	px_key_decode(&ix->keys[k], out->prefix);
	out->service = ix->service;
	out->destination = px_string(ix, r->destination);
	out->zone = px_string(ix, r->zone);
	out->rate = r->rate;
	out->connection_fee = r->connection_fee;
	out->initial_s = r->initial_s;
	out->increment_s = r->increment_s;
	out->min_duration_s = r->min_duration_s;
	out->effective_from = r->effective_from;
	out->effective_to = r->effective_to;
}

/* hot path: no allocation, no locks, no I/O */
bool billing_prefix_lookup(const struct billing_prefix_index *ix, struct str number, int64_t t_ms,
			   struct billing_rate *out)
{
	uint64_t hi;
	uint32_t lo, k;
	size_t ndigits = px_number_key(number, &hi, &lo);

	/* At most 25 steps: each parent is a strictly shorter prefix. */
	for (k = px_floor(ix, hi, lo, ndigits); k != PX_NONE; k = ix->keys[k].parent) {
		const struct px_row *r;
		if (!px_key_is_prefix(&ix->keys[k], hi, lo))
			continue;
		r = px_row_at(ix, k, t_ms);
		if (r) {
			px_row_fill(ix, k, r, out);
			return true;
		}
	}
	return false;
}

void billing_prefix_stats(const struct billing_prefix_index *ix, struct billing_prefix_stats *st)
{
	st->prefixes = ix->nkeys;
	st->rows = ix->nrows;
	st->bytes = sizeof(*ix) + ix->nkeys * sizeof(*ix->keys) +
		    (ix->nkeys + 1) * sizeof(*ix->first) + ix->nrows * sizeof(*ix->rows) +
		    ix->strings_len + (ix->lead ? (PX_LEAD_N + 1) * sizeof(*ix->lead) : 0);
}

void billing_prefix_free(struct billing_prefix_index *ix)
{
	if (!ix)
		return;
	free(ix->keys);
	free(ix->first);
	free(ix->rows);
	free(ix->strings);
	free(ix->lead);
	free(ix);
}

const char *billing_prefix_strerror(int err)
{
	switch (err) {
	case BILLING_PREFIX_OK:
		return "ok";
	case BILLING_PREFIX_NOMEM:
		return "out of memory";
	case BILLING_PREFIX_DIGITS:
		return "prefix is not digits";
	case BILLING_PREFIX_WINDOW:
		return "effective_to is not after effective_from";
	case BILLING_PREFIX_OVERLAP:
		return "two rows of one prefix are in force at the same time";
	case BILLING_PREFIX_TOO_MANY:
		return "too many rows";
	case BILLING_PREFIX_DUPLICATE:
		return "one deck version given twice";
	case BILLING_PREFIX_RATE:
		return "row cannot be rated (negative price or increment below 1 s)";
	default:
		return "prefix index error";
	}
}
