/*
 * test_billing_prefix.c — src/billing/prefix.c and prefix_build.c: longest
 * prefix with nested, overlapping and sibling prefixes, the empty prefix,
 * keys past 16 digits, effective windows (a row changed mid-month), the
 * build's errors, and 100,000 random numbers against a brute-force
 * reference over a random 50,000-prefix deck.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"

#define DEC1 1795996800000  /* 2026-12-01T00:00:00Z */
#define DEC15 1797206400000 /* 2026-12-15 */
#define DEC20 1797638400000 /* 2026-12-20 */
#define DAY 86400000

static struct billing_rate row(const char *prefix, int64_t rate)
{
	struct billing_rate r = {.service = BILLING_VOICE,
				 .destination = "dest",
				 .zone = "zone",
				 .rate = rate,
				 .initial_s = 60,
				 .increment_s = 60};
	snprintf(r.prefix, sizeof(r.prefix), "%s", prefix);
	return r;
}

static struct billing_prefix_index *build(const struct billing_rate *rows, size_t n)
{
	struct billing_prefix_index *ix = NULL;
	size_t bad = 99;
	assert_int_equal(billing_prefix_build(rows, n, BILLING_VOICE, &ix, &bad), 0);
	assert_non_null(ix);
	return ix;
}

/* The rate of the row that matched, or -1 for none. */
static int64_t rate_of(const struct billing_prefix_index *ix, const char *number, int64_t t)
{
	struct billing_rate out;
	if (!billing_prefix_lookup(ix, (struct str){number, strlen(number)}, t, &out))
		return -1;
	return out.rate;
}

static void test_nested_and_siblings(void **state)
{
	const struct billing_rate rows[] = {
	    row("1", 1),     row("12", 12),	row("1234", 1234), row("123", 123), row("44", 44),
	    row("447", 447), row("4477", 4477), row("4479", 4479), row("13", 13),   row("129", 129),
	};
	struct billing_prefix_index *ix = build(rows, sizeof(rows) / sizeof(rows[0]));
	struct billing_prefix_stats st;

	(void)state;
	assert_int_equal(rate_of(ix, "12345", 0), 1234); /* the longest of four nested */
	assert_int_equal(rate_of(ix, "1234", 0), 1234);	 /* the number is the prefix */
	assert_int_equal(rate_of(ix, "1235", 0), 123);
	assert_int_equal(rate_of(ix, "1299", 0), 129);
	/* "1240" sorts after "1234" (the greatest key <= it) yet only "12" matches */
	assert_int_equal(rate_of(ix, "1240", 0), 12);
	assert_int_equal(rate_of(ix, "1300", 0), 13);
	assert_int_equal(rate_of(ix, "19", 0), 1);
	assert_int_equal(rate_of(ix, "4478", 0), 447);
	assert_int_equal(rate_of(ix, "44799", 0), 4479);
	assert_int_equal(rate_of(ix, "+447712345678", 0), 4477); /* '+' skipped */
	assert_int_equal(rate_of(ix, "44 77", 0), 44);		 /* ends at a non-digit */
	assert_int_equal(rate_of(ix, "2", 0), -1);		 /* no default row */
	assert_int_equal(rate_of(ix, "", 0), -1);
	assert_int_equal(rate_of(ix, "0", 0), -1);  /* below every key */
	assert_int_equal(rate_of(ix, "99", 0), -1); /* above every key */
	billing_prefix_stats(ix, &st);
	assert_int_equal(st.prefixes, 10);
	assert_int_equal(st.rows, 10);
	billing_prefix_free(ix);
}

static void test_empty_prefix_is_the_default(void **state)
{
	const struct billing_rate rows[] = {row("", 7), row("33", 33)};
	struct billing_prefix_index *ix = build(rows, 2);
	struct billing_rate out;

	(void)state;
	assert_int_equal(rate_of(ix, "2", 0), 7);
	assert_int_equal(rate_of(ix, "", 0), 7);
	assert_int_equal(rate_of(ix, "331", 0), 33);
	assert_true(billing_prefix_lookup(ix, (struct str){"9", 1}, 0, &out));
	assert_string_equal(out.prefix, "");
	billing_prefix_free(ix);
}

static void test_long_prefixes(void **state)
{
	/* 16 digits fill the first word of a key; 17 and 24 use the second. */
	const struct billing_rate rows[] = {
	    row("1234567890123456", 16),
	    row("12345678901234567", 17),
	    row("123456789012345678901234", 24),
	    row("0000000000000000", 160), /* zeros are digits, not padding */
	    row("00000000000000000", 170),
	};
	struct billing_prefix_index *ix = build(rows, 5);
	struct billing_rate out;

	(void)state;
	assert_int_equal(rate_of(ix, "1234567890123456", 0), 16);
	assert_int_equal(rate_of(ix, "12345678901234569", 0), 16);
	assert_int_equal(rate_of(ix, "123456789012345678", 0), 17);
	assert_int_equal(rate_of(ix, "1234567890123456789012345678", 0), 24); /* past 24 digits */
	assert_int_equal(rate_of(ix, "123456789012345", 0), -1);
	assert_int_equal(rate_of(ix, "000000000000000", 0), -1);
	assert_int_equal(rate_of(ix, "0000000000000000", 0), 160);
	assert_int_equal(rate_of(ix, "000000000000000000", 0), 170);
	assert_true(
	    billing_prefix_lookup(ix, (struct str){"123456789012345678901234", 24}, 0, &out));
	assert_string_equal(out.prefix, "123456789012345678901234");
	assert_true(billing_prefix_lookup(ix, (struct str){"00000000000000000", 17}, 0, &out));
	assert_string_equal(out.prefix, "00000000000000000");
	billing_prefix_free(ix);
}

/* Past 4096 prefixes the index narrows its search by the first 4 digits:
 * the ends of that table, numbers shorter than 4 digits, and prefixes
 * shorter than 4 digits that sort between the table's ranges. */
static void test_lead_table_edges(void **state)
{
	static const char *edge[] = {"0",   "0000", "00001", "13",   "1299",
				     "130", "9",    "99",    "9999", "99999"};
	size_t n = 5000 + sizeof(edge) / sizeof(edge[0]), k = 0;
	struct billing_rate *rows = calloc(n, sizeof(*rows));
	struct billing_prefix_index *ix;
	struct billing_prefix_stats st;

	(void)state;
	assert_non_null(rows);
	for (int i = 0; i < 5000; i++) {
		char p[8];
		snprintf(p, sizeof(p), "5%05d", i * 7);
		rows[k++] = row(p, 5);
	}
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		rows[k++] = row(edge[i], (int64_t)i + 100);
	ix = build(rows, n);
	billing_prefix_stats(ix, &st);
	assert_int_equal(st.prefixes, n);
	assert_int_equal(rate_of(ix, "00000", 0), 101);	 /* "0000" */
	assert_int_equal(rate_of(ix, "000012", 0), 102); /* "00001" */
	assert_int_equal(rate_of(ix, "0001", 0), 100);	 /* back to "0" */
	assert_int_equal(rate_of(ix, "00", 0), 100);	 /* shorter than the table */
	assert_int_equal(rate_of(ix, "12995", 0), 104);	 /* "1299" */
	assert_int_equal(rate_of(ix, "1300", 0), 105);	 /* "130", sorted before "1300" */
	assert_int_equal(rate_of(ix, "1399", 0), 103);	 /* "13" */
	assert_int_equal(rate_of(ix, "1200", 0), -1);
	assert_int_equal(rate_of(ix, "500007", 0), 5);
	assert_int_equal(rate_of(ix, "500008", 0), -1);
	assert_int_equal(rate_of(ix, "99999999", 0), 109); /* the last bucket */
	assert_int_equal(rate_of(ix, "99989", 0), 107);	   /* "99" */
	assert_int_equal(rate_of(ix, "8", 0), -1);
	billing_prefix_free(ix);
	free(rows);
}

static struct billing_rate windowed(const char *prefix, int64_t rate, int64_t from, int64_t to)
{
	struct billing_rate r = row(prefix, rate);
	r.effective_from = from;
	r.effective_to = to;
	return r;
}

/* "49" changes price on the 15th; "4930" only starts on the 20th; "4989"
 * ends on the 15th.  Each lookup sees the deck as it stood at t. */
static void test_effective_windows(void **state)
{
	const struct billing_rate rows[] = {
	    windowed("49", 12, DEC15, 0), /* given out of order on purpose */
	    windowed("49", 10, DEC1, DEC15),
	    windowed("4930", 30, DEC20, 0),
	    windowed("4989", 89, DEC1, DEC15),
	};
	struct billing_prefix_index *ix = build(rows, 4);
	struct billing_rate out;
	struct billing_prefix_stats st;

	(void)state;
	assert_int_equal(rate_of(ix, "4930123", DEC1 - 1), -1); /* before the deck */
	assert_int_equal(rate_of(ix, "4930123", DEC1), 10);	/* from is inclusive */
	assert_int_equal(rate_of(ix, "4930123", DEC15 - 1), 10);
	assert_int_equal(rate_of(ix, "4930123", DEC15), 12); /* to is exclusive */
	assert_int_equal(rate_of(ix, "4930123", DEC20 - 1), 12);
	assert_int_equal(rate_of(ix, "4930123", DEC20), 30); /* the new prefix */
	assert_int_equal(rate_of(ix, "4989000", DEC1 + DAY), 89);
	assert_int_equal(rate_of(ix, "4989000", DEC15 + DAY), 12); /* ended: back to "49" */
	assert_true(billing_prefix_lookup(ix, (struct str){"491", 3}, DEC1, &out));
	assert_int_equal(out.effective_from, DEC1);
	assert_int_equal(out.effective_to, DEC15);
	billing_prefix_stats(ix, &st);
	assert_int_equal(st.prefixes, 3);
	assert_int_equal(st.rows, 4);
	billing_prefix_free(ix);
}

static void test_build_errors(void **state)
{
	struct billing_rate rows[3] = {row("1", 1), row("12a", 2), row("3", 3)};
	struct billing_prefix_index *ix = (struct billing_prefix_index *)1;
	size_t bad = 99;

	(void)state;
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad),
			 BILLING_PREFIX_DIGITS);
	assert_null(ix);
	assert_int_equal(bad, 1);
	rows[1] = row("+1", 2);
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad),
			 BILLING_PREFIX_DIGITS);
	rows[1] = windowed("12", 2, DEC15, DEC15);
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad),
			 BILLING_PREFIX_WINDOW);
	assert_int_equal(bad, 1);
	/* one prefix in force twice over the 15th to the 20th */
	rows[0] = windowed("12", 1, DEC1, DEC20);
	rows[1] = windowed("12", 2, DEC15, 0);
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad),
			 BILLING_PREFIX_OVERLAP);
	assert_int_equal(bad, 1);
	rows[0] = windowed("12", 1, DEC1, 0); /* open-ended, then another */
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad),
			 BILLING_PREFIX_OVERLAP);
	rows[0] = windowed("12", 1, DEC1, DEC15); /* touching windows are fine */
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad), 0);
	billing_prefix_free(ix);
	rows[2].increment_s = 0;
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &ix, &bad),
			 BILLING_PREFIX_RATE);
	assert_int_equal(bad, 2);
	assert_string_equal(billing_prefix_strerror(BILLING_PREFIX_OVERLAP),
			    "two rows of one prefix are in force at the same time");
}

static void test_service_and_strings(void **state)
{
	char dest[32] = "Germany - Mobile";
	struct billing_rate rows[3] = {row("49", 100), row("49", 5), row("1", 1)};
	struct billing_prefix_index *voice, *sms;
	struct billing_rate out;

	(void)state;
	rows[0].destination = dest;
	rows[1].service = BILLING_SMS; /* the same prefix, the other service */
	rows[1].zone = NULL;
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_VOICE, &voice, NULL), 0);
	assert_int_equal(billing_prefix_build(rows, 3, BILLING_SMS, &sms, NULL), 0);
	memset(dest, 'x', sizeof(dest) - 1); /* the index keeps its own copy */
	assert_true(billing_prefix_lookup(voice, (struct str){"4917", 4}, 0, &out));
	assert_int_equal(out.rate, 100);
	assert_int_equal(out.service, BILLING_VOICE);
	assert_string_equal(out.destination, "Germany - Mobile");
	assert_string_equal(out.zone, "zone");
	assert_int_equal(out.initial_s, 60);
	assert_true(billing_prefix_lookup(sms, (struct str){"4917", 4}, 0, &out));
	assert_int_equal(out.rate, 5);
	assert_int_equal(out.service, BILLING_SMS);
	assert_null(out.zone);
	assert_int_equal(rate_of(sms, "1", 0), -1);
	billing_prefix_free(voice);
	billing_prefix_free(sms);
	/* an empty deck builds and matches nothing */
	assert_int_equal(billing_prefix_build(NULL, 0, BILLING_VOICE, &voice, NULL), 0);
	assert_int_equal(rate_of(voice, "1", 0), -1);
	billing_prefix_free(voice);
}

/* ------------------------------------------------- random vs brute force */

#define RAND_PREFIXES 50000
#define RAND_NUMBERS 100000

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void random_digits(uint64_t *seed, char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (char)('0' + lcg(seed) % 10);
	out[len] = '\0';
}

static bool in_force(const struct billing_rate *r, int64_t t)
{
	return r->effective_from <= t && (!r->effective_to || t < r->effective_to);
}

/* The brute-force reference: every row whose prefix starts the number and
 * whose window holds t, the longest kept.  Deliberately the dumbest way. */
static const struct billing_rate *brute_force(const struct billing_rate *rows, size_t n,
					      const char *number, int64_t t)
{
	const struct billing_rate *best = NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(rows[i].prefix);
		if (strncmp(rows[i].prefix, number, len) != 0 || !in_force(&rows[i], t))
			continue;
		if (!best || len > strlen(best->prefix))
			best = &rows[i];
	}
	return best;
}

static int prefix_cmp(const void *a, const void *b)
{
	return strcmp(((const struct billing_rate *)a)->prefix,
		      ((const struct billing_rate *)b)->prefix);
}

/* A second reference, fast enough for 100,000 numbers: each truncation of
 * the number, longest first, looked up exactly in the rows sorted by prefix
 * (nothing of the index's parent walk). */
static const struct billing_rate *truncations(const struct billing_rate *sorted, size_t n,
					      const char *number, int64_t t)
{
	size_t len = strlen(number);

	for (size_t l = len < BILLING_PREFIX_MAX ? len : BILLING_PREFIX_MAX;; l--) {
		size_t a = 0, b = n;
		while (a < b) { /* the first row with prefix >= number[0..l) */
			size_t m = a + (b - a) / 2;
			int c = strncmp(sorted[m].prefix, number, l);
			if (c < 0 || (c == 0 && strlen(sorted[m].prefix) < l))
				a = m + 1;
			else
				b = m;
		}
		for (; a < n && strlen(sorted[a].prefix) == l &&
		       !strncmp(sorted[a].prefix, number, l);
		     a++)
			if (in_force(&sorted[a], t))
				return &sorted[a];
		if (!l)
			return NULL;
	}
}

/* 50,000 distinct prefixes of up to 10 digits over a few country codes, so
 * they nest and share digits; without a country code at least 3 digits, so
 * some numbers match nothing.  One in five is split on the 15th: its first
 * version in force from the 1st only, so before that a shorter prefix must
 * answer.  The rows are shuffled. */
static size_t random_deck(struct billing_rate *rows, uint64_t *seed)
{
	static const char *cc[] = {"1", "44", "49", "33", "7", "86", "234", ""};
	size_t cand = RAND_PREFIXES * 2, n = 0, k = 0;
	struct billing_rate *c = calloc(cand, sizeof(*c));

	assert_non_null(c);
	for (size_t i = 0; i < cand; i++) {
		const char *code = cc[lcg(seed) % 8];
		size_t clen = strlen(code), len = lcg(seed) % 11;
		if (!clen && len < 3)
			len = 3;
		c[i] = row(code, (int64_t)(lcg(seed) % 100000));
		if (len > clen)
			random_digits(seed, c[i].prefix + clen, len - clen);
	}
	qsort(c, cand, sizeof(*c), prefix_cmp);
	for (size_t i = 0; i < cand; i++) /* distinct prefixes only */
		if (!k || strcmp(c[k - 1].prefix, c[i].prefix))
			c[k++] = c[i];
	assert_true(k >= RAND_PREFIXES);
	for (size_t i = k - 1; i > 0; i--) { /* shuffle, keep 50,000 */
		size_t j = lcg(seed) % (i + 1);
		struct billing_rate tmp = c[i];
		c[i] = c[j];
		c[j] = tmp;
	}
	for (size_t i = 0; i < RAND_PREFIXES; i++) {
		rows[n] = c[i];
		if (lcg(seed) % 5 == 0) {
			rows[n].effective_from = DEC1;
			rows[n].effective_to = DEC15;
			rows[++n] = c[i];
			rows[n].rate++;
			rows[n].effective_from = DEC15;
		}
		n++;
	}
	free(c);
	return n;
}

/* A number that starts with a prefix of the deck half the time. */
static void random_number(uint64_t *seed, const struct billing_rate *rows, size_t n, char *number)
{
	if (lcg(seed) % 2) {
		const char *p = rows[lcg(seed) % n].prefix;
		size_t plen = strlen(p);
		memcpy(number, p, plen);
		random_digits(seed, number + plen, lcg(seed) % 8);
	} else {
		random_digits(seed, number, lcg(seed) % 16);
	}
}

static void check_against(const struct billing_prefix_index *ix, const char *number, int64_t t,
			  const struct billing_rate *want)
{
	struct billing_rate got;
	bool found = billing_prefix_lookup(ix, (struct str){number, strlen(number)}, t, &got);

	assert_int_equal(found, want != NULL);
	if (!want)
		return;
	assert_string_equal(got.prefix, want->prefix);
	assert_int_equal(got.rate, want->rate);
	assert_int_equal(got.effective_from, want->effective_from);
}

static void test_random_against_brute_force(void **state)
{
	struct billing_rate *rows = calloc(RAND_PREFIXES * 2, sizeof(*rows)), *sorted;
	struct billing_prefix_index *ix;
	struct billing_prefix_stats st;
	uint64_t seed = 20261206;
	size_t n, hits = 0;

	(void)state;
	assert_non_null(rows);
	n = random_deck(rows, &seed);
	ix = build(rows, n);
	sorted = malloc(n * sizeof(*sorted));
	assert_non_null(sorted);
	memcpy(sorted, rows, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), prefix_cmp); /* versions of a prefix stay adjacent */
	for (int i = 0; i < RAND_NUMBERS; i++) {
		char number[32];
		static const int64_t at[] = {DEC1 - 1, DEC1, DEC15 - 1, DEC15, DEC20};
		int64_t t = at[lcg(&seed) % 5];
		const struct billing_rate *want;
		random_number(&seed, rows, n, number);
		want = truncations(sorted, n, number, t);
		/* the dumbest reference too, on every 50th number (it is slow) */
		if (i % 50 == 0) {
			const struct billing_rate *slow = brute_force(rows, n, number, t);
			assert_true(slow == want || (slow && want && slow->rate == want->rate &&
						     !strcmp(slow->prefix, want->prefix)));
		}
		check_against(ix, number, t, want);
		hits += want != NULL;
	}
	billing_prefix_stats(ix, &st);
	print_message(
	    "%zu rows, %zu prefixes, %zu bytes (%.1f per prefix), %zu of %d numbers matched\n",
	    st.rows, st.prefixes, st.bytes, (double)st.bytes / (double)st.prefixes, hits,
	    RAND_NUMBERS);
	assert_int_equal(st.prefixes, RAND_PREFIXES);
	assert_true(hits > RAND_NUMBERS / 2 && hits < RAND_NUMBERS);
	billing_prefix_free(ix);
	free(sorted);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nested_and_siblings),
	    cmocka_unit_test(test_empty_prefix_is_the_default),
	    cmocka_unit_test(test_long_prefixes),
	    cmocka_unit_test(test_lead_table_edges),
	    cmocka_unit_test(test_effective_windows),
	    cmocka_unit_test(test_build_errors),
	    cmocka_unit_test(test_service_and_strings),
	    cmocka_unit_test(test_random_against_brute_force),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
