/*
 * test_media_rtcp.c — RTCP report parsing (src/media/rtcp.c), on packets
 * built here byte by byte after RFC 3550 §6.4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "media/media.h"

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* A report block: ssrc, fraction, 24-bit cumulative, seq, jitter, LSR, DLSR. */
static size_t block(uint8_t *p, uint32_t ssrc, uint8_t frac, uint32_t lost24, uint32_t jitter)
{
	size_t n = put32(p, ssrc);
	p[n++] = frac;
	p[n++] = (uint8_t)(lost24 >> 16);
	p[n++] = (uint8_t)(lost24 >> 8);
	p[n++] = (uint8_t)lost24;
	n += put32(p + n, 0x00010064); /* cycles 1, highest seq 100 */
	n += put32(p + n, jitter);
	n += put32(p + n, 0);
	n += put32(p + n, 0);
	return n;
}

static size_t rr(uint8_t *p, uint8_t frac, uint32_t lost24, uint32_t jitter)
{
	p[0] = 0x81;
	p[1] = 201;
	p[2] = 0;
	p[3] = 7;
	put32(p + 4, 0xAAAA0001);
	return 8 + block(p + 8, 0xBBBB0002, frac, lost24, jitter);
}

static void test_rr_block_fields(void **state)
{
	uint8_t p[64];
	size_t n = rr(p, 25, 1234, 4321);
	struct rtcp_report r;

	assert_int_equal(rtcp_parse(p, n, &r), 1);
	assert_int_equal(r.sender_ssrc, 0xAAAA0001);
	assert_int_equal(r.ssrc, 0xBBBB0002);
	assert_int_equal(r.fraction_lost, 25);
	assert_int_equal(r.cumulative_lost, 1234);
	assert_int_equal(r.highest_seq, 0x00010064);
	assert_int_equal(r.jitter, 4321);
}

static void test_negative_cumulative_loss_is_sign_extended(void **state)
{
	uint8_t p[64];
	size_t n = rr(p, 0, 0xFFFFFE, 0);
	struct rtcp_report r;

	assert_int_equal(rtcp_parse(p, n, &r), 1);
	assert_int_equal(r.cumulative_lost, -2);
}

static void test_sr_block_follows_sender_info(void **state)
{
	uint8_t p[128] = {0x81, 200, 0, 12};
	struct rtcp_report r;

	put32(p + 4, 0x01020304);
	/* sender info: NTP (8), RTP ts, packets, octets = 20 bytes of 0x11 */
	memset(p + 8, 0x11, 20);
	block(p + 28, 0x0A0B0C0D, 3, 7, 99);
	assert_int_equal(rtcp_parse(p, 52, &r), 1);
	assert_int_equal(r.ssrc, 0x0A0B0C0D);
	assert_int_equal(r.fraction_lost, 3);
	assert_int_equal(r.jitter, 99);
}

static void test_compound_with_sdes_first_still_finds_rr(void **state)
{
	uint8_t p[128] = {0x81, 202, 0, 1}; /* SDES, one word after header */
	struct rtcp_report r;

	put32(p + 4, 0);
	size_t n = 8 + rr(p + 8, 9, 10, 11);
	assert_int_equal(rtcp_parse(p, n, &r), 1);
	assert_int_equal(r.fraction_lost, 9);
}

static void test_rr_without_blocks_is_valid_without_report(void **state)
{
	uint8_t p[8] = {0x80, 201, 0, 1, 0, 0, 0, 1};
	struct rtcp_report r;

	assert_int_equal(rtcp_parse(p, sizeof(p), &r), 0);
}

static void test_truncated_or_overlong_is_refused(void **state)
{
	uint8_t p[64];
	size_t n = rr(p, 1, 2, 3);
	struct rtcp_report r;

	assert_int_equal(rtcp_parse(p, n - 4, &r), -EINVAL);
	p[3] = 40; /* length beyond the datagram */
	assert_int_equal(rtcp_parse(p, n, &r), -EINVAL);
}

static void test_rtp_is_not_rtcp(void **state)
{
	uint8_t p[12] = {0x80, 0, 0, 1};
	uint8_t q[12] = {0x80, 0x80 | 8, 0, 1}; /* PCMA with marker: 136 */
	struct rtcp_report r;

	assert_false(rtcp_is_rtcp(p, sizeof(p)));
	assert_false(rtcp_is_rtcp(q, sizeof(q)));
	assert_int_equal(rtcp_parse(p, sizeof(p), &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rr_block_fields),
	    cmocka_unit_test(test_negative_cumulative_loss_is_sign_extended),
	    cmocka_unit_test(test_sr_block_follows_sender_info),
	    cmocka_unit_test(test_compound_with_sdes_first_still_finds_rr),
	    cmocka_unit_test(test_rr_without_blocks_is_valid_without_report),
	    cmocka_unit_test(test_truncated_or_overlong_is_refused),
	    cmocka_unit_test(test_rtp_is_not_rtcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
