/*
 * transport.c — SIP over UDP, TCP and TLS (RFC 3261 §18, §26.2) for one
 * worker.
 *
 * Every worker binds its own UDP socket and TCP listener on each listen
 * address with SO_REUSEPORT, so the kernel spreads datagrams and
 * connections over the workers; a message then goes to its owner
 * (proxy.c).  A TCP connection lives on the worker that accepted or opened
 * it; another worker sends on it by handing the bytes over with
 * loop_pool_call.  TCP is framed by Content-Length (§18.3), with a bound on
 * message size, on connections (all workers), and on idle time.
 *
 * TLS is the same stream code with bufferevent_openssl under it (the SSL
 * objects come from tls.c): the same table, framing, limits and timeout; a
 * connection's peer carries SIP_TRANSPORT_TLS, and one we open is opened
 * for a next hop whose URI said sips: or ;transport=tls (RFC 5630 kept
 * simple: both mean TLS on that hop).  TLS listeners sit after the plain
 * addresses in the proxy's listen[], in tcp_l[] by the same index.
 */
#include "sip/proxy_private.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/ssl.h>

struct sip_conn {
	struct sip_conn *next, *prev;
	struct sip_worker *w;
	struct bufferevent *bev;
	uint64_t id;
	struct sip_peer peer; /* the remote end, as messages from it carry it */
	unsigned crlf;	      /* keep-alive CR/LF bytes in a row, across reads */
};

/* ------------------------------------------------------------------ UDP */

static void sip_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct sip_worker *w = arg;
	(void)what;
	/* Bounded: a flood cannot starve the loop's other events. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(fd, w->rx, SIP_MSG_MAX_SIZE, 0, (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		struct sip_peer src = {.transport = SIP_TRANSPORT_UDP};
		for (size_t j = 0; j < w->p->nlisten; j++)
			if (w->udp_fd[j] == fd)
				src.listen = (unsigned)j;
		if (n == 0 || net_addr_from_sockaddr((struct sockaddr *)&ss, sl, &src.addr) < 0)
			continue;
		/* A keep-alive CRLF (RFC 5626 §4.4.1) is not a message. */
		if (n <= 4 && (w->rx[0] == '\r' || w->rx[0] == '\n'))
			continue;
		sip_proxy_receive(w, w->rx, (size_t)n, &src);
	}
}

static int sip_udp_send(struct sip_worker *w, const struct sip_peer *dst, struct str b)
{
	unsigned li = dst->listen < w->p->nlisten ? dst->listen : 0;
	int fd = w->udp_fd[li];
	if (net_addr_family(&w->p->listen[li].addr) != net_addr_family(&dst->addr))
		fd = w->udp_fd[sip_transport_listen_for(w->p, &dst->addr)];
	if (fd < 0)
		return -EBADF;
	if (sendto(fd, b.p, b.len, 0, (const struct sockaddr *)&dst->addr.ss, dst->addr.len) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ TCP */

static void sip_conn_free(struct sip_conn *c)
{
	struct sip_worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	atomic_fetch_sub(&w->p->tcp_conns, 1);
	free(c);
}

/* The Content-Length of a header block, or -1 when absent or bad. */
static long sip_tcp_content_length(const char *h, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *eol = memchr(h + i, '\n', n - i);
		size_t len = eol ? (size_t)(eol - (h + i)) : n - i;
		struct str line = {h + i, len};
		ptrdiff_t colon = str_index(line, ':');
		if (colon > 0) {
			struct str name = str_trim((struct str){line.p, (size_t)colon});
			if (str_caseeq_cstr(name, "content-length") || str_caseeq_cstr(name, "l")) {
				struct str v = str_trim(
				    (struct str){line.p + colon + 1, len - (size_t)colon - 1});
				while (v.len && (v.p[v.len - 1] == '\r'))
					v.len--;
				int64_t cl;
				return str_to_i64(v, &cl) == 0 && cl >= 0 ? (long)cl : -1;
			}
		}
		i += len + 1;
	}
	return -1;
}

/* Takes whole messages off the connection; false when it must close. */
static bool sip_tcp_frame(struct sip_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	for (;;) {
		/* Leading CRLFs are keep-alives (RFC 5626 §3.5.1): a client's
		 * double-CRLF ping gets a single-CRLF pong, so a PBX behind NAT
		 * knows its flow (and its binding's way back) is alive. */
		unsigned char *p = evbuffer_pullup(in, 1);
		while (p && (p[0] == '\r' || p[0] == '\n')) {
			evbuffer_drain(in, 1);
			if (++c->crlf % 4 == 0)
				bufferevent_write(c->bev, "\r\n", 2);
			p = evbuffer_pullup(in, 1);
		}
		if (p)
			c->crlf = 0; /* a message begins: the next ping counts afresh */
		struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (end.pos < 0)
			return evbuffer_get_length(in) <= SIP_MSG_MAX_SIZE;
		size_t hlen = (size_t)end.pos + 4;
		if (hlen > SIP_MSG_MAX_SIZE)
			return false;
		const char *h = (const char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
		long cl = sip_tcp_content_length(h, hlen);
		if (cl < 0 || hlen + (size_t)cl > SIP_MSG_MAX_SIZE)
			return false; /* §18.3: over a stream, Content-Length is required */
		size_t total = hlen + (size_t)cl;
		if (evbuffer_get_length(in) < total)
			return true;
		const char *msg = (const char *)evbuffer_pullup(in, (ev_ssize_t)total);
		memcpy(c->w->rx, msg, total);
		evbuffer_drain(in, total);
		sip_proxy_receive(c->w, c->w->rx, total, &c->peer);
	}
}

static void sip_tcp_read(struct bufferevent *bev, void *arg)
{
	struct sip_conn *c = arg;
	(void)bev;
	if (!sip_tcp_frame(c)) {
		struct sip_worker *w = c->w;
		uint64_t id = c->id;
		metric_inc(w->p->m_parse_errors);
		sip_conn_free(c);
		sip_proxy_conn_lost(w, id);
	}
}

/* A failed TLS handshake says why (a certificate that did not verify). */
static void sip_tls_log_failure(struct sip_conn *c)
{
	char ip[NET_ADDR_STRLEN], why[256];
	tls_failure(c->bev, why, sizeof(why));
	net_addr_format(&c->peer.addr, ip, sizeof(ip));
	log_warn("sip", "TLS connection with %s failed: %s", ip, why);
}

static void sip_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct sip_conn *c = arg;
	(void)bev;
	if ((what & BEV_EVENT_ERROR) && c->peer.transport == SIP_TRANSPORT_TLS)
		sip_tls_log_failure(c);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		struct sip_worker *w = c->w;
		uint64_t id = c->id;
		/* gone from the list first, so a failover to the same address
		 * opens a new connection instead of finding this one */
		sip_conn_free(c);
		sip_proxy_conn_lost(w, id);
	}
}

/* The bufferevent of a new connection: a plain socket, or TLS over it
 * (ssl given: accepting when fd is open, else connecting; freed with it). */
static struct bufferevent *sip_conn_bev(struct sip_worker *w, evutil_socket_t fd, SSL *ssl)
{
	if (!ssl)
		return bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	return tls_bev_new(w->base, fd, ssl);
}

static struct sip_conn *sip_conn_new(struct sip_worker *w, evutil_socket_t fd,
				     const struct sip_peer *peer, SSL *ssl)
{
	struct sip_proxy *p = w->p;
	if (atomic_fetch_add(&p->tcp_conns, 1) >= p->o.tcp_max_conns) {
		atomic_fetch_sub(&p->tcp_conns, 1);
		SSL_free(ssl);
		return NULL;
	}
	struct sip_conn *c = calloc(1, sizeof(*c));
	if (c)
		c->bev = sip_conn_bev(w, fd, ssl);
	else
		SSL_free(ssl);
	if (!c || !c->bev) {
		free(c);
		atomic_fetch_sub(&p->tcp_conns, 1);
		return NULL;
	}
	c->w = w;
	c->id = ++w->next_conn_id;
	c->peer = *peer;
	c->peer.conn_worker = w->index;
	c->peer.conn_id = c->id;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	int64_t idle = p->o.tcp_idle_ms > 0 ? p->o.tcp_idle_ms : 300000;
	struct timeval tv = {(time_t)(idle / 1000), (suseconds_t)(idle % 1000) * 1000};
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_setcb(c->bev, sip_tcp_read, NULL, sip_tcp_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, SIP_MSG_MAX_SIZE + 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

static void sip_tcp_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			   int sl, void *arg)
{
	struct sip_worker *w = arg;
	struct sip_proxy *p = w->p;
	struct sip_peer peer = {.transport = SIP_TRANSPORT_TCP};
	for (size_t i = 0; i < p->nlisten + p->ntls; i++)
		if (w->tcp_l[i] == l)
			peer.listen = (unsigned)i;
	/* A banned source (decision 0044) gets no connection: closed before
	 * a buffer, a TLS handshake or a byte read costs anything. */
	if (net_addr_from_sockaddr(sa, (socklen_t)sl, &peer.addr) < 0 ||
	    sip_policy_source_banned(p->policy, &peer.addr, time_mono_ms())) {
		close(fd);
		return;
	}
	SSL *ssl = NULL;
	if (peer.listen >= p->nlisten) {
		peer.transport = SIP_TRANSPORT_TLS;
		ssl = sip_tls_server(p);
		if (!ssl) {
			close(fd);
			return;
		}
	}
	if (!sip_conn_new(w, fd, &peer, ssl)) {
		log_warn("sip", "%s connection refused: limit of %d reached",
			 peer.transport == SIP_TRANSPORT_TLS ? "TLS" : "TCP", p->o.tcp_max_conns);
		close(fd);
	}
}

static struct sip_conn *sip_conn_find(struct sip_worker *w, const struct sip_peer *dst)
{
	for (struct sip_conn *c = w->conns; c; c = c->next)
		if (dst->conn_id ? c->id == dst->conn_id
				 : c->peer.transport == dst->transport &&
				       net_addr_equal(&c->peer.addr, &dst->addr))
			return c;
	return NULL;
}

/* The host of the URI a request's next hop comes from (RFC 5922 §4): its
 * top Route (ours are gone by now), else its Request-URI; empty for a
 * response or bytes that do not parse.  A re-parse of bytes we built, for
 * a TLS hop nobody opened with sip_transport_connect (a request of our own
 * to a side whose connection has gone): once per connection, not per message. */
static struct str sip_tls_next_host(struct sip_msg *m, struct str b)
{
	struct sip_addr a;
	struct sip_uri u;
	if (sip_msg_parse(m, b.p, b.len) != 0 || !sip_msg_is_request(m))
		return STR_NULL;
	if (sip_msg_addr(m, SIP_HDR_ROUTE, 0, &a) == 0)
		return a.uri.host;
	return sip_msg_ruri(m, &u) == 0 ? u.host : STR_NULL;
}

/* A new connection to dst; over TLS checked against host (SNI). */
static struct sip_conn *sip_conn_connect(struct sip_worker *w, const struct sip_peer *dst,
					 struct str host)
{
	SSL *ssl = NULL;
	if (dst->transport == SIP_TRANSPORT_TLS) {
		ssl = sip_tls_client(w->p, host);
		if (!ssl)
			return NULL;
	}
	struct sip_peer peer = *dst;
	if (peer.transport != SIP_TRANSPORT_TLS)
		peer.transport = SIP_TRANSPORT_TCP;
	struct sip_conn *c = sip_conn_new(w, -1, &peer, ssl);
	if (!c)
		return NULL;
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&dst->addr.ss,
				       (int)dst->addr.len) < 0) {
		sip_conn_free(c);
		return NULL;
	}
	return c;
}

int sip_transport_connect(struct sip_worker *w, struct sip_peer *dst, struct str host)
{
	if (dst->transport != SIP_TRANSPORT_TLS || dst->conn_id)
		return 0;
	struct sip_conn *c = sip_conn_find(w, dst);
	if (!c)
		c = sip_conn_connect(w, dst, host);
	if (!c)
		return -ECONNREFUSED;
	dst->conn_id = c->id;
	dst->conn_worker = w->index;
	return 0;
}

static int sip_tcp_send_here(struct sip_worker *w, const struct sip_peer *dst, struct str b)
{
	struct sip_msg m;
	struct sip_conn *c = sip_conn_find(w, dst);
	if (!c && dst->conn_id) {
		struct sip_peer any = *dst;
		any.conn_id = 0;
		c = sip_conn_find(w, &any);
	}
	if (!c)
		c = sip_conn_connect(w, dst,
				     dst->transport == SIP_TRANSPORT_TLS ? sip_tls_next_host(&m, b)
									 : STR_NULL);
	if (!c)
		return -ECONNREFUSED;
	return bufferevent_write(c->bev, b.p, b.len) == 0 ? 0 : -EIO;
}

int sip_handoff_post(struct sip_proxy *p, unsigned to, const struct sip_peer *peer,
		     struct str bytes, void (*run)(void *h))
{
	struct sip_handoff *h = malloc(sizeof(*h) + bytes.len);
	if (!h)
		return -ENOMEM;
	h->w = &p->w[to];
	h->peer = *peer;
	h->len = bytes.len;
	memcpy(h->bytes, bytes.p, bytes.len);
	int rc = loop_pool_call(p->pool, to, run, h);
	if (rc < 0)
		free(h);
	return rc;
}

static void sip_tcp_handoff_run(void *arg)
{
	struct sip_handoff *h = arg;
	sip_tcp_send_here(h->w, &h->peer, (struct str){h->bytes, h->len});
	free(h);
}

int sip_transport_send(struct sip_worker *w, const struct sip_peer *dst, struct str b)
{
	if (dst->transport == SIP_TRANSPORT_UDP)
		return sip_udp_send(w, dst, b);
	if (!dst->conn_id || dst->conn_worker == w->index)
		return sip_tcp_send_here(w, dst, b);
	return sip_handoff_post(w->p, dst->conn_worker, dst, b, sip_tcp_handoff_run);
}

/* ------------------------------------------------------------ addresses */

unsigned sip_transport_listen_for(const struct sip_proxy *p, const struct net_addr *dst)
{
	for (size_t i = 0; i < p->nlisten; i++)
		if (net_addr_family(&p->listen[i].addr) == net_addr_family(dst))
			return (unsigned)i;
	return 0;
}

bool sip_uri_is_ours(const struct sip_proxy *p, const struct sip_uri *uri)
{
	char host[SIP_HOST_MAX];
	struct net_addr a;
	if (str_copy(host, sizeof(host), uri->host) < 0 ||
	    net_addr_parse(str_from_cstr(host),
			   uri->port			 ? uri->port
			   : uri->scheme == SIP_URI_SIPS ? 5061
							 : 5060,
			   &a) < 0)
		return false;
	for (size_t i = 0; i < p->nlisten + p->ntls; i++)
		if (net_addr_equal(&a, &p->listen[i].addr))
			return true;
	return false;
}

/* ------------------------------------------------------------ lifecycle */

/* A TCP or TLS listener (by listen index) on worker w. */
static int sip_stream_listen(struct sip_worker *w, size_t i, char *err, size_t errlen)
{
	struct sip_proxy *p = w->p;
	int fd = net_socket_bind(&p->listen[i].addr, SOCK_STREAM, true);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s:%u: %s", i < p->nlisten ? "tcp" : "tls",
			 p->listen[i].host, p->listen[i].port, strerror(-fd));
		return fd;
	}
	w->tcp_l[i] = evconnlistener_new(w->base, sip_tcp_accept, w, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!w->tcp_l[i]) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

/* [sip] udp_receive_buffer: the datagrams queued for a worker while it is
 * not scheduled.  A flood fills the kernel's default (about 200 KB, a
 * hundred datagrams) in well under a millisecond, and every datagram that
 * arrives then is lost, a trunk's ACK or BYE as much as a scanner's INVITE;
 * a few megabytes ride out a scheduling delay of milliseconds.  The kernel
 * caps the size at net.core.rmem_max: said once, at start. */
static void sip_udp_rcvbuf(struct sip_worker *w, int fd)
{
	int want = w->p->o.udp_receive_buffer, got = 0;
	socklen_t len = sizeof(got);

	if (want <= 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want)) < 0)
		return;
	/* Linux reports twice what it grants (its own bookkeeping, socket(7)) */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 && got / 2 < want &&
	    w->index == 0 && fd == w->udp_fd[0])
		log_warn("sip",
			 "udp_receive_buffer %d bytes capped at %d by the kernel: raise "
			 "net.core.rmem_max",
			 want, got / 2);
}

static int sip_transport_bind(struct sip_worker *w, size_t i, char *err, size_t errlen)
{
	struct sip_proxy *p = w->p;
	int fd = net_socket_bind(&p->listen[i].addr, SOCK_DGRAM, true);
	if (fd < 0) {
		snprintf(err, errlen, "udp %s:%u: %s", p->listen[i].host, p->listen[i].port,
			 strerror(-fd));
		return fd;
	}
	w->udp_fd[i] = fd;
	sip_udp_rcvbuf(w, fd);
	w->udp_ev[i] = event_new(w->base, fd, EV_READ | EV_PERSIST, sip_udp_read, w);
	if (!w->udp_ev[i] || event_add(w->udp_ev[i], NULL) < 0)
		return -ENOMEM;
	return p->o.tcp ? sip_stream_listen(w, i, err, errlen) : 0;
}

int sip_transport_open(struct sip_worker *w, char *err, size_t errlen)
{
	struct sip_proxy *p = w->p;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->nlisten; i++)
		rc = sip_transport_bind(w, i, err, errlen);
	for (size_t i = p->nlisten; rc == 0 && i < p->nlisten + p->ntls; i++)
		rc = sip_stream_listen(w, i, err, errlen);
	return rc;
}

void sip_transport_close(struct sip_worker *w)
{
	while (w->conns)
		sip_conn_free(w->conns);
	for (size_t i = 0; i < SIP_LISTEN_MAX; i++) {
		if (w->udp_ev[i])
			event_free(w->udp_ev[i]);
		w->udp_ev[i] = NULL;
		if (w->udp_fd[i] >= 0)
			close(w->udp_fd[i]);
		w->udp_fd[i] = -1;
		if (w->tcp_l[i])
			evconnlistener_free(w->tcp_l[i]);
		w->tcp_l[i] = NULL;
	}
}
