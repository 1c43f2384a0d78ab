/*
 * field.c — checking one JSON value against its field's declaration: type,
 * range or length, enum choices, nullability, then the field's own check.
 * Every refusal names the field with a JSON pointer ("/cps_limit").
 */
#include <string.h>

#include "api/api_private.h"

#define STR_DEFAULT_MAX 255

static int type_error(const struct api_field *f, const char *ptr, const char *want,
		      struct api_verr *e)
{
	return api_verr_set(e, 422, "invalid_type", ptr, "'%s' must be %s", f->name, want);
}

bool api_in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *c = choices; c && *c;) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);
		if (len == n && strncmp(c, v, n) == 0)
			return true;
		c = bar ? bar + 1 : NULL;
	}
	return false;
}

static int check_str(const struct api_field *f, const char *ptr, const json_t *v,
		     struct api_verr *e)
{
	if (!json_is_string(v))
		return type_error(f, ptr, "a string", e);
	size_t len = json_string_length(v);
	int64_t max = f->max ? f->max : STR_DEFAULT_MAX;
	if ((int64_t)len < f->min || (int64_t)len > max)
		return api_verr_set(e, 422, "invalid_length", ptr,
				    "'%s' must be %lld to %lld characters long", f->name,
				    (long long)f->min, (long long)max);
	if (memchr(json_string_value(v), '\0', len))
		return api_verr_set(e, 422, "invalid_value", ptr, "'%s' contains a NUL", f->name);
	return 0;
}

static int check_int(const struct api_field *f, const char *ptr, const json_t *v,
		     struct api_verr *e)
{
	if (!json_is_integer(v))
		return type_error(f, ptr, "an integer", e);
	json_int_t i = json_integer_value(v);
	if ((f->min || f->max) && (i < f->min || i > f->max))
		return api_verr_set(e, 422, "out_of_range", ptr, "'%s' must be %lld to %lld",
				    f->name, (long long)f->min, (long long)f->max);
	return 0;
}

static int check_type(const struct api_field *f, const char *ptr, const json_t *v,
		      struct api_verr *e)
{
	switch (f->type) {
	case API_F_STR:
		return check_str(f, ptr, v, e);
	case API_F_INT:
		return check_int(f, ptr, v, e);
	case API_F_BOOL:
		return json_is_boolean(v) ? 0 : type_error(f, ptr, "true or false", e);
	case API_F_ENUM:
		if (!json_is_string(v) || !api_in_choices(f->choices, json_string_value(v)))
			return api_verr_set(e, 422, "invalid_value", ptr, "'%s' must be one of %s",
					    f->name, f->choices);
		return 0;
	case API_F_JSON:
		return json_is_array(v) || json_is_object(v) ? 0 : type_error(f, ptr, "a list", e);
	}
	return 0;
}

int api_field_validate(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		       struct api_verr *e)
{
	char ptr[96];
	snprintf(ptr, sizeof(ptr), "/%s", f->name);
	if (json_is_null(*val))
		return (f->flags & API_F_NULLABLE) ? 0 : type_error(f, ptr, "given (not null)", e);
	int rc = check_type(f, ptr, *val, e);
	if (rc == 0 && f->check)
		rc = f->check(ctx, f, val, e);
	return rc;
}
