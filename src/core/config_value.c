/*
 * config_value.c — typed values of configuration keys.
 *
 * Booleans accept true/false, yes/no, on/off and 1/0.  Durations require a
 * unit ("250ms", "5s", "2m", "1h"): a bare number is refused, since "30"
 * could mean seconds or milliseconds and a wrong guess is a silent 1000x
 * error.  Bounds on integers and durations (in milliseconds) apply unless
 * both are zero.
 */
#include "core/config_private.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static int config_bool_parse(struct str s, int64_t *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (str_caseeq_cstr(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (str_caseeq_cstr(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static bool config_enum_has(const char *choices, struct str s)
{
	struct str rest = str_from_cstr(choices);

	for (;;) {
		ptrdiff_t bar = str_index(rest, '|');
		struct str one = {rest.p, bar < 0 ? rest.len : (size_t)bar};
		if (str_eq(one, s))
			return true;
		if (bar < 0)
			break;
		rest.p += bar + 1;
		rest.len -= (size_t)bar + 1;
	}
	return false;
}

static int config_duration_parse(struct str s, int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	size_t digits = 0;
	uint64_t v;

	while (digits < s.len && s.p[digits] >= '0' && s.p[digits] <= '9')
		digits++;
	if (digits == 0 || str_to_u64((struct str){s.p, digits}, &v) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!str_eq_cstr((struct str){s.p + digits, s.len - digits}, units[i].unit))
			continue;
		if (v > (uint64_t)(INT64_MAX / units[i].ms))
			return -ERANGE;
		*out = (int64_t)v * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

static int config_range_check(const struct config_key *k, int64_t v, char *why, size_t n)
{
	if ((k->min || k->max) && (v < k->min || v > k->max)) {
		snprintf(why, n, "%" PRId64 " out of range [%" PRId64 "..%" PRId64 "]%s", v, k->min,
			 k->max, k->type == CONFIG_DURATION ? " ms" : "");
		return -EINVAL;
	}
	return 0;
}

int config_value_parse(const struct config_key *k, const char *text, struct config_value *v,
		       char *why, size_t n)
{
	struct str s = str_from_cstr(text);
	int rc = 0;

	switch (k->type) {
	case CONFIG_STR:
		return 0;
	case CONFIG_INT:
		rc = str_to_i64(s, &v->num);
		if (rc < 0)
			snprintf(why, n, "bad integer \"%s\"%s", text,
				 rc == -ERANGE ? " (overflow)" : "");
		return rc < 0 ? -EINVAL : config_range_check(k, v->num, why, n);
	case CONFIG_BOOL:
		rc = config_bool_parse(s, &v->num);
		if (rc < 0)
			snprintf(why, n, "bad boolean \"%s\" (true/false, yes/no, on/off, 1/0)",
				 text);
		return rc;
	case CONFIG_ENUM:
		if (config_enum_has(k->choices ? k->choices : "", s))
			return 0;
		snprintf(why, n, "bad value \"%s\" (one of %s)", text,
			 k->choices ? k->choices : "");
		return -EINVAL;
	case CONFIG_ADDR:
		rc = net_addr_parse(s, 0, &v->addr);
		if (rc < 0)
			snprintf(why, n, "bad address \"%s\" (numeric IP, optional :port)", text);
		return rc < 0 ? -EINVAL : 0;
	case CONFIG_DURATION:
		rc = config_duration_parse(s, &v->num);
		if (rc < 0)
			snprintf(why, n, "bad duration \"%s\" (a number with unit ms, s, m or h)",
				 text);
		return rc < 0 ? -EINVAL : config_range_check(k, v->num, why, n);
	}
	snprintf(why, n, "unknown type");
	return -EINVAL;
}
