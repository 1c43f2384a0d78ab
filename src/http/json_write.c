/*
 * json_write.c — the compact JSON text of a jansson value, appended to a buf.
 *
 * Every JSON reply is serialised here.  json_dumps spent a quarter of an
 * authenticated GET in snprintf and per-character escaping (callgrind:
 * ~45k instructions for a 400-byte trunk); this writer copies runs of plain
 * bytes whole and formats integers by hand.  The text is jansson's
 * JSON_COMPACT form (members in insertion order, no spaces), except that a
 * control character inside a string is escaped with lowercase hex digits
 * (buf_append_json_escaped), which JSON reads alike (RFC 8259 §7).  Reals
 * are rare in replies and keep jansson's own formatting.
 */
#include "http/http_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than any reply we build; bounds the recursion on a hostile value. */
#define JSON_WRITE_DEPTH_MAX 256

static int json_write_value(struct buf *b, const json_t *v, unsigned depth);

static int json_write_string(struct buf *b, const char *s, size_t len)
{
	int rc = buf_append_char(b, '"');

	rc = rc ? rc : buf_append_json_escaped(b, (struct str){ s, len });
	return rc ? rc : buf_append_char(b, '"');
}

/* Decimal digits of an integer, without snprintf. */
static int json_write_integer(struct buf *b, json_int_t n)
{
	char digits[STR_I64_MAX];

	return buf_append_str(b, str_from_i64((int64_t)n, digits));
}

static int json_write_real(struct buf *b, const json_t *v)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = text ? buf_append_cstr(b, text) : -ENOMEM;

	free(text);
	return rc;
}

static int json_write_object(struct buf *b, const json_t *o, unsigned depth)
{
	const char *key;
	json_t *member;
	bool first = true;
	int rc = buf_append_char(b, '{');

	json_object_foreach((json_t *)o, key, member) {
		if (rc)
			break;
		if (!first)
			rc = buf_append_char(b, ',');
		first = false;
		rc = rc ? rc : json_write_string(b, key, strlen(key));
		rc = rc ? rc : buf_append_char(b, ':');
		rc = rc ? rc : json_write_value(b, member, depth + 1);
	}
	return rc ? rc : buf_append_char(b, '}');
}

static int json_write_array(struct buf *b, const json_t *a, unsigned depth)
{
	int rc = buf_append_char(b, '[');

	for (size_t i = 0; rc == 0 && i < json_array_size(a); i++) {
		if (i)
			rc = buf_append_char(b, ',');
		rc = rc ? rc : json_write_value(b, json_array_get(a, i), depth + 1);
	}
	return rc ? rc : buf_append_char(b, ']');
}

static int json_write_value(struct buf *b, const json_t *v, unsigned depth)
{
	if (depth > JSON_WRITE_DEPTH_MAX)
		return -ELOOP;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return json_write_object(b, v, depth);
	case JSON_ARRAY:
		return json_write_array(b, v, depth);
	case JSON_STRING:
		return json_write_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return json_write_integer(b, json_integer_value(v));
	case JSON_REAL:
		return json_write_real(b, v);
	case JSON_TRUE:
		return buf_append(b, "true", 4);
	case JSON_FALSE:
		return buf_append(b, "false", 5);
	case JSON_NULL:
		return buf_append(b, "null", 4);
	}
	return -EINVAL;
}

int http_json_write(struct buf *b, const json_t *v)
{
	return v ? json_write_value(b, v, 0) : -EINVAL;
}
