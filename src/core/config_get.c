/*
 * config_get.c — typed getters over a loaded configuration.
 *
 * Asking for a key the schema does not declare is a programming error and
 * aborts.  Asking for a key of a family instance that the file does not
 * have answers the family's default.
 */
#include "core/config_private.h"

#include <stdlib.h>
#include <string.h>

static const struct config_entry *config_get(const struct config *c, const char *section,
					     const char *key)
{
	for (size_t i = 0; i < c->nentries; i++)
		if (strcmp(c->entries[i].section, section) == 0 &&
		    strcmp(c->entries[i].key->key, key) == 0)
			return &c->entries[i];
	/* An instance the file does not have: the family template's entry. */
	for (size_t i = 0; i < c->nentries; i++)
		if (config_section_is_family(c->entries[i].section) &&
		    config_section_matches(c->entries[i].section, section) &&
		    strcmp(c->entries[i].key->key, key) == 0)
			return &c->entries[i];
	log_error("config", "[%s] %s is not in the schema", section, key);
	abort();
}

const char *config_str(const struct config *c, const char *section, const char *key)
{
	return config_get(c, section, key)->v.text;
}

int64_t config_int(const struct config *c, const char *section, const char *key)
{
	return config_get(c, section, key)->v.num;
}

bool config_bool(const struct config *c, const char *section, const char *key)
{
	return config_get(c, section, key)->v.num != 0;
}

int64_t config_duration_ms(const struct config *c, const char *section, const char *key)
{
	return config_get(c, section, key)->v.num;
}

const struct net_addr *config_addr(const struct config *c, const char *section, const char *key)
{
	const struct config_entry *e = config_get(c, section, key);

	return e->key->type == CONFIG_ADDR && e->v.text ? &e->v.addr : NULL;
}

const char *config_origin(const struct config *c, const char *section, const char *key)
{
	const struct config_entry *e = config_get(c, section, key);

	return e->origin ? e->origin : "unset";
}

size_t config_sections(const struct config *c, const char *family, const char **names, size_t max)
{
	struct str fam = str_from_cstr(family);
	size_t count = 0;

	if (fam.len >= 2 && fam.p[fam.len - 2] == '.' && fam.p[fam.len - 1] == '*')
		fam.len -= 2;
	for (size_t i = 0; i < c->ninstances; i++) {
		const char *s = c->instances[i];
		if (strncmp(s, fam.p, fam.len) != 0 || s[fam.len] != '.')
			continue;
		if (count < max)
			names[count] = s + fam.len + 1;
		count++;
	}
	return count;
}
