/*
 * check.c — field checks shared by the resources: E.164 numbers, dial
 * prefixes, CIDR lists, codecs, SIP URIs, host names, URLs, SMPP
 * system_ids.  Each names the offending element with a JSON pointer
 * ("/acl/2/cidr").
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "api/api_private.h"

bool api_is_digits(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* "+" then 7 to 15 digits, the first not 0 (ITU-T E.164). */
bool api_is_e164(const char *s)
{
	return s[0] == '+' && s[1] >= '1' && s[1] <= '9' && api_is_digits(s + 1, 7, 15);
}

bool api_is_ip_literal(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Host names per RFC 1123 labels, or a bare IPv4/IPv6 literal: no port, no
 * brackets, no spaces (a host field sits beside its own port field). */
bool api_is_host(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (api_is_ip_literal(s))
		return true;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* A list of at most max elements, each checked by each(); pointer prefix
 * "/name/i". */
int api_check_list(struct api_ctx *ctx, const struct api_field *f, const json_t *list,
		   size_t max, int (*each)(struct api_ctx *ctx, const json_t *v, const char *ptr,
					   struct api_verr *e),
		   struct api_verr *e)
{
	char ptr[128];
	size_t i;
	json_t *v;

	snprintf(ptr, sizeof(ptr), "/%s", f->name);
	if (!json_is_array(list))
		return api_verr_set(e, 422, "invalid_type", ptr, "'%s' must be a list", f->name);
	if (json_array_size(list) > max)
		return api_verr_set(e, 422, "too_many", ptr, "'%s' holds at most %zu entries",
				    f->name, max);
	json_array_foreach(list, i, v) {
		snprintf(ptr, sizeof(ptr), "/%s/%zu", f->name, i);
		int rc = each(ctx, v, ptr, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* An object member of a list element, with its pointer. */
const json_t *api_member(const json_t *obj, const char *name, const char *ptr, char *out,
			 size_t n)
{
	snprintf(out, n, "%s/%s", ptr, name);
	return json_object_get(obj, name);
}

int api_check_int_member(const json_t *obj, const char *name, const char *ptr, int64_t min,
			 int64_t max, bool required, struct api_verr *e)
{
	char p[160];
	const json_t *v = api_member(obj, name, ptr, p, sizeof(p));
	if (!v)
		return required ? api_verr_set(e, 422, "required", p, "'%s' is required", name) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return api_verr_set(e, 422, "out_of_range", p, "'%s' must be an integer from %lld to %lld",
				    name, (long long)min, (long long)max);
	return 0;
}

/* Refuses members other than the allowed ones, "a|b|c". */
int api_check_members(const json_t *obj, const char *ptr, const char *allowed,
		      struct api_verr *e)
{
	const char *k;
	json_t *v;
	if (!json_is_object(obj))
		return api_verr_set(e, 422, "invalid_type", ptr, "must be an object");
	json_object_foreach((json_t *)obj, k, v) {
		size_t n = strlen(k);
		const char *c = allowed;
		bool ok = false;
		while (c && *c && !ok) {
			const char *bar = strchr(c, '|');
			size_t len = bar ? (size_t)(bar - c) : strlen(c);
			ok = len == n && strncmp(c, k, n) == 0;
			c = bar ? bar + 1 : NULL;
		}
		if (!ok)
			return api_verr_set(e, 422, "unknown_field", ptr, "unknown member '%s'", k);
	}
	return 0;
}

/* Digits, '#' and '*': what a tech prefix in front of a number may hold. */
int api_check_tech_prefix(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			  struct api_verr *e)
{
	const char *s = json_string_value(*val);
	(void)ctx;
	if (strspn(s, "0123456789#*") == strlen(s))
		return 0;
	char ptr[96];
	snprintf(ptr, sizeof(ptr), "/%s", f->name);
	return api_verr_set(e, 422, "invalid_prefix", ptr, "'%s' may hold only digits, # and *",
			    f->name);
}

/* 422 with code at the field's pointer: "'name' what". */
static int field_refuse(const struct api_field *f, const char *code, const char *what,
			struct api_verr *e)
{
	char ptr[96];
	snprintf(ptr, sizeof(ptr), "/%s", f->name);
	return api_verr_set(e, 422, code, ptr, "'%s' %s", f->name, what);
}

int api_check_host(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		   struct api_verr *e)
{
	(void)ctx;
	if (api_is_host(json_string_value(*val)))
		return 0;
	return field_refuse(f, "invalid_host",
			    "must be a host name or an IPv4/IPv6 address, without a port", e);
}

/* Printable ASCII only: SMPP peers type these into configuration files, and
 * a byte outside it would not survive every client's C-Octet String. */
bool api_is_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

int api_check_system_id(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			struct api_verr *e)
{
	(void)ctx;
	if (api_is_printable(json_string_value(*val)))
		return 0;
	return field_refuse(f, "invalid_system_id", "is printable ASCII without spaces", e);
}

int api_check_exists(struct api_ctx *ctx, const struct api_field *f, const char *table,
		     const char *code, const char *what, const json_t *val, struct api_verr *e)
{
	char ptr[96];
	if (api_row_visible(ctx, table, NULL, json_string_value(val)))
		return 0;
	snprintf(ptr, sizeof(ptr), "/%s", f->name);
	return api_verr_set(e, 422, code, ptr, "no %s %s", what, json_string_value(val));
}

int api_check_word_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	const char *s = json_string_value(v);

	(void)ctx;
	if (s && strlen(s) >= 1 && strlen(s) <= 64 && api_is_printable(s))
		return 0;
	return api_verr_set(e, 422, "invalid_type", ptr,
			    "an entry is 1 to 64 printable characters without spaces");
}
