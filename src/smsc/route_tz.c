/*
 * route_tz.c — time zones for message routes' date and time-of-day filters,
 * read from the system's TZif files (RFC 8536) when the routing snapshot is
 * built, so that the matcher turns a UTC clock into local time with a
 * binary search and no global state (localtime_r would need TZ set in the
 * environment, which no thread may change while others read it).
 *
 * Only the version 1 data block is read: every TZif version carries it, and
 * Debian's tzdata ("fat" files) lists the transitions in it up to 2037.
 * Past the last one the last offset holds.  The file is outside input to
 * this parser: fuzz_smsc_tzif.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/route_filter.h"

#define TZ_HEADER 44
#define TZ_FILE_MAX (256 * 1024)
#define TZ_NAME_MAX 64

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct tz_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static int tz_header(const uint8_t *d, size_t len, struct tz_counts *c)
{
	if (len < TZ_HEADER || memcmp(d, "TZif", 4) != 0)
		return -EINVAL;
	c->isut = be32(d + 20);
	c->isstd = be32(d + 24);
	c->leap = be32(d + 28);
	c->time = be32(d + 32);
	c->type = be32(d + 36);
	c->chars = be32(d + 40);
	/* RFC 8536 §3.1: at least one type; the indicator counts are 0 or
	 * typecnt.  The sizes bound what follows against len. */
	if (c->type == 0 || c->type > 256 || c->time > 100000 || c->leap > 100000 ||
	    (c->isut && c->isut != c->type) || (c->isstd && c->isstd != c->type))
		return -EINVAL;
	size_t need = TZ_HEADER + (size_t)c->time * 5 + (size_t)c->type * 6 + c->chars +
		      (size_t)c->leap * 8 + c->isstd + c->isut;
	return need <= len ? 0 : -EINVAL;
}

int smsc_tz_parse(const uint8_t *d, size_t len, struct smsc_tz *z)
{
	struct tz_counts c;

	memset(z, 0, sizeof(*z));
	if (tz_header(d, len, &c) < 0)
		return -EINVAL;
	const uint8_t *times = d + TZ_HEADER, *idx = times + 4 * (size_t)c.time;
	const uint8_t *types = idx + c.time;

	for (uint32_t i = 0; i < c.time; i++)
		if (idx[i] >= c.type)
			return -EINVAL;
	/* §3.2: local time before the first transition is type 0's. */
	z->off0 = (int32_t)be32(types);
	if (c.time == 0)
		return 0;
	z->at = calloc(c.time, sizeof(*z->at));
	z->off = calloc(c.time, sizeof(*z->off));
	if (!z->at || !z->off) {
		smsc_tz_fini(z);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c.time; i++) {
		z->at[i] = (int32_t)be32(times + 4 * (size_t)i);
		z->off[i] = (int32_t)be32(types + 6 * (size_t)idx[i]);
		if (i > 0 && z->at[i] <= z->at[i - 1]) { /* §3.2: ascending */
			smsc_tz_fini(z);
			return -EINVAL;
		}
	}
	z->n = c.time;
	return 0;
}

/* An IANA name: letters, digits, '_', '-', '+' and '/' between parts, no
 * part that starts with '.', so nothing outside the zone directory. */
static bool tz_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '+' ||
			  (ch == '/' && name[i + 1] != '/');
		if (!ok)
			return false;
	}
	return true;
}

int smsc_tz_load(const char *dir, const char *name, struct smsc_tz *z)
{
	char path[512];
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rc = -EINVAL;

	memset(z, 0, sizeof(*z));
	if (strcmp(name, "UTC") == 0)
		return 0;
	if (!tz_name_ok(name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", name);
	if (!(f = fopen(path, "rb"))) {
		rc = -ENOENT;
		goto done;
	}
	if (!(buf = malloc(TZ_FILE_MAX))) {
		rc = -ENOMEM;
		goto done;
	}
	len = fread(buf, 1, TZ_FILE_MAX, f);
	rc = smsc_tz_parse(buf, len, z);
done:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

void smsc_tz_fini(struct smsc_tz *z)
{
	free(z->at);
	free(z->off);
	memset(z, 0, sizeof(*z));
}

/* hot path: no allocation, no locks, no I/O */
int64_t smsc_tz_local(const struct smsc_tz *z, int64_t t)
{
	size_t lo = 0, hi = z->n;

	if (z->n == 0 || t < z->at[0])
		return t + z->off0;
	/* The last transition at or before t. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return t + z->off[lo];
}
