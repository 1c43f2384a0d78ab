/*
 * webhook_target.c — which hosts a webhook may reach.
 *
 * A webhook URL is chosen by a customer, and WARP POSTs to it from inside
 * the operator's network: without a check, a customer could make WARP
 * reach 127.0.0.1, 10/8 or a cloud metadata service at 169.254.169.254
 * (server-side request forgery).  Unless [webhooks] allow_private is true,
 * two checks apply:
 *   - when a webhook is created or changed, a URL whose host is a literal
 *     address in a non-public range is refused (webhooks.c, 422 on /url);
 *   - at delivery, every address the host name resolved to is checked
 *     before curl connects to it (webhook_dispatch.c), so a name that resolves —
 *     or is re-pointed later (DNS rebinding) — to such an address is
 *     never connected to.
 * The ranges: RFC 1122 §3.2.1.3 "this network" and loopback, RFC 1918
 * private, RFC 6598 shared (carrier-grade NAT), RFC 3927 link-local,
 * multicast and the reserved 240/4 with broadcast; for IPv6 (RFC 4291 §2.5)
 * unspecified, loopback, RFC 4193 unique-local, link-local, deprecated
 * site-local and multicast, and IPv4 addresses carried inside IPv6
 * (mapped ::ffff:0:0/96, compatible ::/96, RFC 6052 NAT64 64:ff9b::/96,
 * RFC 3056 6to4 2002::/16, RFC 4380 Teredo 2001::/32 by its client's
 * address), which are judged by their IPv4 part.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "api/webhook_dispatch.h"

/* a is in network order. */
static bool v4_private(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
	} ranges[] = {
	    {0x00000000, 0xff000000}, /* 0/8 this network */
	    {0x0a000000, 0xff000000}, /* 10/8 */
	    {0x64400000, 0xffc00000}, /* 100.64/10 shared */
	    {0x7f000000, 0xff000000}, /* 127/8 loopback */
	    {0xa9fe0000, 0xffff0000}, /* 169.254/16 link-local, metadata */
	    {0xac100000, 0xfff00000}, /* 172.16/12 */
	    {0xc0000000, 0xffffff00}, /* 192.0.0/24 protocol assignments */
	    {0xc0a80000, 0xffff0000}, /* 192.168/16 */
	    {0xc6120000, 0xfffe0000}, /* 198.18/15 benchmarking */
	    {0xe0000000, 0xe0000000}, /* 224/4 multicast, 240/4 reserved, broadcast */
	};
	uint32_t h = ntohl(a);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if ((h & ranges[i].mask) == ranges[i].net)
			return true;
	return false;
}

static bool v6_private(const struct in6_addr *a)
{
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	const uint8_t *b = a->s6_addr;
	uint32_t v4;
	memcpy(&v4, b + 12, sizeof(v4));
	if (IN6_IS_ADDR_V4MAPPED(a) || memcmp(b, nat64, sizeof(nat64)) == 0)
		return v4_private(v4);
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)
		return v4_private(~v4); /* Teredo: the client's address, inverted */
	if (b[0] == 0x20 && b[1] == 0x02) {
		memcpy(&v4, b + 2, sizeof(v4)); /* 6to4: the site's address */
		return v4_private(v4);
	}
	/* ::/96 holds :: and ::1 as well as the deprecated IPv4-compatible form. */
	if (IN6_IS_ADDR_V4COMPAT(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a))
		return true;
	return (b[0] & 0xfe) == 0xfc			  /* fc00::/7 unique-local */
	       || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
	       || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 site-local */
	       || b[0] == 0xff;				  /* ff00::/8 multicast */
}

bool api_webhook_addr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_private(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
	if (sa->sa_family == AF_INET6)
		return v6_private(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return true; /* anything else is not an internet peer */
}

/* The host as a literal address, if it is one: "[::1]", "127.0.0.1" and
 * the numeric forms inet_aton takes ("0x7f.1", "2130706433", "0177.1"),
 * which resolvers accept too.  True when sa was filled. */
static bool host_literal(const char *host, struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN + 8];
	size_t n = strlen(host);
	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(text)) {
		memcpy(text, host + 1, n - 2);
		text[n - 2] = '\0';
		ss->ss_family = AF_INET6;
		return inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1;
	}
	if (n == 0 || n >= sizeof(text))
		return false;
	memcpy(text, host, n + 1);
	if (text[n - 1] == '.') /* an absolute name: "127.0.0.1." */
		text[n - 1] = '\0';
	ss->ss_family = AF_INET;
	return inet_aton(text, &((struct sockaddr_in *)ss)->sin_addr) != 0;
}

/* RFC 3986 §2: a URI is ASCII, without spaces or controls, and never holds
 * a backslash.  Parsers disagree exactly there: WHATWG reads "\\" as "/"
 * (so "http://a\\@b/" names host a to a browser, b to curl), and this
 * curl, built without IDN, keeps "⑫⑦.0.0.1" as a name that only fails at
 * delivery — or, with IDNA mapping, becomes 127.0.0.1.  Refusing these
 * bytes at create leaves one reading of the host, curl's, checked below. */
static bool url_is_plain(const char *url)
{
	for (const unsigned char *c = (const unsigned char *)url; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || *c == '\\')
			return false;
	return true;
}

int api_webhook_url_check(const char *url, bool allow_private, char *why, size_t n)
{
	CURLU *u = curl_url();
	char *host = NULL;
	struct sockaddr_storage ss;
	int rc = 0;

	if (!u)
		return -ENOMEM;
	if (!url_is_plain(url)) {
		snprintf(why, n,
			 "'url' must be plain ASCII without spaces, controls or backslashes "
			 "(RFC 3986); write an international host name in its xn-- form");
		rc = -EINVAL;
	} else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		   curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
		snprintf(why, n, "'url' must be an http:// or https:// URL with a host");
		rc = -EINVAL;
	} else if (!allow_private && host_literal(host, &ss) &&
		   api_webhook_addr_private((const struct sockaddr *)&ss)) {
		snprintf(why, n,
			 "'url' names %s, a private, loopback, link-local or otherwise non-public "
			 "address; webhooks must reach a public host",
			 host);
		rc = -EACCES;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}
