/*
 * test_export_row.c — src/export/row.c and table.c: the NDJSON row encoder
 * (each kind: strings escaped, integers, RFC 3339 timestamps, NUMERIC as an
 * exact decimal string from micro-units, negative and zero too; NULL left
 * out), the schema JSON, and the real cdrs and messages mappings run on a
 * migrated SQLite store: a CDR and a final message part encode with their
 * fields, a queued part is not ready, and the cursor's keyset skips rows
 * at or before it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/export_private.h"

static const struct export_column kinds_cols[] = {
    {"s", "s", EXPORT_K_STRING, true, "a \"quoted\" doc"},
    {"n", "n", EXPORT_K_INT64, false, "int"},
    {"t", "t", EXPORT_K_TIMESTAMP, false, "time"},
    {"m", "m", EXPORT_K_NUMERIC, false, "money"},
};
static const struct export_table kinds = {"kinds", "x", "1 = 1", "ts", "id", kinds_cols, 4};

struct fixture {
	char dir[64];
	struct store *store;
	struct store_conn *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char url[128], err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/warp-export-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(url, sizeof(url), "sqlite:%s/x.db", f->dir);
	f->store = store_open(url, err, sizeof(err));
	assert_non_null(f->store);
	assert_int_equal(store_migrate(f->store, err, sizeof(err)), 0);
	f->c = store_conn(f->store);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	store_close(f->store);
	static const char *const files[] = {"x.db", "x.db-wal", "x.db-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Runs sql (one row) and encodes row 0 with t. */
static char *encode(struct fixture *f, const struct export_table *t, const char *sql)
{
	struct store_res *r = NULL;
	struct buf b;

	buf_init(&b);
	assert_int_equal(store_exec(f->c, sql, NULL, 0, &r), 0);
	assert_int_equal(store_res_rows(r), 1);
	assert_int_equal(export_row_encode(t, r, 0, &b), 0);
	store_res_free(r);
	return buf_steal(&b);
}

static void test_each_kind(void **state)
{
	char *s =
	    encode(*state, &kinds, "SELECT 1, 'id', 'a\"b\\c\nd', 42, 1700000000123, 12345678");
	assert_string_equal(s, "{\"s\":\"a\\\"b\\\\c\\nd\",\"n\":42,"
			       "\"t\":\"2023-11-14T22:13:20.123Z\",\"m\":\"12.345678\"}");
	free(s);
}

static void test_numeric_negative_zero_and_small(void **state)
{
	char *s = encode(*state, &kinds, "SELECT 1, 'id', '', -5, 0, -1500");
	assert_string_equal(s, "{\"s\":\"\",\"n\":-5,\"t\":\"1970-01-01T00:00:00.000Z\","
			       "\"m\":\"-0.001500\"}");
	free(s);
	s = encode(*state, &kinds, "SELECT 1, 'id', 'x', 0, 0, 9223372036854775807");
	assert_non_null(strstr(s, "\"m\":\"9223372036854.775807\""));
	free(s);
}

/* Every byte a JSON string may not hold raw (RFC 8259 §7) is escaped, and
 * the encoded row is JSON jansson reads back to the same text; UTF-8
 * passes through. */
static void test_strings_escape_every_control_byte(void **state)
{
	struct fixture *f = *state;
	char sql[512], raw[64];
	size_t n = 0;

	for (int c = 1; c < 0x20; c++)
		raw[n++] = (char)c;
	raw[n] = '\0';
	/* char(1, 2, …, 31) || '"\' || 'é☃' as the string column */
	int w = snprintf(sql, sizeof(sql), "SELECT 1, 'id', char(");
	for (int c = 1; c < 0x20; c++)
		w += snprintf(sql + w, sizeof(sql) - (size_t)w, "%s%d", c > 1 ? "," : "", c);
	snprintf(sql + w, sizeof(sql) - (size_t)w,
		 ") || '\"\\' || '\xc3\xa9\xe2\x98\x83', NULL, NULL, NULL");
	char *s = encode(f, &kinds, sql);
	assert_non_null(strstr(s, "\\u0001\\u0002"));
	assert_non_null(strstr(s, "\\n\\u000b\\u000c\\r"));
	assert_non_null(strstr(s, "\\t\\n"));
	assert_non_null(strstr(s, "\\\"\\\\\xc3\xa9\xe2\x98\x83\"}"));
	json_error_t e;
	json_t *o = json_loads(s, 0, &e);
	assert_non_null(o);
	const char *back = json_string_value(json_object_get(o, "s"));
	assert_non_null(back);
	assert_int_equal(strncmp(back, raw, n), 0);
	assert_string_equal(back + n, "\"\\\xc3\xa9\xe2\x98\x83");
	json_decref(o);
	free(s);
}

/* An integer column's text goes out as it is when it is a JSON number;
 * text that is not one (a leading zero, a sign alone, letters) goes out
 * as the integer the store reads from it, so a row is always JSON. */
static void test_integers_are_always_json_numbers(void **state)
{
	static const char *const cases[][2] = {
	    {"0", "0"},	      {"-7", "-7"},  {"9223372036854775807", "9223372036854775807"},
	    {"'007'", "7"},   {"'-0'", "0"}, {"'-'", "0"},
	    {"'12abc'", "0"}, {"'x'", "0"},  {"-9223372036854775808", "-9223372036854775808"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char sql[160], want[64];
		snprintf(sql, sizeof(sql), "SELECT 1, 'id', 's', %s, NULL, NULL", cases[i][0]);
		snprintf(want, sizeof(want), "{\"s\":\"s\",\"n\":%s}", cases[i][1]);
		char *s = encode(*state, &kinds, sql);
		assert_string_equal(s, want);
		free(s);
	}
}

/* The encoder's own calendar against time_format_rfc3339 (gmtime_r). */
static void test_timestamps_agree_with_gmtime(void **state)
{
	static const int64_t fixed[] = {0,
					-1,
					951782400000LL /* 2000-02-29 */,
					4107542400000LL,
					253402300799999LL /* 9999-12-31T23:59:59.999 */,
					-62135596800000LL /* 0001-01-01 */,
					1700000000123LL};
	struct fixture *f = *state;
	uint64_t x = 88172645463325252ULL;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 2000; i++) {
		int64_t ms = i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : 0;
		if (!ms && i >= sizeof(fixed) / sizeof(fixed[0])) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			ms = (int64_t)(x % 253402300800000ULL) - 62135596800000LL;
		}
		char sql[128], want[64], got[96];
		snprintf(sql, sizeof(sql), "SELECT 1, 'id', 's', NULL, %lld, NULL", (long long)ms);
		char *s = encode(f, &kinds, sql);
		assert_int_equal(time_format_rfc3339(ms, want, sizeof(want)), 0);
		snprintf(got, sizeof(got), "{\"s\":\"s\",\"t\":\"%s\"}", want);
		assert_string_equal(s, got);
		free(s);
	}
}

static void test_nulls_are_left_out(void **state)
{
	char *s = encode(*state, &kinds, "SELECT 1, 'id', 'x', NULL, NULL, NULL");
	assert_string_equal(s, "{\"s\":\"x\"}");
	free(s);
}

static void test_schema_json(void **state)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(export_schema_json(&kinds, &b), 0);
	assert_string_equal(
	    b.p,
	    "[{\"name\":\"s\",\"type\":\"STRING\",\"mode\":\"REQUIRED\","
	    "\"description\":\"a \\\"quoted\\\" doc\"},"
	    "{\"name\":\"n\",\"type\":\"INTEGER\",\"mode\":\"NULLABLE\",\"description\":\"int\"},"
	    "{\"name\":\"t\",\"type\":\"TIMESTAMP\",\"mode\":\"NULLABLE\","
	    "\"description\":\"time\"},"
	    "{\"name\":\"m\",\"type\":\"NUMERIC\",\"mode\":\"NULLABLE\","
	    "\"description\":\"money\"}]");
	buf_fini(&b);
}

/* The ready rows of t after (ts, id), at most 10, before 'before'. */
static struct store_res *select_after(struct fixture *f, const struct export_table *t, int64_t ts,
				      const char *id, int64_t before)
{
	struct buf sql;
	struct store_res *r = NULL;
	struct store_param p[4] = {store_p_int(ts), store_p_text(id), store_p_int(before),
				   store_p_int(10)};

	buf_init(&sql);
	assert_int_equal(export_select_sql(t, &sql), 0);
	assert_int_equal(store_exec(f->c, sql.p, p, 4, &r), 0);
	buf_fini(&sql);
	return r;
}

static void test_cdr_mapping(void **state)
{
	struct fixture *f = *state;
	const struct export_table *t = export_table_find(STR_LIT("cdrs"));
	struct buf b;

	assert_non_null(t);
	assert_int_equal(
	    store_exec(f->c,
		       "INSERT INTO cdrs (id, call_id, direction, customer_id, start_ms, "
		       "answer_ms, end_ms, duration_ms, billable_ms, final_code, "
		       "attempts, created_at) VALUES ('cdr_b', 'c@x', 'termination', "
		       "'cus_1', 1000, 2000, 62000, 60000, 60000, 200, '[]', 63000), "
		       "('cdr_a', 'd@x', 'origination', NULL, 1000, NULL, 1500, 0, 0, "
		       "486, '[]', 63000)",
		       NULL, 0, NULL),
	    0);
	struct store_res *r = select_after(f, t, 0, "", 100000);
	assert_int_equal(store_res_rows(r), 2);
	assert_string_equal(store_res_text(r, 0, 1), "cdr_a"); /* same ts: by id */
	buf_init(&b);
	assert_int_equal(export_row_encode(t, r, 1, &b), 0);
	json_t *o = json_loads(b.p, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "cdr_b");
	assert_string_equal(json_string_value(json_object_get(o, "answer_time")),
			    "1970-01-01T00:00:02.000Z");
	assert_int_equal(json_integer_value(json_object_get(o, "billable_ms")), 60000);
	assert_null(json_object_get(o, "sell_price")); /* not rated yet: NULL */
	json_decref(o);
	buf_fini(&b);
	store_res_free(r);
	/* after the first: only the second; before 63000: none */
	r = select_after(f, t, 63000, "cdr_a", 100000);
	assert_int_equal(store_res_rows(r), 1);
	store_res_free(r);
	r = select_after(f, t, 0, "", 63000);
	assert_int_equal(store_res_rows(r), 0);
	store_res_free(r);
}

static void test_message_mapping_only_final(void **state)
{
	struct fixture *f = *state;
	const struct export_table *t = export_table_find(STR_LIT("messages"));

	assert_int_equal(
	    store_exec(f->c,
		       "INSERT INTO customers (id, name, status, billing_type, currency, "
		       "created_at, updated_at) VALUES ('cus_m', 'm', 'active', "
		       "'prepaid', 'USD', 1, 1)",
		       NULL, 0, NULL),
	    0);
	assert_int_equal(
	    store_exec(f->c,
		       "INSERT INTO messages (id, group_id, customer_id, origin, source, "
		       "destination, body, state, expires_at, created_at, updated_at) "
		       "VALUES ('msg_1', 'msg_1', 'cus_m', 'http', 'A', '+1', '00', "
		       "'delivered', 9, 1, 5), ('msg_2', 'msg_2', 'cus_m', 'http', 'A', "
		       "'+1', '00', 'queued', 9, 1, 5)",
		       NULL, 0, NULL),
	    0);
	struct store_res *r = select_after(f, t, 0, "", 100);
	assert_int_equal(store_res_rows(r), 1);
	char *s = NULL;
	struct buf b;
	buf_init(&b);
	assert_int_equal(export_row_encode(t, r, 0, &b), 0);
	s = buf_steal(&b);
	assert_non_null(strstr(s, "\"state\":\"delivered\""));
	assert_null(strstr(s, "\"body\""));
	free(s);
	store_res_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_each_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_numeric_negative_zero_and_small, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nulls_are_left_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_strings_escape_every_control_byte, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_integers_are_always_json_numbers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timestamps_agree_with_gmtime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cdr_mapping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_mapping_only_final, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
