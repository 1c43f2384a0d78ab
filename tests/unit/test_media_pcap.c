/*
 * test_media_pcap.c — the pcap writer (src/media/record.c): the file is
 * read back here field by field as a pcap reader would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/media.h"

static char path[64];

static int setup(void **state)
{
	snprintf(path, sizeof(path), "/tmp/test_media_pcap_%d.pcap", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static uint8_t *slurp(size_t *n)
{
	FILE *f = fopen(path, "rb");
	static uint8_t data[4096];

	assert_non_null(f);
	*n = fread(data, 1, sizeof(data), f);
	fclose(f);
	return data;
}

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(str_from_cstr(s), 0, &a), 0);
	return a;
}

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void test_global_header_is_raw_ip(void **state)
{
	int err = 0;
	struct media_pcap *pc = media_pcap_open(path, &err);
	size_t n;

	assert_non_null(pc);
	assert_int_equal(media_pcap_close(pc), 0);
	const uint8_t *d = slurp(&n);
	assert_int_equal(n, 24);
	assert_int_equal(u32(d), 0xa1b2c3d4);
	assert_int_equal(d[4] | d[5] << 8, 2); /* host order (little endian here) */
	assert_int_equal(d[6] | d[7] << 8, 4);
	assert_int_equal(u32(d + 16), 65535);
	assert_int_equal(u32(d + 20), 101);
}

static void test_ipv4_record_has_headers_and_payload(void **state)
{
	int err = 0;
	struct media_pcap *pc = media_pcap_open(path, &err);
	struct net_addr src = addr("192.0.2.1:4000"), dst = addr("198.51.100.2:30000");
	const uint8_t payload[5] = {1, 2, 3, 4, 5};
	size_t n;

	assert_int_equal(media_pcap_write(pc, &src, &dst, payload, 5, 1700000000123456LL), 0);
	assert_int_equal(media_pcap_packets(pc), 1);
	assert_int_equal(media_pcap_close(pc), 0);
	const uint8_t *d = slurp(&n);
	const uint8_t *rec = d + 24, *ip = rec + 16;
	assert_int_equal(n, 24 + 16 + 20 + 8 + 5);
	assert_int_equal(u32(rec), 1700000000);
	assert_int_equal(u32(rec + 4), 123456);
	assert_int_equal(u32(rec + 8), 33);
	assert_int_equal(u32(rec + 12), 33);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(be16(ip + 2), 33);
	assert_int_equal(ip[9], 17);
	/* a correct header checksum sums to 0xffff (RFC 1071) */
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += be16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	assert_memory_equal(ip + 12, "\xc0\x00\x02\x01", 4);
	assert_memory_equal(ip + 16, "\xc6\x33\x64\x02", 4);
	assert_int_equal(be16(ip + 20), 4000);
	assert_int_equal(be16(ip + 22), 30000);
	assert_int_equal(be16(ip + 24), 13);
	assert_memory_equal(ip + 28, payload, 5);
}

static void test_ipv6_record_has_udp_checksum(void **state)
{
	int err = 0;
	struct media_pcap *pc = media_pcap_open(path, &err);
	struct net_addr src = addr("[2001:db8::1]:4000"), dst = addr("[2001:db8::2]:30000");
	size_t n;

	assert_int_equal(media_pcap_write(pc, &src, &dst, (const uint8_t *)"abc", 3, 0), 0);
	assert_int_equal(media_pcap_close(pc), 0);
	const uint8_t *d = slurp(&n);
	const uint8_t *ip = d + 24 + 16;
	assert_int_equal(n, 24 + 16 + 40 + 8 + 3);
	assert_int_equal(ip[0] >> 4, 6);
	assert_int_equal(be16(ip + 4), 11);
	assert_int_equal(ip[6], 17);
	/* pseudo-header + UDP header + data sums to 0xffff */
	uint32_t sum = 17 + 11;
	for (int i = 8; i < 40; i += 2)
		sum += be16(ip + i);
	for (int i = 40; i < 40 + 10; i += 2)
		sum += be16(ip + i);
	sum += (uint32_t)ip[50] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
}

static void test_mixed_families_are_refused(void **state)
{
	int err = 0;
	struct media_pcap *pc = media_pcap_open(path, &err);
	struct net_addr a = addr("192.0.2.1:1"), b = addr("[2001:db8::2]:2");

	assert_int_equal(media_pcap_write(pc, &a, &b, (const uint8_t *)"x", 1, 0), -EINVAL);
	assert_int_equal(media_pcap_packets(pc), 0);
	assert_int_equal(media_pcap_close(pc), 0);
}

static void test_open_in_missing_folder_fails(void **state)
{
	int err = 0;

	assert_null(media_pcap_open("/nonexistent-folder/x.pcap", &err));
	assert_true(err < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_global_header_is_raw_ip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv4_record_has_headers_and_payload, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_record_has_udp_checksum, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mixed_families_are_refused, setup, teardown),
	    cmocka_unit_test(test_open_in_missing_folder_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
