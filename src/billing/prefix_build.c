/*
 * prefix_build.c — building the prefix index from a deck's rows, once.
 *
 * The rows of one service are checked, sorted by (prefix key, effective
 * from) and laid out as the arrays prefix_private.h describes; each key's
 * parent comes from one pass with a stack, since the sorted keys are the
 * prefix tree in depth-first order.  Destination and zone names repeat over
 * thousands of rows, so each distinct string is stored once.  All the work
 * happens here, on the thread that builds a snapshot, never on a lookup.
 */
#include "prefix_private.h"

#include <stdlib.h>
#include <string.h>

struct px_sort {
	uint64_t hi;
	uint32_t lo;
	uint32_t src; /* index in the caller's rows */
	int64_t from;
};

static int px_sort_cmp(const void *pa, const void *pb)
{
	const struct px_sort *a = pa, *b = pb;
	int c = px_key_cmp(a->hi, a->lo, b->hi, b->lo);

	if (c)
		return c;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return a->src < b->src ? -1 : a->src > b->src;
}

static int px_row_check(const struct billing_rate *r)
{
	size_t len = strnlen(r->prefix, sizeof(r->prefix));

	if (len > BILLING_PREFIX_MAX)
		return BILLING_PREFIX_DIGITS; /* not terminated */
	for (size_t i = 0; i < len; i++)
		if (r->prefix[i] < '0' || r->prefix[i] > '9')
			return BILLING_PREFIX_DIGITS;
	if (r->effective_to != 0 && r->effective_to <= r->effective_from)
		return BILLING_PREFIX_WINDOW;
	if (billing_rate_check(r))
		return BILLING_PREFIX_RATE;
	return 0;
}

/* The checked rows of service svc, sorted; *m of them. */
static int px_collect(const struct billing_rate *rows, size_t n, enum billing_service svc,
		      struct px_sort **out, size_t *m, size_t *bad_row)
{
	struct px_sort *s;
	size_t k = 0;
	int rc;

	if (n > BILLING_PREFIX_ROWS_MAX)
		return BILLING_PREFIX_TOO_MANY;
	s = malloc((n ? n : 1) * sizeof(*s));
	if (!s)
		return BILLING_PREFIX_NOMEM;
	for (size_t i = 0; i < n; i++) {
		if (rows[i].service != svc)
			continue;
		rc = px_row_check(&rows[i]);
		if (rc) {
			*bad_row = i;
			free(s);
			return rc;
		}
		px_key_encode(rows[i].prefix, strlen(rows[i].prefix), &s[k].hi, &s[k].lo);
		s[k].src = (uint32_t)i;
		s[k].from = rows[i].effective_from;
		k++;
	}
	qsort(s, k, sizeof(*s), px_sort_cmp);
	*out = s;
	*m = k;
	return 0;
}

/* Rows of one prefix are sorted by start: each must end by the next's. */
static int px_check_overlaps(const struct billing_rate *rows, const struct px_sort *s, size_t m,
			     size_t *bad_row)
{
	for (size_t i = 1; i < m; i++) {
		int64_t to = rows[s[i - 1].src].effective_to;
		if (px_key_cmp(s[i - 1].hi, s[i - 1].lo, s[i].hi, s[i].lo) == 0 &&
		    (to == 0 || to > s[i].from)) {
			*bad_row = s[i].src;
			return BILLING_PREFIX_OVERLAP;
		}
	}
	return 0;
}

/* Distinct keys and where their rows start. */
static int px_fill_keys(struct billing_prefix_index *ix, const struct px_sort *s, size_t m)
{
	size_t k = 0;

	ix->keys = malloc((m ? m : 1) * sizeof(*ix->keys));
	ix->first = malloc((m + 1) * sizeof(*ix->first));
	if (!ix->keys || !ix->first)
		return BILLING_PREFIX_NOMEM;
	for (size_t i = 0; i < m; i++) {
		if (i && px_key_cmp(s[i - 1].hi, s[i - 1].lo, s[i].hi, s[i].lo) == 0)
			continue;
		ix->keys[k] = (struct px_key){.hi = s[i].hi, .lo = s[i].lo, .parent = PX_NONE};
		ix->first[k++] = (uint32_t)i;
	}
	ix->first[k] = (uint32_t)m;
	ix->nkeys = k;
	ix->nrows = m;
	return 0;
}

/* In sorted order a key's ancestors are exactly the keys still on the
 * stack once those that are not its prefix are popped; 25 levels at most
 * (the empty prefix and 24 digits). */
static void px_link_parents(struct billing_prefix_index *ix)
{
	uint32_t stack[BILLING_PREFIX_MAX + 1];
	size_t depth = 0;

	for (uint32_t i = 0; i < ix->nkeys; i++) {
		struct px_key *k = &ix->keys[i];
		while (depth && !px_key_is_prefix(&ix->keys[stack[depth - 1]], k->hi, k->lo))
			depth--;
		k->parent = depth ? stack[depth - 1] : PX_NONE;
		stack[depth++] = i;
	}
}

/* lead[b] = the first key >= the key of the PX_LEAD_DIGITS digits of b:
 * one merge of the 10^4 values with the sorted keys. */
static int px_fill_lead(struct billing_prefix_index *ix)
{
	uint32_t k = 0;

	if (ix->nkeys < PX_LEAD_MIN_KEYS)
		return 0;
	ix->lead = malloc((PX_LEAD_N + 1) * sizeof(*ix->lead));
	if (!ix->lead)
		return BILLING_PREFIX_NOMEM;
	for (unsigned b = 0; b < PX_LEAD_N; b++) {
		char d[PX_LEAD_DIGITS];
		uint64_t hi;
		uint32_t lo;
		for (int i = PX_LEAD_DIGITS - 1, v = (int)b; i >= 0; i--, v /= 10)
			d[i] = (char)('0' + v % 10);
		px_key_encode(d, PX_LEAD_DIGITS, &hi, &lo);
		while (k < ix->nkeys && px_key_cmp(ix->keys[k].hi, ix->keys[k].lo, hi, lo) < 0)
			k++;
		ix->lead[b] = k;
	}
	ix->lead[PX_LEAD_N] = (uint32_t)ix->nkeys;
	return 0;
}

/* ------------------------------------------------------------- strings */

struct px_intern {
	char *pool;
	size_t len, cap;
	uint32_t *slots; /* offset + 1; 0 is empty */
	size_t nslots, count;
};

static uint64_t px_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int px_intern_grow(struct px_intern *in)
{
	size_t n = in->nslots ? in->nslots * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return BILLING_PREFIX_NOMEM;
	for (size_t i = 0; i < in->nslots; i++) {
		uint32_t v = in->slots[i];
		size_t j;
		if (!v)
			continue;
		for (j = px_hash(in->pool + v - 1) & (n - 1); slots[j]; j = (j + 1) & (n - 1))
			;
		slots[j] = v;
	}
	free(in->slots);
	in->slots = slots;
	in->nslots = n;
	return 0;
}

static int px_intern_append(struct px_intern *in, const char *s, size_t len)
{
	if (in->len + len + 1 > in->cap) {
		size_t cap = in->cap ? in->cap : 4096;
		char *p;
		while (cap < in->len + len + 1)
			cap *= 2;
		if (cap >= PX_NONE)
			return BILLING_PREFIX_NOMEM; /* offsets are 32 bits */
		p = realloc(in->pool, cap);
		if (!p)
			return BILLING_PREFIX_NOMEM;
		in->pool = p;
		in->cap = cap;
	}
	memcpy(in->pool + in->len, s, len + 1);
	in->len += len + 1;
	return 0;
}

/* The offset of s in the pool, added when new; PX_NONE for NULL. */
static int px_intern(struct px_intern *in, const char *s, uint32_t *off)
{
	size_t j, len;
	int rc;

	if (!s) {
		*off = PX_NONE;
		return 0;
	}
	if ((in->count + 1) * 2 > in->nslots && (rc = px_intern_grow(in)))
		return rc;
	for (j = px_hash(s) & (in->nslots - 1); in->slots[j]; j = (j + 1) & (in->nslots - 1)) {
		if (strcmp(in->pool + in->slots[j] - 1, s) == 0) {
			*off = in->slots[j] - 1;
			return 0;
		}
	}
	len = strlen(s);
	*off = (uint32_t)in->len;
	if ((rc = px_intern_append(in, s, len)))
		return rc;
	in->slots[j] = *off + 1;
	in->count++;
	return 0;
}

/* ---------------------------------------------------------------- rows */

static int px_fill_rows(struct billing_prefix_index *ix, const struct billing_rate *rows,
			const struct px_sort *s)
{
	struct px_intern in = {0};
	int rc = 0;

	ix->rows = malloc((ix->nrows ? ix->nrows : 1) * sizeof(*ix->rows));
	if (!ix->rows)
		return BILLING_PREFIX_NOMEM;
	for (size_t i = 0; i < ix->nrows && !rc; i++) {
		const struct billing_rate *r = &rows[s[i].src];
		struct px_row *o = &ix->rows[i];
		*o = (struct px_row){.rate = r->rate,
				     .connection_fee = r->connection_fee,
				     .effective_from = r->effective_from,
				     .effective_to = r->effective_to,
				     .initial_s = r->initial_s,
				     .increment_s = r->increment_s,
				     .min_duration_s = r->min_duration_s};
		rc = px_intern(&in, r->destination, &o->destination);
		if (!rc)
			rc = px_intern(&in, r->zone, &o->zone);
	}
	free(in.slots);
	/* The pool is kept exactly as long as it is used. */
	ix->strings = in.len ? realloc(in.pool, in.len) : in.pool;
	if (!ix->strings)
		ix->strings = in.pool;
	ix->strings_len = in.len;
	return rc;
}

int billing_prefix_build(const struct billing_rate *rows, size_t n, enum billing_service svc,
			 struct billing_prefix_index **out, size_t *bad_row)
{
	struct billing_prefix_index *ix = NULL;
	struct px_sort *s = NULL;
	size_t m = 0, bad = 0;
	int rc;

	*out = NULL;
	rc = px_collect(rows, n, svc, &s, &m, &bad);
	if (!rc)
		rc = px_check_overlaps(rows, s, m, &bad);
	if (rc)
		goto fail;
	ix = calloc(1, sizeof(*ix));
	if (!ix) {
		rc = BILLING_PREFIX_NOMEM;
		goto fail;
	}
	ix->service = svc;
	if ((rc = px_fill_keys(ix, s, m)))
		goto fail;
	px_link_parents(ix);
	if ((rc = px_fill_lead(ix)) || (rc = px_fill_rows(ix, rows, s)))
		goto fail;
	free(s);
	*out = ix;
	return 0;
fail:
	if (bad_row)
		*bad_row = bad;
	billing_prefix_free(ix);
	free(s);
	return rc;
}
