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
#include "store/store.h"

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

/* ---------------------------------------------------- rating arithmetic */

/*
 * What a call or a message costs under one deck row (rate.c).  Pure integer
 * arithmetic, no allocation, no I/O: the billing role, the prepaid check on
 * the INVITE path and LCR all call it.  Decision 0033 records the rules:
 *
 *  - billable seconds: nothing billable for an answered call of 0 s unless
 *    the row sets min_duration_s (then the minimum is billed, connection fee
 *    included); otherwise max(duration, min_duration_s) rounded up to
 *    initial_s, then to whole increment_s blocks after it;
 *  - voice cost = connection_fee + ceil(rate * billable_s / 60): the
 *    division rounds up, toward whoever sells.  For a sell deck that is WARP,
 *    for a buy deck the carrier, so buy costs round up too and match the
 *    carrier's invoice;
 *  - SMS cost = rate * segments;
 *  - durations are whole seconds; a CDR's milliseconds become seconds with
 *    billing_rate_seconds_from_ms (a started second is billed).
 *
 * Limits: a duration beyond BILLING_RATE_DURATION_MAX_S or a cost beyond
 * BILLING_RATE_COST_MAX is BILLING_RATE_RANGE, never a wrapped number.
 */
#define BILLING_RATE_DURATION_MAX_S ((int64_t)31 * 24 * 3600) /* 31 days */
/* micro-units (about 9.2 million units): INT64_MAX / 10^6, so that a million
 * charges at the limit still sum in an int64 ledger. */
#define BILLING_RATE_COST_MAX ((int64_t)9223372036854)

enum billing_rate_err {
	BILLING_RATE_OK = 0,
	BILLING_RATE_INVALID = -1, /* a row the arithmetic cannot use (see billing_rate_check) */
	BILLING_RATE_RANGE = -2,   /* a negative or too long duration, a cost past the limit */
	BILLING_RATE_SERVICE = -3, /* a voice function on an SMS row or the other way round */
};

/* 0 when the row can be rated: rate >= 0, connection fee from 0 to
 * BILLING_RATE_COST_MAX, and for voice initial_s and increment_s >= 1 and
 * min_duration_s >= 0 (all at most BILLING_RATE_DURATION_MAX_S); else
 * BILLING_RATE_INVALID. */
int billing_rate_check(const struct billing_rate *r);
const char *billing_rate_strerror(int err);
/* Whole seconds of a duration in milliseconds, rounded up (1 ms is 1 s);
 * a negative duration is 0. */
int64_t billing_rate_seconds_from_ms(int64_t ms);
/* Billable seconds of an answered call lasting duration_s. */
int billing_rate_billable_s(const struct billing_rate *r, int64_t duration_s, int64_t *billable_s);
/* Cost in micro-units of an answered call lasting duration_s. */
int billing_rate_voice_cost(const struct billing_rate *r, int64_t duration_s, int64_t *cost);
/* Cost in micro-units of a message of `segments` parts. */
int billing_rate_sms_cost(const struct billing_rate *r, int64_t segments, int64_t *cost);
/*
 * Prepaid: the longest duration in seconds whose cost is at most
 * `available` micro-units, i.e. the largest d <= BILLING_RATE_DURATION_MAX_S
 * with billing_rate_voice_cost(d) <= available (exact, the inverse of the
 * forward function; a rate and fee of 0 buy the whole cap).  0 when not even
 * one second is affordable, i.e. not the fee and the first block (or the
 * minimum): the caller refuses the call.
 */
int billing_rate_max_duration_s(const struct billing_rate *r, int64_t available, int64_t *max_s);

/* --------------------------------------------------------- prefix index */

/*
 * An immutable longest-prefix index over the rows of one deck and one
 * service (prefix.c; decision 0033).  Built once, then read by any number of
 * threads at once without locks or allocation.  A prefix may have several
 * rows with disjoint effective windows (a rate changed mid-month: both
 * versions are kept); a lookup at time t sees only the rows whose window
 * contains t, so a prefix with no row at t is passed over for a shorter one.
 * The index copies what it keeps (prices, windows, destination and zone
 * strings): the rows it was built from may be freed at once.
 */
struct billing_prefix_index;

enum billing_prefix_err {
	BILLING_PREFIX_OK = 0,
	BILLING_PREFIX_NOMEM = -1,
	BILLING_PREFIX_DIGITS = -2,    /* a prefix with something other than 0-9 */
	BILLING_PREFIX_WINDOW = -3,    /* effective_to not after effective_from */
	BILLING_PREFIX_OVERLAP = -4,   /* two rows of one prefix whose windows overlap */
	BILLING_PREFIX_TOO_MANY = -5,  /* more than BILLING_PREFIX_ROWS_MAX rows */
	BILLING_PREFIX_RATE = -6,      /* a row billing_rate_check refuses */
	BILLING_PREFIX_DUPLICATE = -7, /* a rating snapshot given one deck version twice */
};
#define BILLING_PREFIX_ROWS_MAX 16000000

/* Builds the index of the rows of service `svc` among rows[0..n) (a deck's
 * rows of the other service are skipped: one deck gives two indexes).  On
 * an error *bad_row (when not NULL) is the index in rows of the first row at
 * fault.  Returns 0 or an enum billing_prefix_err. */
int billing_prefix_build(const struct billing_rate *rows, size_t n, enum billing_service svc,
			 struct billing_prefix_index **out, size_t *bad_row);
void billing_prefix_free(struct billing_prefix_index *ix);
const char *billing_prefix_strerror(int err);

/* hot path: no allocation, no locks, no I/O
 * The row of the longest prefix of `number` with a row in force at t_ms
 * (effective_from <= t_ms < effective_to), copied into *out with its prefix;
 * out->destination and out->zone point into the index.  `number` is the
 * dialled digits: a leading '+' is skipped and the number ends at its first
 * non-digit.  Returns true when a row matched. */
bool billing_prefix_lookup(const struct billing_prefix_index *ix, struct str number, int64_t t_ms,
			   struct billing_rate *out);

struct billing_prefix_stats {
	size_t prefixes; /* distinct prefixes */
	size_t rows;	 /* rows, all windows */
	size_t bytes;	 /* everything the index holds, strings included */
};
void billing_prefix_stats(const struct billing_prefix_index *ix, struct billing_prefix_stats *st);

/* ------------------------------------------------------ rating snapshot */

/*
 * What the rating engine reads (rating.c, rating_parties.c): the deck
 * versions in force, each with its voice and SMS indexes, and who is
 * assigned which deck.  Both are immutable once built and
 * reference-counted, so a reader keeps the snapshot it acquired while a new
 * one is built, and a new snapshot shares the deck versions that did not
 * change with the old one (a deck of a million rows is built once per
 * version, not once per snapshot).  rating_load.c builds it from the store
 * for the platform's snapshot loader (store.h); the refcounts here are for
 * decks kept across snapshots and readers that outlive one.
 *
 * Which version of a deck prices an event is decided by the event's time:
 * the version with the latest activate_at not after it (ties: the higher
 * number), as the API's deck_versions.c says a version is "active".  So a
 * version scheduled for midnight needs no rebuild at midnight, and a CDR of
 * last month is rated again at last month's prices.
 */
struct billing_deck;
struct billing_rating;

#define BILLING_ID_MAX 64      /* bytes of an id, NUL included */
#define BILLING_CURRENCY_MAX 8 /* ISO 4217 code and NUL, with room */

/* Which deck version a deck is: what the snapshot, the rated record and the
 * API name it by. */
struct billing_deck_meta {
	char deck_id[BILLING_ID_MAX];	 /* rate_decks.id */
	char version_id[BILLING_ID_MAX]; /* rate_deck_versions.id */
	int64_t number;			 /* the version's number, 1, 2 … */
	int64_t activate_at;		 /* ms; in force from here to the next version's */
	char currency[BILLING_CURRENCY_MAX];
	bool buy; /* a carrier's buy deck; else a customer's sell deck */
};

/* Builds both indexes of one deck version from its rows (refcount 1); meta
 * is copied.  Returns 0 or an enum billing_prefix_err, *bad_row as
 * billing_prefix_build. */
int billing_deck_new(const struct billing_deck_meta *meta, const struct billing_rate *rows,
		     size_t n, struct billing_deck **out, size_t *bad_row);
struct billing_deck *billing_deck_ref(struct billing_deck *d);
void billing_deck_unref(struct billing_deck *d);
const struct billing_deck_meta *billing_deck_meta(const struct billing_deck *d);
const struct billing_prefix_index *billing_deck_index(const struct billing_deck *d,
						      enum billing_service svc);
/* hot path: no allocation, no locks, no I/O
 * billing_prefix_lookup in the deck's index of service svc. */
bool billing_deck_lookup(const struct billing_deck *d, enum billing_service svc,
			 struct str number, int64_t t_ms, struct billing_rate *out);

/* Who pays by which deck, as the snapshot copies it from customers, trunks
 * and carriers.  An empty deck id is "none assigned". */
struct billing_customer {
	char id[BILLING_ID_MAX];
	char currency[BILLING_CURRENCY_MAX];
	char sell_deck_id[BILLING_ID_MAX];
	bool prepaid;
	int64_t credit_limit; /* micro-units the balance may go below zero */
};
struct billing_trunk {
	char id[BILLING_ID_MAX];
	char customer_id[BILLING_ID_MAX];
	char sell_deck_id[BILLING_ID_MAX]; /* overrides its customer's */
};
struct billing_carrier {
	char id[BILLING_ID_MAX];
	char buy_deck_id[BILLING_ID_MAX];
};
struct billing_parties {
	const struct billing_customer *customers;
	size_t ncustomers;
	const struct billing_trunk *trunks;
	size_t ntrunks;
	const struct billing_carrier *carriers;
	size_t ncarriers;
};

/* A snapshot of decks[0..n) (refcount 1), each referenced once more (the
 * caller keeps its own references), and a copy of the parties (NULL: none).
 * Several versions of one deck may be present; the same deck and number
 * twice is BILLING_PREFIX_DUPLICATE. */
int billing_rating_new(struct billing_deck *const *decks, size_t n,
		       const struct billing_parties *parties, struct billing_rating **out);
struct billing_rating *billing_rating_ref(struct billing_rating *r);
void billing_rating_unref(struct billing_rating *r);
size_t billing_rating_decks(const struct billing_rating *r);
/* hot path: no allocation, no locks, no I/O
 * A deck version of the snapshot by deck id and number, number 0 meaning
 * the highest present; NULL when absent.  Valid while the snapshot is
 * (billing_deck_ref keeps it longer, e.g. into the next snapshot). */
struct billing_deck *billing_rating_deck(const struct billing_rating *r, struct str deck_id,
					 int64_t number);
/* hot path: no allocation, no locks, no I/O
 * The version of deck_id in force at t_ms; NULL when none is. */
struct billing_deck *billing_rating_deck_at(const struct billing_rating *r, struct str deck_id,
					    int64_t t_ms);
/* hot path: no allocation, no locks, no I/O
 * The row pricing `number` at t_ms in the version of deck_id in force then;
 * *deck (when not NULL) is that version.  False when no version is in force
 * or it has no row for the number. */
bool billing_rating_lookup(const struct billing_rating *r, struct str deck_id, int64_t t_ms,
			   enum billing_service svc, struct str number, struct billing_rate *out,
			   const struct billing_deck **deck);

/* hot path: no allocation, no locks, no I/O.  NULL when unknown. */
const struct billing_customer *billing_rating_customer(const struct billing_rating *r,
						       struct str id);
const struct billing_trunk *billing_rating_trunk(const struct billing_rating *r, struct str id);
const struct billing_carrier *billing_rating_carrier(const struct billing_rating *r,
						     struct str id);

/* Why a price could not be found: the quarantine reasons of the billing
 * role and the refusal reasons of prepaid authorization. */
enum billing_price_err {
	BILLING_PRICE_OK = 0,
	BILLING_PRICE_NO_PARTY = -1, /* customer (or carrier) unknown to the snapshot */
	BILLING_PRICE_NO_DECK = -2,  /* no deck assigned, or none of its versions in force */
	BILLING_PRICE_NO_RATE = -3,  /* the deck has no row for the number */
	BILLING_PRICE_CURRENCY = -4, /* the sell deck's currency is not the customer's */
};
/* "no_party", "no_deck", "no_rate", "currency_mismatch": stable words for
 * the store, metrics labels and the API. */
const char *billing_price_reason(int err);

/* hot path: no allocation, no locks, no I/O
 * The sell row for a customer's call or message at t_ms: the trunk's deck
 * when trunk_id names a trunk with one, else the customer's.  Returns 0 or
 * an enum billing_price_err; *deck (when not NULL) is the version used. */
int billing_rating_sell(const struct billing_rating *r, struct str customer_id,
			struct str trunk_id, int64_t t_ms, enum billing_service svc,
			struct str number, struct billing_rate *out,
			const struct billing_deck **deck);
/* hot path: no allocation, no locks, no I/O
 * The buy row of a carrier at t_ms from its buy deck; as billing_rating_sell. */
int billing_rating_buy(const struct billing_rating *r, struct str carrier_id, int64_t t_ms,
		       enum billing_service svc, struct str number, struct billing_rate *out,
		       const struct billing_deck **deck);

/*
 * The rating snapshot from the store (rating_load.c), for
 * snapshot_register: billing_rating_build(conn, source) reads every
 * activated deck version still of use — in force now, scheduled, or in
 * force within the last BILLING_RATING_HISTORY_MS, so late and re-rated
 * records find their prices — and the parties' assignments.  A source
 * remembers the last snapshot it built and reuses its deck versions, so a
 * rebuild after an unrelated provisioning change reads no deck rows.  One
 * source per registration; builds are serial (the loader's thread).
 */
#define BILLING_RATING_HISTORY_MS ((int64_t)62 * 24 * 3600 * 1000)
struct billing_rating_source;
struct billing_rating_source *billing_rating_source_new(void);
void billing_rating_source_free(struct billing_rating_source *s);
/* A snapshot_build_fn: a new struct billing_rating, or NULL on a store error
 * (the old snapshot stays). */
void *billing_rating_build(struct store_conn *c, void *source);
/* A snapshot_free_fn: billing_rating_unref. */
void billing_rating_release(void *rating);

/* ------------------------------------------------------ record rating */

/*
 * One CDR or message priced against a rating snapshot (rate_record.c): the
 * pure function the billing role runs per record and its unit tests
 * check.  No allocation, no locks, no I/O.  Decision 0036 records the
 * rules:
 *
 *  - the sell row is the customer's (or its trunk's) deck at the event's
 *    time (a CDR's start, a message's acceptance), the buy row the carrier's
 *    deck then; both must be found for a record that costs something, or it
 *    is quarantined with the reason and the side that failed;
 *  - a record that owes nothing (an unanswered call, a message no carrier
 *    took) is rated at 0 whatever the decks say; its zone is filled when
 *    the sell deck has a row;
 *  - margin = sell - buy, only when both are in one currency (no exchange
 *    rates here: otherwise has_margin is false).
 */
/* a zone or destination and its NUL (deck text is at most 200 bytes) */
#define BILLING_RATED_TEXT_MAX 201

enum billing_record_state {
	BILLING_RECORD_RATED = 0,
	BILLING_RECORD_QUARANTINED = 1,
};

struct billing_record {
	enum billing_service svc;
	struct str customer_id, trunk_id, carrier_id;
	struct str number;   /* the dialled number, E.164 digits (a '+' is skipped) */
	int64_t t_ms;	     /* the event's time: which versions price it */
	bool billable;	     /* voice: answered; SMS: a carrier took the part */
	int64_t duration_ms; /* voice: answer to end */
	int64_t segments;    /* SMS: parts priced (>= 1 when billable) */
};

struct billing_rated {
	enum billing_record_state state;
	const char *reason; /* quarantined: billing_price_reason's word, "no_carrier", "out_of_range" */
	const char *side;   /* quarantined: "sell" or "buy" */
	int64_t sell, buy;  /* micro-units of currency / buy_currency */
	int64_t margin;
	bool has_margin;
	int64_t billable_s; /* voice */
	char currency[BILLING_CURRENCY_MAX];
	char buy_currency[BILLING_CURRENCY_MAX];
	char prefix[BILLING_PREFIX_MAX + 1]; /* the sell row's */
	char zone[BILLING_RATED_TEXT_MAX];
	char destination[BILLING_RATED_TEXT_MAX];
	struct billing_deck_meta sell_deck, buy_deck; /* deck_id "" when none was used */
};

/* hot path: no allocation, no locks, no I/O
 * Prices in against r into out; returns out->state. */
enum billing_record_state billing_rate_record(const struct billing_rating *r,
					      const struct billing_record *in,
					      struct billing_rated *out);

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
/* --------------------------------------------------- ledger and balances */

/*
 * A customer's money is an append-only ledger of entries (ledger.c, table
 * ledger_entries of migration 0017) and the balance they sum to, kept in
 * one row per customer (balances) in the transaction of every entry, so a
 * balance read is one row.  The API posts top-ups and adjustments; the
 * billing role posts call and message charges and refunds, settling the
 * reservations of prepaid authorization (reserve.c).  Every function takes
 * the calling thread's store connection and runs its own transaction;
 * nothing here is for a hot path (docs/decisions/0035).
 */
struct store_conn; /* store/store.h */

enum billing_entry_kind {
	BILLING_TOPUP = 0,	    /* money in: amount > 0 */
	BILLING_ADJUSTMENT = 1,	    /* an operator's correction: amount != 0 */
	BILLING_CALL_CHARGE = 2,    /* amount < 0 */
	BILLING_MESSAGE_CHARGE = 3, /* amount < 0 */
	BILLING_REFUND = 4,	    /* money back for a charge: amount > 0 */
};
#define BILLING_ENTRY_KINDS 5

/* "topup", "adjustment", "call_charge", "message_charge", "refund". */
const char *billing_entry_kind_name(enum billing_entry_kind k);
/* 0 with *out set, or -EINVAL for any other text. */
int billing_entry_kind_parse(const char *s, enum billing_entry_kind *out);

enum billing_ledger_err {
	BILLING_LEDGER_ENOCUSTOMER = -2001,    /* no customer with that id */
	BILLING_LEDGER_EKEYREUSED = -2002,     /* the key names an entry with other values */
	BILLING_LEDGER_ESIGN = -2003,	       /* the amount's sign is not its kind's */
	BILLING_LEDGER_ERANGE = -2004,	       /* the amount, or the balance it leaves, too large */
	BILLING_LEDGER_ECURRENCY = -2005,      /* the customer's currency is not the balance's */
	BILLING_LEDGER_EFUNDS = -2006,	       /* available does not cover a reservation */
	BILLING_LEDGER_ENORESERVATION = -2007, /* no open reservation with that id */
};
/* What an error code means (ledger codes, store codes, -errno). */
const char *billing_ledger_strerror(int err);

#define BILLING_LEDGER_AMOUNT_MAX (1000000000LL * BILLING_MICRO) /* one entry: a billion units */
#define BILLING_LEDGER_BALANCE_MAX (1000LL * BILLING_LEDGER_AMOUNT_MAX) /* 1e18: fits an int64 */
#define BILLING_LEDGER_KEY_MAX 255
#define BILLING_LEDGER_TEXT_MAX 500 /* description, bytes */
#define BILLING_LEDGER_REF_MAX 127  /* reference type and id, created_by */

/* One entry.  For billing_ledger_post the caller fills customer_id, kind,
 * amount and, optionally, idempotency_key, the reference, description and
 * created_by; the post fills the rest. */
struct billing_entry {
	char id[ID_MAX];
	char customer_id[ID_MAX];
	int64_t seq; /* 1, 2, 3 … per customer */
	enum billing_entry_kind kind;
	int64_t amount;	       /* signed micro-units */
	int64_t balance_after; /* the balance this entry left */
	char currency[4];
	char reference_type[BILLING_LEDGER_REF_MAX + 1]; /* "cdr", "message", … or "" */
	char reference_id[BILLING_LEDGER_REF_MAX + 1];
	char idempotency_key[BILLING_LEDGER_KEY_MAX + 1]; /* "" for none */
	char description[BILLING_LEDGER_TEXT_MAX + 1];
	char created_by[BILLING_LEDGER_REF_MAX + 1]; /* an API key id, a subject, "billing" */
	int64_t created_at;			     /* ms */
};

struct billing_ledger_opts {
	/* [billing] low_balance_threshold: a customer without its own
	 * low_balance_threshold gets balance.low below this (micro-units). */
	int64_t low_balance_threshold;
};

/* Posts e: in one transaction the customer's balance row is locked and
 * moved, the entry written with the next seq, and, when the entry takes the
 * balance below the customer's threshold from at or above it, one
 * balance.low event (message_events, for the webhook dispatcher) written.
 * With an idempotency_key that already names an entry of the customer, that
 * first entry is returned in e with *replayed true when kind, amount,
 * reference and description match, and BILLING_LEDGER_EKEYREUSED when they
 * do not; nothing is written either way.  Returns 0 or a negative code
 * (enum billing_ledger_err, store_err). */
int billing_ledger_post(struct store_conn *c, const struct billing_ledger_opts *o,
			struct billing_entry *e, bool *replayed);

struct billing_balance {
	char currency[4];
	int64_t balance;      /* SUM(amount) of the entries */
	int64_t credit_limit; /* customers.credit_limit */
	int64_t reserved;     /* open reservations */
	int64_t available;    /* balance + credit_limit - reserved */
	int64_t low_threshold;
	bool low;	    /* below the threshold, balance.low sent */
	int64_t seq;	    /* the last entry's; 0 before the first */
	int64_t updated_at; /* ms; 0 before the first entry */
};

/* The customer's balance (all zero, in the customer's currency, before its
 * first entry); BILLING_LEDGER_ENOCUSTOMER when there is no such customer. */
int billing_balance_get(struct store_conn *c, const struct billing_ledger_opts *o,
			const char *customer_id, struct billing_balance *out);

/* Which entries billing_ledger_list returns, newest first. */
struct billing_ledger_filter {
	const char *customer_id;
	int kind;	    /* an enum billing_entry_kind, or -1 for all */
	int64_t from_ms;    /* created_at >= from_ms; 0: no bound */
	int64_t to_ms;	    /* created_at < to_ms; 0: no bound */
	int64_t before_seq; /* the cursor: seq < before_seq; 0: from the newest */
	int64_t limit;
};

typedef int (*billing_entry_fn)(const struct billing_entry *e, void *arg);

/* Calls each for the entries f selects, newest first; returns how many, or
 * a negative code (each's first non-zero answer stops the walk and is
 * returned). */
int billing_ledger_list(struct store_conn *c, const struct billing_ledger_filter *f,
			billing_entry_fn each, void *arg);

/* --------------------------------------------------------- reservations */

/*
 * Money held for a call or message in progress (reserve.c, decision 0035):
 * made only while available (balance + credit_limit - reserved) covers it,
 * under the balance row's lock, so any number of processes on one store
 * never hold more than the customer has.  A reservation ends once: settled
 * by one charge entry of the exact cost, released, or expired.
 */
struct billing_reservation {
	char id[ID_MAX]; /* "rsv_…", filled by billing_reserve */
	char customer_id[ID_MAX];
	int64_t amount;					 /* micro-units, > 0 */
	char reference_type[BILLING_LEDGER_REF_MAX + 1]; /* "call", "message", … or "" */
	char reference_id[BILLING_LEDGER_REF_MAX + 1];
	int64_t expires_at; /* ms, filled by billing_reserve */
};

/* Reserves r->amount for r->customer_id for ttl_ms: 0 with r->id and
 * r->expires_at filled, BILLING_LEDGER_EFUNDS when available does not cover
 * it, BILLING_LEDGER_ENOCUSTOMER, or another negative code. */
int billing_reserve(struct store_conn *c, struct billing_reservation *r, int64_t ttl_ms);

/* Ends the reservation with its exact cost (micro-units >= 0): one entry of
 * kind (BILLING_CALL_CHARGE or BILLING_MESSAGE_CHARGE) for -cost, keyed by
 * what it charges when the reservation references a "cdr" ("cdr:<id>") or a
 * "message" ("msg:<id>"), the keys the billing role charges them by, else
 * "reservation:<id>"; referencing what the reservation did, and the
 * reservation released, in one transaction; cost 0 only releases (e->id
 * ""). A reservation that expired or was released meanwhile is still
 * charged (the cost is real); a repeated settle returns the first entry
 * with *replayed true.  BILLING_LEDGER_ENORESERVATION for an unknown id. */
int billing_reservation_settle(struct store_conn *c, const struct billing_ledger_opts *o,
			       const char *reservation_id, enum billing_entry_kind kind,
			       int64_t cost, struct billing_entry *e, bool *replayed);

/* Releases an open reservation without a charge; 0 also when it had ended
 * already, BILLING_LEDGER_ENORESERVATION for an unknown id. */
int billing_reservation_release(struct store_conn *c, const char *reservation_id);

/* Expires up to limit open reservations past their expires_at (now_ms);
 * returns how many, or a negative code.  Safe with several processes
 * sweeping at once: each reservation ends once. */
int billing_reservations_expire(struct store_conn *c, int64_t now_ms, int limit);

/* ------------------------------------------------------------- currency */

/* The decimals a currency is shown with (ISO 4217 minor units: JPY 0, USD
 * 2, KWD 3; 2 for a code not in the table). */
int billing_currency_decimals(const char *code);
/* Formats micro-units exactly: at least min_decimals places, more only as
 * the value needs ("12.50", "12.345678").  Returns the length written or -1
 * (buf of BILLING_MONEY_BUF is enough). */
int billing_money_format_exact(int64_t micro, int min_decimals, char *buf, size_t n);

/* ------------------------------------------- reservations in a batch group */

/*
 * A reservation made inside a batch group (reserve_batch.c, decision 0038):
 * BILLING_RESERVE_BATCH_STMTS statements to put before the caller's own in
 * store_batch_add_group, so the reservation and what it pays for commit
 * together.  When balance + credit limit - reserved does not cover amount
 * the group fails with a status billing_reserve_batch_refused says yes to,
 * and nothing of it is written.  Points into itself: keep it in place until
 * the group is queued (the writer copies the statements).
 */
#define BILLING_RESERVE_BATCH_STMTS 3
struct billing_reserve_batch {
	char id[ID_MAX]; /* the reservation's, "rsv_…" */
	char customer_id[ID_MAX];
	char reference_type[BILLING_LEDGER_REF_MAX + 1];
	char reference_id[BILLING_LEDGER_REF_MAX + 1];
	struct store_param balance[2], hold[2], insert[7];
	struct store_batch_stmt st[BILLING_RESERVE_BATCH_STMTS];
};
/* Fills out for amount (micro-units, > 0) held for customer_id until
 * expires_at (ms); 0 or BILLING_LEDGER_ERANGE. */
int billing_reserve_batch(struct billing_reserve_batch *out, const char *customer_id,
			  int64_t amount, const char *reference_type, const char *reference_id,
			  int64_t expires_at, int64_t now);
/* Whether a batch group's failure status means "not covered". */
bool billing_reserve_batch_refused(int status);

/* -------------------------------------------------- least-cost routing */

/*
 * Least-cost ordering of a route's carriers (lcr.c, decision 0038), shared
 * by the sip role (calls, buy rate per minute) and the smsc role (messages,
 * buy rate per segment).  Pure: candidates and their rates in, an order
 * out; no allocation, no locks, no I/O, so it runs on the call path.
 */
/* Why a candidate was left out (0: kept). */
enum billing_lcr_out {
	BILLING_LCR_KEPT = 0,
	BILLING_LCR_NO_RATE = 1,  /* no buy rate for the number */
	BILLING_LCR_CURRENCY = 2, /* its buy deck's currency is not the one compared */
	BILLING_LCR_MARGIN = 3,	  /* the rate leaves less than the minimum margin */
};

/* One carrier of a route, as the caller found it. */
struct billing_lcr_candidate {
	size_t idx;	  /* the caller's (a carrier index); carried along */
	int64_t priority; /* the route's priority for the carrier */
	int64_t weight;	  /* kept for the caller's weight-random draw */
	bool has_rate;	  /* a buy rate was found for the number */
	bool currency_ok; /* its currency is the one compared against */
	int64_t buy_rate; /* micro-units per minute (voice) or per segment (SMS) */
	/* Out: the position's tie group (equal buy rate and priority share a
	 * rank, ranks ascend from 0), and why it was left out. */
	int64_t rank;
	enum billing_lcr_out out;
};

/* What protects the margin: with `margin` false nothing does; else a
 * candidate is kept only when a sell rate is known (has_sell) and
 * (sell - buy) * 10000 >= sell * min_margin_bps (0..10000). */
struct billing_lcr_margin {
	bool margin;
	bool has_sell;
	int64_t sell_rate;
	int64_t min_margin_bps;
};

/* Orders c[0..n): the kept candidates first, by buy rate, then priority,
 * then their position in c (stable), each with its tie rank; the left-out
 * ones after them, in their old order, with their reason.  Returns how many
 * are kept.  The caller draws by weight within one rank. */
size_t billing_lcr_order(struct billing_lcr_candidate *c, size_t n,
			 const struct billing_lcr_margin *m);
/* "no_rate", "currency_mismatch", "margin" ("kept" for 0). */
const char *billing_lcr_out_reason(enum billing_lcr_out out);
/* --------------------------------------------------------- billing role */

/*
 * The billing role (role.c, role_cdr.c, role_msg.c, role_charge.c;
 * decision 0036): one thread that rates, in bounded batches, the CDRs and
 * final message parts the store marks pending (cdr_ratings and
 * message_ratings of migration 0025), retries the quarantined ones once
 * the rating snapshot's version is newer than the one they failed on, and
 * posts each record's charge to its customer's ledger in the batch's
 * transaction ("cdr:<id>", "msg:<group id>"; a re-rating posts the
 * difference as an adjustment "cdr:<id>:r<n>").  A record that cannot be
 * rated is written as quarantined and never holds back the rest.
 */

struct billing_role_opts {
	struct store *store;
	struct snapshot *rating;      /* app_rating's: a struct billing_rating */
	int64_t interval_ms;	      /* [billing] rate_interval: sleep when caught up */
	int batch;		      /* [billing] rate_batch: records per transaction */
	struct billing_ledger_opts ledger;
};

struct billing_role;

/* NULL when out of memory. */
struct billing_role *billing_role_new(const struct billing_role_opts *o);
/* Starts the rating thread; 0 or -errno. */
int billing_role_start(struct billing_role *br);
/* Stops the thread (after its current batch) and frees. */
void billing_role_free(struct billing_role *br);
/* Rates what is pending now on the calling thread, batch after batch until
 * a batch is short (the bench and a shutdown drain use it); the number of
 * records written, or a negative code. */
int64_t billing_role_drain(struct billing_role *br, struct store_conn *c);

#endif
