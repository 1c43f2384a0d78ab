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

/* --------------------------------------------------------- snapshot */

struct tendlc_opts {
	/* [tendlc] opt_out_scope = brand: an opt-out from one of a brand's
	 * numbers stops every number of that brand's campaigns. */
	bool opt_out_brand_wide;
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

#endif
