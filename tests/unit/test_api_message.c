/*
 * test_api_message.c — the body of POST /api/v1/messages as message_input.c
 * checks and encodes it: base64 and RFC 3339 readers, the alphabet chosen,
 * parts and their UDH, addresses and the errors with their pointers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "api/message.h"

#define NOW 1800000000000LL

static struct api test_api = {.msg_default_validity_ms = 48LL * 3600 * 1000,
			      .msg_max_validity_ms = 72LL * 3600 * 1000};
static const struct auth_identity admin = {.role = AUTH_ROLE_ADMIN,
					   .scopes = AUTH_SCOPE_READ | AUTH_SCOPE_WRITE};

/* Parses the JSON text as a send body: 0 with m filled, or the error. */
static int parse(const char *json, struct api_msg_in *m, struct api_verr *e)
{
	struct api_ctx ctx = {.api = &test_api, .who = &admin};
	json_t *body = json_loads(json, 0, NULL);
	assert_non_null(body);
	memset(e, 0, sizeof(*e));
	int rc = api_msg_parse(&ctx, body, NOW, m, e);
	/* m's client_ref and callback_url are borrowed from body: not read
	 * after this. */
	json_decref(body);
	return rc;
}

static void expect_error(const char *json, const char *code, const char *pointer)
{
	struct api_msg_in m;
	struct api_verr e;
	assert_true(parse(json, &m, &e) < 0);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.code, code);
	assert_string_equal(e.pointer, pointer);
}

static void test_base64_decodes_padded_rfc4648(void **state)
{
	uint8_t out[16];
	size_t n = 0;
	(void)state;
	assert_int_equal(api_base64_decode("aGVsbG8=", 8, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(api_base64_decode("AA==", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(api_base64_decode("+/+/", 4, out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 0xfb);
}

static void test_base64_refuses_what_is_not(void **state)
{
	uint8_t out[4];
	size_t n;
	(void)state;
	assert_int_equal(api_base64_decode("AAE", 3, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(api_base64_decode("AA=A", 4, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(api_base64_decode("A===", 4, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(api_base64_decode("AA==AAAA", 8, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(api_base64_decode("AA-_", 4, out, sizeof(out), &n), -EINVAL);
	assert_int_equal(api_base64_decode("AAAAAAAA", 8, out, sizeof(out), &n), -ENOSPC);
}

static void test_rfc3339_times(void **state)
{
	int64_t ms = 0;
	(void)state;
	assert_int_equal(api_rfc3339_parse("2027-01-15T10:00:00Z", &ms), 0);
	assert_int_equal(ms, 1800007200000LL);
	assert_int_equal(api_rfc3339_parse("1970-01-01T00:00:01.5Z", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(api_rfc3339_parse("1970-01-01T01:00:00+01:00", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(api_rfc3339_parse("1970-01-01t00:00:00-00:30", &ms), 0);
	assert_int_equal(ms, 1800000);
	assert_int_equal(api_rfc3339_parse("2024-02-29T00:00:00Z", &ms), 0);
	assert_int_equal(api_rfc3339_parse("2023-02-29T00:00:00Z", &ms), -EINVAL);
	assert_int_equal(api_rfc3339_parse("2024-13-01T00:00:00Z", &ms), -EINVAL);
	assert_int_equal(api_rfc3339_parse("2024-01-01T24:00:00Z", &ms), -EINVAL);
	assert_int_equal(api_rfc3339_parse("2024-01-01T00:00:00", &ms), -EINVAL);
	assert_int_equal(api_rfc3339_parse("2024-01-01T00:00:00.Z", &ms), -EINVAL);
	assert_int_equal(api_rfc3339_parse("2024-01-01T00:00:00Zjunk", &ms), -EINVAL);
	assert_int_equal(api_rfc3339_parse("2024-01-01 00:00:00Z", &ms), -EINVAL);
}

static void test_gsm_text_is_one_part_without_udh(void **state)
{
	struct api_msg_in m;
	struct api_verr e;
	(void)state;
	assert_int_equal(parse("{\"from\":\"+447700900001\",\"to\":\"+447700900123\","
			       "\"text\":\"Hi\",\"client_ref\":\"r1\"}",
			       &m, &e),
			 0);
	assert_string_equal(m.encoding, "gsm7");
	assert_int_equal(m.data_coding, 0);
	assert_int_equal(m.nparts, 1);
	assert_int_equal(m.esm_class, 0);
	assert_int_equal(m.parts[0].len, 2);
	assert_memory_equal(m.parts[0].body, "Hi", 2);
	assert_string_equal(m.from, "447700900001");
	assert_int_equal(m.from_ton, 1);
	assert_string_equal(m.to, "447700900123");
	assert_int_equal(m.expires_at, NOW + 48LL * 3600 * 1000);
}

static void test_euro_counts_two_septets(void **state)
{
	struct api_msg_in m;
	struct api_verr e;
	char json[1024] = "{\"from\":\"WARP\",\"to\":\"+447700900123\",\"text\":\"";
	(void)state;
	for (int i = 0; i < 80; i++)
		strcat(json, "\xe2\x82\xac");
	strcat(json, "\"}");
	assert_int_equal(parse(json, &m, &e), 0);
	assert_string_equal(m.encoding, "gsm7");
	assert_int_equal(m.nparts, 1);
	assert_int_equal(m.parts[0].len, 160);
	assert_int_equal(m.parts[0].body[0], 0x1b);
	assert_int_equal(m.parts[0].body[1], 0x65);
	assert_int_equal(m.from_ton, 5);
	json[strlen(json) - 2] = '\0';
	strcat(json, "\xe2\x82\xac\"}");
	assert_int_equal(parse(json, &m, &e), 0);
	assert_int_equal(m.nparts, 2);
	/* 76 escapes (152 septets) in the first part: a pair is never cut. */
	assert_int_equal(m.parts[0].len, 6 + 152);
}

static void test_emoji_is_ucs2_surrogate_pair(void **state)
{
	struct api_msg_in m;
	struct api_verr e;
	(void)state;
	assert_int_equal(
	    parse("{\"from\":\"12345\",\"to\":\"+447700900123\",\"text\":\"a\\ud83d\\ude00\"}", &m,
		  &e),
	    0);
	assert_string_equal(m.encoding, "ucs2");
	assert_int_equal(m.data_coding, 8);
	assert_int_equal(m.from_ton, 3);
	assert_int_equal(m.parts[0].len, 6);
	assert_memory_equal(m.parts[0].body,
			    "\x00"
			    "a"
			    "\xd8\x3d\xde\x00",
			    6);
}

static void test_long_text_gets_udh_parts(void **state)
{
	struct api_msg_in m;
	struct api_verr e;
	char json[2048] = "{\"from\":\"WARP\",\"to\":\"+447700900123\",\"text\":\"";
	(void)state;
	memset(json + strlen(json), 'x', 400);
	strcat(json, "\"}");
	assert_int_equal(parse(json, &m, &e), 0);
	assert_int_equal(m.nparts, 3);
	assert_int_equal(m.esm_class, SMPP_ESM_UDHI);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(m.parts[i].body[0], 5);
		assert_int_equal(m.parts[i].body[1], 0);
		assert_int_equal(m.parts[i].body[2], 3);
		assert_int_equal(m.parts[i].body[3], m.parts[0].body[3]);
		assert_int_equal(m.parts[i].body[4], 3);
		assert_int_equal(m.parts[i].body[5], i + 1);
	}
	assert_int_equal(m.parts[0].len, 6 + 153);
	assert_int_equal(m.parts[2].len, 6 + 94);
}

static void test_binary_with_its_data_coding(void **state)
{
	struct api_msg_in m;
	struct api_verr e;
	(void)state;
	assert_int_equal(parse("{\"from\":\"WARP\",\"to\":\"+447700900123\",\"binary\":\"AAEC\","
			       "\"data_coding\":245,\"validity\":60}",
			       &m, &e),
			 0);
	assert_string_equal(m.encoding, "binary");
	assert_int_equal(m.data_coding, 245);
	assert_int_equal(m.parts[0].len, 3);
	assert_memory_equal(m.parts[0].body, "\x00\x01\x02", 3);
	assert_int_equal(m.expires_at, NOW + 60000);
}

static void test_refusals_name_the_member(void **state)
{
	(void)state;
	expect_error("{\"to\":\"+447700900123\",\"text\":\"x\"}", "required", "/from");
	expect_error("{\"from\":\"TWELVE CHARS\",\"to\":\"+447700900123\",\"text\":\"x\"}",
		     "invalid_sender", "/from");
	expect_error("{\"from\":\"1234\",\"to\":\"447700900123\",\"text\":\"x\"}", "invalid_number",
		     "/to");
	expect_error("{\"from\":\"1234\",\"to\":\"+447700900123\"}", "required", "/text");
	expect_error(
	    "{\"from\":\"1234\",\"to\":\"+447700900123\",\"text\":\"x\",\"binary\":\"AA==\"}",
	    "conflict", "/binary");
	expect_error("{\"from\":\"1234\",\"to\":\"+447700900123\",\"binary\":\"A\"}",
		     "invalid_base64", "/binary");
	expect_error("{\"from\":\"1234\",\"to\":\"+447700900123\",\"text\":\"x\",\"validity\":-1}",
		     "out_of_range", "/validity");
	expect_error("{\"from\":\"1234\",\"to\":\"+447700900123\",\"text\":\"x\","
		     "\"validity\":\"2020-01-01T00:00:00Z\"}",
		     "out_of_range", "/validity");
	expect_error("{\"from\":\"1234\",\"to\":\"+447700900123\",\"text\":\"x\","
		     "\"callback_url\":\"http://10.0.0.1/\"}",
		     "private_address", "/callback_url");
	expect_error("{\"from\":\"1234\",\"to\":\"+447700900123\",\"text\":\"x\",\"x\":1}",
		     "unknown_field", "");
}

static void test_more_than_ten_parts_is_too_long(void **state)
{
	static char json[4096];
	(void)state;
	strcpy(json, "{\"from\":\"WARP\",\"to\":\"+447700900123\",\"text\":\"");
	memset(json + strlen(json), 'x', 1531); /* 10 parts hold 1530 */
	strcat(json, "\"}");
	expect_error(json, "too_long", "/text");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64_decodes_padded_rfc4648),
	    cmocka_unit_test(test_base64_refuses_what_is_not),
	    cmocka_unit_test(test_rfc3339_times),
	    cmocka_unit_test(test_gsm_text_is_one_part_without_udh),
	    cmocka_unit_test(test_euro_counts_two_septets),
	    cmocka_unit_test(test_emoji_is_ucs2_surrogate_pair),
	    cmocka_unit_test(test_long_text_gets_udh_parts),
	    cmocka_unit_test(test_binary_with_its_data_coding),
	    cmocka_unit_test(test_refusals_name_the_member),
	    cmocka_unit_test(test_more_than_ten_parts_is_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
