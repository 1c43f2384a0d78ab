/*
 * prefixbench.c — times the rating prefix index (src/billing/prefix*.c):
 * building it from a random deck of N distinct prefixes and looking up M
 * numbers in it, and the same lookups in the two structures decision 0033
 * weighed against its sorted array with parent links: a plain digit trie
 * (ten children a node) and one sorted array per prefix length, searched
 * longest length first (keys only, no rows or windows, for scale).
 *
 *   build/bench/prefixbench [rows [lookups [seed]]]    (1000000 1000000 1)
 *
 * Prints one line per structure, each time the best of REPEAT runs (the
 * machine is shared); docs/BENCHMARKS.md and decision 0033 record what it
 * printed.  Deterministic for a seed.  Numbers: half start
 * with a prefix of the deck, half are random digits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing.h"

#define REPEAT 5

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct billing_rate *)a)->prefix,
		      ((const struct billing_rate *)b)->prefix);
}

/* n distinct prefixes of 1 to 12 digits behind a few country codes, in a
 * random order, with 500 destination names among them. */
static struct billing_rate *deck_make(size_t n, uint64_t *seed, size_t *got)
{
	static const char *cc[] = {"1", "44", "49", "33", "7", "86", "234", "55", "91", "61"};
	static char names[500][32];
	size_t cand = 2 * n + 16, k = 0;
	struct billing_rate *r = calloc(cand, sizeof(*r));

	if (!r)
		return NULL;
	for (int i = 0; i < 500; i++)
		snprintf(names[i], sizeof(names[i]), "Destination %d", i);
	for (size_t i = 0; i < cand; i++) {
		const char *c = cc[lcg(seed) % 10];
		size_t clen = strlen(c), len = clen + lcg(seed) % 11;
		r[i] = (struct billing_rate){.service = BILLING_VOICE,
					     .destination = names[lcg(seed) % 500],
					     .zone = names[lcg(seed) % 20],
					     .rate = (int64_t)(lcg(seed) % 1000000),
					     .initial_s = 60,
					     .increment_s = 60,
					     .prefix = {0}};
		memcpy(r[i].prefix, c, clen);
		for (size_t j = clen; j < len; j++)
			r[i].prefix[j] = (char)('0' + lcg(seed) % 10);
	}
	qsort(r, cand, sizeof(*r), row_cmp);
	for (size_t i = 0; i < cand; i++)
		if (!k || strcmp(r[k - 1].prefix, r[i].prefix))
			r[k++] = r[i];
	k = k < n ? k : n;
	for (size_t i = k - 1; i > 0; i--) { /* the importer's order is not sorted */
		size_t j = lcg(seed) % (i + 1);
		struct billing_rate t = r[i];
		r[i] = r[j];
		r[j] = t;
	}
	*got = k;
	return r;
}

static char (*numbers_make(const struct billing_rate *rows, size_t n, size_t m, uint64_t *seed))[16]
{
	char(*num)[16] = calloc(m, sizeof(*num));

	for (size_t i = 0; num && i < m; i++) {
		size_t len = 0;
		if (i % 2) {
			const char *p = rows[lcg(seed) % n].prefix;
			len = strlen(p);
			memcpy(num[i], p, len);
		}
		while (len < 12)
			num[i][len++] = (char)('0' + lcg(seed) % 10);
		num[i][len] = '\0';
	}
	return num;
}

/* ------------------------------------------------- the trie, for scale */

struct trie {
	uint32_t (*child)[10]; /* 0 = none; node 0 is the root */
	uint32_t *row;	       /* 1 + the row at this node, 0 = none */
	size_t n, cap;
};

static int trie_add(struct trie *t, const char *p, uint32_t row)
{
	uint32_t node = 0;

	for (; *p; p++) {
		uint32_t *c = &t->child[node][*p - '0'];
		if (!*c) {
			if (t->n == t->cap)
				return -1;
			*c = (uint32_t)t->n++;
		}
		node = *c;
	}
	t->row[node] = row + 1;
	return 0;
}

static uint32_t trie_find(const struct trie *t, const char *num)
{
	uint32_t node = 0, best = t->row[0];

	for (; *num >= '0' && *num <= '9'; num++) {
		node = t->child[node][*num - '0'];
		if (!node)
			break;
		if (t->row[node])
			best = t->row[node];
	}
	return best;
}

static void bench_trie(const struct billing_rate *rows, size_t n, char (*num)[16], size_t m)
{
	struct trie t = {.cap = n * 13 + 1};
	double t0, t1, t2, best;
	uint64_t sum = 0;

	t.child = calloc(t.cap, sizeof(*t.child));
	t.row = calloc(t.cap, sizeof(*t.row));
	t.n = 1;
	if (!t.child || !t.row)
		goto out;
	t0 = now_s();
	for (size_t i = 0; i < n; i++)
		if (trie_add(&t, rows[i].prefix, (uint32_t)i))
			goto out;
	t1 = now_s();
	best = 1e9;
	for (int r = 0; r < REPEAT; r++) {
		double a = now_s(), d;
		for (size_t i = 0; i < m; i++)
			sum += trie_find(&t, num[i]);
		d = now_s() - a;
		best = d < best ? d : best;
	}
	t2 = t1 + best;
	printf(
	    "trie: %zu prefixes, %zu nodes, %zu bytes (%.1f per prefix, keys only), build %.3f s, "
	    "%zu lookups %.3f s (%.0f ns each) [%llu]\n",
	    n, t.n, t.n * (sizeof(*t.child) + sizeof(*t.row)),
	    (double)(t.n * (sizeof(*t.child) + sizeof(*t.row))) / (double)n, t1 - t0, m, t2 - t1,
	    (t2 - t1) * 1e9 / (double)m, (unsigned long long)sum);
out:
	free(t.child);
	free(t.row);
}

/* Best of REPEAT builds, the last one kept. */
static int index_build(const struct billing_rate *rows, size_t n, struct billing_prefix_index **ix,
		       double *secs)
{
	*secs = 1e9;
	*ix = NULL;
	for (int r = 0; r < REPEAT; r++) {
		double a = now_s(), d;
		int rc;
		billing_prefix_free(*ix);
		rc = billing_prefix_build(rows, n, BILLING_VOICE, ix, NULL);
		d = now_s() - a;
		if (rc) {
			fprintf(stderr, "prefixbench: build: %s\n", billing_prefix_strerror(rc));
			return 1;
		}
		*secs = d < *secs ? d : *secs;
	}
	return 0;
}

/* ------------------------------------- one sorted array per length */

#define BYLEN_MAX 14 /* the bench's prefixes have at most 13 digits */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool bylen_has(const uint64_t *a, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;
		if (a[m] < v)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < n && a[lo] == v;
}

static void bench_bylen(const struct billing_rate *rows, size_t n, char (*num)[16], size_t m)
{
	uint64_t *arr[BYLEN_MAX] = {0};
	size_t cnt[BYLEN_MAX] = {0}, hits = 0;
	double t0 = now_s(), t1, best = 1e9;

	for (size_t i = 0; i < n; i++)
		cnt[strlen(rows[i].prefix)]++;
	for (int l = 0; l < BYLEN_MAX; l++)
		arr[l] = malloc((cnt[l] ? cnt[l] : 1) * sizeof(uint64_t));
	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rows[i].prefix);
		arr[l][cnt[l]++] = strtoull(rows[i].prefix, NULL, 10);
	}
	for (int l = 0; l < BYLEN_MAX; l++)
		qsort(arr[l], cnt[l], sizeof(uint64_t), u64_cmp);
	t1 = now_s();
	for (int r = 0; r < REPEAT; r++) {
		double a = now_s(), d;
		hits = 0;
		for (size_t i = 0; i < m; i++) {
			uint64_t v[BYLEN_MAX] = {0};
			for (int l = 1; l < BYLEN_MAX; l++)
				v[l] = v[l - 1] * 10 + (uint64_t)(num[i][l - 1] - '0');
			for (int l = BYLEN_MAX - 1; l >= 0; l--)
				if (cnt[l] && bylen_has(arr[l], cnt[l], v[l])) {
					hits++;
					break;
				}
		}
		d = now_s() - a;
		best = d < best ? d : best;
	}
	printf("by length: %zu prefixes, %zu bytes (%.1f per prefix, keys only), build %.3f s, "
	       "%zu lookups %.3f s (%.0f ns each, %zu matched)\n",
	       n, n * sizeof(uint64_t), (double)sizeof(uint64_t), t1 - t0, m, best,
	       best * 1e9 / (double)m, hits);
	for (int l = 0; l < BYLEN_MAX; l++)
		free(arr[l]);
}

static int bench_index(const struct billing_rate *rows, size_t n, char (*num)[16], size_t m)
{
	struct billing_prefix_index *ix;
	struct billing_prefix_stats st;
	struct billing_rate out;
	double build, best = 1e9;
	size_t hits = 0;

	if (index_build(rows, n, &ix, &build))
		return 1;
	billing_prefix_stats(ix, &st);
	for (int r = 0; r < REPEAT; r++) {
		double a = now_s(), d;
		hits = 0;
		for (size_t i = 0; i < m; i++)
			hits += billing_prefix_lookup(ix, (struct str){num[i], strlen(num[i])}, 0,
						      &out);
		d = now_s() - a;
		best = d < best ? d : best;
	}
	printf("index: %zu prefixes, %zu bytes (%.1f per prefix), build %.3f s (%.0f rows/s), "
	       "%zu lookups %.3f s (%.0f ns each, %zu matched)\n",
	       st.prefixes, st.bytes, (double)st.bytes / (double)st.prefixes, build,
	       (double)n / build, m, best, best * 1e9 / (double)m, hits);
	billing_prefix_free(ix);
	return 0;
}

int main(int argc, char **argv)
{
	size_t want = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	size_t m = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	struct billing_rate *rows;
	char(*num)[16];
	size_t n = 0;
	int rc;

	if (!want || !m) {
		fprintf(stderr, "usage: prefixbench [rows [lookups [seed]]]\n");
		return 2;
	}
	rows = deck_make(want, &seed, &n);
	num = rows ? numbers_make(rows, n, m, &seed) : NULL;
	if (!num) {
		fprintf(stderr, "prefixbench: out of memory\n");
		free(rows);
		return 1;
	}
	rc = bench_index(rows, n, num, m);
	bench_trie(rows, n, num, m);
	bench_bylen(rows, n, num, m);
	free(num);
	free(rows);
	return rc;
}
