/*
 * net.c — socket addresses, CIDR networks and bound sockets.
 *
 * Addresses are numeric only: configuration and ACLs name IPs, never
 * hostnames, so nothing here blocks on DNS.  CIDR matching treats an
 * IPv4-mapped IPv6 peer (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) as the IPv4
 * address it carries, because a dual-stack listener reports IPv4 peers so.
 */
#include "core/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

static int net_port_parse(struct str s, uint16_t *port)
{
	uint64_t v;

	if (str_to_u64(s, &v) < 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static void net_addr_set_v4(struct net_addr *out, const struct in_addr *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

	memset(out, 0, sizeof(*out));
	sin->sin_family = AF_INET;
	sin->sin_addr = *ip;
	sin->sin_port = htons(port);
	out->len = sizeof(*sin);
}

static void net_addr_set_v6(struct net_addr *out, const struct in6_addr *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = *ip;
	sin6->sin6_port = htons(port);
	out->len = sizeof(*sin6);
}

/* host is "1.2.3.4", "*" (any IPv4) or a bare IPv6 literal. */
static int net_host_parse(struct str host, uint16_t port, bool v6_only, struct net_addr *out)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in_addr v4;
	struct in6_addr v6;

	if (str_copy(tmp, sizeof(tmp), host) < 0 || host.len == 0)
		return -EINVAL;
	if (!v6_only && str_eq_cstr(host, "*")) {
		v4.s_addr = htonl(INADDR_ANY);
		net_addr_set_v4(out, &v4, port);
		return 0;
	}
	if (!v6_only && inet_pton(AF_INET, tmp, &v4) == 1) {
		net_addr_set_v4(out, &v4, port);
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, &v6) == 1) {
		net_addr_set_v6(out, &v6, port);
		return 0;
	}
	return -EINVAL;
}

int net_addr_parse(struct str s, uint16_t default_port, struct net_addr *out)
{
	uint16_t port = default_port;
	ptrdiff_t colon;

	s = str_trim(s);
	if (s.len > 0 && s.p[0] == '[') {
		ptrdiff_t close = str_index(s, ']');
		struct str rest;
		if (close < 0)
			return -EINVAL;
		rest = (struct str){s.p + close + 1, s.len - (size_t)close - 1};
		if (rest.len > 0 &&
		    (rest.p[0] != ':' ||
		     net_port_parse((struct str){rest.p + 1, rest.len - 1}, &port) < 0))
			return -EINVAL;
		return net_host_parse((struct str){s.p + 1, (size_t)close - 1}, port, true, out);
	}
	colon = str_index(s, ':');
	/* Exactly one colon means host:port; more is a bare IPv6 literal. */
	if (colon >= 0 &&
	    str_index((struct str){s.p + colon + 1, s.len - (size_t)colon - 1}, ':') < 0) {
		if (net_port_parse((struct str){s.p + colon + 1, s.len - (size_t)colon - 1},
				   &port) < 0)
			return -EINVAL;
		return net_host_parse((struct str){s.p, (size_t)colon}, port, false, out);
	}
	return net_host_parse(s, port, colon >= 0, out);
}

int net_addr_format_ip(const struct net_addr *a, char *out, size_t n)
{
	const void *src;
	int fam = net_addr_family(a);

	if (fam == AF_INET)
		src = &((const struct sockaddr_in *)&a->ss)->sin_addr;
	else if (fam == AF_INET6)
		src = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	else
		return -EAFNOSUPPORT;
	if (!inet_ntop(fam, src, out, (socklen_t)n))
		return -ENOSPC;
	return 0;
}

int net_addr_format(const struct net_addr *a, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	int rc = net_addr_format_ip(a, ip, sizeof(ip));
	int w;

	if (rc < 0)
		return rc;
	if (net_addr_family(a) == AF_INET6)
		w = snprintf(out, n, "[%s]:%u", ip, net_addr_port(a));
	else
		w = snprintf(out, n, "%s:%u", ip, net_addr_port(a));
	return (w < 0 || (size_t)w >= n) ? -ENOSPC : 0;
}

uint16_t net_addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

int net_addr_family(const struct net_addr *a)
{
	return a->ss.ss_family;
}

bool net_addr_equal(const struct net_addr *a, const struct net_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family || net_addr_port(a) != net_addr_port(b))
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
	if (a->ss.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
			      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16) == 0;
	return false;
}

int net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct net_addr *out)
{
	socklen_t need;

	if (!sa)
		return -EINVAL;
	if (sa->sa_family == AF_INET)
		need = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		need = sizeof(struct sockaddr_in6);
	else
		return -EAFNOSUPPORT;
	if (len < need)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(&out->ss, sa, need);
	out->len = need;
	return 0;
}

/* ------------------------------------------------------------- CIDR */

static bool net_bits_clear_below(const uint8_t *addr, unsigned bytes, unsigned prefix)
{
	for (unsigned bit = prefix; bit < bytes * 8; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static bool net_bits_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int net_tcp_nodelay(int fd)
{
	int on = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0 ? -errno : 0;
}

int net_cidr_parse(struct str s, struct net_cidr *out)
{
	char tmp[INET6_ADDRSTRLEN];
	ptrdiff_t slash;
	struct str ip;
	uint64_t plen = UINT64_MAX;

	s = str_trim(s);
	slash = str_index(s, '/');
	ip = slash < 0 ? s : (struct str){s.p, (size_t)slash};
	if (slash >= 0 &&
	    str_to_u64((struct str){s.p + slash + 1, s.len - (size_t)slash - 1}, &plen) < 0)
		return -EINVAL;
	if (ip.len == 0 || str_copy(tmp, sizeof(tmp), ip) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	unsigned max = out->family == AF_INET ? 32 : 128;
	if (plen == UINT64_MAX)
		plen = max;
	if (plen > max || !net_bits_clear_below(out->addr, max / 8, (unsigned)plen))
		return -EINVAL;
	out->prefix_len = (uint8_t)plen;
	return 0;
}

int net_cidr_format(const struct net_cidr *c, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	int w;

	if (!inet_ntop(c->family, c->addr, ip, sizeof(ip)))
		return -EINVAL;
	w = snprintf(out, n, "%s/%u", ip, c->prefix_len);
	return (w < 0 || (size_t)w >= n) ? -ENOSPC : 0;
}

static const uint8_t net_v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* hot path: no allocation, no locks, no I/O */
bool net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa)
{
	const uint8_t *ip;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return false;
		ip = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return net_bits_equal(ip, c->addr, c->prefix_len);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	ip = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	if (c->family == AF_INET6)
		return net_bits_equal(ip, c->addr, c->prefix_len);
	if (memcmp(ip, net_v4_mapped_prefix, 12) != 0)
		return false;
	return net_bits_equal(ip + 12, c->addr, c->prefix_len);
}

bool net_cidr_match_addr(const struct net_cidr *c, const struct net_addr *a)
{
	return net_cidr_match(c, (const struct sockaddr *)&a->ss);
}

/* ----------------------------------------------------------- sockets */

static int net_socket_options(int fd, const struct net_addr *a, int type, bool reuseport)
{
	int one = 1;

	/* SO_REUSEADDR lets a restarted listener bind past TIME_WAIT.  It is not
	 * set on datagram sockets: there it would let two sockets share a port
	 * silently, and port allocation (RTP) relies on EADDRINUSE. */
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	/* Several worker threads (or processes) may bind the same port and let
	 * the kernel spread packets and connections between them. */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	/* An explicit "[::]" listener is dual-stack; a v4 one stays v4. */
	if (a->ss.ss_family == AF_INET6) {
		int zero = 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	return 0;
}

int net_socket_bind(const struct net_addr *a, int type, bool reuseport)
{
	int fd, rc;

	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return -EINVAL;
	/* SO_REUSEPORT would let another warp share the port silently. */
	if (reuseport && (rc = net_listen_lock(a, type)) < 0)
		return rc;
	fd = socket(a->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = net_socket_options(fd, a, type, reuseport);
	if (rc == 0 && bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		rc = -errno;
	if (rc == 0 && type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)
		rc = -errno;
	if (rc < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}
