/*
 * test_smsc_route_filter.c — a message route's filters
 * (src/smsc/route_filter.c, route_tz.c; decision 0051): each kind alone,
 * all of them having to match, time of day across midnight and in a zone
 * with daylight saving time, and the errors the API answers 422 with.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smsc/route_filter.h"

/* 2026-12-07 14:30:00 UTC, a Monday. */
#define NOW_MS 1796653800000LL
#define HOUR_MS 3600000LL

static struct smsc_route_filter f;
static char ptr[96], why[200];

static int make(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	assert_non_null(j);
	int rc = smsc_route_filter_init(&f, j, NULL, ptr, sizeof(ptr), why, sizeof(why));
	json_decref(j);
	return rc;
}

static bool tagged_promo(void *arg, const char *tag)
{
	(void)arg;
	return strcmp(tag, "promo") == 0;
}

static struct smsc_route_msg msg(void)
{
	static const char *const labels[] = {"gold", NULL};
	return (struct smsc_route_msg){.customer_id = "cus_a",
				       .labels = labels,
				       .source = "15550001111",
				       .dest = "+12125550100",
				       .text = STR_LIT("Your code is 1234"),
				       .now_ms = NOW_MS,
				       .tagged = tagged_promo};
}

static void test_no_filters_match_everything(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{}"), 0);
	assert_false(f.any);
	assert_true(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_customers_and_labels(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{\"customers\": [\"cus_b\", \"cus_a\"]}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.customer_id = "cus_c";
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);

	m = msg();
	assert_int_equal(make("{\"customer_labels\": [\"silver\", \"gold\"]}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.labels = NULL;
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_source_destination_and_content_regexes(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{\"source_regex\": \"^1555\"}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.source = "44700";
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);

	m = msg();
	assert_int_equal(make("{\"destination_regex\": \"^\\\\+1212\"}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.dest = "+13105550100";
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);

	m = msg();
	assert_int_equal(make("{\"content_regex\": \"code is [0-9]{4}\"}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.text = STR_LIT("hello");
	assert_false(smsc_route_filter_match(&f, &m));
	m.text = STR_NULL; /* binary data: no text for a content filter */
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_destination_prefixes_read_digits(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{\"destination_prefixes\": [\"1310\", \"1212\"]}"), 0);
	assert_true(smsc_route_filter_match(&f, &m)); /* "+1212…": the '+' is not a digit */
	m.dest = "+14155550100";
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_tags_asked_of_the_caller(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{\"tags\": [\"promo\"]}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.tagged = NULL;
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
	assert_int_equal(make("{\"tags\": [\"lending\"]}"), 0);
	m = msg();
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_date_interval_inclusive(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{\"date\": {\"from\": \"2026-12-07\", \"to\": \"2026-12-07\"}}"), 0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.now_ms = NOW_MS + 10 * HOUR_MS; /* 00:30 on the 8th */
	assert_false(smsc_route_filter_match(&f, &m));
	m.now_ms = NOW_MS - 15 * HOUR_MS; /* 23:30 on the 6th */
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
	assert_int_equal(make("{\"date\": {\"from\": \"2027-01-01\"}}"), 0);
	m = msg();
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_time_of_day_and_across_midnight(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(make("{\"time_of_day\": {\"from\": \"09:00\", \"to\": \"17:00\"}}"), 0);
	assert_true(smsc_route_filter_match(&f, &m)); /* 14:30 */
	m.now_ms = NOW_MS + 3 * HOUR_MS;	      /* 17:30 */
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);

	assert_int_equal(make("{\"time_of_day\": {\"from\": \"22:00\", \"to\": \"06:00\"}}"), 0);
	m.now_ms = NOW_MS;
	assert_false(smsc_route_filter_match(&f, &m));
	m.now_ms = NOW_MS + 9 * HOUR_MS; /* 23:30 */
	assert_true(smsc_route_filter_match(&f, &m));
	m.now_ms = NOW_MS + 13 * HOUR_MS; /* 03:30 the next day */
	assert_true(smsc_route_filter_match(&f, &m));
	m.now_ms = NOW_MS + 16 * HOUR_MS; /* 06:30 */
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_time_of_day_in_a_zone(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	/* 14:30 UTC is 09:30 in New York in December (EST, UTC-5). */
	assert_int_equal(make("{\"time_of_day\": {\"from\": \"09:00\", \"to\": \"10:00\"}, "
			      "\"timezone\": \"America/New_York\"}"),
			 0);
	assert_true(smsc_route_filter_match(&f, &m));
	/* 2026-07-07 13:30 UTC is 09:30 EDT (UTC-4); 14:30 UTC is 10:30. */
	m.now_ms = NOW_MS - 153 * 24 * HOUR_MS;
	assert_false(smsc_route_filter_match(&f, &m));
	m.now_ms -= HOUR_MS;
	assert_true(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_all_filters_must_match(void **state)
{
	(void)state;
	struct smsc_route_msg m = msg();
	assert_int_equal(
	    make("{\"customers\": [\"cus_a\"], \"source_regex\": \"^1555\", "
		 "\"content_regex\": \"code\", \"time_of_day\": {\"from\": \"14:00\"}}"),
	    0);
	assert_true(smsc_route_filter_match(&f, &m));
	m.text = STR_LIT("hi");
	assert_false(smsc_route_filter_match(&f, &m));
	m = msg();
	m.source = "1666";
	assert_false(smsc_route_filter_match(&f, &m));
	m = msg();
	m.now_ms = NOW_MS - HOUR_MS;
	assert_false(smsc_route_filter_match(&f, &m));
	m = msg();
	m.customer_id = "cus_b";
	assert_false(smsc_route_filter_match(&f, &m));
	smsc_route_filter_fini(&f);
}

static void test_errors_name_the_member(void **state)
{
	(void)state;
	assert_int_equal(make("{\"source_regex\": \"([a-z\"}"), -EINVAL);
	assert_string_equal(ptr, "/filters/source_regex");
	assert_non_null(strstr(why, "POSIX extended regex"));
	assert_int_equal(make("{\"content_regex\": \"\"}"), -EINVAL);
	assert_string_equal(ptr, "/filters/content_regex");
	assert_int_equal(make("{\"time_of_day\": {\"from\": \"25:00\"}}"), -EINVAL);
	assert_string_equal(ptr, "/filters/time_of_day");
	assert_int_equal(make("{\"date\": {\"from\": \"2026-12-09\", \"to\": \"2026-12-08\"}}"),
			 -EINVAL);
	assert_string_equal(ptr, "/filters/date");
	assert_int_equal(make("{\"time_of_day\": {\"from\": \"09:00\"}, \"timezone\": "
			      "\"../../etc/passwd\"}"),
			 -EINVAL);
	assert_string_equal(ptr, "/filters/timezone");
	assert_int_equal(
	    make("{\"time_of_day\": {\"from\": \"09:00\"}, \"timezone\": \"Mars/Base\"}"), -EINVAL);
	assert_string_equal(ptr, "/filters/timezone");
	assert_int_equal(make("{\"destination_prefixes\": [\"12a\"]}"), -EINVAL);
	assert_string_equal(ptr, "/filters/destination_prefixes");
	assert_int_equal(make("{\"colour\": \"blue\"}"), -EINVAL);
	assert_string_equal(ptr, "/filters/colour");
	assert_int_equal(make("[]"), -EINVAL);
	assert_string_equal(ptr, "/filters");
}

/* make() of {"content_regex": re}, re escaped by jansson. */
static int make_content_regex(const char *re)
{
	json_t *j = json_pack("{s:s}", "content_regex", re);
	char *t = json_dumps(j, 0);
	int rc;

	json_decref(j);
	rc = make(t);
	free(t);
	return rc;
}

/* glibc's regcomp copies quantified atoms: stacked or nested quantifiers
 * would take gigabytes (the fuzzer's "o+++…"), so they are refused first. */
static void test_regexes_that_repeat_too_much_are_refused(void **state)
{
	static const char *const refused[] = {"o++",
					      "o+++++++++++++++++++++++++++",
					      "a*?",
					      "a{2}{3}",
					      "((a{30}){30}){30}",
					      "((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+",
					      "x{255}y{255}z{255}(w{200}){20}",
					      "{x(((((((((((((((((a))))))))))))))))+++"};
	static const char *const taken[] = {"code is [0-9]{4}",
					    "^(STOP|HELP)$",
					    "[+*?]+",
					    "a{2,5}b+c*d?",
					    "(a{30}){30}",
					    "\\++x",
					    "[[:digit:]]{1,3}(-[[:digit:]]{1,3})*",
					    "a{,"};
	(void)state;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = make_content_regex(refused[i]);
		if (rc == 0) {
			print_error("taken: %s\n", refused[i]);
			smsc_route_filter_fini(&f);
		}
		assert_int_equal(rc, -EINVAL);
		assert_string_equal(ptr, "/filters/content_regex");
		assert_non_null(strstr(why, "repeats too much"));
	}
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		if (make_content_regex(taken[i]) == 0)
			smsc_route_filter_fini(&f);
		else
			assert_null(strstr(why, "repeats too much"));
	}
}

/* A TZif file of one transition: UTC+1 ("A") until 1,000,000 s, then
 * UTC+2 ("B"). */
static void test_tzif_transitions(void **state)
{
	(void)state;
	uint8_t d[44 + 5 + 12 + 4] = {'T', 'Z', 'i', 'f', '2'};
	struct smsc_tz z;

	d[35] = 1; /* timecnt */
	d[39] = 2; /* typecnt */
	d[43] = 4; /* charcnt */
	uint8_t *p = d + 44;
	p[0] = 0x00, p[1] = 0x0f, p[2] = 0x42, p[3] = 0x40; /* 1,000,000 */
	p[4] = 1;					    /* to type 1 */
	p += 5;
	p[2] = 0x0e, p[3] = 0x10, p[5] = 0;  /* type 0: +3600 */
	p[8] = 0x1c, p[9] = 0x20, p[11] = 2; /* type 1: +7200 */
	memcpy(p + 12, "A\0B", 4);
	assert_int_equal(smsc_tz_parse(d, sizeof(d), &z), 0);
	assert_int_equal(smsc_tz_local(&z, 0), 3600);
	assert_int_equal(smsc_tz_local(&z, 999999), 999999 + 3600);
	assert_int_equal(smsc_tz_local(&z, 1000000), 1000000 + 7200);
	smsc_tz_fini(&z);
	assert_int_equal(smsc_tz_parse(d, sizeof(d) - 1, &z), -EINVAL); /* cut short */
	d[48] = 2;							/* no such type */
	assert_int_equal(smsc_tz_parse(d, sizeof(d), &z), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_filters_match_everything),
	    cmocka_unit_test(test_customers_and_labels),
	    cmocka_unit_test(test_source_destination_and_content_regexes),
	    cmocka_unit_test(test_regexes_that_repeat_too_much_are_refused),
	    cmocka_unit_test(test_destination_prefixes_read_digits),
	    cmocka_unit_test(test_tags_asked_of_the_caller),
	    cmocka_unit_test(test_date_interval_inclusive),
	    cmocka_unit_test(test_time_of_day_and_across_midnight),
	    cmocka_unit_test(test_time_of_day_in_a_zone),
	    cmocka_unit_test(test_all_filters_must_match),
	    cmocka_unit_test(test_errors_name_the_member),
	    cmocka_unit_test(test_tzif_transitions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
