/*
 * deck_time.c — the effective dates of a rate deck's rows.
 *
 * Carriers write "2026-12-01" (midnight UTC), a spreadsheet's
 * "2026-12-01 00:00" or "2026-12-01 00:00:00", or RFC 3339
 * ("2026-12-01T00:00:00Z", "2026-12-01T01:00:00+01:00", fractions of a
 * second allowed).  A time without an offset is UTC: decks are priced in
 * UTC, and a local time would make a row's window depend on the importing
 * machine.  No libc time functions: the civil date is turned into days by
 * arithmetic, so the result never depends on TZ or locale.
 */
#include <errno.h>

#include "billing.h"

#define MS_PER_DAY ((int64_t)86400000)

/* Reads exactly n digits at *p (advancing it). */
static int digits_read(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian).  Counting years
 * from March puts the leap day last, so each era of 400 years has the same
 * 146097 days and the month offsets are one formula. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t yy = m <= 2 ? y - 1 : y;
	int64_t era = yy / 400;
	int64_t yoe = yy - era * 400;
	int64_t mp = m > 2 ? m - 3 : m + 9;
	int64_t doy = (153 * mp + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static int date_read(const char **p, const char *end, int64_t *days)
{
	int y, m, d;

	if (digits_read(p, end, 4, &y) < 0 || *p >= end || *(*p)++ != '-' ||
	    digits_read(p, end, 2, &m) < 0 || *p >= end || *(*p)++ != '-' ||
	    digits_read(p, end, 2, &d) < 0)
		return -EINVAL;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EINVAL;
	*days = days_from_civil(y, m, d);
	return 0;
}

/* "HH:MM[:SS[.fff]]" as milliseconds into the day. */
static int clock_read(const char **p, const char *end, int64_t *ms)
{
	int h, min, s = 0, frac = 0, scale = 100;

	if (digits_read(p, end, 2, &h) < 0 || *p >= end || *(*p)++ != ':' ||
	    digits_read(p, end, 2, &min) < 0)
		return -EINVAL;
	if (*p < end && **p == ':') {
		(*p)++;
		if (digits_read(p, end, 2, &s) < 0)
			return -EINVAL;
		if (*p < end && **p == '.') {
			(*p)++;
			if (*p >= end || **p < '0' || **p > '9')
				return -EINVAL;
			for (; *p < end && **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
				frac += (**p - '0') * scale;
		}
	}
	if (h > 23 || min > 59 || s > 59)
		return -EINVAL;
	*ms = ((int64_t)h * 3600 + min * 60 + s) * 1000 + frac;
	return 0;
}

/* "Z", "+HH:MM" or "-HHMM" (RFC 3339 §5.6 time-offset) as milliseconds
 * east of UTC; nothing at all is UTC. */
static int offset_read(const char **p, const char *end, int64_t *ms)
{
	int h, m, sign;

	*ms = 0;
	if (*p == end)
		return 0;
	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -EINVAL;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (digits_read(p, end, 2, &h) < 0)
		return -EINVAL;
	if (*p < end && **p == ':')
		(*p)++;
	if (digits_read(p, end, 2, &m) < 0 || h > 23 || m > 59)
		return -EINVAL;
	*ms = sign * ((int64_t)h * 3600 + m * 60) * 1000;
	return 0;
}

int billing_csv_time_parse(struct str s, int64_t *ms)
{
	struct str t = str_trim(s);
	const char *p = t.p, *end = t.p + t.len;
	int64_t days, clock = 0, offset = 0;

	if (!t.len || date_read(&p, end, &days) < 0)
		return -EINVAL;
	if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
		p++;
		if (clock_read(&p, end, &clock) < 0 || offset_read(&p, end, &offset) < 0)
			return -EINVAL;
	}
	if (p != end)
		return -EINVAL;
	*ms = days * MS_PER_DAY + clock - offset;
	return *ms < 0 ? -EINVAL : 0;
}
