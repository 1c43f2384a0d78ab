/*
 * record.c — a call's recording as a pcap file.
 *
 * The classic libpcap format (magic a1b2c3d4, version 2.4) with linktype
 * 101, LINKTYPE_RAW: every record is a whole IPv4 or IPv6 packet, so the
 * relay writes real IP and UDP headers around each payload and any tool
 * (tshark, Wireshark, sngrep) reads the file back with addresses and ports
 * as they were on the wire.  The relay worker only builds the headers
 * (media_pcap_headers, on the packet path); the file is written through
 * stdio's buffer by the recording writer thread (record_writer.c).
 */
#include "media/media_private.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_SNAPLEN 65535u
#define PCAP_LINKTYPE_RAW 101u
#define IP4_HDR 20
#define IP6_HDR 40
#define UDP_HDR 8
#define IPPROTO_UDP_NUM 17

struct media_pcap {
	FILE *f;
	uint64_t packets;
	int err;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1071 one's complement sum, folded later. */
static uint32_t pcap_sum(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t pcap_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct media_pcap *media_pcap_open(const char *path, int *err)
{
	/* Global header in host byte order: readers detect it by the magic. */
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} hdr = {PCAP_MAGIC, 2, 4, 0, 0, PCAP_SNAPLEN, PCAP_LINKTYPE_RAW};
	struct media_pcap *pc = calloc(1, sizeof(*pc));

	if (!pc) {
		*err = -ENOMEM;
		return NULL;
	}
	pc->f = fopen(path, "wb");
	if (!pc->f) {
		*err = -errno;
		free(pc);
		return NULL;
	}
	if (fwrite(&hdr, sizeof(hdr), 1, pc->f) != 1) {
		*err = -EIO;
		fclose(pc->f);
		free(pc);
		return NULL;
	}
	return pc;
}

/* IPv4 and UDP headers before the payload (UDP checksum 0: RFC 768 allows
 * it for IPv4). Returns the header length. */
static size_t pcap_ip4(uint8_t *h, const struct net_addr *src, const struct net_addr *dst,
		       size_t len)
{
	const struct sockaddr_in *s = (const void *)&src->ss, *d = (const void *)&dst->ss;

	memset(h, 0, IP4_HDR + UDP_HDR);
	h[0] = 0x45;
	put16(h + 2, (uint16_t)(IP4_HDR + UDP_HDR + len));
	h[8] = 64;
	h[9] = IPPROTO_UDP_NUM;
	memcpy(h + 12, &s->sin_addr, 4);
	memcpy(h + 16, &d->sin_addr, 4);
	put16(h + 10, pcap_fold(pcap_sum(0, h, IP4_HDR)));
	memcpy(h + IP4_HDR, &s->sin_port, 2);
	memcpy(h + IP4_HDR + 2, &d->sin_port, 2);
	put16(h + IP4_HDR + 4, (uint16_t)(UDP_HDR + len));
	return IP4_HDR + UDP_HDR;
}

/* IPv6 and UDP headers; the UDP checksum is mandatory there (RFC 8200 §8.1). */
static size_t pcap_ip6(uint8_t *h, const struct net_addr *src, const struct net_addr *dst,
		       const uint8_t *payload, size_t len)
{
	const struct sockaddr_in6 *s = (const void *)&src->ss, *d = (const void *)&dst->ss;
	uint8_t *u = h + IP6_HDR;
	uint32_t sum;

	memset(h, 0, IP6_HDR + UDP_HDR);
	h[0] = 0x60;
	put16(h + 4, (uint16_t)(UDP_HDR + len));
	h[6] = IPPROTO_UDP_NUM;
	h[7] = 64;
	memcpy(h + 8, &s->sin6_addr, 16);
	memcpy(h + 24, &d->sin6_addr, 16);
	memcpy(u, &s->sin6_port, 2);
	memcpy(u + 2, &d->sin6_port, 2);
	put16(u + 4, (uint16_t)(UDP_HDR + len));
	sum = pcap_sum(0, h + 8, 32) + (uint32_t)(UDP_HDR + len) + IPPROTO_UDP_NUM;
	sum = pcap_sum(sum, u, UDP_HDR);
	sum = pcap_sum(sum, payload, len);
	uint16_t ck = pcap_fold(sum);
	put16(u + 6, ck ? ck : 0xffff);
	return IP6_HDR + UDP_HDR;
}

/* hot path: no allocation, no locks, no I/O
 * The IP and UDP headers of a datagram of len bytes from src to dst, into h
 * (MEDIA_PCAP_HDR_MAX bytes).  Returns the header length, or a negative
 * error for mixed or unknown families and oversized payloads. */
int media_pcap_headers(uint8_t *h, const struct net_addr *src, const struct net_addr *dst,
		       const uint8_t *payload, size_t len)
{
	if (src->ss.ss_family != dst->ss.ss_family || len > PCAP_SNAPLEN - IP6_HDR - UDP_HDR)
		return -EINVAL;
	if (src->ss.ss_family == AF_INET)
		return (int)pcap_ip4(h, src, dst, len);
	if (src->ss.ss_family == AF_INET6)
		return (int)pcap_ip6(h, src, dst, payload, len);
	return -EAFNOSUPPORT;
}

/* One record whose IP and UDP headers are already in front of the payload
 * (hdr and body may be two pieces of one packet). */
static int media_pcap_put(struct media_pcap *pc, const uint8_t *hdr, size_t hl, const uint8_t *body,
			  size_t len, int64_t wall_us)
{
	uint32_t rec[4];

	rec[0] = (uint32_t)(wall_us / 1000000);
	rec[1] = (uint32_t)(wall_us % 1000000);
	rec[2] = rec[3] = (uint32_t)(hl + len);
	if (fwrite(rec, sizeof(rec), 1, pc->f) != 1 || (hl && fwrite(hdr, hl, 1, pc->f) != 1) ||
	    (len && fwrite(body, len, 1, pc->f) != 1)) {
		pc->err = pc->err ? pc->err : -EIO;
		return -EIO;
	}
	pc->packets++;
	return 0;
}

int media_pcap_write_packet(struct media_pcap *pc, const uint8_t *pkt, size_t len, int64_t wall_us)
{
	if (len > PCAP_SNAPLEN)
		return -EINVAL;
	return media_pcap_put(pc, NULL, 0, pkt, len, wall_us);
}

int media_pcap_write(struct media_pcap *pc, const struct net_addr *src, const struct net_addr *dst,
		     const uint8_t *payload, size_t len, int64_t wall_us)
{
	uint8_t h[IP6_HDR + UDP_HDR];
	int hl = media_pcap_headers(h, src, dst, payload, len);

	return hl < 0 ? hl : media_pcap_put(pc, h, (size_t)hl, payload, len, wall_us);
}

uint64_t media_pcap_packets(const struct media_pcap *pc)
{
	return pc->packets;
}

int media_pcap_close(struct media_pcap *pc)
{
	int rc;

	if (!pc)
		return 0;
	rc = pc->err;
	if (fclose(pc->f) != 0 && rc == 0)
		rc = -EIO;
	free(pc);
	return rc;
}
