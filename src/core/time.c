/*
 * time.c — clocks.
 *
 * Durations and timers use CLOCK_MONOTONIC so a wall-clock step never makes
 * a timeout fire early; records use wall-clock UTC epoch milliseconds.
 */
#include "core/core.h"

#include <errno.h>
#include <time.h>

static int64_t time_clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_ms(void)
{
	return time_clock_us(CLOCK_MONOTONIC) / 1000;
}

int64_t time_mono_us(void)
{
	return time_clock_us(CLOCK_MONOTONIC);
}

int64_t time_wall_ms(void)
{
	return time_clock_us(CLOCK_REALTIME) / 1000;
}

/* RFC 3339 §5.6 date-time in UTC ("Z") with three fraction digits. */
int time_format_rfc3339(int64_t wall_ms, char *out, size_t n)
{
	int64_t ms = wall_ms % 1000;
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	int w;

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	if (!gmtime_r(&secs, &tm))
		return -EINVAL;
	w = snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
	if (w < 0 || (size_t)w >= n)
		return -ENOSPC;
	return 0;
}
