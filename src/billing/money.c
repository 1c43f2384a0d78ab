/*
 * money.c — decimal amounts to integer micro-units and back.
 *
 * Rate decks arrive as CSV written by spreadsheets ("0.0125", "0.01250000",
 * " 1.2 "), and a price read through a double is already wrong at the sixth
 * place for many of them (0.000001 * 3 != 0.000003 in binary).  So digits
 * are accumulated as integers, and a digit that would be lost is an error
 * the importer reports, not a rounding it hides.
 */
#include "billing.h"

#include <stdio.h>

static void money_trim(struct str *s)
{
	while (s->len && (s->p[0] == ' ' || s->p[0] == '\t')) {
		s->p++;
		s->len--;
	}
	while (s->len && (s->p[s->len - 1] == ' ' || s->p[s->len - 1] == '\t'))
		s->len--;
}

/* Whole units, before the point: stops at the first non-digit. */
static int money_whole(struct str *s, int64_t *units, size_t *ndigits)
{
	*units = 0;
	*ndigits = 0;
	while (s->len && s->p[0] >= '0' && s->p[0] <= '9') {
		*units = *units * 10 + (s->p[0] - '0');
		if (*units > BILLING_MONEY_MAX)
			return BILLING_MONEY_RANGE;
		s->p++;
		s->len--;
		(*ndigits)++;
	}
	return 0;
}

/* Fraction after the point, as micro-units; digits past the sixth must be 0. */
static int money_fraction(struct str s, int64_t *micro, size_t *ndigits)
{
	int64_t scale = BILLING_MICRO / 10;

	*micro = 0;
	*ndigits = s.len;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c < '0' || c > '9')
			return BILLING_MONEY_SYNTAX;
		if (scale)
			*micro += (c - '0') * scale;
		else if (c != '0')
			return BILLING_MONEY_PRECISION;
		scale /= 10;
	}
	return 0;
}

int billing_money_parse(struct str s, bool allow_negative, int64_t *micro)
{
	bool negative = false;
	int64_t units, frac = 0;
	size_t nwhole, nfrac = 0;
	int rc;

	money_trim(&s);
	if (!s.len)
		return BILLING_MONEY_EMPTY;
	if (s.p[0] == '-' || s.p[0] == '+') {
		negative = s.p[0] == '-';
		if (negative && !allow_negative)
			return BILLING_MONEY_NEGATIVE;
		s.p++;
		s.len--;
	}
	rc = money_whole(&s, &units, &nwhole);
	if (rc)
		return rc;
	if (s.len && s.p[0] == '.') {
		rc = money_fraction((struct str){ s.p + 1, s.len - 1 }, &frac, &nfrac);
		if (rc)
			return rc;
		s.len = 0;
	}
	if (s.len || nwhole + nfrac == 0)
		return BILLING_MONEY_SYNTAX;
	/* BILLING_MONEY_MAX whole units leave room for only part of a
	 * fraction: "9223372036854.9" would overflow the int64. */
	if (units > (INT64_MAX - frac) / BILLING_MICRO)
		return BILLING_MONEY_RANGE;
	*micro = units * BILLING_MICRO + frac;
	if (negative)
		*micro = -*micro;
	return 0;
}

const char *billing_money_strerror(int err)
{
	switch (err) {
	case BILLING_MONEY_OK:
		return "ok";
	case BILLING_MONEY_EMPTY:
		return "empty amount";
	case BILLING_MONEY_SYNTAX:
		return "not a decimal number";
	case BILLING_MONEY_PRECISION:
		return "more than 6 decimal places";
	case BILLING_MONEY_RANGE:
		return "amount too large";
	case BILLING_MONEY_NEGATIVE:
		return "negative amount";
	default:
		return "bad amount";
	}
}

int billing_money_format(int64_t micro, int decimals, char *buf, size_t n)
{
	static const int64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	bool negative = micro < 0;
	uint64_t mag, step, whole, frac;

	if (decimals < 0 || decimals > 6 || !n)
		return -1;
	/* Magnitude in unsigned arithmetic, so INT64_MIN does not overflow. */
	mag = negative ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
	step = (uint64_t)pow10[6 - decimals];
	mag = (mag + step / 2) / step; /* half away from zero */
	whole = mag / (uint64_t)pow10[decimals];
	frac = mag % (uint64_t)pow10[decimals];
	if (!mag)
		negative = false;
	if (decimals == 0)
		return snprintf(buf, n, "%s%llu", negative ? "-" : "", (unsigned long long)whole);
	return snprintf(buf, n, "%s%llu.%0*llu", negative ? "-" : "", (unsigned long long)whole,
			decimals, (unsigned long long)frac);
}
