/*
 * rtcp.c — just enough RTCP to keep per-stream reception statistics.
 *
 * The relay forwards RTCP untouched; on the way it reads the first report
 * block of each SR or RR (RFC 3550 §6.4) for the loss fraction, the
 * cumulative loss and the interarrival jitter the receiver reports, which
 * query and delete replies carry.  The walk checks every length so that a
 * hostile packet can never read outside the datagram.
 */
#include "media/media.h"

#include <errno.h>

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_HDR 4
#define RTCP_SR_INFO 20 /* NTP (8), RTP timestamp, packet and octet counts */
#define RTCP_BLOCK 24

static uint32_t rtcp_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool rtcp_is_rtcp(const uint8_t *p, size_t len)
{
	/* RFC 5761 §4: RTP payload types 64..95 would collide, so RTCP is
	 * told apart by the second octet alone. */
	return len >= 8 && p[1] >= 192 && p[1] <= 223;
}

/* The report block at b (24 bytes, RFC 3550 §6.4.1). */
static void rtcp_block_read(const uint8_t *b, uint32_t sender, struct rtcp_report *out)
{
	uint32_t lost = (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];

	out->sender_ssrc = sender;
	out->ssrc = rtcp_u32(b);
	out->fraction_lost = b[4];
	/* 24-bit two's complement: duplicates can make it negative. */
	out->cumulative_lost = (lost & 0x800000) ? (int32_t)(lost | 0xff000000u) : (int32_t)lost;
	out->highest_seq = rtcp_u32(b + 8);
	out->jitter = rtcp_u32(b + 12);
}

/* One SR or RR of plen bytes: 1 when it held a report block. */
static int rtcp_report_find(const uint8_t *p, size_t plen, struct rtcp_report *out)
{
	unsigned count = p[0] & 0x1f;
	size_t off = RTCP_HDR + 4 + (p[1] == RTCP_SR ? RTCP_SR_INFO : 0);

	if (plen < off)
		return -EINVAL;
	if (count == 0)
		return 0;
	if (plen < off + RTCP_BLOCK)
		return -EINVAL;
	rtcp_block_read(p + off, rtcp_u32(p + RTCP_HDR), out);
	return 1;
}

int rtcp_parse(const uint8_t *p, size_t len, struct rtcp_report *out)
{
	int found = 0;

	if (!rtcp_is_rtcp(p, len))
		return -EINVAL;
	while (len > 0) {
		if (len < RTCP_HDR || (p[0] >> 6) != 2)
			return -EINVAL;
		/* RFC 3550 §6.4.1: length in 32-bit words minus one. */
		size_t plen = ((size_t)p[2] << 8 | p[3]) * 4 + 4;
		if (plen > len)
			return -EINVAL;
		if (!found && (p[1] == RTCP_SR || p[1] == RTCP_RR)) {
			int rc = rtcp_report_find(p, plen, out);
			if (rc < 0)
				return rc;
			found = rc;
		}
		p += plen;
		len -= plen;
	}
	return found;
}
