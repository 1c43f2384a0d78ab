/*
 * test_tendlc_check.c — snapshot.c and check.c: the compliance snapshot
 * built from a migrated SQLite store, and what it answers for an MT: a US
 * long code sending to a US destination bound to no campaign, to a
 * suspended one or to another customer's is unregistered; a bound one of
 * an active campaign passes, as do toll-free numbers and alphanumeric
 * senders; an opted-out pair is refused, by number, or by brand when the
 * opt-out scope is the brand, and only for the customer that recorded it;
 * the seeded url_shortener rule refuses a bit.ly link to a US destination
 * only; a tagging rule lets the message pass and names itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendlc/tendlc.h"

struct check_fixture {
	char dir[64];
	struct store *store;
	struct snapshot_loader *loader;
	struct snapshot *snap;
	const struct tendlc_snap *t;
};

static void check_exec(struct store *s, const char *sql)
{
	assert_int_equal(store_exec(store_conn(s), sql, NULL, 0, NULL), 0);
}

static void check_rows(struct store *s)
{
	check_exec(s,
		   "INSERT INTO customers (id, name, status, billing_type, currency, created_at, "
		   "updated_at) VALUES ('cus_a', 'a', 'active', 'prepaid', 'USD', 1, 1), "
		   "('cus_b', 'b', 'active', 'prepaid', 'USD', 1, 1)");
	check_exec(s, "INSERT INTO numbers (id, e164, customer_id, sms, created_at, updated_at) "
		      "VALUES ('num_1', '+14155550101', 'cus_a', 1, 1, 1), "
		      "('num_2', '+14155550102', 'cus_a', 1, 1, 1), "
		      "('num_3', '+14155550103', 'cus_a', 1, 1, 1), "
		      "('num_4', '+14155550104', 'cus_a', 1, 1, 1)");
	check_exec(s,
		   "INSERT INTO brands (id, customer_id, legal_name, ein, vertical, status, "
		   "created_at, updated_at) VALUES ('brd_1', 'cus_a', 'A', '123456789', 'RETAIL', "
		   "'verified', 1, 1)");
	check_exec(
	    s, "INSERT INTO campaigns (id, customer_id, brand_id, use_case, opt_out_text, "
	       "help_text, opt_in_text, status, created_at, updated_at) VALUES ('cmp_on', "
	       "'cus_a', 'brd_1', 'MIXED', 'bye', 'help text', NULL, 'active', 1, 1), "
	       "('cmp_off', 'cus_a', 'brd_1', 'MIXED', 'bye', 'help', 'hi', 'suspended', 1, 1)");
	check_exec(s, "INSERT INTO campaign_numbers (id, customer_id, campaign_id, number_id, "
		      "created_at, updated_at) VALUES ('cnb_1', 'cus_a', 'cmp_on', 'num_1', 1, 1), "
		      "('cnb_2', 'cus_a', 'cmp_off', 'num_2', 1, 1), "
		      "('cnb_4', 'cus_a', 'cmp_on', 'num_4', 1, 1)");
	check_exec(
	    s, "INSERT INTO opt_outs (id, customer_id, number, recipient, source, created_at, "
	       "updated_at) VALUES ('opt_1', 'cus_a', '+14155550101', '+14155559999', "
	       "'keyword', 1, 1), ('opt_2', 'cus_a', '+14155550101', '+447700900999', 'api', 1, "
	       "1)");
	check_exec(s, "INSERT INTO content_rules (id, name, match, patterns, action, created_at, "
		      "updated_at) VALUES ('crl_t', 'lending', 'keyword', '[\"Payday  Loan\"]', "
		      "'tag', 1, 1), ('crl_off', 'off', 'keyword', '[\"hello\"]', 'refuse', 1, 1)");
	check_exec(s, "UPDATE content_rules SET enabled = 0 WHERE id = 'crl_off'");
}

static int check_setup_scope(void **state, bool brand_wide)
{
	struct check_fixture *f = calloc(1, sizeof(*f));
	struct tendlc_opts o = {.opt_out_brand_wide = brand_wide};
	char url[128], err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/warp-tendlc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(url, sizeof(url), "sqlite:%s/t.db", f->dir);
	f->store = store_open(url, err, sizeof(err));
	assert_non_null(f->store);
	assert_int_equal(store_migrate(f->store, err, sizeof(err)), 0);
	check_rows(f->store);
	f->loader = snapshot_loader_new(f->store, 60000); /* built once, never polled */
	assert_non_null(f->loader);
	f->snap = tendlc_snapshot_register(f->loader, "test", &o);
	assert_non_null(f->snap);
	f->t = snapshot_acquire(f->snap);
	assert_non_null(f->t);
	*state = f;
	return 0;
}

static int check_setup(void **state)
{
	return check_setup_scope(state, false);
}

static int check_setup_brand(void **state)
{
	return check_setup_scope(state, true);
}

static int check_teardown(void **state)
{
	struct check_fixture *f = *state;
	char path[128];

	snapshot_release(f->snap, f->t);
	snapshot_loader_free(f->loader);
	store_conn_release(f->store);
	store_close(f->store);
	for (const char *const *sfx = (const char *const[]){"", "-wal", "-shm", NULL}; *sfx;
	     sfx++) {
		snprintf(path, sizeof(path), "%s/t.db%s", f->dir, *sfx);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static enum tendlc_rule mt(void **state, const char *customer, const char *from, const char *to,
			   const char *text, struct tendlc_verdict *v)
{
	struct check_fixture *f = *state;
	return tendlc_mt_check(f->t, customer, str_from_cstr(from), str_from_cstr(to),
			       text ? str_from_cstr(text) : STR_NULL, v);
}

static void test_long_codes_need_an_active_campaign_of_the_sender(void **state)
{
	struct tendlc_verdict v;

	assert_int_equal(mt(state, "cus_a", "14155550101", "14155550000", "hi", &v), TENDLC_OK);
	assert_int_equal(mt(state, "cus_a", "+14155550101", "447700900123", "hi", &v), TENDLC_OK);
	assert_int_equal(mt(state, "cus_a", "14155550103", "14155550000", "hi", &v),
			 TENDLC_UNREGISTERED); /* bound to none */
	assert_string_equal(v.name, "unregistered_long_code");
	assert_int_equal(mt(state, "cus_a", "14155550102", "14155550000", "hi", &v),
			 TENDLC_UNREGISTERED); /* its campaign is suspended */
	assert_int_equal(mt(state, "cus_b", "14155550101", "14155550000", "hi", &v),
			 TENDLC_UNREGISTERED); /* not cus_b's campaign */
	assert_int_equal(mt(state, "cus_a", "18885550100", "14155550000", "hi", &v), TENDLC_OK);
	/* Outside the US carriers' networks the registration is not theirs to ask. */
	assert_int_equal(mt(state, "cus_a", "14155550103", "447700900123", "hi", &v), TENDLC_OK);
	assert_int_equal(mt(state, "cus_a", "ACME", "14155550000", "hi", &v), TENDLC_OK);
	assert_int_equal(mt(state, "cus_a", "12345", "14155550000", "hi", &v), TENDLC_OK);
}

static void test_an_opted_out_pair_is_refused(void **state)
{
	struct tendlc_verdict v;

	assert_int_equal(mt(state, "cus_a", "14155550101", "14155559999", "hi", &v),
			 TENDLC_OPTED_OUT);
	assert_string_equal(v.name, "opted_out");
	assert_int_equal(mt(state, "cus_a", "14155550101", "+14155559998", "hi", &v), TENDLC_OK);
	/* An opt-out stops only the traffic of the customer that recorded it. */
	assert_int_equal(mt(state, "cus_a", "14155550101", "447700900999", "hi", &v),
			 TENDLC_OPTED_OUT);
	assert_int_equal(mt(state, "cus_b", "14155550101", "447700900999", "hi", &v), TENDLC_OK);
	/* Scope number: the brand's other number still reaches the handset. */
	assert_int_equal(mt(state, "cus_a", "14155550104", "14155559999", "hi", &v), TENDLC_OK);
}

static void test_brand_wide_opt_out_stops_every_number_of_the_brand(void **state)
{
	struct check_fixture *f = *state;
	struct tendlc_verdict v;

	assert_true(tendlc_snap_brand_wide(f->t));
	assert_int_equal(mt(state, "cus_a", "14155550104", "14155559999", "hi", &v),
			 TENDLC_OPTED_OUT);
	assert_int_equal(mt(state, "cus_a", "14155550104", "14155559998", "hi", &v), TENDLC_OK);
}

static void test_content_rules_on_us_destinations(void **state)
{
	struct tendlc_verdict v;

	assert_int_equal(
	    mt(state, "cus_a", "14155550101", "14155550000", "go https://bit.ly/x", &v),
	    TENDLC_CONTENT);
	assert_string_equal(v.name, "url_shortener");
	assert_int_equal(mt(state, "cus_a", "ACME", "447700900123", "go https://bit.ly/x", &v),
			 TENDLC_OK); /* not a US route */
	assert_int_equal(mt(state, "cus_a", "14155550101", "14155550000", NULL, &v), TENDLC_OK);
	assert_int_equal(mt(state, "cus_a", "14155550101", "14155550000", "a PAYDAY loan", &v),
			 TENDLC_OK);
	assert_string_equal(v.tag, "lending");
	assert_int_equal(mt(state, "cus_a", "14155550101", "14155550000", "hello", &v), TENDLC_OK);
	assert_null(v.tag); /* a disabled rule is not in the snapshot */
}

static void test_a_numbers_campaign_and_its_texts(void **state)
{
	struct check_fixture *f = *state;
	struct tendlc_campaign_view c;

	assert_int_equal(tendlc_number_campaign(f->t, STR_LIT("+14155550101"), &c), 1);
	assert_string_equal(c.id, "cmp_on");
	assert_string_equal(c.brand_id, "brd_1");
	assert_string_equal(c.help_text, "help text");
	assert_string_equal(c.opt_in_text, ""); /* NULL reads as not set */
	assert_true(c.active);
	assert_int_equal(tendlc_number_campaign(f->t, STR_LIT("14155550102"), &c), 1);
	assert_false(c.active);
	assert_int_equal(tendlc_number_campaign(f->t, STR_LIT("14155550103"), &c), 0);
	assert_int_equal(tendlc_number_campaign(NULL, STR_LIT("14155550101"), &c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_long_codes_need_an_active_campaign_of_the_sender,
					    check_setup, check_teardown),
	    cmocka_unit_test_setup_teardown(test_an_opted_out_pair_is_refused, check_setup,
					    check_teardown),
	    cmocka_unit_test_setup_teardown(test_brand_wide_opt_out_stops_every_number_of_the_brand,
					    check_setup_brand, check_teardown),
	    cmocka_unit_test_setup_teardown(test_content_rules_on_us_destinations, check_setup,
					    check_teardown),
	    cmocka_unit_test_setup_teardown(test_a_numbers_campaign_and_its_texts, check_setup,
					    check_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
