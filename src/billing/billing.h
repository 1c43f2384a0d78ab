/*
 * billing.h — WARP's money and rating.
 *
 * Money is always an int64 of micro-units of the currency (1 USD =
 * 1,000,000): no floating point anywhere a price is parsed, multiplied,
 * rounded or printed.  Sections: money (this file's first), then the rating
 * arithmetic, the prefix index and the deck CSV as they are added.
 */
#ifndef WARP_BILLING_H
#define WARP_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---------------------------------------------------------------- money */

#define BILLING_MICRO 1000000 /* micro-units per unit of a currency */
/* The largest amount accepted (about 9.2e12 units), so that sums of a
 * million of them still fit an int64. */
#define BILLING_MONEY_MAX ((int64_t)9223372036854)

enum billing_money_err {
	BILLING_MONEY_OK = 0,
	BILLING_MONEY_EMPTY = -1,     /* nothing but spaces */
	BILLING_MONEY_SYNTAX = -2,    /* not [-]digits[.digits] */
	BILLING_MONEY_PRECISION = -3, /* more than six decimal places that are not 0 */
	BILLING_MONEY_RANGE = -4,     /* larger than BILLING_MONEY_MAX units */
	BILLING_MONEY_NEGATIVE = -5,  /* a sign where none is allowed */
};

/* Parses a decimal amount of whole units ("0.0125", "-3", "12.", ".5")
 * into micro-units exactly.  Leading and trailing spaces are allowed;
 * trailing zeros past six places are accepted ("0.01250000"), other digits
 * there are BILLING_MONEY_PRECISION, never rounded.  With allow_negative
 * false a '-' is BILLING_MONEY_NEGATIVE.  Returns 0 or an enum
 * billing_money_err. */
int billing_money_parse(struct str s, bool allow_negative, int64_t *micro);
/* What an error code means, for a message to the user. */
const char *billing_money_strerror(int err);
/* Formats micro-units as a decimal with exactly `decimals` places (0..6),
 * rounding half away from zero when decimals < 6 ("12.345679" at 2 places
 * is "12.35").  Returns the length written (always NUL-terminated; buf of
 * BILLING_MONEY_BUF is enough) or -1 when decimals is out of range. */
#define BILLING_MONEY_BUF 32
int billing_money_format(int64_t micro, int decimals, char *buf, size_t n);

/* ------------------------------------------------------------ deck rows */

/*
 * One row of a rate deck, as the CSV importer produces it (deck_csv.c),
 * the store holds it (rate_deck_rows) and the prefix index takes it.
 * Voice rows price minutes; SMS rows price segments.  Times are Unix
 * milliseconds; effective_to 0 means open-ended.  Strings are owned by
 * whoever filled the row (the importer's arena, a store result).
 */
#define BILLING_PREFIX_MAX 24 /* digits, E.164 without '+' (15) and room for carrier codes */

enum billing_service { BILLING_VOICE = 0, BILLING_SMS = 1 };

struct billing_rate {
	char prefix[BILLING_PREFIX_MAX + 1]; /* digits only; "" matches every number */
	enum billing_service service;
	const char *destination; /* "United States - Mobile" */
	const char *zone;	 /* a deck's grouping for invoices and LCR reports */
	int64_t rate;		 /* voice: micro-units per minute; SMS: per segment */
	int64_t connection_fee;	 /* voice: micro-units charged once per answered call */
	int32_t initial_s;	 /* voice: first billed block, seconds (>= 1) */
	int32_t increment_s;	 /* voice: each following block, seconds (>= 1) */
	int32_t min_duration_s;	 /* voice: an answered call bills at least this */
	int64_t effective_from;	 /* ms; the row applies from this instant */
	int64_t effective_to;	 /* ms, exclusive; 0 = until replaced */
};

#endif
