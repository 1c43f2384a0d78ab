/*
 * route_filter.h — a message route's filters (route_filter.c) and the time
 * zones their date and time-of-day intervals are read in (route_tz.c),
 * private to src/smsc/.  Decision 0051.
 */
#ifndef WARP_SMSC_ROUTE_FILTER_H
#define WARP_SMSC_ROUTE_FILTER_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

/* A time zone as its TZif file's transitions (RFC 8536): from at[i] on
 * (UTC seconds) the offset is off[i]; before at[0], off0.  Past the last
 * transition the last offset holds (Debian's "fat" files carry them to
 * 2037; a footer's rule is not read). */
struct smsc_tz {
	int64_t *at;
	int32_t *off;
	size_t n;
	int32_t off0;
};

/* data[0..len) as a TZif file into z (version 1 data block, which every
 * version carries): 0, or -EINVAL for a file that does not hold. */
int smsc_tz_parse(const uint8_t *data, size_t len, struct smsc_tz *z);
/* The zone named name ("UTC", or an IANA name such as
 * "America/New_York") from dir (the system's zoneinfo when NULL):
 * 0, -EINVAL for a malformed name or file, -ENOENT for none. */
int smsc_tz_load(const char *dir, const char *name, struct smsc_tz *z);
void smsc_tz_fini(struct smsc_tz *z);
/* UTC seconds t as local seconds in z. */
int64_t smsc_tz_local(const struct smsc_tz *z, int64_t t);

#define SMSC_FILTER_LIST_MAX 32 /* entries of a list-valued filter */

/* One compiled filter set; a filter not given is not checked. */
struct smsc_route_filter {
	bool any;  /* at least one filter is set */
	bool none; /* matches no message (filters that no longer compile) */
	char **customers, **labels, **prefixes, **tags; /* each NULL-ended, or NULL */
	regex_t source_re, dest_re, content_re;
	bool has_source, has_dest, has_content;
	bool has_date, has_tod;
	int64_t date_from, date_to; /* local days since 1970-01-01, inclusive */
	int tod_from, tod_to;	    /* local minutes of the day: [from, to), wrapping midnight */
	struct smsc_tz tz;	    /* no transitions: UTC */
};

/* What a message shows the filters (dispatch.c fills it). */
struct smsc_route_msg {
	const char *customer_id;
	const char *const *labels; /* the customer's, NULL-ended (may be NULL) */
	const char *source, *dest;
	struct str text; /* its text as UTF-8; STR_NULL for binary data */
	int64_t now_ms;	 /* the caller's clock, UTC epoch ms */
	/* Whether a tagging content rule of this name matches the message. */
	bool (*tagged)(void *arg, const char *tag);
	void *tagged_arg;
};

/* filters (a JSON object; NULL or {} for none) compiled into f, time zones
 * read from zonedir (NULL: the system's).  0, or -EINVAL with the member
 * at fault as a JSON pointer under /filters in ptr and why in why. */
int smsc_route_filter_init(struct smsc_route_filter *f, const json_t *filters, const char *zonedir,
			   char *ptr, size_t ptrlen, char *why, size_t whylen);
void smsc_route_filter_fini(struct smsc_route_filter *f);
/* Whether every filter of f matches m (regexec may allocate: not a hot
 * path in the strict sense, see decision 0051). */
bool smsc_route_filter_match(const struct smsc_route_filter *f, const struct smsc_route_msg *m);
/* Whether f reads the message's text (a content or tag filter). */
bool smsc_route_filter_wants_text(const struct smsc_route_filter *f);

#endif
