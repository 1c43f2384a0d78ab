/*
 * test_export_parse.c — the readers of what the token endpoint and
 * BigQuery answer: a token response (RFC 6749 §5.1), insertAll's
 * insertErrors (each row's reasons joined, a bad index refused) and a job
 * resource's status and errorResult.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_token_response(void **state)
{
	char *tok = NULL;
	int64_t exp = 0;

	assert_int_equal(export_token_parse(S("{\"access_token\":\"ya29.x\",\"expires_in\":3599,"
					      "\"token_type\":\"Bearer\"}"),
					    &tok, &exp),
			 0);
	assert_string_equal(tok, "ya29.x");
	assert_int_equal(exp, 3599);
	free(tok);
	assert_int_equal(
	    export_token_parse(S("{\"access_token\":\"\",\"expires_in\":1}"), &tok, &exp), -EPROTO);
	assert_int_equal(
	    export_token_parse(S("{\"access_token\":\"a\",\"expires_in\":0}"), &tok, &exp),
	    -EPROTO);
	assert_int_equal(export_token_parse(S("{\"error\":\"invalid_grant\"}"), &tok, &exp),
			 -EPROTO);
	assert_int_equal(export_token_parse(S("not json"), &tok, &exp), -EPROTO);
}

struct seen {
	size_t n, index[8];
	char reason[8][EXPORT_ERR_MAX];
};

static int on_error(size_t index, const char *reason, void *arg)
{
	struct seen *s = arg;

	s->index[s->n] = index;
	snprintf(s->reason[s->n++], EXPORT_ERR_MAX, "%s", reason);
	return 0;
}

static void test_insert_errors(void **state)
{
	struct seen s = {0};

	assert_int_equal(
	    export_insert_errors_parse(
		S("{\"kind\":\"bigquery#tableDataInsertAllResponse\",\"insertErrors\":["
		  "{\"index\":2,\"errors\":[{\"reason\":\"invalid\",\"location\":\"zone\","
		  "\"message\":\"no such field\"},{\"reason\":\"stopped\",\"message\":\"\"}]},"
		  "{\"index\":0,\"errors\":[]}]}"),
		on_error, &s),
	    0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.index[0], 2);
	assert_string_equal(s.reason[0], "invalid: no such field (zone); stopped: ");
	assert_string_equal(s.reason[1], "refused without a reason");
	s.n = 0;
	assert_int_equal(export_insert_errors_parse(S("{\"kind\":\"x\"}"), on_error, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(
	    export_insert_errors_parse(S("{\"insertErrors\":[{\"index\":-1}]}"), on_error, &s),
	    -EPROTO);
	assert_int_equal(export_insert_errors_parse(S("{\"insertErrors\":{}}"), on_error, &s),
			 -EPROTO);
	assert_int_equal(export_insert_errors_parse(S("[]"), on_error, &s), -EPROTO);
}

static void test_job_status(void **state)
{
	char st[16], reason[64], msg[128];

	assert_int_equal(export_job_parse(S("{\"status\":{\"state\":\"RUNNING\"}}"), st, sizeof(st),
					  reason, sizeof(reason), msg, sizeof(msg)),
			 0);
	assert_string_equal(st, "RUNNING");
	assert_string_equal(reason, "");
	assert_int_equal(export_job_parse(S("{\"status\":{\"state\":\"DONE\",\"errorResult\":"
					    "{\"reason\":\"invalid\",\"message\":\"bad row\"}}}"),
					  st, sizeof(st), reason, sizeof(reason), msg, sizeof(msg)),
			 0);
	assert_string_equal(st, "DONE");
	assert_string_equal(reason, "invalid");
	assert_string_equal(msg, "bad row");
	assert_int_equal(export_job_parse(S("{\"status\":{}}"), st, sizeof(st), reason,
					  sizeof(reason), msg, sizeof(msg)),
			 -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_response),
	    cmocka_unit_test(test_insert_errors),
	    cmocka_unit_test(test_job_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
