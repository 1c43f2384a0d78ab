/*
 * test_smpp_text.c — src/smpp/text.c and segment.c with known vectors: GSM
 * 03.38 septets packed and unpacked, the extension table counting two
 * septets, Latin-1 and UCS-2 (surrogate pairs) to and from UTF-8, the
 * cheapest alphabet chosen and never a '?', segment counts 160/153,
 * 140/134 and 70/67 with cuts that split neither an escape nor a surrogate
 * pair, UDH (8- and 16-bit reference) and SAR parts, and their reassembly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "smpp/smpp.h"

static uint8_t enc[SMPP_SEGMENTS_MAX * SMPP_SMS_OCTETS];
static char text[4096];

/* s repeated n times, as UTF-8, in text. */
static struct str repeat(const char *s, size_t n)
{
	size_t len = strlen(s);

	assert_true(len * n <= sizeof(text));
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * len, s, len);
	return (struct str){text, len * n};
}

static size_t encode(struct str utf8, uint8_t dc)
{
	size_t n = 0;

	assert_int_equal(smpp_text_encode(utf8, dc, enc, sizeof(enc), &n), 0);
	return n;
}

/* The UTF-8 of in (data_coding dc) must be want. */
static void decodes_to(uint8_t dc, const void *in, size_t n, const char *want)
{
	char out[1024];
	size_t len = 0;

	assert_int_equal(smpp_text_decode(dc, (struct str){in, n}, out, sizeof(out), &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
}

/* ---------------------------------------------------------------- GSM */

static void test_hello_packed(void **state)
{
	const uint8_t want[] = {0xe8, 0x32, 0x9b, 0xfd, 0x06};
	uint8_t packed[8], back[8];

	(void)state;
	assert_int_equal(encode(STR_LIT("hello"), SMPP_DC_DEFAULT), 5);
	assert_memory_equal(enc, "hello", 5);
	assert_int_equal(smpp_gsm7_pack(enc, 5, packed), 5);
	assert_memory_equal(packed, want, sizeof(want));
	assert_int_equal(smpp_gsm7_unpack(packed, 5, 5, back), 5);
	assert_memory_equal(back, "hello", 5);
}

static void test_eight_septets_pack_into_seven_octets(void **state)
{
	uint8_t packed[8], back[8];

	(void)state;
	assert_int_equal(encode(STR_LIT("abcdefgh"), SMPP_DC_DEFAULT), 8);
	assert_int_equal(smpp_gsm7_pack(enc, 8, packed), 7);
	/* the count says whether the last septet is there or is fill */
	assert_int_equal(smpp_gsm7_unpack(packed, 7, 8, back), 8);
	assert_memory_equal(back, "abcdefgh", 8);
	assert_int_equal(smpp_gsm7_unpack(packed, 7, 100, back), 8);
}

static void test_default_alphabet_characters(void **state)
{
	const uint8_t want[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x1e, 0x5f, 0x7f};

	(void)state;
	assert_int_equal(encode(STR_LIT("@£$¥èéΔ_ß§à"), SMPP_DC_DEFAULT), sizeof(want));
	assert_memory_equal(enc, want, sizeof(want));
	decodes_to(SMPP_DC_DEFAULT, want, sizeof(want), "@£$¥èéΔ_ß§à");
}

static void test_extension_characters_are_two_septets(void **state)
{
	const uint8_t want[] = {0x1b, 0x65, 0x1b, 0x3c, 0x1b, 0x3e, 0x1b, 0x28, 0x1b,
				0x29, 0x1b, 0x14, 0x1b, 0x3d, 0x1b, 0x40, 0x1b, 0x2f};

	(void)state;
	assert_int_equal(encode(STR_LIT("€[]{}^~|\\"), SMPP_DC_DEFAULT), 18);
	assert_memory_equal(enc, want, sizeof(want));
	decodes_to(SMPP_DC_DEFAULT, want, sizeof(want), "€[]{}^~|\\");
}

static void test_unknown_escape_shows_the_default_character(void **state)
{
	(void)state;
	decodes_to(SMPP_DC_DEFAULT,
		   "\x1b"
		   "a\x1b",
		   3, "a "); /* and a lone escape, a space */
}

static void test_character_outside_gsm_is_an_error_not_a_question_mark(void **state)
{
	size_t n = 0;

	(void)state;
	assert_int_equal(
	    smpp_text_encode(STR_LIT("caf\xc3\xaa"), SMPP_DC_DEFAULT, enc, sizeof(enc), &n),
	    SMPP_E_TEXT); /* ê */
	assert_int_equal(smpp_text_encode(STR_LIT("`"), SMPP_DC_DEFAULT, enc, sizeof(enc), &n),
			 SMPP_E_TEXT);
	assert_int_equal(smpp_err_status(SMPP_E_TEXT), SMPP_ESME_RSUBMITFAIL);
}

static void test_septet_above_0x7f_does_not_decode(void **state)
{
	char out[8];
	size_t n;

	(void)state;
	assert_int_equal(smpp_text_decode(SMPP_DC_DEFAULT, STR_LIT("\x80"), out, sizeof(out), &n),
			 SMPP_E_TEXT);
}

/* ------------------------------------------------------ Latin-1, UCS-2 */

static void test_latin1_both_ways(void **state)
{
	(void)state;
	assert_int_equal(encode(STR_LIT("caf\xc3\xaa \xc3\xbf"), SMPP_DC_LATIN1), 6);
	assert_memory_equal(enc, "caf\xea \xff", 6);
	decodes_to(SMPP_DC_LATIN1, "caf\xea \xff", 6, "caf\xc3\xaa \xc3\xbf");
	size_t n;
	assert_int_equal(smpp_text_encode(STR_LIT("€"), SMPP_DC_LATIN1, enc, sizeof(enc), &n),
			 SMPP_E_TEXT);
}

static void test_ia5_is_ascii(void **state)
{
	char out[8];
	size_t n;

	(void)state;
	decodes_to(SMPP_DC_IA5, "a{b", 3, "a{b");
	assert_int_equal(smpp_text_decode(SMPP_DC_IA5, STR_LIT("\xe9"), out, sizeof(out), &n),
			 SMPP_E_TEXT);
}

static void test_ucs2_with_a_surrogate_pair(void **state)
{
	const uint8_t want[] = {0x04, 0x16, 0xd8, 0x3d, 0xde, 0x00, 0x00, 0x61};

	(void)state;
	assert_int_equal(encode(STR_LIT("Ж😀a"), SMPP_DC_UCS2), sizeof(want));
	assert_memory_equal(enc, want, sizeof(want));
	decodes_to(SMPP_DC_UCS2, want, sizeof(want), "Ж😀a");
}

static void test_ucs2_lone_surrogate_or_odd_length_is_refused(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	assert_int_equal(smpp_text_decode(SMPP_DC_UCS2, (struct str){"\xd8\x3d\x00\x61", 4}, out,
					  sizeof(out), &n),
			 SMPP_E_TEXT);
	assert_int_equal(
	    smpp_text_decode(SMPP_DC_UCS2, (struct str){"\x00\x61\x00", 3}, out, sizeof(out), &n),
	    SMPP_E_TEXT);
}

static void test_invalid_utf8_is_refused(void **state)
{
	uint8_t dc;
	size_t n;

	(void)state;
	assert_int_equal(smpp_text_choose(STR_LIT("a\xc0\xaf"), true, &dc),
			 SMPP_E_TEXT); /* overlong */
	assert_int_equal(smpp_text_choose(STR_LIT("\xed\xa0\x80"), true, &dc), SMPP_E_TEXT);
	assert_int_equal(smpp_text_encode(STR_LIT("\xe2\x82"), SMPP_DC_UCS2, enc, sizeof(enc), &n),
			 SMPP_E_TEXT);
	assert_int_equal(smpp_text_encode(STR_LIT("a"), SMPP_DC_BINARY, enc, sizeof(enc), &n),
			 SMPP_E_INVAL);
}

static void test_encode_into_a_small_buffer(void **state)
{
	uint8_t out[4];
	size_t n;

	(void)state;
	assert_int_equal(smpp_text_encode(STR_LIT("hello"), SMPP_DC_DEFAULT, out, sizeof(out), &n),
			 SMPP_E_NO_SPACE);
	assert_int_equal(smpp_text_encode(STR_LIT("ab€"), SMPP_DC_UCS2, out, sizeof(out), &n),
			 SMPP_E_NO_SPACE);
}

static void test_cheapest_alphabet_is_chosen(void **state)
{
	uint8_t dc;

	(void)state;
	assert_int_equal(smpp_text_choose(STR_LIT("héllo {€}"), true, &dc), 0);
	assert_int_equal(dc, SMPP_DC_DEFAULT);
	assert_int_equal(smpp_text_choose(STR_LIT("caf\xc3\xaa"), true, &dc), 0);
	assert_int_equal(dc, SMPP_DC_LATIN1);
	assert_int_equal(smpp_text_choose(STR_LIT("caf\xc3\xaa"), false, &dc), 0);
	assert_int_equal(dc, SMPP_DC_UCS2);
	assert_int_equal(smpp_text_choose(STR_LIT("привет"), true, &dc), 0);
	assert_int_equal(dc, SMPP_DC_UCS2);
	assert_int_equal(smpp_text_choose(STR_LIT("ok 😀"), true, &dc), 0);
	assert_int_equal(dc, SMPP_DC_UCS2);
}

/* ----------------------------------------------------------- segments */

static struct str segs[SMPP_SEGMENTS_MAX];

/* Splits enc[0..len) and checks the part lengths (in encoded octets). */
static void splits_into(uint8_t dc, enum smpp_concat_mode mode, size_t len, const size_t *want,
			size_t nwant)
{
	size_t n = 0, counted = 0;
	struct str e = {(const char *)enc, len};

	assert_int_equal(smpp_segments_split(dc, mode, e, segs, SMPP_SEGMENTS_MAX, &n), 0);
	assert_int_equal(smpp_segments_split(dc, mode, e, NULL, 0, &counted), 0);
	assert_int_equal(n, nwant);
	assert_int_equal(counted, nwant);
	for (size_t i = 0, off = 0; i < n; off += segs[i++].len) {
		assert_int_equal(segs[i].len, want[i]);
		assert_ptr_equal(segs[i].p, (const char *)enc + off); /* views, back to back */
	}
}

static void test_gsm_160_fit_one_161_make_two_of_153(void **state)
{
	(void)state;
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_UDH8, encode(repeat("a", 160), SMPP_DC_DEFAULT),
		    (size_t[]){160}, 1);
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_UDH8, encode(repeat("a", 161), SMPP_DC_DEFAULT),
		    (size_t[]){153, 8}, 2);
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_SAR, encode(repeat("a", 306), SMPP_DC_DEFAULT),
		    (size_t[]){153, 153}, 2);
	/* a 16-bit reference takes one octet more: 152 septets */
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_UDH16, encode(repeat("a", 161), SMPP_DC_DEFAULT),
		    (size_t[]){152, 9}, 2);
}

static void test_extension_characters_count_two_and_are_never_split(void **state)
{
	(void)state;
	/* 80 euros are 160 septets: one SMS; 81 are 162: two parts */
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_UDH8, encode(repeat("€", 80), SMPP_DC_DEFAULT),
		    (size_t[]){160}, 1);
	/* 153 would end between an escape and its code: the part ends at 152 */
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_UDH8, encode(repeat("€", 81), SMPP_DC_DEFAULT),
		    (size_t[]){152, 10}, 2);
	assert_int_equal(enc[152], 0x1b);
	/* "a" then euros: the escape falls on 152 and 153 fits whole */
	memcpy(text, "a", 1);
	for (size_t i = 0; i < 80; i++)
		memcpy(text + 1 + 3 * i, "€", 3);
	splits_into(SMPP_DC_DEFAULT, SMPP_CONCAT_UDH8,
		    encode((struct str){text, 241}, SMPP_DC_DEFAULT), (size_t[]){153, 8}, 2);
}

static void test_ucs2_70_fit_one_71_make_two_of_67(void **state)
{
	(void)state;
	splits_into(SMPP_DC_UCS2, SMPP_CONCAT_UDH8, encode(repeat("Ж", 70), SMPP_DC_UCS2),
		    (size_t[]){140}, 1);
	splits_into(SMPP_DC_UCS2, SMPP_CONCAT_UDH8, encode(repeat("Ж", 71), SMPP_DC_UCS2),
		    (size_t[]){134, 8}, 2);
	splits_into(SMPP_DC_UCS2, SMPP_CONCAT_UDH16, encode(repeat("Ж", 71), SMPP_DC_UCS2),
		    (size_t[]){132, 10}, 2);
}

static void test_surrogate_pair_is_never_split(void **state)
{
	(void)state;
	/* 66 units, an emoji on units 67 and 68, 5 more: 73 units, so two
	 * parts, and the first (67 units) would end inside the pair */
	repeat("Ж", 66);
	memcpy(text + 132, "😀ЖЖЖЖЖ", 14);
	splits_into(SMPP_DC_UCS2, SMPP_CONCAT_UDH8, encode((struct str){text, 146}, SMPP_DC_UCS2),
		    (size_t[]){132, 14}, 2);
	decodes_to(SMPP_DC_UCS2, segs[1].p, segs[1].len, "😀ЖЖЖЖЖ");
}

static void test_binary_140_fit_one_141_make_two_of_134(void **state)
{
	(void)state;
	memset(enc, 0xab, 141);
	splits_into(SMPP_DC_BINARY, SMPP_CONCAT_UDH8, 140, (size_t[]){140}, 1);
	splits_into(SMPP_DC_BINARY, SMPP_CONCAT_UDH8, 141, (size_t[]){134, 7}, 2);
	splits_into(SMPP_DC_LATIN1, SMPP_CONCAT_UDH16, 141, (size_t[]){133, 8}, 2);
}

static void test_more_than_255_parts_is_refused(void **state)
{
	size_t n = 0;

	(void)state;
	memset(enc, 'a', sizeof(enc));
	assert_int_equal(smpp_segments_split(SMPP_DC_BINARY, SMPP_CONCAT_UDH8,
					     (struct str){(const char *)enc, 255 * 134}, NULL, 0,
					     &n),
			 0);
	assert_int_equal(n, 255);
	assert_int_equal(smpp_segments_split(SMPP_DC_BINARY, SMPP_CONCAT_UDH8,
					     (struct str){(const char *)enc, 255 * 134 + 1}, NULL,
					     0, &n),
			 SMPP_E_CONCAT);
	assert_int_equal(smpp_segments_split(SMPP_DC_BINARY, SMPP_CONCAT_UDH8,
					     (struct str){(const char *)enc, 300}, segs, 2, &n),
			 SMPP_E_CONCAT);
}

/* -------------------------------------------------------- UDH and SAR */

static void test_udh8_part(void **state)
{
	const struct smpp_concat c = {0x2a, 3, 2};
	struct smpp_pdu p;
	uint8_t buf[SMPP_SM_MAX];

	(void)state;
	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	assert_int_equal(
	    smpp_segment_fill(&p, SMPP_CONCAT_UDH8, &c, STR_LIT("hello"), buf, sizeof(buf)), 0);
	assert_int_equal(p.short_message.len, 11);
	assert_memory_equal(p.short_message.p, "\x05\x00\x03\x2a\x03\x02hello", 11);
	assert_int_equal(p.esm_class, SMPP_ESM_UDHI);
	assert_int_equal(p.tlv.has, 0);
}

static void test_udh16_part(void **state)
{
	const struct smpp_concat c = {0xbeef, 2, 1};
	struct smpp_pdu p;
	uint8_t buf[SMPP_SM_MAX];

	(void)state;
	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	assert_int_equal(
	    smpp_segment_fill(&p, SMPP_CONCAT_UDH16, &c, STR_LIT("hi"), buf, sizeof(buf)), 0);
	assert_int_equal(p.short_message.len, 9);
	assert_memory_equal(p.short_message.p, "\x06\x08\x04\xbe\xef\x02\x01hi", 9);
	assert_int_equal(smpp_segment_fill(&p, SMPP_CONCAT_UDH16, &c, STR_LIT("hi"), buf, 8),
			 SMPP_E_NO_SPACE);
}

static void test_sar_part_and_whole_message(void **state)
{
	const struct smpp_concat c = {0x1234, 2, 2}, one = {0, 1, 1}, bad = {1, 2, 3};
	struct smpp_pdu p;
	uint8_t buf[SMPP_SM_MAX];

	(void)state;
	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	assert_int_equal(
	    smpp_segment_fill(&p, SMPP_CONCAT_SAR, &c, STR_LIT("hi"), buf, sizeof(buf)), 0);
	assert_int_equal(p.short_message.len, 2);
	assert_memory_equal(p.short_message.p, "hi", 2);
	assert_int_equal(p.esm_class, 0);
	assert_int_equal(p.tlv.sar_msg_ref_num, 0x1234);
	assert_int_equal(p.tlv.sar_total_segments, 2);
	assert_int_equal(p.tlv.sar_segment_seqnum, 2);

	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	assert_int_equal(
	    smpp_segment_fill(&p, SMPP_CONCAT_UDH8, &one, STR_LIT("hi"), buf, sizeof(buf)), 0);
	assert_int_equal(p.short_message.len, 2); /* a whole message has no UDH */
	assert_int_equal(p.esm_class, 0);
	assert_int_equal(
	    smpp_segment_fill(&p, SMPP_CONCAT_UDH8, &bad, STR_LIT("hi"), buf, sizeof(buf)),
	    SMPP_E_CONCAT);
}

static void test_read_udh_skips_other_elements(void **state)
{
	struct smpp_pdu p;
	struct smpp_concat c;
	struct str body;

	(void)state;
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 1);
	p.esm_class = SMPP_ESM_UDHI;
	/* UDHL 12: port addressing (IE 0x05), then a 16-bit concatenation */
	p.short_message =
	    (struct str){"\x0c\x05\x04\x0b\x84\x23\xf0\x08\x04\x01\x02\x04\x03text", 17};
	assert_int_equal(smpp_concat_read(&p, &c, &body), 0);
	assert_int_equal(c.ref, 0x0102);
	assert_int_equal(c.total, 4);
	assert_int_equal(c.seqnum, 3);
	assert_int_equal(body.len, 4);
	assert_memory_equal(body.p, "text", 4);
}

static void test_read_bad_concatenation(void **state)
{
	struct smpp_pdu p;
	struct smpp_concat c;
	struct str body;

	(void)state;
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 1);
	p.esm_class = SMPP_ESM_UDHI;
	p.short_message = STR_LIT("\x09\x00\x03"); /* UDHL past the message */
	assert_int_equal(smpp_concat_read(&p, &c, &body), SMPP_E_CONCAT);
	p.short_message = STR_LIT("\x05\x00\x03\x01\x00\x01x"); /* total 0 */
	assert_int_equal(smpp_concat_read(&p, &c, &body), SMPP_E_CONCAT);
	p.short_message = STR_LIT("\x05\x00\x05\x01\x02\x01x"); /* IE longer than the UDH */
	assert_int_equal(smpp_concat_read(&p, &c, &body), SMPP_E_CONCAT);

	smpp_pdu_init(&p, SMPP_DELIVER_SM, 1);
	p.short_message = STR_LIT("x");
	p.tlv.has = SMPP_HAS_SAR_MSG_REF_NUM | SMPP_HAS_SAR_TOTAL_SEGMENTS; /* no seqnum */
	assert_int_equal(smpp_concat_read(&p, &c, &body), SMPP_E_CONCAT);
	assert_int_equal(smpp_err_status(SMPP_E_CONCAT), SMPP_ESME_RINVESMCLASS);
}

static void test_whole_message_reads_as_one_part(void **state)
{
	struct smpp_pdu p;
	struct smpp_concat c;
	struct str body;

	(void)state;
	smpp_pdu_init(&p, SMPP_DATA_SM, 1);
	p.tlv.has = SMPP_HAS_MESSAGE_PAYLOAD;
	p.tlv.message_payload = STR_LIT("payload");
	assert_int_equal(smpp_concat_read(&p, &c, &body), 0);
	assert_int_equal(c.total, 1);
	assert_int_equal(c.seqnum, 1);
	assert_int_equal(body.len, 7);
}

static void test_join_in_any_order(void **state)
{
	struct smpp_part parts[3] = {
	    {{7, 3, 3}, STR_LIT("!")},
	    {{7, 3, 1}, STR_LIT("hello")},
	    {{7, 3, 2}, STR_LIT(" world")},
	};
	uint8_t out[32];
	size_t len = 0;

	(void)state;
	assert_int_equal(smpp_concat_join(parts, 3, out, sizeof(out), &len), 0);
	assert_int_equal(len, 12);
	assert_memory_equal(out, "hello world!", 12);
	assert_int_equal(smpp_concat_join(parts, 2, out, sizeof(out), &len), SMPP_E_CONCAT);
	assert_int_equal(smpp_concat_join(parts, 3, out, 5, &len), SMPP_E_NO_SPACE);
	parts[0].c.seqnum = 1; /* part 1 twice, part 3 missing */
	assert_int_equal(smpp_concat_join(parts, 3, out, sizeof(out), &len), SMPP_E_CONCAT);
	parts[0].c = (struct smpp_concat){8, 3, 3}; /* another message's part */
	assert_int_equal(smpp_concat_join(parts, 3, out, sizeof(out), &len), SMPP_E_CONCAT);
}

/* UTF-8 in, three UDH parts on the wire, decoded, read, joined, UTF-8 out. */
static void round_trip(enum smpp_concat_mode mode)
{
	static uint8_t wire[3][512], bufs[3][SMPP_SM_MAX], joined[1024];
	struct smpp_part parts[3];
	struct smpp_pdu p;
	size_t n = 0, len = 0;
	char out[2048];
	struct str msg = repeat("Hi {you}! ", 35); /* 350 characters, 420 septets */

	assert_int_equal(
	    smpp_segments_split(SMPP_DC_DEFAULT, mode,
				(struct str){(const char *)enc, encode(msg, SMPP_DC_DEFAULT)}, segs,
				3, &n),
	    0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct smpp_concat c = {0x4242, 3, (uint8_t)(3 - i)}; /* sent backwards */
		smpp_pdu_init(&p, SMPP_SUBMIT_SM, (uint32_t)i + 1);
		assert_int_equal(
		    smpp_segment_fill(&p, mode, &c, segs[2 - i], bufs[i], sizeof(bufs[i])), 0);
		int w = smpp_pdu_encode(&p, wire[i], sizeof(wire[i]));
		assert_true(w > 0);
		assert_int_equal(smpp_pdu_decode(wire[i], (size_t)w, &p), 0);
		assert_int_equal(smpp_concat_read(&p, &parts[i].c, &parts[i].body), 0);
	}
	assert_int_equal(smpp_concat_join(parts, 3, joined, sizeof(joined), &len), 0);
	assert_int_equal(smpp_text_decode(SMPP_DC_DEFAULT, (struct str){(const char *)joined, len},
					  out, sizeof(out), &len),
			 0);
	assert_int_equal(len, msg.len);
	assert_memory_equal(out, msg.p, len);
}

static void test_three_parts_round_trip_udh8(void **state)
{
	(void)state;
	round_trip(SMPP_CONCAT_UDH8);
}

static void test_three_parts_round_trip_udh16(void **state)
{
	(void)state;
	round_trip(SMPP_CONCAT_UDH16);
}

static void test_three_parts_round_trip_sar(void **state)
{
	(void)state;
	round_trip(SMPP_CONCAT_SAR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_packed),
	    cmocka_unit_test(test_eight_septets_pack_into_seven_octets),
	    cmocka_unit_test(test_default_alphabet_characters),
	    cmocka_unit_test(test_extension_characters_are_two_septets),
	    cmocka_unit_test(test_unknown_escape_shows_the_default_character),
	    cmocka_unit_test(test_character_outside_gsm_is_an_error_not_a_question_mark),
	    cmocka_unit_test(test_septet_above_0x7f_does_not_decode),
	    cmocka_unit_test(test_latin1_both_ways),
	    cmocka_unit_test(test_ia5_is_ascii),
	    cmocka_unit_test(test_ucs2_with_a_surrogate_pair),
	    cmocka_unit_test(test_ucs2_lone_surrogate_or_odd_length_is_refused),
	    cmocka_unit_test(test_invalid_utf8_is_refused),
	    cmocka_unit_test(test_encode_into_a_small_buffer),
	    cmocka_unit_test(test_cheapest_alphabet_is_chosen),
	    cmocka_unit_test(test_gsm_160_fit_one_161_make_two_of_153),
	    cmocka_unit_test(test_extension_characters_count_two_and_are_never_split),
	    cmocka_unit_test(test_ucs2_70_fit_one_71_make_two_of_67),
	    cmocka_unit_test(test_surrogate_pair_is_never_split),
	    cmocka_unit_test(test_binary_140_fit_one_141_make_two_of_134),
	    cmocka_unit_test(test_more_than_255_parts_is_refused),
	    cmocka_unit_test(test_udh8_part),
	    cmocka_unit_test(test_udh16_part),
	    cmocka_unit_test(test_sar_part_and_whole_message),
	    cmocka_unit_test(test_read_udh_skips_other_elements),
	    cmocka_unit_test(test_read_bad_concatenation),
	    cmocka_unit_test(test_whole_message_reads_as_one_part),
	    cmocka_unit_test(test_join_in_any_order),
	    cmocka_unit_test(test_three_parts_round_trip_udh8),
	    cmocka_unit_test(test_three_parts_round_trip_udh16),
	    cmocka_unit_test(test_three_parts_round_trip_sar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
