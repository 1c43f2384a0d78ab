/* Tests for src/core/log.c: JSON and text lines, context, level filter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>

#include "core/core.h"

static char *text;
static size_t text_len;
static FILE *out;

static int setup(void **state)
{
	out = open_memstream(&text, &text_len);
	log_context_set(NULL);
	return out ? 0 : -1;
}

static int teardown(void **state)
{
	log_setup(LOG_INFO, LOG_FORMAT_TEXT, NULL);
	fclose(out);
	free(text);
	return 0;
}

static json_t *parse_line(const char *line)
{
	json_error_t jerr;
	json_t *j = json_loads(line, 0, &jerr);

	if (!j)
		fail_msg("not JSON: %s (%s)", line, jerr.text);
	return j;
}

static void test_log_json_line_fields(void **state)
{
	json_t *j;

	log_setup(LOG_DEBUG, LOG_FORMAT_JSON, out);
	log_context_set("req_abc");
	log_info("http", "GET %s -> %d", "/x", 200);
	fflush(out);
	assert_int_equal(text[text_len - 1], '\n');
	assert_ptr_equal(strchr(text, '\n') + 1, text + text_len);
	j = parse_line(text);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(j, "component")), "http");
	assert_string_equal(json_string_value(json_object_get(j, "ctx")), "req_abc");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "GET /x -> 200");
	assert_int_equal(strlen(json_string_value(json_object_get(j, "ts"))), 24);
	json_decref(j);
}

static void test_log_json_escapes_message(void **state)
{
	const char *msg = "quote \" back \\ nl \n tab \t ctl \x01 end";
	json_t *j;

	log_setup(LOG_DEBUG, LOG_FORMAT_JSON, out);
	log_context_set("c\"x");
	log_warn("sip", "%s", msg);
	fflush(out);
	assert_int_equal(strchr(text, '\n') - text, (ptrdiff_t)text_len - 1);
	j = parse_line(text);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), msg);
	assert_string_equal(json_string_value(json_object_get(j, "ctx")), "c\"x");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
	json_decref(j);
}

static void test_log_json_without_context_has_no_ctx(void **state)
{
	json_t *j;

	log_setup(LOG_DEBUG, LOG_FORMAT_JSON, out);
	log_error("core", "boom");
	fflush(out);
	j = parse_line(text);
	assert_null(json_object_get(j, "ctx"));
	assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
	json_decref(j);
}

static void test_log_text_line_format(void **state)
{
	log_setup(LOG_DEBUG, LOG_FORMAT_TEXT, out);
	log_context_set("req_abc");
	log_info("http", "message");
	fflush(out);
	/* 2026-11-25T07:25:14.123Z INFO  http [req_abc] message */
	assert_int_equal(text_len, 24 + strlen(" INFO  http [req_abc] message\n"));
	assert_string_equal(text + 24, " INFO  http [req_abc] message\n");
	assert_int_equal(text[10], 'T');
	assert_int_equal(text[23], 'Z');
}

static void test_log_level_filter_drops_lower_levels(void **state)
{
	log_setup(LOG_WARN, LOG_FORMAT_TEXT, out);
	log_debug("x", "debug");
	log_info("x", "info");
	log_warn("x", "warn");
	log_error("x", "error");
	fflush(out);
	assert_null(strstr(text, "debug"));
	assert_null(strstr(text, " info"));
	assert_non_null(strstr(text, "WARN  x warn\n"));
	assert_non_null(strstr(text, "ERROR x error\n"));
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_ERROR));
}

static void test_log_level_and_format_parse(void **state)
{
	enum log_level l;
	enum log_format f;

	assert_int_equal(log_level_parse(STR_LIT("debug"), &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_level_parse(STR_LIT("WARN"), &l), 0);
	assert_int_equal(l, LOG_WARN);
	assert_int_equal(log_level_parse(STR_LIT("loud"), &l), -EINVAL);
	assert_int_equal(log_format_parse(STR_LIT("json"), &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse(STR_LIT("xml"), &f), -EINVAL);
}

static void *other_thread(void *arg)
{
	*(const char **)arg = log_context_get();
	return NULL;
}

static void test_log_context_is_per_thread(void **state)
{
	const char *seen = "unset";
	pthread_t t;

	log_context_set("main_ctx");
	pthread_create(&t, NULL, other_thread, &seen);
	pthread_join(t, NULL);
	assert_null(seen);
	assert_string_equal(log_context_get(), "main_ctx");
	log_context_set(NULL);
	assert_null(log_context_get());
}

#define LOG_THREADS 4
#define LOG_LINES 500

static void *log_many(void *arg)
{
	char ctx[16];

	snprintf(ctx, sizeof(ctx), "t%d", (int)(intptr_t)arg);
	log_context_set(ctx);
	for (int i = 0; i < LOG_LINES; i++)
		log_info("load", "line %d of a message long enough to tempt interleaving", i);
	return NULL;
}

static void test_log_lines_from_threads_do_not_interleave(void **state)
{
	pthread_t t[LOG_THREADS];
	int lines = 0;

	log_setup(LOG_INFO, LOG_FORMAT_JSON, out);
	for (intptr_t i = 0; i < LOG_THREADS; i++)
		pthread_create(&t[i], NULL, log_many, (void *)i);
	for (int i = 0; i < LOG_THREADS; i++)
		pthread_join(t[i], NULL);
	fflush(out);
	for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		json_decref(parse_line(line));
		lines++;
	}
	assert_int_equal(lines, LOG_THREADS * LOG_LINES);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_log_json_line_fields),
	    T(test_log_json_escapes_message),
	    T(test_log_json_without_context_has_no_ctx),
	    T(test_log_text_line_format),
	    T(test_log_level_filter_drops_lower_levels),
	    T(test_log_level_and_format_parse),
	    T(test_log_context_is_per_thread),
	    T(test_log_lines_from_threads_do_not_interleave),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
