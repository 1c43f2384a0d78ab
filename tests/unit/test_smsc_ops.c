/*
 * test_smsc_ops.c — the pure parts of src/smsc/ops.c and validity.c that
 * query_sm_resp is built from: our message states as SMPP 3.4 §5.2.28
 * message_state values (a cancelled row as DELETED, a waiting one as
 * ENROUTE, never ACCEPTED, which 3.4 counts as final), the error_code octet
 * from the stored upstream error, and final_date in the §7.1.1 absolute
 * form, which the parser reads back to the same instant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "smsc/smsc_private.h"

static void test_message_state(void **state)
{
	(void)state;
	assert_int_equal(smsc_ops_message_state("accepted", ""), 1);
	assert_int_equal(smsc_ops_message_state("queued", "no_bound_connector"), 1);
	assert_int_equal(smsc_ops_message_state("submitted", ""), 1);
	assert_int_equal(smsc_ops_message_state("delivered", "err:000"), 2);
	assert_int_equal(smsc_ops_message_state("expired", "validity_period"), 3);
	assert_int_equal(smsc_ops_message_state("undeliverable", "err:001"), 5);
	assert_int_equal(smsc_ops_message_state("rejected", "no_route"), 8);
	assert_int_equal(smsc_ops_message_state("rejected", NULL), 8);
	assert_int_equal(smsc_ops_message_state("rejected", "cancelled"), 4);
	assert_int_equal(smsc_ops_message_state("delivered", "cancelled"), 2);
	assert_int_equal(smsc_ops_message_state("bogus", ""), 7);
}

static void test_error_code(void **state)
{
	(void)state;
	assert_int_equal(smsc_ops_error_code(NULL), 0);
	assert_int_equal(smsc_ops_error_code(""), 0);
	assert_int_equal(smsc_ops_error_code("err:000"), 0);
	assert_int_equal(smsc_ops_error_code("err:011"), 11);
	assert_int_equal(smsc_ops_error_code("err:255"), 255);
	assert_int_equal(smsc_ops_error_code("err:256"), 0);
	assert_int_equal(smsc_ops_error_code("err:0a1"), 0);
	assert_int_equal(smsc_ops_error_code("err:"), 0);
	assert_int_equal(smsc_ops_error_code("err:-1"), 0);
	assert_int_equal(smsc_ops_error_code("network:3:12"), 12);
	assert_int_equal(smsc_ops_error_code("network:1:300"), 255);
	assert_int_equal(smsc_ops_error_code("no_route"), 0);
	assert_int_equal(smsc_ops_error_code("cancelled"), 0);
}

static void test_final_date(void **state)
{
	char t[SMPP_TIME_MAX];
	int64_t back = 0;
	/* 2026-12-06 20:45:17.345 UTC */
	int64_t ms = 1796589917345LL;

	(void)state;
	smsc_time_format(ms, t);
	assert_string_equal(t, "261206204517300+");
	assert_int_equal(smsc_time_parse(str_from_cstr(t), 0, &back), 0);
	assert_int_equal(back, ms - 45);
	smsc_time_format(0, t);
	assert_string_equal(t, "700101000000000+");
	assert_int_equal(strlen(t), SMPP_TIME_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_state),
	    cmocka_unit_test(test_error_code),
	    cmocka_unit_test(test_final_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
