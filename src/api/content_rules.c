/*
 * content_rules.c — /api/v1/content-rules: what an MT to a US (+1)
 * destination may not say (admins only; decision 0041).  A rule is a name
 * (what a refusal answers: 422 content_refused naming it, or the SMPP
 * status), a category, a match ('domain': a link to one of the hosts in
 * patterns or a subdomain of one; 'keyword': one of the words or phrases
 * in patterns, case-insensitive, as whole words) and an action: 'refuse'
 * the message, or 'tag' it (counted in warp_tendlc_tags_total and logged;
 * it is sent), or 'hold' it for review (accepted, then held in the queue
 * by the smsc's dispatcher until an admin releases it: decision 0050).
 * The migration seeds url_shortener with the public
 * shorteners carriers filter; it is a row like any other.  Every write
 * bumps the config version, and the send paths' snapshot compiles the
 * enabled rules once.
 */
#include <string.h>

#include "api/api_private.h"

#define PATTERNS_MAX 500

static int pattern_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	const char *s = json_string_value(v);
	(void)ctx;
	if (s && json_string_length(v) >= 1 && json_string_length(v) <= 253 && s[0] != ' ')
		return 0;
	return api_verr_set(e, 422, "invalid_pattern", ptr,
			    "a pattern is a host name or a phrase of 1 to 253 characters");
}

static int check_patterns(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			  struct api_verr *e)
{
	return api_check_list(ctx, f, *val, PATTERNS_MAX, pattern_entry, e);
}

/* A rule's name is what refusals say: a metric label and an error code's
 * detail, so letters, digits, '_' and '-'. */
static int check_rule_name(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			   struct api_verr *e)
{
	const char *s = json_string_value(*val);
	(void)ctx;
	(void)f;
	for (const char *p = s; p && *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return api_verr_set(e, 422, "invalid_name", "/name",
					    "a rule's name is lowercase letters, digits, _ and -");
	return 0;
}

static const struct api_field rule_fields[] = {
    {"name", NULL, API_F_STR, API_F_REQUIRED, 1, 64, NULL, check_rule_name},
    {"category", NULL, API_F_STR, 0, 1, 64, NULL, NULL},
    {"match", NULL, API_F_ENUM, API_F_REQUIRED, 0, 0, "domain|keyword", NULL},
    {"patterns", NULL, API_F_JSON, API_F_REQUIRED, 0, 0, NULL, check_patterns},
    {"action", NULL, API_F_ENUM, 0, 0, 0, "refuse|tag|hold", NULL},
    {"enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL},
};

const struct api_resource api_content_rules = {
    .name = "content_rule",
    .path = "/api/v1/content-rules",
    .table = "content_rules",
    .id_prefix = "crl",
    .scope = API_SCOPE_ADMIN,
    .fields = rule_fields,
    .nfields = sizeof(rule_fields) / sizeof(rule_fields[0]),
};
