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

/* ------------------------------------------------------------ deck CSV */

/*
 * A rate deck as carriers send it: RFC 4180 CSV (quoted fields with ""
 * escapes, CRLF or LF, an optional UTF-8 BOM), a header row naming the
 * columns in any order under the names carriers use (deck_csv.c lists the
 * aliases), one row per prefix and window.  billing_csv_parse reads it in
 * one pass and reports every problem by line and column, so a carrier's
 * file is fixed in one round; a deck with any error yields no rows.
 *
 * Rows point into the caller's buffer: destination and zone are views of
 * it (or, for a quoted field whose "" had to be undone, of the deck's own
 * copy), so the buffer must outlive the deck.  rate.destination and
 * rate.zone stay NULL; a store result fills those.
 */
#define BILLING_CSV_ROWS_MAX 500000 /* rows in one version */
#define BILLING_CSV_ERRORS_MAX 1000 /* errors kept; the rest only counted */
#define BILLING_CSV_TEXT_MAX 200    /* bytes of a destination or zone */
#define BILLING_CSV_INCREMENT_MAX 3600
#define BILLING_CSV_MIN_DURATION_MAX 86400
/* The largest rate or connection fee, in micro-units: the rating
 * arithmetic's own bound on a fee and a cost (BILLING_RATE_COST_MAX of
 * rate.c, INT64_MAX / 10^6), so every imported row can be rated. */
#define BILLING_CSV_PRICE_MAX ((int64_t)9223372036854)

enum billing_csv_err {
	BILLING_CSV_EMPTY = 1,	/* no header row */
	BILLING_CSV_QUOTE,	/* an unterminated quoted field, or text after its closing quote */
	BILLING_CSV_DUP_COLUMN, /* two header columns name the same field */
	BILLING_CSV_MISSING_COLUMN, /* the header lacks prefix or rate */
	BILLING_CSV_FIELD_COUNT,    /* a row with more or fewer fields than the header */
	BILLING_CSV_REQUIRED,	    /* an empty prefix or rate */
	BILLING_CSV_PREFIX,	    /* not digits (after one optional '+'), or too long */
	BILLING_CSV_MONEY,	   /* a price that is not an exact decimal >= 0 (detail says why) */
	BILLING_CSV_INCREMENT,	   /* not "60/60", "6" or a whole number of seconds in range */
	BILLING_CSV_DURATION,	   /* a minimum duration that is not 0..86400 seconds */
	BILLING_CSV_DATE,	   /* not YYYY-MM-DD, "YYYY-MM-DD HH:MM[:SS]" or RFC 3339 */
	BILLING_CSV_WINDOW,	   /* effective_to not after effective_from */
	BILLING_CSV_SERVICE,	   /* a service other than voice or sms */
	BILLING_CSV_TEXT,	   /* a destination or zone that is too long or not UTF-8 */
	BILLING_CSV_DUPLICATE,	   /* the prefix and service again with an overlapping window */
	BILLING_CSV_TOO_MANY_ROWS, /* more than BILLING_CSV_ROWS_MAX rows */
};

struct billing_csv_error {
	uint32_t line;	 /* physical line (1-based) where the record starts */
	uint32_t column; /* field (1-based); 0 when about the whole row or the file */
	enum billing_csv_err kind;
	char column_name[32]; /* the header's name of that column, as written ("" if none) */
	char detail[160];
};

struct billing_csv_row {
	struct billing_rate rate;
	struct str destination, zone;
	uint32_t line;
};

struct billing_csv {
	struct billing_csv_row *rows; /* sorted by prefix, service, effective_from */
	size_t nrows;
	struct billing_csv_error *errors; /* sorted by line, then column */
	size_t nerrors;			  /* kept, at most BILLING_CSV_ERRORS_MAX */
	size_t nerrors_total;		  /* found, including those not kept */
	char *unescaped;		  /* quoted fields with "" undone */
};

/* Parses csv into d (caller-owned storage, released with billing_csv_fini
 * whatever the result).  Returns 0 with every row, -EINVAL with no rows and
 * the errors, -ENOMEM.  Voice rows without increments bill 60/60. */
int billing_csv_parse(struct str csv, struct billing_csv *d);
void billing_csv_fini(struct billing_csv *d);
/* A stable code for an error kind ("invalid_prefix"), for API answers. */
const char *billing_csv_err_code(enum billing_csv_err kind);
/* Date, "YYYY-MM-DD HH:MM[:SS]" or RFC 3339 (UTC unless an offset is
 * given) to Unix milliseconds; 0 or -EINVAL. */
int billing_csv_time_parse(struct str s, int64_t *ms);

#endif
