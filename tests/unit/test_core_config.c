/* Tests for src/core/config*.c: schema checks, errors with file:line and
 * key, environment overrides, families, the annotated schema output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "core/core.h"

static const struct config_key schema[] = {
    {"sip", "listen", CONFIG_ADDR, "0.0.0.0:5060", 0, 0, NULL, "SIP listen address"},
    {"sip", "workers", CONFIG_INT, "4", 1, 64, NULL, "worker threads"},
    {"sip", "timer-b", CONFIG_DURATION, "32s", 1, 600000, NULL, "INVITE timeout"},
    {"sip", "record-route", CONFIG_BOOL, "true", 0, 0, NULL, "add Record-Route"},
    {"log", "level", CONFIG_ENUM, "info", 0, 0, "debug|info|warn|error", "log level"},
    {"store", "url", CONFIG_STR, NULL, 0, 0, NULL, "database URL"},
    {"route.*", "prefix", CONFIG_STR, "/", 0, 0, NULL, "path prefix"},
    {"route.*", "upstream", CONFIG_ADDR, NULL, 0, 0, NULL, "upstream address"},
};
#define NKEYS (sizeof(schema) / sizeof(schema[0]))

static char path[64];

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_core_config_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	unsetenv("WARP_SIP_WORKERS");
	unsetenv("WARP_STORE_URL");
	unsetenv("WARP_ROUTE_BILLING_PREFIX");
	unsetenv("WARP_SIP_TIMER_B");
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct config *load(const char *text, char *err)
{
	write_file(text);
	return config_load(path, schema, NKEYS, err, CONFIG_ERR_MAX);
}

/* The error begins with "FILE:LINE: " and names the key and the reason. */
static void assert_load_error(const char *text, int line, const char *where, const char *reason)
{
	char err[CONFIG_ERR_MAX], prefix[128];

	assert_null(load(text, err));
	snprintf(prefix, sizeof(prefix), "%s:%d: %s", path, line, where);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, reason))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, prefix, reason);
}

static void test_config_valid_file_loads_typed_values(void **state)
{
	char err[CONFIG_ERR_MAX], ip[NET_ADDR_STRLEN];
	struct config *c = load("[store]\nurl = sqlite:///tmp/x.db\n\n[sip]\nworkers = 8\n"
				"timer-b = 250ms\nrecord-route = off\nlisten = [::1]:5080\n"
				"[log]\nlevel = debug ; inline comment\n",
				err);

	assert_non_null(c);
	assert_string_equal(config_str(c, "store", "url"), "sqlite:///tmp/x.db");
	assert_int_equal(config_int(c, "sip", "workers"), 8);
	assert_int_equal(config_duration_ms(c, "sip", "timer-b"), 250);
	assert_false(config_bool(c, "sip", "record-route"));
	assert_string_equal(config_str(c, "log", "level"), "debug");
	net_addr_format(config_addr(c, "sip", "listen"), ip, sizeof(ip));
	assert_string_equal(ip, "[::1]:5080");
	config_free(c);
}

static void test_config_defaults_and_origin(void **state)
{
	char err[CONFIG_ERR_MAX], want[96];
	struct config *c = load("[store]\nurl = x\n", err);

	assert_non_null(c);
	assert_int_equal(config_int(c, "sip", "workers"), 4);
	assert_int_equal(config_duration_ms(c, "sip", "timer-b"), 32000);
	assert_true(config_bool(c, "sip", "record-route"));
	assert_string_equal(config_origin(c, "sip", "workers"), "default");
	snprintf(want, sizeof(want), "%s:2", path);
	assert_string_equal(config_origin(c, "store", "url"), want);
	config_free(c);
}

static void test_config_unknown_key(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\n\nworkerz = 3\n", 5, "[sip] workerz",
			  "unknown key");
}

static void test_config_unknown_section(void **state)
{
	assert_load_error("[store]\nurl = x\n[sipp]\nworkers = 3\n", 3, "[sipp]",
			  "unknown section");
}

static void test_config_bad_integer(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\nworkers = four\n", 4, "[sip] workers",
			  "bad integer");
}

static void test_config_integer_overflow(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\nworkers = 99999999999999999999\n", 4,
			  "[sip] workers", "bad integer");
}

static void test_config_integer_out_of_range(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\nworkers = 65\n", 4, "[sip] workers",
			  "out of range [1..64]");
}

static void test_config_bad_bool(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\nrecord-route = maybe\n", 4,
			  "[sip] record-route", "bad boolean");
}

static void test_config_bad_enum(void **state)
{
	assert_load_error("[store]\nurl = x\n[log]\nlevel = loud\n", 4, "[log] level",
			  "one of debug|info|warn|error");
}

static void test_config_duration_requires_unit(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\ntimer-b = 30\n", 4, "[sip] timer-b",
			  "bad duration");
	assert_load_error("[store]\nurl = x\n[sip]\ntimer-b = 5 s\n", 4, "[sip] timer-b",
			  "bad duration");
}

static void test_config_duration_units_and_range(void **state)
{
	char err[CONFIG_ERR_MAX];
	struct config *c = load("[store]\nurl = x\n[sip]\ntimer-b = 2m\n", err);

	assert_non_null(c);
	assert_int_equal(config_duration_ms(c, "sip", "timer-b"), 120000);
	config_free(c);
	assert_load_error("[store]\nurl = x\n[sip]\ntimer-b = 1h\n", 4, "[sip] timer-b",
			  "out of range");
}

static void test_config_bad_address(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\nlisten = sip.example.com:5060\n", 4,
			  "[sip] listen", "bad address");
}

static void test_config_duplicate_key(void **state)
{
	assert_load_error("[store]\nurl = x\n[sip]\nworkers = 2\nworkers = 3\n", 5, "[sip] workers",
			  "duplicate key (first set on line 4)");
}

static void test_config_missing_required_key(void **state)
{
	assert_load_error("[sip]\nworkers = 2\n", 2, "[store] url", "missing required key");
	assert_load_error("[store]\n[sip]\n", 1, "[store] url", "missing required key");
}

static void test_config_syntax_error(void **state)
{
	assert_load_error("[store]\nurl = x\nthis line has no equals\n", 3, "", "syntax error");
}

static void test_config_indented_line_refused(void **state)
{
	assert_load_error("[store]\nurl = x\n  more\n", 3, "", "indented line");
}

static void test_config_env_override_wins_and_is_origin(void **state)
{
	char err[CONFIG_ERR_MAX];
	struct config *c;

	setenv("WARP_SIP_WORKERS", "16", 1);
	setenv("WARP_SIP_TIMER_B", "5s", 1);
	c = load("[store]\nurl = x\n[sip]\nworkers = 2\n", err);
	assert_non_null(c);
	assert_int_equal(config_int(c, "sip", "workers"), 16);
	assert_string_equal(config_origin(c, "sip", "workers"), "env WARP_SIP_WORKERS");
	assert_int_equal(config_duration_ms(c, "sip", "timer-b"), 5000);
	config_free(c);
}

static void test_config_env_supplies_required_key(void **state)
{
	char err[CONFIG_ERR_MAX];
	struct config *c;

	setenv("WARP_STORE_URL", "postgres://db", 1);
	c = config_load(NULL, schema, NKEYS, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(config_str(c, "store", "url"), "postgres://db");
	config_free(c);
}

static void test_config_env_bad_value_names_variable(void **state)
{
	char err[CONFIG_ERR_MAX];

	setenv("WARP_SIP_WORKERS", "lots", 1);
	assert_null(load("[store]\nurl = x\n", err));
	assert_true(strncmp(err, "env WARP_SIP_WORKERS: ", 22) == 0);
	assert_non_null(strstr(err, "bad integer"));
}

static void test_config_family_sections(void **state)
{
	char err[CONFIG_ERR_MAX], want[96];
	const char *names[4];
	struct config *c;

	setenv("WARP_ROUTE_BILLING_PREFIX", "/bill", 1);
	c = load("[store]\nurl = x\n[route.billing]\nupstream = 10.0.0.1:80\n"
		 "[route.crm]\nprefix = /crm\nupstream = 10.0.0.2:80\n",
		 err);
	assert_non_null(c);
	assert_int_equal(config_sections(c, "route", names, 4), 2);
	assert_string_equal(names[0], "billing");
	assert_string_equal(names[1], "crm");
	assert_int_equal(config_sections(c, "route.*", names, 1), 2);
	assert_string_equal(config_str(c, "route.crm", "prefix"), "/crm");
	assert_string_equal(config_str(c, "route.billing", "prefix"), "/bill");
	assert_string_equal(config_origin(c, "route.billing", "prefix"),
			    "env WARP_ROUTE_BILLING_PREFIX");
	snprintf(want, sizeof(want), "%s:7", path);
	assert_string_equal(config_origin(c, "route.crm", "upstream"), want);
	assert_int_equal(net_addr_port(config_addr(c, "route.crm", "upstream")), 80);
	assert_string_equal(config_str(c, "route.other", "prefix"), "/");
	config_free(c);
}

static void test_config_family_instance_missing_required_key(void **state)
{
	assert_load_error("[store]\nurl = x\n[route.billing]\nprefix = /b\n", 3,
			  "[route.billing] upstream", "missing required key");
}

static void test_config_family_unknown_key(void **state)
{
	assert_load_error("[store]\nurl = x\n[route.billing]\nupstream = 1.1.1.1\nport = 3\n", 5,
			  "[route.billing] port", "unknown key");
}

static void test_config_missing_file(void **state)
{
	char err[CONFIG_ERR_MAX];

	assert_null(config_load("/nonexistent/warp.ini", schema, NKEYS, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/warp.ini:0: cannot open"));
}

static void test_config_schema_write_documents_keys(void **state)
{
	char err[CONFIG_ERR_MAX], *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	struct config *c;

	assert_int_equal(config_schema_write(schema, NKEYS, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "[sip]\n"));
	assert_non_null(strstr(text, "; worker threads\n; type: integer, range 1..64; default: 4; "
				     "env: WARP_SIP_WORKERS\n;workers = 4\n"));
	assert_non_null(strstr(text, "; type: enum (debug|info|warn|error)"));
	assert_non_null(strstr(text, "; required; env: WARP_STORE_URL\n"));
	assert_non_null(strstr(text, ";[route.NAME]"));
	assert_non_null(strstr(text, "env: WARP_ROUTE_<NAME>_UPSTREAM"));
	/* The annotated file loads as the defaults (the required key from env). */
	write_file(text);
	setenv("WARP_STORE_URL", "x", 1);
	c = config_load(path, schema, NKEYS, err, sizeof(err));
	if (!c)
		fail_msg("%s", err);
	assert_string_equal(config_origin(c, "sip", "workers"), "default");
	config_free(c);
	free(text);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_config_valid_file_loads_typed_values),
	    T(test_config_defaults_and_origin),
	    T(test_config_unknown_key),
	    T(test_config_unknown_section),
	    T(test_config_bad_integer),
	    T(test_config_integer_overflow),
	    T(test_config_integer_out_of_range),
	    T(test_config_bad_bool),
	    T(test_config_bad_enum),
	    T(test_config_duration_requires_unit),
	    T(test_config_duration_units_and_range),
	    T(test_config_bad_address),
	    T(test_config_duplicate_key),
	    T(test_config_missing_required_key),
	    T(test_config_syntax_error),
	    T(test_config_indented_line_refused),
	    T(test_config_env_override_wins_and_is_origin),
	    T(test_config_env_supplies_required_key),
	    T(test_config_env_bad_value_names_variable),
	    T(test_config_family_sections),
	    T(test_config_family_instance_missing_required_key),
	    T(test_config_family_unknown_key),
	    T(test_config_missing_file),
	    T(test_config_schema_write_documents_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
