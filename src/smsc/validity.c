/*
 * validity.c — SMPP 3.4 §7.1.1 times (schedule_delivery_time,
 * validity_period) as epoch milliseconds.
 *
 * Absolute: "YYMMDDhhmmsstnnp", local time of the sender with nn quarter
 * hours of offset from UTC, p '+' (ahead of UTC) or '-'.  Relative:
 * "YYMMDDhhmmss000R", a duration from now, where a year is 365 days and a
 * month 30 (the spec leaves them undefined; Kannel and most SMSCs do this).
 * We write times (query_sm_resp's final_date) in the absolute form in UTC.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "smsc/smsc_private.h"

#define SMPP_TIME_LEN 16

static int two_digits(const char *p, int *out)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -EINVAL;
	*out = (p[0] - '0') * 10 + (p[1] - '0');
	return 0;
}

static int smpp_time_fields(const char *p, int f[6])
{
	for (int i = 0; i < 6; i++)
		if (two_digits(p + 2 * i, &f[i]) < 0)
			return -EINVAL;
	return 0;
}

static int smpp_time_relative(const int f[6], const char *p, int64_t now_ms, int64_t *out)
{
	if (p[12] != '0' || p[13] != '0' || p[14] != '0')
		return -EINVAL;
	int64_t s =
	    (((int64_t)f[0] * 365 + f[1] * 30 + f[2]) * 24 + f[3]) * 3600 + f[4] * 60 + f[5];
	*out = now_ms + s * 1000;
	return 0;
}

static int smpp_time_absolute(const int f[6], const char *p, int64_t *out)
{
	int quarters;
	struct tm tm = {0};

	if (p[12] < '0' || p[12] > '9' || two_digits(p + 13, &quarters) < 0 || quarters > 48 ||
	    f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 59)
		return -EINVAL;
	tm.tm_year = 100 + f[0]; /* two-digit years are 2000-2099 */
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	int64_t utc = (int64_t)timegm(&tm) * 1000 + (p[12] - '0') * 100;
	int64_t offset = (int64_t)quarters * 15 * 60 * 1000;
	*out = p[15] == '+' ? utc - offset : utc + offset;
	return 0;
}

/* 0 with *out set, 1 for an empty field (none given), -EINVAL otherwise. */
int smsc_time_parse(struct str t, int64_t now_ms, int64_t *out)
{
	int f[6];

	if (!t.p || t.len == 0)
		return 1;
	if (t.len != SMPP_TIME_LEN || smpp_time_fields(t.p, f) < 0)
		return -EINVAL;
	if (t.p[15] == 'R')
		return smpp_time_relative(f, t.p, now_ms, out);
	if (t.p[15] != '+' && t.p[15] != '-')
		return -EINVAL;
	return smpp_time_absolute(f, t.p, out);
}

/* The absolute form in UTC: "YYMMDDhhmmsst00+" (tenths of a second, no
 * offset), as query_sm_resp's final_date carries it (§4.8.2). */
void smsc_time_format(int64_t ms, char out[SMPP_TIME_MAX])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, SMPP_TIME_MAX, "%02u%02u%02u%02u%02u%02u%u00+", (unsigned)tm.tm_year % 100,
		 (unsigned)tm.tm_mon % 12 + 1, (unsigned)tm.tm_mday % 32, (unsigned)tm.tm_hour % 24,
		 (unsigned)tm.tm_min % 60, (unsigned)tm.tm_sec % 62,
		 (unsigned)(ms % 1000) / 100 % 10);
}
