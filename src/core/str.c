/*
 * str.c — string views.
 *
 * A struct str points into bytes someone else owns (usually a receive
 * buffer), so parsers can hand out pieces without copying.  Everything here
 * works on (pointer, length) and never relies on a terminating NUL.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct str str_from_cstr(const char *s)
{
	if (!s)
		return STR_NULL;
	return (struct str){s, strlen(s)};
}

bool str_eq(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool str_eq_cstr(struct str a, const char *b)
{
	return str_eq(a, str_from_cstr(b));
}

bool str_caseeq(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

bool str_caseeq_cstr(struct str a, const char *b)
{
	return str_caseeq(a, str_from_cstr(b));
}

bool str_has_prefix(struct str s, struct str prefix)
{
	return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.p, prefix.p, prefix.len) == 0);
}

static bool str_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

struct str str_trim(struct str s)
{
	while (s.len > 0 && str_is_blank(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && str_is_blank(s.p[s.len - 1]))
		s.len--;
	return s;
}

ptrdiff_t str_index(struct str s, char c)
{
	const char *hit = s.len ? memchr(s.p, c, s.len) : NULL;
	return hit ? hit - s.p : -1;
}

/* Digits only, accumulating into a u64 with overflow checks against limit. */
static int str_digits_to_u64(struct str s, uint64_t limit, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -EINVAL;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -EINVAL;
		if (v > (limit - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int str_to_u64(struct str s, uint64_t *out)
{
	return str_digits_to_u64(s, UINT64_MAX, out);
}

int str_to_i64(struct str s, int64_t *out)
{
	bool neg = s.len > 0 && s.p[0] == '-';
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v;
	int rc;

	if (neg) {
		s.p++;
		s.len--;
	}
	rc = str_digits_to_u64(s, limit, &v);
	if (rc < 0)
		return rc;
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

struct str str_from_i64(int64_t n, char out[STR_I64_MAX])
{
	size_t i = STR_I64_MAX;
	/* Negate in unsigned arithmetic so that INT64_MIN is representable. */
	uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;

	out[--i] = '\0';
	do {
		out[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		out[--i] = '-';
	return (struct str){ out + i, STR_I64_MAX - 1 - i };
}

char *str_dup(struct str s)
{
	char *p = malloc(s.len + 1);

	if (!p)
		return NULL;
	if (s.len)
		memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return p;
}

int str_copy(char *dst, size_t n, struct str s)
{
	size_t take;

	if (n == 0)
		return -ENOSPC;
	take = s.len < n ? s.len : n - 1;
	if (take)
		memcpy(dst, s.p, take);
	dst[take] = '\0';
	return take < s.len ? -ENOSPC : 0;
}
