/*
 * tendlc.h — US A2P 10DLC compliance, read by both send paths: the SMPP
 * server (smsc) and POST /api/v1/messages (api) ask the same snapshot
 * whether an MT may be queued, and the smsc asks it what an MO keyword
 * (STOP, START, HELP) means for the number it came to (decision 0041).
 *
 * The snapshot holds the numbers bound to campaigns (with the campaign's
 * status, brand and texts), the opt-outs and the content rules, built from
 * the store by the snapshot loader when the config version changes.
 * tendlc_mt_check reads it without locks, allocation or I/O.
 *
 * Addresses are digits as the SMPP and HTTP paths store them: an optional
 * leading '+' is ignored.  A "US long code" is 11 digits, 1 and a NANP
 * number whose area code is not a toll-free one (800, 833, 844, 855, 866,
 * 877, 888); short codes (5 or 6 digits) are not.  A "US destination" is
 * any 1 + 10 digits.
 */
#ifndef WARP_TENDLC_H
#define WARP_TENDLC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "store/store.h"

/* ------------------------------------------------------- addresses */

bool tendlc_is_us_long_code(struct str addr);
bool tendlc_is_us_destination(struct str addr);

/* --------------------------------------------------------- keywords */

enum tendlc_keyword {
	TENDLC_KW_NONE,
	TENDLC_KW_STOP,	 /* STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPT OUT OPTOUT */
	TENDLC_KW_START, /* START UNSTOP YES */
	TENDLC_KW_HELP,	 /* HELP INFO */
};

/* The longest message body looked at for a keyword (octets of UTF-8). */
#define TENDLC_KEYWORD_TEXT_MAX 64

/* What a whole MO body says: one keyword or phrase, case-insensitive,
 * spaces and punctuation around it (and runs of spaces inside) ignored;
 * anything else is TENDLC_KW_NONE.  The text is outside input (fuzzed:
 * tests/fuzz/fuzz_tendlc_keyword.c).
 * hot path: no allocation, no locks, no I/O */
enum tendlc_keyword tendlc_keyword_match(struct str utf8);
/* "STOP", "START", "HELP" or "" (static). */
const char *tendlc_keyword_name(enum tendlc_keyword k);

/* -------------------------------------------------- content rules */

/* One content rule's test, outside any snapshot: patterns are lowercase
 * ASCII; 'domain' matches a URL host (with or without a scheme) equal to
 * a pattern or ending in "." and one; 'keyword' a pattern as whole words.
 * Fuzzed with the keyword matcher.
 * hot path: no allocation, no locks, no I/O */
bool tendlc_text_has_domain(struct str utf8, const char *const *domains, size_t n);
bool tendlc_text_has_words(struct str utf8, const char *const *phrases, size_t n);

/* ----------------------------------------------------- opt-out CSV */

/* One line of an opt-out import (POST /api/v1/opt-out-imports): fields
 * "number,recipient[,brand_id]" separated by commas, spaces around them
 * and a CR before the LF ignored; views into the input. */
struct tendlc_csv_row {
	struct str number, recipient, brand_id; /* brand_id.len 0 when absent */
	size_t line;				/* 1-based */
};

enum tendlc_csv_result {
	TENDLC_CSV_ROW,	 /* *row filled */
	TENDLC_CSV_SKIP, /* a blank line or the header ("number,…") */
	TENDLC_CSV_BAD,	 /* not two or three fields, or a field not E.164 */
	TENDLC_CSV_END,
};

/* Reads the next line of *rest into row and advances *rest past it;
 * *line counts lines.  Outside input (fuzzed: fuzz_tendlc_csv.c).
 * hot path: no allocation, no locks, no I/O */
enum tendlc_csv_result tendlc_csv_next(struct str *rest, size_t *line, struct tendlc_csv_row *row);

/* ------------------------------------------- destination carriers */

/* The carrier a US handset is on, as throughput limits need it: from the
 * number-portability / prefix table (carrier_prefixes, longest prefix). */
enum tendlc_carrier {
	TENDLC_CARRIER_OTHER,
	TENDLC_CARRIER_ATT,
	TENDLC_CARRIER_TMOBILE,
	TENDLC_CARRIER_VERIZON,
	TENDLC_CARRIERS,
};
/* "other", "att", "tmobile", "verizon" (static). */
const char *tendlc_carrier_name(enum tendlc_carrier c);
/* The carrier named s (one of the names above, case-insensitive), or -1. */
int tendlc_carrier_parse(struct str s);

/* One line of a portability import (POST /api/v1/carrier-prefix-imports):
 * "prefix,carrier", the prefix 1 to 15 digits without '+'. */
struct tendlc_prefix_row {
	struct str prefix; /* a view into the input */
	enum tendlc_carrier carrier;
	size_t line; /* 1-based */
};
/* As tendlc_csv_next, for "prefix,carrier" (header "prefix,…" skipped).
 * Outside input (fuzzed: fuzz_tendlc_csv.c).
 * hot path: no allocation, no locks, no I/O */
enum tendlc_csv_result tendlc_prefix_csv_next(struct str *rest, size_t *line,
					      struct tendlc_prefix_row *row);

/* ------------------------------------------------- throughput limits */

/* What [tendlc] says of carriers' limits (decision 0050): AT&T's messages
 * a window by campaign message class, T-Mobile's daily cap a brand by
 * vetting score, and the window's length (AT&T's minute, shorter in
 * tests). */
#define TENDLC_TIERS_MAX 8
struct tendlc_limits {
	int64_t window_ms;
	int64_t att_class[26]; /* by class letter; 0: no limit */
	struct {
		int64_t min_score, cap;
	} tmobile[TENDLC_TIERS_MAX]; /* highest min_score first */
	size_t ntmobile;
};
/* Reads "A:4500,B:4500,…" and "75:200000,50:40000,…" into out; -1 (out
 * unusable) when either is malformed. */
int tendlc_limits_parse(const char *att, const char *tmobile, int64_t window_ms,
			struct tendlc_limits *out);

/* The limits an MT from -> to meets; ids are the snapshot's while held. */
struct tendlc_mt_limits {
	const char *campaign_id, *brand_id;
	enum tendlc_carrier carrier;
	int64_t per_window; /* the campaign's to this carrier a window; 0: none */
	int64_t per_day;    /* the brand's to T-Mobile a US Pacific day; 0: none */
};

/* A limit's window: a fixed one of window_ms, or the US Pacific day
 * (window_ms TENDLC_WINDOW_PACIFIC_DAY), and what it let through or
 * promised to later windows (decision 0050). */
#define TENDLC_WINDOW_PACIFIC_DAY 0
struct tendlc_window {
	int64_t start, end, used;      /* the window now is in, and sends in it */
	int64_t tail_start, tail_used; /* the latest window promised to held messages */
};
/* The US Pacific day (PST/PDT by the US rule since 2007) holding ms:
 * its first and one past its last millisecond, UTC epoch ms. */
void tendlc_pacific_day(int64_t ms, int64_t *start, int64_t *end);
/* 0: one more may go now (counted); else the start of the later window it
 * is promised to (counted there), when it is to be tried again.
 * hot path: no allocation, no locks, no I/O */
int64_t tendlc_window_take(struct tendlc_window *w, int64_t window_ms, int64_t limit, int64_t now);
/* Whether one more would go now, counting nothing. */
bool tendlc_window_room(const struct tendlc_window *w, int64_t window_ms, int64_t limit,
			int64_t now);

/* --------------------------------------------------------- snapshot */

struct tendlc_opts {
	/* [tendlc] opt_out_scope = brand: an opt-out from one of a brand's
	 * numbers stops every number of that brand's campaigns. */
	bool opt_out_brand_wide;
	/* The throughput limits' table; read by the smsc's dispatcher, not
	 * the snapshot (which keeps each campaign's class and caps). */
	struct tendlc_limits limits;
};

/* The compliance snapshot; its data is a const struct tendlc_snap. */
struct tendlc_snap;

/* Registers the snapshot "tendlc_<role>" with l (o copied; role names the
 * registering send path, "smsc" or "api"); NULL when its first build
 * fails.  The snapshot belongs to the loader. */
struct snapshot *tendlc_snapshot_register(struct snapshot_loader *l, const char *role,
					  const struct tendlc_opts *o);

/* Why an MT may not be queued, each with its own answer (decision 0041). */
enum tendlc_rule {
	TENDLC_OK,
	TENDLC_UNREGISTERED, /* US long code to a US destination, no active campaign */
	TENDLC_OPTED_OUT,    /* the recipient opted out of this number (or brand) */
	TENDLC_CONTENT,	     /* a content rule refused the text */
};

struct tendlc_verdict {
	enum tendlc_rule rule;
	const char *name; /* the rule's name (static, or the snapshot's while held) */
	const char *tag;  /* a tagging content rule that matched, else NULL */
};

/* The MT from -> to by customer, with its text as UTF-8 (text.p NULL for
 * binary data, which no content rule reads).  Counts refusals in
 * warp_tendlc_refusals_total{rule} and tags in warp_tendlc_tags_total.
 * hot path: no allocation, no locks, no I/O */
enum tendlc_rule tendlc_mt_check(const struct tendlc_snap *s, const char *customer, struct str from,
				 struct str to, struct str text, struct tendlc_verdict *v);

/* The campaign a number is bound to, as the MO keywords need it; texts are
 * "" when not set, all of it the snapshot's while held. */
struct tendlc_campaign_view {
	const char *id, *brand_id, *customer_id;
	const char *opt_in_text, *opt_out_text, *help_text;
	bool active;
};
/* 1 when number (digits, '+' ignored) is bound to a campaign, else 0. */
int tendlc_number_campaign(const struct tendlc_snap *s, struct str number,
			   struct tendlc_campaign_view *out);
bool tendlc_snap_brand_wide(const struct tendlc_snap *s);

/* Content rules with the action 'hold' (decision 0050): whether there are
 * any, and the name of the first that the MT to `to` with this text
 * matches (NULL: none; US destinations only), counted in
 * warp_tendlc_tags_total under its name.  Read by the smsc's dispatcher as
 * it leases a message; the submit checks let such a message pass.
 * hot path: no allocation, no locks, no I/O */
bool tendlc_snap_has_review(const struct tendlc_snap *s);
const char *tendlc_review_rule(const struct tendlc_snap *s, struct str to, struct str text);

/* Whether the enabled tagging content rule named rule matches the MT to
 * `to` with this text (US destinations only, as the rules apply), counting
 * nothing: the tags a message route's filter asks for (decision 0051).
 * hot path: no allocation, no locks, no I/O */
bool tendlc_tagged(const struct tendlc_snap *s, const char *rule, struct str to, struct str text);

/* The destination's carrier by the longest prefix of the portability
 * table (digits, '+' ignored); TENDLC_CARRIER_OTHER when none matches.
 * hot path: no allocation, no locks, no I/O */
enum tendlc_carrier tendlc_carrier_of(const struct tendlc_snap *s, struct str to);
/* 1 and out filled when from is bound to an active campaign, else 0.
 * hot path: no allocation, no locks, no I/O */
int tendlc_mt_limits(const struct tendlc_snap *s, const struct tendlc_limits *l, struct str from,
		     struct str to, struct tendlc_mt_limits *out);

#endif
