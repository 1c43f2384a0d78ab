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
 * kind (BILLING_CALL_CHARGE or BILLING_MESSAGE_CHARGE) for -cost, keyed
 * "reservation:<id>" and referencing what the reservation did, and the
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

#endif
