/*
 * test_api_webhook_target.c — which hosts a webhook may reach
 * (src/api/webhook_target.c): the address ranges judged non-public, for
 * IPv4, IPv6 and IPv4 inside IPv6, and the create-time URL check on
 * literal hosts in the forms curl and resolvers accept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "api/webhook_dispatch.h"

/* The address text as a socket address, parsed here with inet_pton. */
static bool addr_private(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		ss.ss_family = AF_INET6;
		assert_int_equal(
		    inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
	} else {
		ss.ss_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr),
				 1);
	}
	return api_webhook_addr_private((const struct sockaddr *)&ss);
}

/* Every address of the list judged as want says. */
static void expect_all(const char *const *addrs, size_t n, bool want)
{
	for (size_t i = 0; i < n; i++)
		if (addr_private(addrs[i]) != want)
			fail_msg("%s judged %s", addrs[i], want ? "public" : "private");
}

#define EXPECT_ALL(list, want) expect_all(list, sizeof(list) / sizeof(list[0]), want)

static void test_ipv4_non_public_ranges_are_private(void **state)
{
	static const char *const addrs[] = {
	    "0.0.0.0",	       "0.255.1.2",	  "10.0.0.1",	     "10.255.255.255",
	    "100.64.0.1",      "100.127.255.254", "127.0.0.1",	     "127.255.0.9",
	    "169.254.169.254", "172.16.0.1",	  "172.31.255.255",  "192.0.0.8",
	    "192.168.1.1",     "198.18.0.1",	  "198.19.255.255",  "224.0.0.251",
	    "239.255.255.250", "240.0.0.1",	  "255.255.255.255",
	};
	(void)state;
	EXPECT_ALL(addrs, true);
}

static void test_ipv4_public_addresses_and_range_edges_are_allowed(void **state)
{
	static const char *const addrs[] = {
	    "1.1.1.1",	       "8.8.8.8",	  "9.255.255.255",   "11.0.0.0",
	    "100.63.255.255",  "100.128.0.0",	  "126.255.255.255", "128.0.0.1",
	    "169.253.255.255", "169.255.0.0",	  "172.15.255.255",  "172.32.0.0",
	    "192.0.2.1",       "192.167.255.255", "192.169.0.0",     "198.17.255.255",
	    "198.20.0.0",      "203.0.113.9",	  "223.255.255.255",
	};
	(void)state;
	EXPECT_ALL(addrs, false);
}

static void test_ipv6_non_public_ranges_are_private(void **state)
{
	static const char *const addrs[] = {
	    "::",
	    "::1",
	    "fc00::1",
	    "fd12:3456::1",
	    "fe80::1",
	    "febf::1",
	    "fec0::1",
	    "ff02::1",
	    "ff0e::1",
	    "::ffff:127.0.0.1",
	    "::ffff:10.1.2.3",
	    "::ffff:169.254.169.254",
	    "::10.0.0.1",
	    "64:ff9b::a00:1",
	    "64:ff9b::7f00:1",
	    "2002:7f00:1::1",			    /* 6to4 of 127.0.0.1 */
	    "2002:a9fe:a9fe::",			    /* 6to4 of 169.254.169.254 */
	    "2001:0:4136:e378:8000:63bf:f5ff:fffe", /* Teredo, client 10.0.0.1 */
	};
	(void)state;
	EXPECT_ALL(addrs, true);
}

static void test_ipv6_public_and_mapped_public_are_allowed(void **state)
{
	static const char *const addrs[] = {
	    "2001:db8::1",
	    "2606:4700:4700::1111",
	    "2a00:1450::200e",
	    "::ffff:8.8.8.8",
	    "64:ff9b::808:808",
	    "fbff::1",
	    "2002:808:808::1",			    /* 6to4 of 8.8.8.8 */
	    "2001:0:4136:e378:8000:63bf:f7f7:f7f7", /* Teredo, client 8.8.8.8 */
	    "fe7f::1",
	};
	(void)state;
	EXPECT_ALL(addrs, false);
}

static int url_check(const char *url, bool allow)
{
	char why[256] = "";
	int rc = api_webhook_url_check(url, allow, why, sizeof(why));
	if (rc < 0)
		assert_true(why[0] != '\0');
	return rc;
}

static void test_url_literal_private_hosts_in_every_form_are_refused(void **state)
{
	static const char *const urls[] = {
	    "http://127.0.0.1/",
	    "http://127.0.0.1.:8080/x",
	    "http://127.1/",
	    "http://0x7f.1/",
	    "http://0x7f000001/",
	    "http://2130706433/",
	    "http://017700000001/",
	    "http://0177.0.0.1/",
	    "https://[::1]:8443/",
	    "http://[::ffff:127.0.0.1]/",
	    "http://[fe80::1%25eth0]/",
	    "http://user:pw@10.0.0.1/",
	    "http://169.254.169.254/latest/meta-data/",
	    "http://0/",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		assert_int_equal(url_check(urls[i], false), -EACCES);
}

static void test_url_names_and_public_literals_pass_create(void **state)
{
	(void)state;
	/* Names are checked at delivery, after DNS: localhost passes here. */
	assert_int_equal(url_check("http://localhost:9/hook", false), 0);
	assert_int_equal(url_check("https://hooks.example.com/a?b=c", false), 0);
	assert_int_equal(url_check("http://8.8.8.8/", false), 0);
	assert_int_equal(url_check("http://[2001:db8::1]:8080/", false), 0);
}

static void test_url_allow_private_accepts_loopback(void **state)
{
	(void)state;
	assert_int_equal(url_check("http://127.0.0.1:9/hook", true), 0);
	assert_int_equal(url_check("http://[::1]/", true), 0);
}

static void test_url_without_host_is_invalid(void **state)
{
	(void)state;
	assert_int_equal(url_check("http://:8080/x", false), -EINVAL);
	assert_int_equal(url_check("http://[::1/", false), -EINVAL);
}

/* Hosts curl and other parsers read differently are refused at create. */
static void test_url_non_ascii_or_backslash_is_invalid(void **state)
{
	(void)state;
	assert_int_equal(url_check("http://\u246b\u2466.0.0.1/a", true), -EINVAL);
	assert_int_equal(url_check("http://user\\@evil.example/a", true), -EINVAL);
	assert_int_equal(url_check("http://hooks.example.com/a\\b", true), -EINVAL);
	assert_int_equal(url_check("http://xn--mnchen-3ya.de/", true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_non_public_ranges_are_private),
	    cmocka_unit_test(test_ipv4_public_addresses_and_range_edges_are_allowed),
	    cmocka_unit_test(test_ipv6_non_public_ranges_are_private),
	    cmocka_unit_test(test_ipv6_public_and_mapped_public_are_allowed),
	    cmocka_unit_test(test_url_literal_private_hosts_in_every_form_are_refused),
	    cmocka_unit_test(test_url_names_and_public_literals_pass_create),
	    cmocka_unit_test(test_url_allow_private_accepts_loopback),
	    cmocka_unit_test(test_url_without_host_is_invalid),
	    cmocka_unit_test(test_url_non_ascii_or_backslash_is_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
