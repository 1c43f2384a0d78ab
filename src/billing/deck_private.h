/*
 * deck_private.h — what the rate-deck importer's files share: the CSV
 * reader (deck_csv.c) hands each record's fields, as views, to the header
 * and row readers (deck_row.c), which turn them into struct
 * billing_csv_row and report problems into the deck's error list.
 */
#ifndef WARP_BILLING_DECK_PRIVATE_H
#define WARP_BILLING_DECK_PRIVATE_H

#include "billing.h"

#define DECK_FIELDS_MAX 64 /* columns of a header; more are one error */

enum deck_col {
	DECK_COL_IGNORED = 0, /* a column we do not read (carriers add their own) */
	DECK_COL_PREFIX,
	DECK_COL_DESTINATION,
	DECK_COL_ZONE,
	DECK_COL_RATE,
	DECK_COL_FEE,
	DECK_COL_INCREMENTS, /* "60/60" in one column */
	DECK_COL_INITIAL,
	DECK_COL_SUBSEQUENT,
	DECK_COL_MIN_DURATION,
	DECK_COL_FROM,
	DECK_COL_TO,
	DECK_COL_SERVICE,
	DECK_COL_COUNT
};

/* The header row: what each field position holds, and its name as written. */
struct deck_header {
	enum deck_col col[DECK_FIELDS_MAX];
	struct str name[DECK_FIELDS_MAX];
	size_t n;
};

/* Records an error (kept while fewer than BILLING_CSV_ERRORS_MAX; always
 * counted).  column is 1-based, 0 for the whole row; name may be empty. */
void deck_error_add(struct billing_csv *d, uint32_t line, uint32_t column, struct str name,
		    enum billing_csv_err kind, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Maps the header's fields to columns; 0, or -EINVAL with errors added. */
int deck_header_read(struct billing_csv *d, const struct str *fields, size_t n, uint32_t line,
		     struct deck_header *h);
/* Reads one data record into row; 0, or -EINVAL with its errors added. */
int deck_row_read(struct billing_csv *d, const struct deck_header *h, const struct str *fields,
		  size_t n, uint32_t line, struct billing_csv_row *row);
/* Sorts the rows by prefix, service and effective_from and reports each row
 * whose prefix and service repeat an earlier row's with a window that
 * overlaps it. */
void deck_duplicates_check(struct billing_csv *d, const struct deck_header *h);

#endif
