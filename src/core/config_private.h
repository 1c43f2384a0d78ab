/*
 * config_private.h — pieces of the configuration loader shared between
 * config.c (loading, getters), config_value.c (typed value parsing) and
 * config_schema.c (schema lookup, environment names, annotated output).
 * Private to core/.
 */
#ifndef WARP_CORE_CONFIG_PRIVATE_H
#define WARP_CORE_CONFIG_PRIVATE_H

#include "core/core.h"

#define CONFIG_ENV_MAX 160
#define CONFIG_ORIGIN_MAX 320

/* One parsed value of one key in one section (a family instance has its own
 * entries).  Everything is owned by the entry. */
struct config_value {
	char *text;  /* NULL: unset (a required key nobody set) */
	int64_t num; /* CONFIG_INT, CONFIG_DURATION (ms), CONFIG_BOOL (0/1) */
	struct net_addr addr;
};

struct config_entry {
	const struct config_key *key;
	char *section; /* "sip", "route.billing", or the family pattern "route.*" */
	struct config_value v;
	char *origin;
	int line;	  /* > 0 once set from the file */
	int section_line; /* line of the section header, 0 if absent */
};

struct config {
	const struct config_key *schema;
	size_t nkeys;
	struct config_entry *entries;
	size_t nentries, capentries;
	char **instances; /* family instance sections, in file order */
	size_t ninstances;
};

/* Parses text as k's type into v (v->text is not touched).  On failure
 * returns -EINVAL and a human reason in why. */
int config_value_parse(const struct config_key *k, const char *text, struct config_value *v,
		       char *why, size_t n);

/* True when section names an instance of the schema section pattern: equal,
 * or pattern "a.*" and section "a.<name>" with a non-empty name. */
bool config_section_matches(const char *pattern, const char *section);
bool config_section_is_family(const char *pattern);
/* WARP_<SECTION>_<KEY>, upper case, '.', '-' and '*' become '_' ("<NAME>"
 * for a family pattern's '*'). */
int config_env_name(const char *section, const char *key, char *out, size_t n);

#endif
