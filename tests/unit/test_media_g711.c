/*
 * test_media_g711.c — G.711 companding and µ-law ⇄ A-law conversion
 * (src/media/transcode.c), checked for all 256 codes against values this
 * test computes itself from the segment formulas of ITU-T G.711.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "media/media.h"

/* G.711 Table 2: a µ-law code (after inversion) is sign, segment e and step
 * m; its value is ((2m + 33) * 2^e - 33) in 14-bit units, ×4 in 16-bit. */
static int ref_ulaw_decode(uint8_t code)
{
	unsigned u = (uint8_t)~code, e = (u >> 4) & 7, m = u & 15;
	int v = 4 * ((int)((2 * m + 33) << e) - 33);

	return (u & 0x80) ? -v : v;
}

/* G.711 Table 1: an A-law code (even bits inverted) has value (2m + 1) for
 * segment 0 and (2m + 33) * 2^(e-1) above it, in 13-bit units of 2 (×8 in
 * 16-bit); the sign bit is set for positive values. */
static int ref_alaw_decode(uint8_t code)
{
	unsigned a = code ^ 0x55, e = (a >> 4) & 7, m = a & 15;
	int v = e == 0 ? 8 * (int)(2 * m + 1) : 8 * (int)((2 * m + 33) << (e - 1));

	return (a & 0x80) ? v : -v;
}

/* The lower decision value of A-law magnitude code (e, m) in 16-bit units:
 * segment 0 steps are 16 wide from 0; segment e starts at 256 << (e - 1). */
static int ref_alaw_lower(unsigned e, unsigned m)
{
	return e == 0 ? (int)(16 * m) : (int)((16 + m) << (e + 3));
}

/* Encoding by the decision intervals: the highest code whose interval
 * starts at or below the magnitude.  Negative values are coded on x - 1
 * (G.711's A-law has no zero: -1 and 0 sit in mirrored intervals). */
static uint8_t ref_alaw_encode(int x)
{
	unsigned sign = x >= 0 ? 0x80 : 0;
	int mag = x >= 0 ? x : -x - 1;
	unsigned best = 0;

	for (unsigned c = 0; c < 128; c++)
		if (ref_alaw_lower(c >> 4, c & 15) <= mag)
			best = c;
	return (uint8_t)((sign | best) ^ 0x55);
}

/* µ-law decision values: code (e, m) covers [((16 + m) << (e + 3)) - 132, …)
 * in 16-bit units (the bias of 33 × 4). */
static uint8_t ref_ulaw_encode(int x)
{
	unsigned sign = x < 0 ? 0x80 : 0;
	int mag = x < 0 ? -x : x;
	unsigned best = 0;

	for (unsigned c = 0; c < 128; c++)
		if ((int)((16 + (c & 15)) << ((c >> 4) + 3)) - 132 <= mag)
			best = c;
	return (uint8_t) ~(sign | best);
}

static void test_ulaw_decode_matches_formula_for_all_codes(void **state)
{
	for (int c = 0; c < 256; c++)
		assert_int_equal(g711_ulaw_decode((uint8_t)c), ref_ulaw_decode((uint8_t)c));
}

static void test_alaw_decode_matches_formula_for_all_codes(void **state)
{
	for (int c = 0; c < 256; c++)
		assert_int_equal(g711_alaw_decode((uint8_t)c), ref_alaw_decode((uint8_t)c));
}

static void test_ulaw_to_alaw_matches_formula_for_all_codes(void **state)
{
	uint8_t p[256];

	for (int c = 0; c < 256; c++)
		p[c] = (uint8_t)c;
	g711_ulaw_to_alaw(p, sizeof(p));
	for (int c = 0; c < 256; c++)
		assert_int_equal(p[c], ref_alaw_encode(ref_ulaw_decode((uint8_t)c)));
}

static void test_alaw_to_ulaw_matches_formula_for_all_codes(void **state)
{
	uint8_t p[256];

	for (int c = 0; c < 256; c++)
		p[c] = (uint8_t)c;
	g711_alaw_to_ulaw(p, sizeof(p));
	for (int c = 0; c < 256; c++)
		assert_int_equal(p[c], ref_ulaw_encode(ref_alaw_decode((uint8_t)c)));
}

static void test_encode_of_decoded_code_gives_the_code_back(void **state)
{
	for (int c = 0; c < 256; c++) {
		assert_int_equal(g711_alaw_encode(g711_alaw_decode((uint8_t)c)), c);
		/* µ-law has two zeros (0x7f and 0xff); both decode to 0 → 0xff. */
		if (c != 0x7f)
			assert_int_equal(g711_ulaw_encode(g711_ulaw_decode((uint8_t)c)), c);
	}
}

static void test_encode_clips_extremes(void **state)
{
	assert_int_equal(g711_ulaw_encode(32767), 0x80);
	assert_int_equal(g711_ulaw_encode(-32768), 0x00);
	assert_int_equal(g711_alaw_encode(32767), 0xaa);
	assert_int_equal(g711_alaw_encode(-32768), 0x2a);
	assert_int_equal(g711_ulaw_encode(0), 0xff);
	assert_int_equal(g711_alaw_encode(0), 0xd5);
}

static void test_linear_samples_encode_as_the_intervals_say(void **state)
{
	for (int x = -32768; x <= 32767; x += 7) {
		assert_int_equal(g711_alaw_encode((int16_t)x), ref_alaw_encode(x));
		if (x > -32636 && x < 32636)
			assert_int_equal(g711_ulaw_encode((int16_t)x), ref_ulaw_encode(x));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ulaw_decode_matches_formula_for_all_codes),
	    cmocka_unit_test(test_alaw_decode_matches_formula_for_all_codes),
	    cmocka_unit_test(test_ulaw_to_alaw_matches_formula_for_all_codes),
	    cmocka_unit_test(test_alaw_to_ulaw_matches_formula_for_all_codes),
	    cmocka_unit_test(test_encode_of_decoded_code_gives_the_code_back),
	    cmocka_unit_test(test_encode_clips_extremes),
	    cmocka_unit_test(test_linear_samples_encode_as_the_intervals_say),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
