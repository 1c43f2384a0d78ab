/*
 * buf.c — growable byte buffers.
 *
 * Used to build replies, log lines and metric pages.  The storage doubles
 * when it grows and is always NUL-terminated, so b->p can be handed to C
 * string APIs; the NUL is not counted in len.
 */
#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

void buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_fini(struct buf *b)
{
	free(b->p);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->cap)
		b->p[0] = '\0';
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	b->p[b->len] = '\0';
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	int rc = buf_reserve(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, struct str s)
{
	return buf_append(b, s.p, s.len);
}

int buf_append_cstr(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* The escape for one byte that RFC 8259 §7 requires escaped (quote,
 * backslash, control characters): short forms where JSON has them. */
static size_t buf_json_escape_char(unsigned char c, char esc[6])
{
	static const char hex[] = "0123456789abcdef";
	static const char from[] = "\"\\\n\r\t\b\f";
	static const char to[] = "\"\\nrtbf";
	const char *hit = c ? memchr(from, c, sizeof(from) - 1) : NULL;

	esc[0] = '\\';
	if (hit) {
		esc[1] = to[hit - from];
		return 2;
	}
	memcpy(esc + 1, "u00", 3);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	return 6;
}

/* Runs of bytes that need no escape (including UTF-8) are copied whole. */
int buf_append_json_escaped(struct buf *b, struct str s)
{
	size_t run = 0;
	int rc = 0;

	for (size_t i = 0; i < s.len && rc == 0; i++) {
		unsigned char c = (unsigned char)s.p[i];
		char esc[6];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = buf_append(b, s.p + run, i - run);
		run = i + 1;
		if (rc == 0)
			rc = buf_append(b, esc, buf_json_escape_char(c, esc));
	}
	if (rc == 0)
		rc = buf_append(b, s.p + run, s.len - run);
	return rc;
}

char *buf_steal(struct buf *b)
{
	char *p = b->p;

	buf_init(b);
	return p;
}
