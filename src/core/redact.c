/*
 * redact.c — URLs and connection strings with their secrets masked.
 *
 * A store, Redis, JWKS or upstream URL may carry a password, either in its
 * userinfo (RFC 3986 §3.2.1, "user:password@host", which the RFC itself
 * deprecates for this reason) or as a "password=" parameter (a libpq
 * connection URI's query, or a key=value conninfo string).  Everything that
 * logs or shows such a URL passes it through url_redact first, so the value
 * never reaches a log line, a terminal or an API response.
 */
#include "core/core.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define REDACT_MASK "***"

struct redact_out {
	char *p;
	size_t n, len;
};

/* Appends what fits and keeps out NUL-terminated (truncation only shortens:
 * the secret was already replaced before it would have been copied). */
static void redact_put(struct redact_out *o, const char *s, size_t len)
{
	while (len-- > 0 && o->len + 1 < o->n)
		o->p[o->len++] = *s++;
	o->p[o->len] = '\0';
}

/* The end of a "password=" value: a quoted conninfo value runs to its
 * closing quote (backslash escapes), a plain one to a separator. */
static size_t redact_value_end(const char *v)
{
	size_t i = 0;

	if (v[0] == '\'') {
		for (i = 1; v[i] && v[i] != '\''; i++)
			if (v[i] == '\\' && v[i + 1])
				i++;
		return v[i] ? i + 1 : i;
	}
	while (v[i] && !strchr("&; \t#", v[i]))
		i++;
	return i;
}

/* Whether a parameter may start at i: at the start, or after a query or
 * conninfo separator. */
static bool redact_param_starts(const char *s, size_t i)
{
	return i == 0 || strchr("?&; \t", s[i - 1]) != NULL;
}

/* Copies s[from..to) masking every password= value in it. */
static void redact_params(struct redact_out *o, const char *s, size_t from, size_t to)
{
	static const char key[] = "password=";
	size_t i = from, klen = sizeof(key) - 1;

	while (i < to) {
		if (to - i > klen && redact_param_starts(s, i) &&
		    strncasecmp(s + i, key, klen) == 0) {
			redact_put(o, s + i, klen);
			redact_put(o, REDACT_MASK, strlen(REDACT_MASK));
			i += klen + redact_value_end(s + i + klen);
			continue;
		}
		redact_put(o, s + i++, 1);
	}
}

/* In the authority that starts at s (just after "scheme://"): when its
 * userinfo is "user:password", sets *colon to the ':' and returns the index
 * of the '@' that ends it; otherwise returns 0. */
static size_t redact_userinfo(const char *s, size_t *colon)
{
	size_t at = strcspn(s, "/?#");

	while (at > 0 && s[at - 1] != '@')
		at--;
	if (at == 0)
		return 0;
	*colon = strcspn(s, ":");
	return *colon < at - 1 ? at - 1 : 0;
}

const char *url_redact(const char *url, char *out, size_t n)
{
	struct redact_out o = {out, n, 0};
	size_t len, from = 0, colon = 0, at = 0;
	const char *sep;

	if (n == 0)
		return out;
	out[0] = '\0';
	if (!url)
		return out;
	len = strlen(url);
	/* Only a real scheme: "://" before any path, query or conninfo key. */
	sep = strstr(url, "://");
	if (sep && (size_t)(sep - url) < strcspn(url, "?#/ ="))
		at = redact_userinfo(sep + 3, &colon);
	if (at > 0) {
		from = (size_t)(sep + 3 - url);
		redact_put(&o, url, from + colon + 1);
		redact_put(&o, REDACT_MASK, strlen(REDACT_MASK));
		from += at;
	}
	redact_params(&o, url, from, len);
	return out;
}
