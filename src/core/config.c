/*
 * config.c — loading configuration: schema defaults, then the INI file
 * (parsed by inih), then WARP_<SECTION>_<KEY> environment overrides, then
 * the check that every required key got a value.
 *
 * Every value remembers where it came from ("default", "FILE:LINE",
 * "env WARP_X_Y") so an operator can ask why a setting is what it is.
 * Errors name the file, line, section and key; the first error wins.
 *
 * inih does not give its handler line numbers in Debian's build, so the
 * file is fed through a reader that counts lines, and that same reader
 * notes section headers (so empty and unknown sections are seen too).
 * Lines longer than inih's fixed line buffer and indented continuation
 * lines are refused rather than silently split or merged.
 *
 * Families: a schema section "route.*" declares [route.<name>] sections.
 * Each instance present in the file gets its own copy of the family's keys,
 * overridable from WARP_ROUTE_<NAME>_<KEY>; an instance cannot be created
 * from the environment alone.
 */
#include "core/config_private.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

struct config_load {
	struct config *c;
	const char *path;
	FILE *f;
	int line;
	char *err;
	size_t errlen;
	bool failed;
};

static void config_fail(struct config_load *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void config_fail(struct config_load *x, const char *fmt, ...)
{
	va_list ap;

	if (x->failed)
		return;
	x->failed = true;
	va_start(ap, fmt);
	if (x->errlen)
		vsnprintf(x->err, x->errlen, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------- entries */

static int config_entry_set(struct config_entry *e, const char *text, char *origin)
{
	char *copy = str_dup(str_from_cstr(text));

	if (!copy) {
		free(origin);
		return -ENOMEM;
	}
	free(e->v.text);
	free(e->origin);
	e->v.text = copy;
	e->origin = origin;
	return 0;
}

/* Adds key k for section (a copy is kept) with k's default. */
static int config_entry_add(struct config_load *x, const struct config_key *k, const char *section)
{
	struct config *c = x->c;
	struct config_entry *e;
	char why[CONFIG_ERR_MAX];

	if (c->nentries == c->capentries) {
		size_t cap = c->capentries ? c->capentries * 2 : 32;
		struct config_entry *p = realloc(c->entries, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->entries = p;
		c->capentries = cap;
	}
	e = &c->entries[c->nentries];
	memset(e, 0, sizeof(*e));
	e->key = k;
	if (!(e->section = str_dup(str_from_cstr(section))))
		return -ENOMEM;
	c->nentries++;
	if (!k->def)
		return 0;
	if (config_value_parse(k, k->def, &e->v, why, sizeof(why)) < 0) {
		config_fail(x, "schema: [%s] %s: bad default: %s", k->section, k->key, why);
		return -EINVAL;
	}
	return config_entry_set(e, k->def, str_dup(STR_LIT("default")));
}

static struct config_entry *config_entry_find(const struct config *c, const char *section,
					      const char *key)
{
	for (size_t i = 0; i < c->nentries; i++)
		if (strcmp(c->entries[i].section, section) == 0 &&
		    strcmp(c->entries[i].key->key, key) == 0)
			return &c->entries[i];
	return NULL;
}

static bool config_section_known(const struct config *c, const char *section)
{
	for (size_t i = 0; i < c->nkeys; i++)
		if (config_section_matches(c->schema[i].section, section))
			return true;
	return false;
}

static int config_defaults_add(struct config_load *x)
{
	int rc = 0;

	for (size_t i = 0; i < x->c->nkeys && rc == 0; i++)
		rc = config_entry_add(x, &x->c->schema[i], x->c->schema[i].section);
	return rc;
}

/* --------------------------------------------------------- instances */

static bool config_instance_seen(const struct config *c, const char *section)
{
	for (size_t i = 0; i < c->ninstances; i++)
		if (strcmp(c->instances[i], section) == 0)
			return true;
	return false;
}

/* A new [family.name] section: its own copy of the family's keys. */
static int config_instance_add(struct config_load *x, const char *section, int line)
{
	struct config *c = x->c;
	char **p;
	int rc = 0;

	if (config_instance_seen(c, section))
		return 0;
	p = realloc(c->instances, (c->ninstances + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->instances = p;
	if (!(c->instances[c->ninstances] = str_dup(str_from_cstr(section))))
		return -ENOMEM;
	c->ninstances++;
	for (size_t i = 0; i < c->nkeys && rc == 0; i++) {
		if (!config_section_is_family(c->schema[i].section) ||
		    !config_section_matches(c->schema[i].section, section))
			continue;
		rc = config_entry_add(x, &c->schema[i], section);
		if (rc == 0)
			c->entries[c->nentries - 1].section_line = line;
	}
	return rc;
}

/* A section header seen by the reader. */
static void config_section_note(struct config_load *x, const char *section)
{
	struct config *c = x->c;
	bool family = false;

	if (strchr(section, '*')) {
		config_fail(x, "%s:%d: [%s]: unknown section", x->path, x->line, section);
		return;
	}
	for (size_t i = 0; i < c->nkeys; i++)
		if (config_section_is_family(c->schema[i].section) &&
		    config_section_matches(c->schema[i].section, section))
			family = true;
	if (family) {
		if (config_instance_add(x, section, x->line) < 0)
			config_fail(x, "%s:%d: [%s]: out of memory", x->path, x->line, section);
		return;
	}
	if (!config_section_known(c, section)) {
		config_fail(x, "%s:%d: [%s]: unknown section", x->path, x->line, section);
		return;
	}
	for (size_t i = 0; i < c->nentries; i++)
		if (strcmp(c->entries[i].section, section) == 0 && !c->entries[i].section_line)
			c->entries[i].section_line = x->line;
}

/* ------------------------------------------------------------ reading */

static void config_line_inspect(struct config_load *x, char *line)
{
	char *p = line, *close;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#')
		return;
	if (p != line) {
		config_fail(x, "%s:%d: indented line (continuation lines are not supported)",
			    x->path, x->line);
		line[0] = '\0';
		return;
	}
	if (*p != '[' || !(close = strchr(p, ']')))
		return;
	*close = '\0';
	config_section_note(x, p + 1);
	*close = ']';
}

/* fgets for inih that counts lines, notes sections, refuses long lines. */
static char *config_reader(char *str, int num, void *stream)
{
	struct config_load *x = stream;
	size_t len;
	int ch;

	if (!fgets(str, num, x->f))
		return NULL;
	x->line++;
	len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' && !feof(x->f)) {
		config_fail(x, "%s:%d: line longer than %d characters", x->path, x->line, num - 3);
		while ((ch = fgetc(x->f)) != EOF && ch != '\n')
			;
		str[0] = '\0';
		return str;
	}
	config_line_inspect(x, str);
	return str;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_load *x = user;
	struct config_entry *e = config_entry_find(x->c, section, name);
	struct config_value v = {0};
	char why[CONFIG_ERR_MAX / 2], origin[CONFIG_ORIGIN_MAX];

	if (!e) {
		if (!section[0])
			config_fail(x, "%s:%d: [] %s: key outside any section", x->path, x->line,
				    name);
		else if (config_section_known(x->c, section))
			config_fail(x, "%s:%d: [%s] %s: unknown key", x->path, x->line, section,
				    name);
		return 0;
	}
	if (e->line) {
		config_fail(x, "%s:%d: [%s] %s: duplicate key (first set on line %d)", x->path,
			    x->line, section, name, e->line);
		return 0;
	}
	if (config_value_parse(e->key, value, &v, why, sizeof(why)) < 0) {
		config_fail(x, "%s:%d: [%s] %s: %s", x->path, x->line, section, name, why);
		return 0;
	}
	snprintf(origin, sizeof(origin), "%s:%d", x->path, x->line);
	if (config_entry_set(e, value, str_dup(str_from_cstr(origin))) < 0) {
		config_fail(x, "%s:%d: [%s] %s: out of memory", x->path, x->line, section, name);
		return 0;
	}
	e->v.num = v.num;
	e->v.addr = v.addr;
	e->line = x->line;
	return 1;
}

static void config_file_read(struct config_load *x)
{
	int rc;

	x->f = fopen(x->path, "r");
	if (!x->f) {
		config_fail(x, "%s:0: cannot open: %s", x->path, strerror(errno));
		return;
	}
	rc = ini_parse_stream(config_reader, x, config_handler, x);
	fclose(x->f);
	x->f = NULL;
	if (rc > 0)
		config_fail(x, "%s:%d: syntax error (expected [section] or key = value)", x->path,
			    rc);
	else if (rc < 0)
		config_fail(x, "%s:0: cannot parse (%d)", x->path, rc);
}

/* ----------------------------------------------- environment, checks */

static void config_env_apply(struct config_load *x, struct config_entry *e)
{
	char env[CONFIG_ENV_MAX], why[CONFIG_ERR_MAX / 2], origin[CONFIG_ORIGIN_MAX];
	struct config_value v = {0};
	const char *val;

	if (config_env_name(e->section, e->key->key, env, sizeof(env)) < 0 || !(val = getenv(env)))
		return;
	if (config_value_parse(e->key, val, &v, why, sizeof(why)) < 0) {
		config_fail(x, "env %s: [%s] %s: %s", env, e->section, e->key->key, why);
		return;
	}
	snprintf(origin, sizeof(origin), "env %s", env);
	if (config_entry_set(e, val, str_dup(str_from_cstr(origin))) < 0) {
		config_fail(x, "env %s: out of memory", env);
		return;
	}
	e->v.num = v.num;
	e->v.addr = v.addr;
}

static void config_required_check(struct config_load *x, const struct config_entry *e)
{
	char env[CONFIG_ENV_MAX];

	if (e->v.text)
		return;
	config_env_name(e->section, e->key->key, env, sizeof(env));
	if (x->path)
		config_fail(x, "%s:%d: [%s] %s: missing required key (set it in the file or %s)",
			    x->path, e->section_line ? e->section_line : x->line, e->section,
			    e->key->key, env);
	else
		config_fail(x, "(no file): [%s] %s: missing required key (set %s)", e->section,
			    e->key->key, env);
}

static void config_env_and_required(struct config_load *x)
{
	struct config *c = x->c;

	for (size_t i = 0; i < c->nentries && !x->failed; i++) {
		if (config_section_is_family(c->entries[i].section))
			continue; /* the family's template, only a fallback for getters */
		config_env_apply(x, &c->entries[i]);
		config_required_check(x, &c->entries[i]);
	}
}

struct config *config_load(const char *path, const struct config_key *schema, size_t nkeys,
			   char *err, size_t errlen)
{
	struct config_load x = {.path = path, .err = err, .errlen = errlen};

	if (errlen)
		err[0] = '\0';
	x.c = calloc(1, sizeof(*x.c));
	if (!x.c) {
		config_fail(&x, "out of memory");
		return NULL;
	}
	x.c->schema = schema;
	x.c->nkeys = nkeys;
	if (config_defaults_add(&x) < 0)
		config_fail(&x, "out of memory");
	if (!x.failed && path)
		config_file_read(&x);
	if (!x.failed)
		config_env_and_required(&x);
	if (!x.failed)
		return x.c;
	config_free(x.c);
	return NULL;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nentries; i++) {
		free(c->entries[i].section);
		free(c->entries[i].v.text);
		free(c->entries[i].origin);
	}
	for (size_t i = 0; i < c->ninstances; i++)
		free(c->instances[i]);
	free(c->instances);
	free(c->entries);
	free(c);
}
