/*
 * test_ng_bencode.c — the bencode decoder, lookups, encoder and the ng
 * cookie splitter (src/ng/bencode.c, src/ng/msg.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ng/ng.h"

/* Decodes s into a fresh arena of n nodes (n <= 512); returns the code. */
static struct bencode_node arena[BENCODE_NODES_DEFAULT];
static struct bencode_doc doc;

static int decode_n(const char *s, size_t len, size_t n, const struct bencode_node **root)
{
	bencode_doc_init(&doc, arena, n);
	return bencode_decode(&doc, (struct str){s, len}, root);
}

static int decode(const char *s, const struct bencode_node **root)
{
	return decode_n(s, strlen(s), BENCODE_NODES_DEFAULT, root);
}

static int decode_err(const char *s)
{
	const struct bencode_node *root;

	return decode(s, &root);
}

static void assert_str_is(struct str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

/* The ping example from rtpengine's docs/ng_control_protocol.md. */
static void test_decode_ping_from_docs(void **state)
{
	const char *dgram = "5323_1 d7:command4:pinge";
	struct str cookie, body, cmd;
	const struct bencode_node *root;

	assert_int_equal(ng_msg_split(str_from_cstr(dgram), &cookie, &body), 0);
	assert_str_is(cookie, "5323_1");
	assert_int_equal(bencode_decode((bencode_doc_init(&doc, arena, 16), &doc), body, &root), 0);
	assert_int_equal(root->type, BENCODE_DICT);
	assert_int_equal(root->count, 1);
	assert_int_equal(bencode_dict_get_str(root, "command", &cmd), 0);
	assert_str_is(cmd, "ping");
}

/* An offer as Kamailio's rtpengine module sends it: sdp, call-id,
 * from-tag, a flags list and a replace list, keys unsorted. */
static const char OFFER[] =
    "d7:command5:offer3:sdp36:v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
    "7:call-id10:abc123@pbx8:from-tag5:ft-995:flagsl13:trust-address11:SIP-source-e"
    "7:replacel6:origin18:session-connectione3:ICE6:remove13:received-froml3:IP410:192.0.2.77e"
    "12:delay-bufferi20ee";

static void test_decode_offer_with_flags_and_replace(void **state)
{
	const struct bencode_node *root, *flags, *replace, *rf;
	struct str s;
	int64_t v;

	assert_int_equal(decode(OFFER, &root), 0);
	assert_int_equal(root->count, 9);
	assert_int_equal(bencode_dict_get_str(root, "command", &s), 0);
	assert_str_is(s, "offer");
	assert_int_equal(bencode_dict_get_str(root, "sdp", &s), 0);
	assert_str_is(s, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n");
	/* a view into the datagram, not a copy */
	assert_true(s.p > OFFER && s.p < OFFER + sizeof(OFFER));
	assert_int_equal(bencode_dict_get_str(root, "call-id", &s), 0);
	assert_str_is(s, "abc123@pbx");
	assert_int_equal(bencode_dict_get_str(root, "from-tag", &s), 0);
	assert_str_is(s, "ft-99");
	flags = bencode_dict_get(root, "flags");
	assert_non_null(flags);
	assert_int_equal(flags->count, 2);
	assert_true(bencode_list_contains_str(flags, "trust-address"));
	assert_true(bencode_list_contains_str(flags, "SIP-source-"));
	assert_false(bencode_list_contains_str(flags, "trust"));
	replace = bencode_dict_get(root, "replace");
	assert_true(bencode_list_contains_str(replace, "origin"));
	assert_true(bencode_list_contains_str(replace, "session-connection"));
	rf = bencode_dict_get(root, "received-from");
	assert_int_equal(rf->type, BENCODE_LIST);
	assert_str_is(rf->child->str, "IP4");
	assert_str_is(rf->child->next->str, "192.0.2.77");
	assert_null(rf->child->next->next);
	assert_int_equal(bencode_dict_get_int(root, "delay-buffer", &v), 0);
	assert_int_equal(v, 20);
}

static void test_dict_get_missing_and_wrong_type(void **state)
{
	const struct bencode_node *root;
	struct str s;
	int64_t v;

	assert_int_equal(decode(OFFER, &root), 0);
	assert_null(bencode_dict_get(root, "to-tag"));
	assert_int_equal(bencode_dict_get_str(root, "to-tag", &s), -ENOENT);
	assert_int_equal(bencode_dict_get_str(root, "flags", &s), -EINVAL);
	assert_int_equal(bencode_dict_get_int(root, "call-id", &v), -EINVAL);
	assert_null(bencode_dict_get(root->child, "x"));	/* not a dictionary */
	assert_false(bencode_list_contains_str(root, "offer")); /* not a list */
}

static void test_dict_get_int_accepts_decimal_string(void **state)
{
	const struct bencode_node *root;
	int64_t v;

	assert_int_equal(decode("d3:ttl3:-42e", &root), 0);
	assert_int_equal(bencode_dict_get_int(root, "ttl", &v), 0);
	assert_int_equal(v, -42);
}

static void test_dict_duplicate_key_first_wins(void **state)
{
	const struct bencode_node *root;
	struct str s;

	assert_int_equal(decode("d1:a1:x1:a1:ye", &root), 0);
	assert_int_equal(bencode_dict_get_str(root, "a", &s), 0);
	assert_str_is(s, "x");
}

static void test_decode_nested_structures(void **state)
{
	const struct bencode_node *root, *codec, *strip, *l;

	assert_int_equal(decode("d5:codecd5:stripl4:PCMU4:opuse4:masklee1:llllleeeee", &root), 0);
	codec = bencode_dict_get(root, "codec");
	assert_int_equal(codec->type, BENCODE_DICT);
	strip = bencode_dict_get(codec, "strip");
	assert_int_equal(strip->count, 2);
	assert_true(bencode_list_contains_str(strip, "opus"));
	assert_int_equal(bencode_dict_get(codec, "mask")->count, 0);
	assert_null(bencode_dict_get(codec, "mask")->child);
	l = bencode_dict_get(root, "l");
	assert_int_equal(l->child->child->child->type, BENCODE_LIST);
	assert_int_equal(l->child->child->child->count, 0);
	assert_str_is(codec->raw, "d5:stripl4:PCMU4:opuse4:masklee");
}

static void test_decode_integers_in_range(void **state)
{
	const struct bencode_node *root;

	assert_int_equal(decode("li0ei-1ei9223372036854775807ei-9223372036854775808ee", &root), 0);
	assert_int_equal(root->child->num, 0);
	assert_int_equal(root->child->next->num, -1);
	assert_int_equal(root->child->next->next->num, INT64_MAX);
	assert_int_equal(root->child->next->next->next->num, INT64_MIN);
}

static void test_decode_empty_string(void **state)
{
	const struct bencode_node *root;

	assert_int_equal(decode("0:", &root), 0);
	assert_int_equal(root->type, BENCODE_STR);
	assert_int_equal(root->str.len, 0);
}

static void test_reject_empty_input(void **state)
{
	const struct bencode_node *root;

	assert_int_equal(decode_n("", 0, 8, &root), BENCODE_ERR_EMPTY);
	assert_int_equal(decode_n(NULL, 0, 8, &root), BENCODE_ERR_EMPTY);
}

static void test_reject_bad_length_prefix(void **state)
{
	assert_int_equal(decode_err("d3:sdp3;abce"), BENCODE_ERR_LENGTH);
	assert_int_equal(decode_err("-1:x"), BENCODE_ERR_SYNTAX);
	assert_int_equal(decode_err("05:hello"), BENCODE_ERR_LENGTH);
	assert_int_equal(decode_err("4x:spam"), BENCODE_ERR_LENGTH);
	assert_int_equal(decode_err("99999999999999999999:x"), BENCODE_ERR_LENGTH);
}

static void test_reject_truncated_string(void **state)
{
	assert_int_equal(decode_err("d3:sdp10:v=0e"), BENCODE_ERR_TRUNCATED);
	assert_int_equal(decode_err("4:spa"), BENCODE_ERR_TRUNCATED);
	assert_int_equal(decode_err("12"), BENCODE_ERR_TRUNCATED);
	assert_int_equal(decode_err("18446744073709551615:x"), BENCODE_ERR_LENGTH);
	assert_int_equal(doc.err_off, 19);
}

static void test_reject_leading_zero_and_negative_zero(void **state)
{
	assert_int_equal(decode_err("i03e"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("i-0e"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("i-01e"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("ie"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("i-e"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("i1x2e"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("i12"), BENCODE_ERR_TRUNCATED);
}

static void test_reject_integer_overflow(void **state)
{
	assert_int_equal(decode_err("i9223372036854775808e"), BENCODE_ERR_INT);
	assert_int_equal(decode_err("i-9223372036854775809e"), BENCODE_ERR_INT);
}

static void test_reject_unterminated_dict(void **state)
{
	assert_int_equal(decode_err("d7:command4:ping"), BENCODE_ERR_TRUNCATED);
	assert_int_equal(decode_err("l"), BENCODE_ERR_TRUNCATED);
	assert_int_equal(decode_err("d7:commande"), BENCODE_ERR_SYNTAX); /* key without value */
}

static void test_reject_non_string_dict_key(void **state)
{
	assert_int_equal(decode_err("di1e4:pinge"), BENCODE_ERR_KEY);
	assert_int_equal(decode_err("dle4:pinge"), BENCODE_ERR_KEY);
	assert_int_equal(decode_err("d1:ad1:bi1eee"), 0); /* values may be anything */
}

static void test_reject_unknown_byte(void **state)
{
	assert_int_equal(decode_err("x"), BENCODE_ERR_SYNTAX);
	assert_int_equal(decode_err("l4:spamXe"), BENCODE_ERR_SYNTAX);
}

static void test_depth_limit(void **state)
{
	char deep[2 * (BENCODE_DEPTH_MAX + 1) + 1];
	size_t i, n;

	/* exactly BENCODE_DEPTH_MAX nested lists decode */
	n = BENCODE_DEPTH_MAX;
	for (i = 0; i < n; i++)
		deep[i] = 'l';
	for (i = 0; i < n; i++)
		deep[n + i] = 'e';
	deep[2 * n] = '\0';
	assert_int_equal(decode_err(deep), 0);
	/* one more is refused */
	n = BENCODE_DEPTH_MAX + 1;
	for (i = 0; i < n; i++)
		deep[i] = 'l';
	for (i = 0; i < n; i++)
		deep[n + i] = 'e';
	deep[2 * n] = '\0';
	assert_int_equal(decode_err(deep), BENCODE_ERR_DEPTH);
}

static void test_deep_input_without_end_is_refused_not_recursed(void **state)
{
	static char many[100000];

	memset(many, 'l', sizeof(many) - 1);
	assert_int_equal(decode_err(many), BENCODE_ERR_DEPTH);
}

static void test_arena_exhaustion(void **state)
{
	const struct bencode_node *root;
	const char *s = "li1ei2ei3ee"; /* four nodes */

	assert_int_equal(decode_n(s, strlen(s), 3, &root), BENCODE_ERR_NODES);
	assert_int_equal(decode_n(s, strlen(s), 4, &root), 0);
	assert_int_equal(doc.used, 4);
}

static void test_reject_trailing_bytes(void **state)
{
	assert_int_equal(decode_err("d7:command4:pingee"), BENCODE_ERR_TRAILING);
	assert_int_equal(decode_err("d7:command4:pinge "), BENCODE_ERR_TRAILING);
	assert_int_equal(doc.err_off, 17);
}

static void test_strerror_names_every_code(void **state)
{
	int e;

	for (e = BENCODE_ERR_COOKIE; e <= BENCODE_ERR_EMPTY; e++)
		assert_string_not_equal(bencode_strerror(e), "unknown error");
	assert_string_equal(bencode_strerror(BENCODE_ERR_DEPTH), "nested too deep");
}

static void test_encode_reply_keeps_key_order(void **state)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(bencode_put_dict_begin(&b), 0);
	assert_int_equal(bencode_put_kv_str(&b, "result", STR_LIT("ok")), 0);
	assert_int_equal(bencode_put_kv_str(&b, "sdp", STR_LIT("v=0\r\n")), 0);
	assert_int_equal(bencode_put_cstr(&b, "warnings"), 0);
	assert_int_equal(bencode_put_list_begin(&b), 0);
	assert_int_equal(bencode_put_cstr(&b, ""), 0);
	assert_int_equal(bencode_put_end(&b), 0);
	assert_int_equal(bencode_put_kv_int(&b, "created", -5), 0);
	assert_int_equal(bencode_put_end(&b), 0);
	assert_string_equal(b.p, "d6:result2:ok3:sdp5:v=0\r\n8:warningsl0:e7:createdi-5ee");
	buf_fini(&b);
}

static void test_encode_decode_round_trip(void **state)
{
	const struct bencode_node *root, *again;
	static struct bencode_node arena2[BENCODE_NODES_DEFAULT];
	struct bencode_doc doc2;
	struct buf b;

	buf_init(&b);
	assert_int_equal(decode(OFFER, &root), 0);
	assert_int_equal(bencode_put_node(&b, root), 0);
	assert_int_equal(b.len, strlen(OFFER));
	assert_memory_equal(b.p, OFFER, b.len);
	bencode_doc_init(&doc2, arena2, BENCODE_NODES_DEFAULT);
	assert_int_equal(bencode_decode(&doc2, (struct str){b.p, b.len}, &again), 0);
	assert_int_equal(doc2.used, doc.used);
	buf_fini(&b);
}

static void test_split_cookie_and_body(void **state)
{
	struct str cookie, body;

	assert_int_equal(ng_msg_split(STR_LIT("abc d1:ai1ee"), &cookie, &body), 0);
	assert_str_is(cookie, "abc");
	assert_str_is(body, "d1:ai1ee");
	/* only the first space splits: the body may hold spaces */
	assert_int_equal(ng_msg_split(STR_LIT("c d1:a3:x yee"), &cookie, &body), 0);
	assert_str_is(body, "d1:a3:x yee");
}

static void test_split_rejects_missing_cookie(void **state)
{
	struct str cookie, body;

	assert_int_equal(ng_msg_split(STR_LIT("d7:command4:pinge"), &cookie, &body),
			 BENCODE_ERR_COOKIE);
	assert_int_equal(ng_msg_split(STR_LIT(" d1:ai1ee"), &cookie, &body), BENCODE_ERR_COOKIE);
	assert_int_equal(ng_msg_split(STR_LIT("abc "), &cookie, &body), BENCODE_ERR_EMPTY);
	assert_int_equal(ng_msg_split(STR_LIT(""), &cookie, &body), BENCODE_ERR_EMPTY);
}

static void test_reply_error_shape(void **state)
{
	struct buf b;

	buf_init(&b);
	assert_int_equal(ng_reply_error(&b, STR_LIT("5323_1"), "Unknown call-id"), 0);
	assert_string_equal(b.p, "5323_1 d6:result5:error12:error-reason15:Unknown call-ide");
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_ping_from_docs),
	    cmocka_unit_test(test_decode_offer_with_flags_and_replace),
	    cmocka_unit_test(test_dict_get_missing_and_wrong_type),
	    cmocka_unit_test(test_dict_get_int_accepts_decimal_string),
	    cmocka_unit_test(test_dict_duplicate_key_first_wins),
	    cmocka_unit_test(test_decode_nested_structures),
	    cmocka_unit_test(test_decode_integers_in_range),
	    cmocka_unit_test(test_decode_empty_string),
	    cmocka_unit_test(test_reject_empty_input),
	    cmocka_unit_test(test_reject_bad_length_prefix),
	    cmocka_unit_test(test_reject_truncated_string),
	    cmocka_unit_test(test_reject_leading_zero_and_negative_zero),
	    cmocka_unit_test(test_reject_integer_overflow),
	    cmocka_unit_test(test_reject_unterminated_dict),
	    cmocka_unit_test(test_reject_non_string_dict_key),
	    cmocka_unit_test(test_reject_unknown_byte),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_deep_input_without_end_is_refused_not_recursed),
	    cmocka_unit_test(test_arena_exhaustion),
	    cmocka_unit_test(test_reject_trailing_bytes),
	    cmocka_unit_test(test_strerror_names_every_code),
	    cmocka_unit_test(test_encode_reply_keeps_key_order),
	    cmocka_unit_test(test_encode_decode_round_trip),
	    cmocka_unit_test(test_split_cookie_and_body),
	    cmocka_unit_test(test_split_rejects_missing_cookie),
	    cmocka_unit_test(test_reply_error_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
