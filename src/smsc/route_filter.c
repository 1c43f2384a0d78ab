/*
 * route_filter.c — a message route's filters, as Jasmin's MT routes have
 * them (decision 0051): the customer (by id, or by a label set on the
 * customer: WARP's customer group), the source address by POSIX extended
 * regex, the destination by prefixes or regex, the text by regex, a date
 * interval and a time-of-day interval in a time zone, and the tags the
 * content rules' "tag" action gives.  Every filter given must match; a
 * list matches when one of its entries does.
 *
 * The filters are compiled once, into the routing snapshot (routes.c), and
 * checked against the same JSON by the API before a route is stored, so a
 * regex or zone the snapshot could not build is a 422 naming it.  The clock
 * comes from the caller.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/route_filter.h"
#include "smsc/smsc.h"

#define FILTER_TEXT_MAX 4096 /* octets of a field a regex reads */
#define FILTER_MEMBERS                                                                             \
	"customers|customer_labels|source_regex|destination_prefixes|destination_regex|"           \
	"content_regex|date|time_of_day|timezone|tags"

struct filter_err {
	char *ptr, *why;
	size_t ptrlen, whylen;
};

static int filter_fail(struct filter_err *e, const char *member, const char *fmt, ...)
{
	va_list ap;

	snprintf(e->ptr, e->ptrlen, "/filters%s%s", member[0] ? "/" : "", member);
	va_start(ap, fmt);
	vsnprintf(e->why, e->whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void list_free(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

/* A list of 1..SMSC_FILTER_LIST_MAX non-empty strings (digits only when
 * digits) as a NULL-ended copy. */
static int filter_list(const json_t *v, const char *member, bool digits, char ***out,
		       struct filter_err *e)
{
	size_t n = json_array_size(v), i;
	const json_t *s;

	if (!json_is_array(v) || n == 0 || n > SMSC_FILTER_LIST_MAX)
		return filter_fail(e, member, "'%s' is a list of 1 to %d strings", member,
				   SMSC_FILTER_LIST_MAX);
	if (!(*out = calloc(n + 1, sizeof(**out))))
		return -ENOMEM;
	json_array_foreach(v, i, s)
	{
		const char *t = json_string_value(s);
		bool ok = t && t[0] && strlen(t) <= 64;
		for (size_t k = 0; ok && digits && t[k]; k++)
			ok = t[k] >= '0' && t[k] <= '9';
		if (!ok)
			return filter_fail(e, member, "'%s' entries are 1 to 64 %s", member,
					   digits ? "digits" : "characters");
		if (!((*out)[i] = strdup(t)))
			return -ENOMEM;
	}
	return 0;
}

/* The most nodes a filter's regex may compile to. */
#define REGEX_NODES_MAX 4096

/* Skips a bracket expression from its '[' ("[]a]", "[^]a]", "[[:digit:]]"):
 * the position of its ']', or NULL when it is not closed. */
static const char *regex_bracket_end(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			const char *q = strchr(p + 2, p[1]);
			while (q && q[1] != ']')
				q = strchr(q + 1, p[1]);
			if (!q)
				return NULL;
			p = q + 2;
			continue;
		}
		p++;
	}
	return *p ? p : NULL;
}

/* "{n}", "{n,}" or "{n,m}" at p: the copies regcomp makes of its atom (the
 * larger bound, plus one), and its end in *end; 0 when it is not one. */
static size_t regex_interval(const char *p, const char **end)
{
	char *e;
	unsigned long n = strtoul(p + 1, &e, 10), m = n;

	if (e == p + 1 || n > 255)
		return 0;
	if (*e == ',') {
		const char *f = e + 1;
		m = *f == '}' ? n : strtoul(f, &e, 10);
		if (*f != '}' && (e == f || m > 255 || m < n))
			return 0;
		if (*f == '}')
			e = (char *)f;
	}
	if (*e != '}')
		return 0;
	*end = e;
	return (m > n ? m : n) + 1;
}

/* Whether s compiles to a bounded size.  glibc's regcomp copies a quantified
 * atom once per repetition ("+" twice, "{n,m}" m times), so stacked or
 * nested quantifiers grow exponentially: "o++++++++" took gigabytes (the
 * fuzzer found it).  A quantifier right after another is undefined in POSIX
 * EREs anyway (XBD 9.4.6) and refused; the rest is counted, groups
 * multiplied by their quantifier, against REGEX_NODES_MAX.  An unclosed
 * bracket is left to regcomp's own error. */
static bool regex_bounded(const char *s)
{
	size_t open[16], size = 0, last = 0;
	size_t depth = 0;
	bool quantified = false;

	for (const char *p = s; *p; p++) {
		size_t w;
		switch (*p) {
		case '*':
		case '?':
			w = 1;
			break;
		case '+':
			w = 2;
			break;
		case '{':
			if ((w = regex_interval(p, &p)))
				break;
			last = 1, size++, quantified = false; /* glibc takes it as a literal */
			continue;
		case '(':
			if (depth == sizeof(open) / sizeof(open[0]))
				return false;
			open[depth++] = size;
			size = last = 0;
			quantified = false;
			continue;
		case ')':
			if (depth == 0) {
				last = 1, size++, quantified = false; /* a literal */
				continue;
			}
			last = size ? size : 1;
			size = open[--depth] + last;
			quantified = false;
			continue;
		case '[':
			if (!(p = regex_bracket_end(p)))
				return true;
			last = 1, size++, quantified = false;
			continue;
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			last = 1, size++, quantified = false;
			continue;
		}
		if (quantified)
			return false;
		quantified = true;
		size += last * (w - 1);
		last *= w;
		if (size > REGEX_NODES_MAX)
			return false;
	}
	return size <= REGEX_NODES_MAX;
}

static int filter_regex(const json_t *v, const char *member, regex_t *re, bool *has,
			struct filter_err *e)
{
	const char *s = json_string_value(v);
	char msg[128];
	int rc;

	if (!s || !s[0] || strlen(s) > 512)
		return filter_fail(e, member, "'%s' is a regular expression of 1 to 512 characters",
				   member);
	if (!regex_bounded(s))
		return filter_fail(e, member,
				   "'%s' repeats too much (a quantifier on a quantifier, or more "
				   "than %d copies of its atoms)",
				   member, REGEX_NODES_MAX);
	if ((rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, re, msg, sizeof(msg));
		return filter_fail(e, member, "'%s' is not a POSIX extended regex: %s", member,
				   msg);
	}
	*has = true;
	return 0;
}

/* "YYYY-MM-DD" as days since 1970-01-01 (proleptic Gregorian). */
static int parse_date(const char *s, int64_t *days)
{
	int y, m, d;
	char tail;

	if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 ||
	    m > 12 || d < 1 || d > 31 || y < 1970 || y > 9999)
		return -EINVAL;
	/* Howard Hinnant's days_from_civil. */
	int64_t yy = m <= 2 ? y - 1 : y, era = yy / 400, yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	*days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
	return 0;
}

/* "HH:MM" as minutes of the day; "24:00" is the day's end. */
static int parse_tod(const char *s, int *min)
{
	int h, m;
	char tail;

	if (!s || strlen(s) != 5 || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || m < 0 ||
	    m > 59 || h > 24 || (h == 24 && m != 0))
		return -EINVAL;
	*min = h * 60 + m;
	return 0;
}

/* One end of an interval: a date's days or a time of day's minutes. */
static int parse_end(const char *s, bool date, int64_t *out)
{
	int minute;

	if (date)
		return parse_date(s, out);
	if (parse_tod(s, &minute) < 0)
		return -EINVAL;
	*out = minute;
	return 0;
}

/* {"from": …, "to": …}: either may be left out (open), not both. */
static int filter_interval(const json_t *v, const char *member, bool date, int64_t *from,
			   int64_t *to, struct filter_err *e)
{
	const char *f = json_string_value(json_object_get(v, "from"));
	const char *t = json_string_value(json_object_get(v, "to"));
	const char *form = date ? "YYYY-MM-DD" : "HH:MM";

	if (!json_is_object(v) || (!f && !t) || json_object_size(v) != (size_t)(!!f + !!t))
		return filter_fail(e, member, "'%s' is {\"from\": \"%s\", \"to\": \"%s\"}", member,
				   form, form);
	*from = 0;
	*to = date ? INT64_MAX : 24 * 60;
	if (f && parse_end(f, date, from) < 0)
		return filter_fail(e, member, "'%s' from is %s", member, form);
	if (t && parse_end(t, date, to) < 0)
		return filter_fail(e, member, "'%s' to is %s", member, form);
	if (date && *from > *to)
		return filter_fail(e, member, "'%s' from is after to", member);
	if (!date && *from == *to)
		return filter_fail(e, member, "'%s' from and to are the same time", member);
	return 0;
}

static int filter_zone(const json_t *v, const char *zonedir, struct smsc_tz *tz,
		       struct filter_err *e)
{
	const char *s = json_string_value(v);
	int rc = s ? smsc_tz_load(zonedir, s, tz) : -EINVAL;

	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return filter_fail(e, "timezone", "'timezone' is UTC or an IANA time zone name%s%s",
				   s ? ": no zone " : "", s ? s : "");
	return 0;
}

static int filter_member(struct smsc_route_filter *f, const char *k, const json_t *v,
			 const char *zonedir, struct filter_err *e)
{
	int64_t from, to;
	int rc = 0;

	if (strcmp(k, "customers") == 0)
		rc = filter_list(v, k, false, &f->customers, e);
	else if (strcmp(k, "customer_labels") == 0)
		rc = filter_list(v, k, false, &f->labels, e);
	else if (strcmp(k, "destination_prefixes") == 0)
		rc = filter_list(v, k, true, &f->prefixes, e);
	else if (strcmp(k, "tags") == 0)
		rc = filter_list(v, k, false, &f->tags, e);
	else if (strcmp(k, "source_regex") == 0)
		rc = filter_regex(v, k, &f->source_re, &f->has_source, e);
	else if (strcmp(k, "destination_regex") == 0)
		rc = filter_regex(v, k, &f->dest_re, &f->has_dest, e);
	else if (strcmp(k, "content_regex") == 0)
		rc = filter_regex(v, k, &f->content_re, &f->has_content, e);
	else if (strcmp(k, "timezone") == 0)
		rc = filter_zone(v, zonedir, &f->tz, e);
	else if (strcmp(k, "date") == 0) {
		if ((rc = filter_interval(v, k, true, &from, &to, e)) == 0) {
			f->has_date = true;
			f->date_from = from;
			f->date_to = to;
		}
	} else if (strcmp(k, "time_of_day") == 0) {
		if ((rc = filter_interval(v, k, false, &from, &to, e)) == 0) {
			f->has_tod = true;
			f->tod_from = (int)from;
			f->tod_to = (int)to;
		}
	} else
		rc = filter_fail(e, k, "unknown filter '%s' (known: %s)", k, FILTER_MEMBERS);
	return rc;
}

int smsc_route_filter_init(struct smsc_route_filter *f, const json_t *filters, const char *zonedir,
			   char *ptr, size_t ptrlen, char *why, size_t whylen)
{
	struct filter_err e = {ptr, why, ptrlen, whylen};
	const char *k;
	json_t *v;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	if (!filters || json_is_null(filters))
		return 0;
	if (!json_is_object(filters))
		return filter_fail(&e, "", "'filters' is an object");
	json_object_foreach((json_t *)filters, k, v)
	{
		if ((rc = filter_member(f, k, v, zonedir, &e)) < 0)
			break;
		f->any = true;
	}
	if (rc == 0 && json_object_get(filters, "timezone") && !f->has_date && !f->has_tod)
		rc = filter_fail(&e, "timezone", "'timezone' needs a date or time_of_day filter");
	if (rc < 0)
		smsc_route_filter_fini(f);
	return rc;
}

void smsc_route_filter_fini(struct smsc_route_filter *f)
{
	list_free(f->customers);
	list_free(f->labels);
	list_free(f->prefixes);
	list_free(f->tags);
	if (f->has_source)
		regfree(&f->source_re);
	if (f->has_dest)
		regfree(&f->dest_re);
	if (f->has_content)
		regfree(&f->content_re);
	smsc_tz_fini(&f->tz);
	memset(f, 0, sizeof(*f));
}

bool smsc_route_filter_wants_text(const struct smsc_route_filter *f)
{
	return f->has_content || f->tags;
}

/* ------------------------------------------------------------ matching */

static bool list_has(char *const *l, const char *s)
{
	for (size_t i = 0; s && l[i]; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

static bool labels_meet(char *const *want, const char *const *have)
{
	for (size_t i = 0; have && have[i]; i++)
		if (list_has(want, have[i]))
			return true;
	return false;
}

static bool prefix_meets(char *const *prefixes, const char *dest)
{
	char digits[64];
	size_t n = 0;

	for (size_t i = 0; dest && dest[i] && n + 1 < sizeof(digits); i++)
		if (dest[i] >= '0' && dest[i] <= '9')
			digits[n++] = dest[i];
	digits[n] = '\0';
	for (size_t i = 0; prefixes[i]; i++)
		if (strncmp(digits, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static bool regex_meets(const regex_t *re, struct str s)
{
	char buf[FILTER_TEXT_MAX + 1];

	if (!s.p)
		return false;
	if (str_copy(buf, sizeof(buf), s) < 0) { /* longer: its first FILTER_TEXT_MAX octets */
		memcpy(buf, s.p, FILTER_TEXT_MAX);
		buf[FILTER_TEXT_MAX] = '\0';
	}
	return regexec(re, buf, 0, NULL, 0) == 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The date and time of day, both read in the filter's zone. */
static bool time_meets(const struct smsc_route_filter *f, int64_t now_ms)
{
	int64_t local = smsc_tz_local(&f->tz, floor_div(now_ms, 1000));
	int64_t day = floor_div(local, 86400);
	int minute = (int)((local - day * 86400) / 60);

	if (f->has_date && (day < f->date_from || day > f->date_to))
		return false;
	if (!f->has_tod)
		return true;
	if (f->tod_from < f->tod_to)
		return minute >= f->tod_from && minute < f->tod_to;
	return minute >= f->tod_from || minute < f->tod_to; /* across midnight */
}

static bool tags_meet(const struct smsc_route_filter *f, const struct smsc_route_msg *m)
{
	for (size_t i = 0; m->tagged && f->tags[i]; i++)
		if (m->tagged(m->tagged_arg, f->tags[i]))
			return true;
	return false;
}

bool smsc_route_filter_match(const struct smsc_route_filter *f, const struct smsc_route_msg *m)
{
	if (!f->any)
		return true;
	if (f->none)
		return false;
	if (f->customers && !list_has(f->customers, m->customer_id))
		return false;
	if (f->labels && !labels_meet(f->labels, m->labels))
		return false;
	if (f->prefixes && !prefix_meets(f->prefixes, m->dest))
		return false;
	if ((f->has_date || f->has_tod) && !time_meets(f, m->now_ms))
		return false;
	if (f->has_source && !regex_meets(&f->source_re, str_from_cstr(m->source)))
		return false;
	if (f->has_dest && !regex_meets(&f->dest_re, str_from_cstr(m->dest)))
		return false;
	if (f->has_content && !regex_meets(&f->content_re, m->text))
		return false;
	return !f->tags || tags_meet(f, m);
}

int smsc_route_filters_check(const struct json_t *filters, char *ptr, size_t ptrlen, char *why,
			     size_t whylen)
{
	struct smsc_route_filter f;
	int rc = smsc_route_filter_init(&f, filters, NULL, ptr, ptrlen, why, whylen);

	if (rc == 0)
		smsc_route_filter_fini(&f);
	return rc;
}
