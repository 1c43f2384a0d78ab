/* Tests for src/core/net.c: address parsing/formatting, CIDR, binding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/core.h"

static void assert_addr_formats(const char *in, uint16_t defport, const char *want)
{
	struct net_addr a;
	char out[NET_ADDR_STRLEN];

	assert_int_equal(net_addr_parse(str_from_cstr(in), defport, &a), 0);
	assert_int_equal(net_addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_addr_parse_v4_with_and_without_port(void **state)
{
	struct net_addr a;

	assert_addr_formats("1.2.3.4", 5060, "1.2.3.4:5060");
	assert_addr_formats("1.2.3.4:5080", 5060, "1.2.3.4:5080");
	assert_int_equal(net_addr_parse(STR_LIT("10.0.0.1:80"), 0, &a), 0);
	assert_int_equal(net_addr_family(&a), AF_INET);
	assert_int_equal(net_addr_port(&a), 80);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
}

static void test_addr_parse_v6_bare_and_bracketed(void **state)
{
	struct net_addr a;
	char ip[NET_ADDR_STRLEN];

	assert_addr_formats("::1", 5060, "[::1]:5060");
	assert_addr_formats("[::1]:5061", 5060, "[::1]:5061");
	assert_addr_formats("[2001:db8::1]", 7, "[2001:db8::1]:7");
	assert_int_equal(net_addr_parse(STR_LIT("2001:db8::5"), 0, &a), 0);
	assert_int_equal(net_addr_family(&a), AF_INET6);
	assert_int_equal(net_addr_format_ip(&a, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "2001:db8::5");
}

static void test_addr_parse_star_is_any_v4(void **state)
{
	assert_addr_formats("*:8080", 0, "0.0.0.0:8080");
}

static void test_addr_parse_rejects_bad_input(void **state)
{
	static const char *const bad[] = {
	    "",		  "localhost", "example.com:80", "1.2.3.4:",	"1.2.3.4:65536",
	    "1.2.3.4:-1", "1.2.3.4:x", "[::1",		 "[::1]x",	"[1.2.3.4]:80",
	    "1.2.3",	  "::1:",      "[::1]:99999",	 "1.2.3.4:5:6", "[]:80",
	};
	struct net_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(net_addr_parse(str_from_cstr(bad[i]), 1, &a), -EINVAL);
}

static void test_addr_equal_and_from_sockaddr(void **state)
{
	struct net_addr a, b, c;

	net_addr_parse(STR_LIT("192.0.2.1:5060"), 0, &a);
	assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&a.ss, a.len, &b), 0);
	assert_true(net_addr_equal(&a, &b));
	net_addr_parse(STR_LIT("192.0.2.1:5061"), 0, &c);
	assert_false(net_addr_equal(&a, &c));
	assert_int_equal(net_addr_from_sockaddr((struct sockaddr *)&a.ss, 4, &b), -EINVAL);
}

static bool cidr_matches(const char *cidr, const char *ip)
{
	struct net_cidr c;
	struct net_addr a;

	assert_int_equal(net_cidr_parse(str_from_cstr(cidr), &c), 0);
	assert_int_equal(net_addr_parse(str_from_cstr(ip), 0, &a), 0);
	return net_cidr_match_addr(&c, &a);
}

static void test_cidr_v4_match_and_non_match(void **state)
{
	assert_true(cidr_matches("10.0.0.0/8", "10.200.3.4"));
	assert_false(cidr_matches("10.0.0.0/8", "11.0.0.1"));
	assert_true(cidr_matches("192.168.1.128/25", "192.168.1.200"));
	assert_false(cidr_matches("192.168.1.128/25", "192.168.1.127"));
}

static void test_cidr_v4_prefix_extremes(void **state)
{
	assert_true(cidr_matches("0.0.0.0/0", "203.0.113.9"));
	assert_true(cidr_matches("203.0.113.9/32", "203.0.113.9"));
	assert_false(cidr_matches("203.0.113.9/32", "203.0.113.8"));
	assert_true(cidr_matches("203.0.113.9", "203.0.113.9"));
}

static void test_cidr_v6_match_and_non_match(void **state)
{
	assert_true(cidr_matches("2001:db8::/32", "2001:db8:1::7"));
	assert_false(cidr_matches("2001:db8::/32", "2001:db9::1"));
	assert_true(cidr_matches("::/0", "::1"));
	assert_true(cidr_matches("2001:db8::1/128", "2001:db8::1"));
	assert_false(cidr_matches("2001:db8::1/128", "2001:db8::2"));
	assert_true(cidr_matches("2001:db8:ab00::/41", "2001:db8:ab7f::1"));
	assert_false(cidr_matches("2001:db8:ab00::/41", "2001:db8:ab80::1"));
}

static void test_cidr_families_do_not_cross(void **state)
{
	assert_false(cidr_matches("0.0.0.0/0", "::1"));
	assert_false(cidr_matches("::/0", "10.0.0.1"));
}

static void test_cidr_v4_network_matches_v4_mapped_v6_peer(void **state)
{
	assert_true(cidr_matches("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(cidr_matches("10.0.0.0/8", "::ffff:11.1.2.3"));
	assert_true(cidr_matches("198.51.100.7/32", "[::ffff:198.51.100.7]:5060"));
	/* Not mapped: the same low 32 bits under another prefix. */
	assert_false(cidr_matches("10.0.0.0/8", "64:ff9b::10.1.2.3"));
}

static void test_cidr_refuses_host_bits_and_bad_prefix(void **state)
{
	static const char *const bad[] = {"10.0.0.1/8", "2001:db8::1/32", "10.0.0.0/33", "::/129",
					  "10.0.0.0/",	"10.0.0.0/x",	  "host/8",	 "",
					  "10.0.0.0/-1"};
	struct net_cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(net_cidr_parse(str_from_cstr(bad[i]), &c), -EINVAL);
}

static void test_cidr_format_roundtrip(void **state)
{
	struct net_cidr c;
	char out[64];

	net_cidr_parse(STR_LIT("2001:db8::/32"), &c);
	assert_int_equal(net_cidr_format(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8::/32");
	net_cidr_parse(STR_LIT("192.0.2.1"), &c);
	net_cidr_format(&c, out, sizeof(out));
	assert_string_equal(out, "192.0.2.1/32");
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct net_addr a;

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	net_addr_from_sockaddr((struct sockaddr *)&ss, len, &a);
	return net_addr_port(&a);
}

static void test_bind_stream_port_in_use_is_eaddrinuse(void **state)
{
	struct net_addr a;
	int fd, fd2;

	net_addr_parse(STR_LIT("127.0.0.1"), 0, &a);
	fd = net_socket_bind(&a, SOCK_STREAM, false);
	assert_true(fd >= 0);
	((struct sockaddr_in *)&a.ss)->sin_port = htons(bound_port(fd));
	fd2 = net_socket_bind(&a, SOCK_STREAM, false);
	assert_int_equal(fd2, -EADDRINUSE);
	close(fd);
}

static void test_bind_dgram_port_in_use_is_eaddrinuse(void **state)
{
	struct net_addr a;
	int fd;

	net_addr_parse(STR_LIT("127.0.0.1"), 0, &a);
	fd = net_socket_bind(&a, SOCK_DGRAM, false);
	assert_true(fd >= 0);
	((struct sockaddr_in *)&a.ss)->sin_port = htons(bound_port(fd));
	assert_int_equal(net_socket_bind(&a, SOCK_DGRAM, false), -EADDRINUSE);
	close(fd);
}

static void test_bind_reuseport_shares_port(void **state)
{
	struct net_addr a;
	int fd, fd2;

	net_addr_parse(STR_LIT("127.0.0.1"), 0, &a);
	fd = net_socket_bind(&a, SOCK_DGRAM, true);
	assert_true(fd >= 0);
	((struct sockaddr_in *)&a.ss)->sin_port = htons(bound_port(fd));
	fd2 = net_socket_bind(&a, SOCK_DGRAM, true);
	assert_true(fd2 >= 0);
	close(fd2);
	close(fd);
}

static void test_tcp_nodelay_is_set(void **state)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 0;
	socklen_t len = sizeof(on);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	assert_int_equal(on, 0); /* Linux's default, so the check below means something */
	assert_int_equal(net_tcp_nodelay(fd), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	assert_true(on != 0);
	close(fd);
	assert_int_equal(net_tcp_nodelay(fd), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_parse_v4_with_and_without_port),
	    cmocka_unit_test(test_addr_parse_v6_bare_and_bracketed),
	    cmocka_unit_test(test_addr_parse_star_is_any_v4),
	    cmocka_unit_test(test_addr_parse_rejects_bad_input),
	    cmocka_unit_test(test_addr_equal_and_from_sockaddr),
	    cmocka_unit_test(test_cidr_v4_match_and_non_match),
	    cmocka_unit_test(test_cidr_v4_prefix_extremes),
	    cmocka_unit_test(test_cidr_v6_match_and_non_match),
	    cmocka_unit_test(test_cidr_families_do_not_cross),
	    cmocka_unit_test(test_cidr_v4_network_matches_v4_mapped_v6_peer),
	    cmocka_unit_test(test_cidr_refuses_host_bits_and_bad_prefix),
	    cmocka_unit_test(test_cidr_format_roundtrip),
	    cmocka_unit_test(test_bind_stream_port_in_use_is_eaddrinuse),
	    cmocka_unit_test(test_bind_dgram_port_in_use_is_eaddrinuse),
	    cmocka_unit_test(test_bind_reuseport_shares_port),
	    cmocka_unit_test(test_tcp_nodelay_is_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
