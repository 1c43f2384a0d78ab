/*
 * test_tendlc_keyword.c — keyword.c, content.c and csv.c: the 10DLC
 * keywords of an MO body (case, spaces and punctuation around them, the
 * phrase OPT OUT, and what is not one), which addresses are US long codes,
 * the content rules' host and phrase matchers, and the lines of an opt-out
 * import.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "tendlc/tendlc.h"

static enum tendlc_keyword kw(const char *s)
{
	return tendlc_keyword_match(str_from_cstr(s));
}

static void test_stop_words_in_any_case_and_dress(void **state)
{
	(void)state;
	const char *stops[] = {"STOP",	    "stop",    " Stop! ", "STOPALL",  "unsubscribe",
			       "Cancel.",   "END",     "quit",	  "REVOKE",   "opt out",
			       "OPT   OUT", "opt-out", "OptOut",  "\"STOP\"", "...stop..."};
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		assert_int_equal(kw(stops[i]), TENDLC_KW_STOP);
}

static void test_start_and_help_words(void **state)
{
	(void)state;
	assert_int_equal(kw("START"), TENDLC_KW_START);
	assert_int_equal(kw("unstop"), TENDLC_KW_START);
	assert_int_equal(kw("Yes!"), TENDLC_KW_START);
	assert_int_equal(kw("help"), TENDLC_KW_HELP);
	assert_int_equal(kw(" INFO?"), TENDLC_KW_HELP);
	assert_string_equal(tendlc_keyword_name(TENDLC_KW_STOP), "STOP");
}

static void test_not_a_keyword(void **state)
{
	(void)state;
	const char *others[] = {"",	   "   ",	"!!!",	      "stop it", "please stop",
				"STOPP",   "s top",	"optout now", "stöp",	 "ENDING",
				"help me", "yes please"};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_int_equal(kw(others[i]), TENDLC_KW_NONE);
	char longer[TENDLC_KEYWORD_TEXT_MAX + 8];
	memset(longer, ' ', sizeof(longer) - 1);
	memcpy(longer + 20, "STOP", 4);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(kw(longer), TENDLC_KW_NONE); /* too long to be looked at */
	assert_int_equal(tendlc_keyword_match(STR_NULL), TENDLC_KW_NONE);
}

static void test_us_long_codes(void **state)
{
	(void)state;
	assert_true(tendlc_is_us_long_code(STR_LIT("14155550100")));
	assert_true(tendlc_is_us_long_code(STR_LIT("+12125550100")));
	assert_false(tendlc_is_us_long_code(STR_LIT("18005550100"))); /* toll-free */
	assert_false(tendlc_is_us_long_code(STR_LIT("18885550100")));
	assert_false(tendlc_is_us_long_code(STR_LIT("18335550100")));
	assert_true(tendlc_is_us_long_code(STR_LIT("18105550100")));  /* 810 is Michigan */
	assert_false(tendlc_is_us_long_code(STR_LIT("4155550100")));  /* no country code */
	assert_false(tendlc_is_us_long_code(STR_LIT("11155550100"))); /* NPA starts 1 */
	assert_false(tendlc_is_us_long_code(STR_LIT("14151550100"))); /* exchange starts 1 */
	assert_false(tendlc_is_us_long_code(STR_LIT("447700900123")));
	assert_false(tendlc_is_us_long_code(STR_LIT("12345"))); /* a short code */
	assert_false(tendlc_is_us_long_code(STR_LIT("ACME")));
	assert_true(tendlc_is_us_destination(STR_LIT("+18005550100")));
	assert_false(tendlc_is_us_destination(STR_LIT("447700900123")));
}

static const char *const shorteners[] = {"bit.ly", "t.co", "tinyurl.com"};

static bool has_domain(const char *text)
{
	return tendlc_text_has_domain(str_from_cstr(text), shorteners, 3);
}

static void test_domain_rule_finds_hosts_and_subdomains(void **state)
{
	(void)state;
	assert_true(has_domain("see https://bit.ly/3xYz now"));
	assert_true(has_domain("bit.ly/abc"));
	assert_true(has_domain("go to WWW.TinyURL.com."));
	assert_true(has_domain("(t.co/x)"));
	assert_true(has_domain("http://t.co"));
	assert_false(has_domain("at.co is a different host"));
	assert_false(has_domain("bit.lyrics.example"));
	assert_false(has_domain("rabbit.ly"));
	assert_false(has_domain("just text, no link"));
	assert_false(tendlc_text_has_domain(STR_NULL, shorteners, 3));
}

static const char *const phrases[] = {"cbd oil", "thc"};

static bool has_words(const char *text)
{
	return tendlc_text_has_words(str_from_cstr(text), phrases, 2);
}

static void test_keyword_rule_matches_whole_words(void **state)
{
	(void)state;
	assert_true(has_words("Fresh CBD oil in stock"));
	assert_true(has_words("cbd   -  oil"));
	assert_true(has_words("THC"));
	assert_true(has_words("no thc-free claims"));
	assert_false(has_words("thcx"));
	assert_false(has_words("methc"));
	assert_false(has_words("cbd oils"));
	assert_false(has_words("cbdoil"));
}

static void test_csv_lines(void **state)
{
	(void)state;
	struct str in = STR_LIT("number,recipient\r\n+14155550100, +14155551234\n\n"
				"14155550100,14155551235,brd_x\nbad,line\n+1415,+14155551236");
	struct tendlc_csv_row row;
	size_t line = 0;

	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_SKIP);
	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_ROW);
	assert_true(str_eq_cstr(row.number, "+14155550100"));
	assert_true(str_eq_cstr(row.recipient, "+14155551234"));
	assert_int_equal(row.brand_id.len, 0);
	assert_int_equal(row.line, 2);
	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_SKIP);
	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_ROW);
	assert_true(str_eq_cstr(row.brand_id, "brd_x"));
	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_BAD);
	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_BAD); /* too short */
	assert_int_equal(line, 6);
	assert_int_equal(tendlc_csv_next(&in, &line, &row), TENDLC_CSV_END);
	struct str four = STR_LIT("+14155550100,+14155551234,b,extra");
	assert_int_equal(tendlc_csv_next(&four, &line, &row), TENDLC_CSV_BAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stop_words_in_any_case_and_dress),
	    cmocka_unit_test(test_start_and_help_words),
	    cmocka_unit_test(test_not_a_keyword),
	    cmocka_unit_test(test_us_long_codes),
	    cmocka_unit_test(test_domain_rule_finds_hosts_and_subdomains),
	    cmocka_unit_test(test_keyword_rule_matches_whole_words),
	    cmocka_unit_test(test_csv_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
