/*
 * config_schema.c — schema helpers: section patterns, environment variable
 * names, and the annotated INI file that documents every key.
 *
 * The annotated file is what etc/warp.ini holds: every section, and under
 * it every key with its documentation, type, default and environment
 * variable, the assignment itself commented out so that loading the file
 * changes nothing until an operator uncomments a line.
 */
#include "core/config_private.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

bool config_section_is_family(const char *pattern)
{
	size_t n = strlen(pattern);

	return n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*';
}

bool config_section_matches(const char *pattern, const char *section)
{
	size_t n = strlen(pattern);

	if (!config_section_is_family(pattern))
		return strcmp(pattern, section) == 0;
	return strncmp(pattern, section, n - 1) == 0 && section[n - 1] != '\0';
}

static int config_env_append(char *out, size_t n, size_t *at, const char *s)
{
	for (; *s; s++) {
		char c = *s;
		const char *name = c == '*' ? "<NAME>" : NULL;
		if (name) {
			size_t l = strlen(name);
			if (*at + l >= n)
				return -ENOSPC;
			memcpy(out + *at, name, l);
			*at += l;
			continue;
		}
		if (*at + 1 >= n)
			return -ENOSPC;
		out[(*at)++] = (c == '.' || c == '-') ? '_' : (char)toupper((unsigned char)c);
	}
	return 0;
}

int config_env_name(const char *section, const char *key, char *out, size_t n)
{
	size_t at = 0;
	int rc = config_env_append(out, n, &at, "WARP_");

	rc = rc ? rc : config_env_append(out, n, &at, section);
	rc = rc ? rc : config_env_append(out, n, &at, "_");
	rc = rc ? rc : config_env_append(out, n, &at, key);
	if (n > 0)
		out[rc ? 0 : at] = '\0';
	return rc;
}

static const char *const config_type_names[] = {"string", "integer", "boolean",
						"enum",	  "address", "duration"};

static void config_schema_write_key(const struct config_key *k, FILE *out)
{
	char env[CONFIG_ENV_MAX];

	if (k->doc)
		fprintf(out, "; %s\n", k->doc);
	fprintf(out, "; type: %s", config_type_names[k->type]);
	if (k->type == CONFIG_ENUM)
		fprintf(out, " (%s)", k->choices ? k->choices : "");
	if ((k->type == CONFIG_INT || k->type == CONFIG_DURATION) && (k->min || k->max))
		fprintf(out, ", range %" PRId64 "..%" PRId64 "%s", k->min, k->max,
			k->type == CONFIG_DURATION ? " ms" : "");
	if (k->type == CONFIG_DURATION)
		fprintf(out, ", with unit ms/s/m/h");
	config_env_name(k->section, k->key, env, sizeof(env));
	if (k->def)
		fprintf(out, "; default: %s", k->def[0] ? k->def : "(empty)");
	else
		fprintf(out, "; required");
	fprintf(out, "; env: %s\n", env);
	fprintf(out, ";%s = %s\n\n", k->key, k->def ? k->def : "");
}

static bool config_section_seen_before(const struct config_key *schema, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(schema[j].section, schema[i].section) == 0)
			return true;
	return false;
}

int config_schema_write(const struct config_key *schema, size_t nkeys, FILE *out)
{
	for (size_t i = 0; i < nkeys; i++) {
		const char *sec = schema[i].section;
		if (config_section_seen_before(schema, i))
			continue;
		if (config_section_is_family(sec))
			fprintf(
			    out,
			    "; One section per instance, named [%.*s.<name>].\n;[%.*s.NAME]\n\n",
			    (int)strlen(sec) - 2, sec, (int)strlen(sec) - 2, sec);
		else
			fprintf(out, "[%s]\n\n", sec);
		for (size_t j = i; j < nkeys; j++)
			if (strcmp(schema[j].section, sec) == 0)
				config_schema_write_key(&schema[j], out);
	}
	fflush(out);
	return ferror(out) ? -EIO : 0;
}
