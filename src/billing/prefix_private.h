/*
 * prefix_private.h — the layout of the prefix index, shared by its builder
 * (prefix_build.c) and its reader (prefix.c) and nobody else.
 *
 * A prefix of up to 24 digits is a 96-bit key: digit i is the nibble d + 1
 * at position i from the top (hi holds digits 0-15, lo digits 16-23), unused
 * nibbles 0.  Comparing keys as (hi, lo) then orders them exactly as the
 * digit strings sort, a prefix before every extension of it, so the keys
 * are one sorted array.  Each key also records its parent: the longest
 * other key that is a prefix of it.  The longest prefix of a number is then
 * the greatest key <= the number's own key or one of that key's parents
 * (every key that is a prefix of the number lies between it and the
 * number, hence is a prefix of that greatest key too): one binary search
 * and a walk of at most 24 parents.
 *
 * A large index also has a table by the number's first PX_LEAD_DIGITS
 * digits: lead[b] is the first key >= the key of those digits b, so the
 * floor of any number starting with b lies in lead[b] - 1 .. lead[b + 1] - 1
 * and the binary search runs over that range only (decision 0033 measured
 * it: most of the cost was the first dozen steps' cache misses).
 */
#ifndef WARP_BILLING_PREFIX_PRIVATE_H
#define WARP_BILLING_PREFIX_PRIVATE_H

#include "billing.h"

#define PX_NONE UINT32_MAX /* no parent; no string */
#define PX_LEAD_DIGITS 4
#define PX_LEAD_N 10000	      /* 10^PX_LEAD_DIGITS */
#define PX_LEAD_MIN_KEYS 4096 /* smaller indexes search the whole array */

struct px_key {
	uint64_t hi;
	uint32_t lo;
	uint32_t parent; /* index of the longest key that is a prefix of this one */
};

/* One row, prefix and service implied by where it sits. */
struct px_row {
	int64_t rate;
	int64_t connection_fee;
	int64_t effective_from;
	int64_t effective_to;
	int32_t initial_s;
	int32_t increment_s;
	int32_t min_duration_s;
	uint32_t destination; /* offset into strings, or PX_NONE */
	uint32_t zone;
};

struct billing_prefix_index {
	enum billing_service service;
	size_t nkeys;
	size_t nrows;
	struct px_key *keys; /* sorted */
	uint32_t *first;     /* nkeys + 1: rows of key i are first[i] .. first[i + 1] - 1 */
	struct px_row *rows; /* per key by effective_from, windows disjoint */
	uint32_t *lead;	     /* PX_LEAD_N + 1 entries, or NULL */
	char *strings;	     /* NUL-terminated destination and zone names, each once */
	size_t strings_len;
};

/* Encodes up to 24 digits of s (digits only, already checked). */
static inline void px_key_encode(const char *s, size_t len, uint64_t *hi, uint32_t *lo)
{
	*hi = 0;
	*lo = 0;
	for (size_t i = 0; i < len && i < BILLING_PREFIX_MAX; i++) {
		uint64_t nib = (uint64_t)(s[i] - '0' + 1);
		if (i < 16)
			*hi |= nib << (60 - 4 * i);
		else
			*lo |= (uint32_t)nib << (28 - 4 * (i - 16));
	}
}

static inline size_t px_key_len(uint64_t hi, uint32_t lo)
{
	if (lo)
		return 24 - (size_t)__builtin_ctz(lo) / 4;
	if (hi)
		return 16 - (size_t)__builtin_ctzll(hi) / 4;
	return 0;
}

static inline int px_key_cmp(uint64_t ahi, uint32_t alo, uint64_t bhi, uint32_t blo)
{
	if (ahi != bhi)
		return ahi < bhi ? -1 : 1;
	if (alo != blo)
		return alo < blo ? -1 : 1;
	return 0;
}

/* Whether key k is a prefix of key n (equal counts). */
static inline bool px_key_is_prefix(const struct px_key *k, uint64_t nhi, uint32_t nlo)
{
	size_t len = px_key_len(k->hi, k->lo);
	uint64_t mhi = len >= 16 ? UINT64_MAX : len ? UINT64_MAX << (64 - 4 * len) : 0;
	uint32_t mlo = len > 16 ? UINT32_MAX << (32 - 4 * (len - 16)) : 0;

	return (nhi & mhi) == k->hi && (nlo & mlo) == k->lo;
}

#endif
