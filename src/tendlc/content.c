/*
 * content.c — the two tests a content rule can make of an MT's text:
 * whether it holds a link to one of a list of hosts (a URL shortener
 * carriers filter), and whether it holds one of a list of words or
 * phrases (a forbidden-content category).  Both read the customer's text,
 * scan at most TENDLC_CONTENT_SCAN_MAX octets of it and never allocate.
 */
#include <string.h>

#include "tendlc/tendlc.h"

/* A long message of ten parts is under 1,600 characters; what lies past
 * this is not looked at (a message that long is refused earlier anyway). */
#define TENDLC_CONTENT_SCAN_MAX 8192

static bool c_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c >= 0x80;
}

static bool c_host(unsigned char c)
{
	return c_alnum(c) || c == '.' || c == '-';
}

static unsigned char c_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the lowercase pattern p, ignoring case. */
static bool c_caseeq(const char *s, size_t n, const char *p, size_t pn)
{
	if (n != pn)
		return false;
	for (size_t i = 0; i < n; i++)
		if (c_lower((unsigned char)s[i]) != (unsigned char)p[i])
			return false;
	return true;
}

/* The host h is d or a subdomain of it ("www.bit.ly" for "bit.ly"). */
static bool host_is(const char *h, size_t n, const char *d)
{
	size_t dn = strlen(d);

	if (c_caseeq(h, n, d, dn))
		return true;
	return n > dn && h[n - dn - 1] == '.' && c_caseeq(h + n - dn, dn, d, dn);
}

/* hot path: no allocation, no locks, no I/O
 * Every run of host characters is a candidate (the scheme, path and query
 * of a URL are cut off by ':' '/' '?'); dots at its ends are trimmed. */
bool tendlc_text_has_domain(struct str t, const char *const *domains, size_t nd)
{
	size_t len = t.len < TENDLC_CONTENT_SCAN_MAX ? t.len : TENDLC_CONTENT_SCAN_MAX;

	for (size_t i = 0; t.p && i < len;) {
		if (!c_host((unsigned char)t.p[i])) {
			i++;
			continue;
		}
		size_t b = i;
		while (i < len && c_host((unsigned char)t.p[i]))
			i++;
		size_t e = i;
		while (b < e && (t.p[b] == '.' || t.p[b] == '-'))
			b++;
		while (e > b && (t.p[e - 1] == '.' || t.p[e - 1] == '-'))
			e--;
		for (size_t k = 0; e > b && k < nd; k++)
			if (host_is(t.p + b, e - b, domains[k]))
				return true;
	}
	return false;
}

/* phrase (lowercase, words separated by one space) at t[i], as whole
 * words; a space in the phrase matches any run of non-word characters. */
static bool words_at(const char *t, size_t len, size_t i, const char *phrase)
{
	if (i > 0 && c_alnum((unsigned char)t[i - 1]))
		return false;
	for (const char *p = phrase; *p; p++) {
		if (*p == ' ') {
			size_t start = i;
			while (i < len && !c_alnum((unsigned char)t[i]))
				i++;
			if (i == start)
				return false;
			continue;
		}
		if (i >= len || c_lower((unsigned char)t[i]) != (unsigned char)*p)
			return false;
		i++;
	}
	return i >= len || !c_alnum((unsigned char)t[i]);
}

/* hot path: no allocation, no locks, no I/O */
bool tendlc_text_has_words(struct str t, const char *const *phrases, size_t np)
{
	size_t len = t.len < TENDLC_CONTENT_SCAN_MAX ? t.len : TENDLC_CONTENT_SCAN_MAX;

	for (size_t i = 0; t.p && i < len; i++) {
		if (!c_alnum((unsigned char)t.p[i]) ||
		    (i > 0 && c_alnum((unsigned char)t.p[i - 1])))
			continue; /* only word starts */
		for (size_t k = 0; k < np; k++)
			if (phrases[k][0] && words_at(t.p, len, i, phrases[k]))
				return true;
	}
	return false;
}
