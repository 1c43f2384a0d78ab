/*
 * probe.c — health probing of carrier gateways with SIP OPTIONS (RFC 3261
 * §11), on a thread and sockets of its own so that a slow or silent gateway
 * never delays a call.
 *
 * Every interval the prober takes the current snapshot, sends one OPTIONS to
 * each gateway with probe on, and waits until the next round for the
 * answers.  UDP gateways are asked from the prober's two UDP sockets and
 * their answers matched by the Via branch.  TCP gateways get a non-blocking
 * connection of their own per round (the proxy's TCP connections belong to
 * its worker loops; a probe must not queue behind calls or hold a worker):
 * the OPTIONS is written once connected and the answer read back on that
 * connection (§18.2.2), which is then closed.  A refused or reset
 * connection, or no answer by the end of the round, is a miss.  TLS gateways
 * are probed the same way over TLS, with the proxy's client context: SNI
 * and the certificate checked against the gateway's host as for a call
 * (RFC 5922 §4), so a handshake that fails — a certificate that does not
 * verify — is a miss, and such a gateway goes down before a call tries it.  Any
 * response means the gateway's SIP stack is alive, even 4xx/5xx (many
 * carriers answer OPTIONS with 404 or 405).  PROBE_DOWN_AFTER
 * rounds without an answer mark it down (the planner skips it); one answer
 * marks it up again.  The marks live in the gateway's state entry, which
 * outlives snapshot rebuilds, and are shown as warp_sip_gateway_up{gateway}
 * (gw_series.c: -1 until the first round here decides).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "sip/policy_private.h"

#define PROBE_DOWN_AFTER 2 /* unanswered rounds before a gateway is down */
#define PROBE_SLICE_MS 100 /* stop requests are seen within this */
#define PROBE_MSG_MAX 1024
#define PROBE_TCP_BUF 4096 /* the OPTIONS out, then the answer's header block in */

struct probe_pending {
	char branch[64];
	struct psnap_gw_state *state;
	bool answered;
	int fd;	      /* TCP: this probe's connection; -1 once closed, and for UDP */
	bool writing; /* TCP: connecting, or the OPTIONS not all written yet */
	char *buf;    /* TCP: PROBE_TCP_BUF bytes, the request then the answer */
	size_t len, off;
	SSL *ssl;	  /* TLS: over fd, NULL for TCP */
	bool handshaking; /* TLS: the handshake is not done yet */
	short want;	  /* TLS: what the handshake or I/O waits for (POLLIN/POLLOUT) */
};

struct sip_prober {
	struct snapshot *snap;
	SSL_CTX *tls_client; /* the proxy's, shared; NULL: TLS gateways are skipped */
	int interval_ms;
	int fd[2]; /* IPv4, IPv6 */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	uint64_t round;
	struct probe_pending *pending;
	struct pollfd *pfd; /* the UDP sockets, then one per pending (-1: none) */
	size_t npending;
};

struct sip_prober *sip_prober_new(struct snapshot *snap, int interval_ms,
				  struct ssl_ctx_st *tls_client)
{
	struct sip_prober *pr = calloc(1, sizeof(*pr));

	if (!pr)
		return NULL;
	pr->snap = snap;
	pr->tls_client = tls_client;
	pr->interval_ms = interval_ms > 0 ? interval_ms : 10000;
	pr->fd[0] = pr->fd[1] = -1;
	return pr;
}

/* The local address the kernel would use towards dst (for the Via). */
static int probe_local_addr(const struct net_addr *dst, struct net_addr *out)
{
	int fd = socket(dst->ss.ss_family, SOCK_DGRAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int rc = -errno;

	if (fd < 0)
		return rc;
	rc = connect(fd, (const struct sockaddr *)&dst->ss, dst->len) == 0 &&
		     getsockname(fd, (struct sockaddr *)&ss, &len) == 0
		 ? net_addr_from_sockaddr((struct sockaddr *)&ss, len, out)
		 : -errno;
	close(fd);
	return rc;
}

/* The address a socket is bound to. */
static int probe_bound_addr(int fd, struct net_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return net_addr_from_sockaddr((struct sockaddr *)&ss, len, out);
}

/* The OPTIONS to g, its Via naming local's IP and the port answers come to. */
static int probe_format(const struct psnap_gateway *g, const struct net_addr *local, uint16_t port,
			const char *branch, char *out, size_t n)
{
	const char *tp = g->transport == SIP_TRANSPORT_TLS   ? "TLS"
			 : g->transport == SIP_TRANSPORT_TCP ? "TCP"
							     : "UDP";
	char via[NET_ADDR_STRLEN], ip[NET_ADDR_STRLEN], hp[SIP_HOST_MAX + 16];

	if (net_addr_format_ip(local, ip, sizeof(ip)) < 0)
		return -EIO;
	snprintf(via, sizeof(via), local->ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 (unsigned)port);
	/* An IPv6 reference is bracketed in a SIP URI (RFC 3261 §25.1). */
	snprintf(hp, sizeof(hp), strchr(g->host, ':') ? "[%s]:%u" : "%s:%u", g->host,
		 (unsigned)(g->port				? g->port
			    : g->transport == SIP_TRANSPORT_TLS ? 5061
								: 5060));
	/* RFC 3261 §11.1 OPTIONS; the URI names TCP or TLS (§19.1.1); rport
	 * (RFC 3581) so NAT'd UDP answers find us. */
	int w = snprintf(out, n,
			 "OPTIONS sip:%s%s SIP/2.0\r\n"
			 "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:probe@%s>;tag=%s\r\n"
			 "To: <sip:%s>\r\n"
			 "Call-ID: %s\r\n"
			 "CSeq: 1 OPTIONS\r\n"
			 "Accept: application/sdp\r\n"
			 "Content-Length: 0\r\n\r\n",
			 hp,
			 g->transport == SIP_TRANSPORT_TLS   ? ";transport=tls"
			 : g->transport == SIP_TRANSPORT_TCP ? ";transport=tcp"
							     : "",
			 tp, via, branch, via, branch + 7, hp, branch + 7);
	return w > 0 && (size_t)w < n ? w : -ENOSPC;
}

static void probe_send_udp(struct sip_prober *pr, const struct psnap_gateway *g,
			   const struct probe_pending *pe)
{
	int fam = g->addr.ss.ss_family == AF_INET6, len = -EIO;
	struct net_addr local, bound;
	char msg[PROBE_MSG_MAX];

	if (probe_local_addr(&g->addr, &local) == 0 && probe_bound_addr(pr->fd[fam], &bound) == 0)
		len = probe_format(g, &local, net_addr_port(&bound), pe->branch, msg, sizeof(msg));
	if (len > 0 && sendto(pr->fd[fam], msg, (size_t)len, 0,
			      (const struct sockaddr *)&g->addr.ss, g->addr.len) < 0)
		log_debug("sip", "probe to gateway %s: %s", g->id, strerror(errno));
}

static void probe_tcp_close(struct probe_pending *pe)
{
	SSL_free(pe->ssl);
	pe->ssl = NULL;
	if (pe->fd >= 0)
		close(pe->fd);
	pe->fd = -1;
	free(pe->buf);
	pe->buf = NULL;
}

/* Starts this round's connection to a TCP gateway and formats the OPTIONS
 * for it (the kernel has bound the local port by the time connect returns,
 * even while the handshake is in progress); on failure the probe is a miss. */
static int probe_tcp_open(struct sip_prober *pr, struct probe_pending *pe,
			  const struct psnap_gateway *g)
{
	struct net_addr local;
	int rc;

	pe->fd = socket(g->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pe->fd < 0)
		return -errno;
	if (connect(pe->fd, (const struct sockaddr *)&g->addr.ss, g->addr.len) < 0 &&
	    errno != EINPROGRESS)
		return -errno;
	rc = probe_bound_addr(pe->fd, &local);
	if (rc < 0)
		return rc;
	pe->buf = malloc(PROBE_TCP_BUF);
	if (!pe->buf)
		return -ENOMEM;
	rc = probe_format(g, &local, net_addr_port(&local), pe->branch, pe->buf, PROBE_TCP_BUF);
	if (rc < 0)
		return rc;
	pe->len = (size_t)rc;
	pe->writing = true;
	if (g->transport != SIP_TRANSPORT_TLS)
		return 0;
	/* the identity checked is the gateway's host, as a call's (tls.c) */
	pe->ssl = SSL_new(pr->tls_client);
	if (!pe->ssl || tls_identity_set(pe->ssl, str_from_cstr(g->host)) < 0 ||
	    SSL_set_fd(pe->ssl, pe->fd) != 1)
		return -ENOMEM;
	SSL_set_connect_state(pe->ssl);
	pe->handshaking = true;
	return 0;
}

static void probe_send_all(struct sip_prober *pr, const struct psnap *s)
{
	pr->npending = 0;
	for (size_t i = 0; i < s->ngateways; i++) {
		const struct psnap_gateway *g = &s->gateways[i];
		struct probe_pending *pe = &pr->pending[pr->npending];
		bool udp = g->transport == SIP_TRANSPORT_UDP;
		int rc;

		if (!g->probe || !g->resolved ||
		    (udp ? pr->fd[g->addr.ss.ss_family == AF_INET6] < 0
			 : g->transport != SIP_TRANSPORT_TCP &&
			       !(g->transport == SIP_TRANSPORT_TLS && pr->tls_client)))
			continue;
		*pe = (struct probe_pending){.state = g->state, .fd = -1};
		snprintf(pe->branch, sizeof(pe->branch), "z9hG4bKprobe%llx.%zx",
			 (unsigned long long)pr->round, i);
		if (udp) {
			probe_send_udp(pr, g, pe);
		} else if ((rc = probe_tcp_open(pr, pe, g)) < 0) {
			log_debug("sip", "probe to gateway %s: %s", g->id, strerror(-rc));
			probe_tcp_close(pe);
		}
		pr->npending++;
	}
}

/* The top Via of a response (a body may be cut off: the header block
 * alone is enough to tell the gateway answered). */
static bool probe_response_via(const char *buf, size_t n, struct sip_via *via)
{
	struct sip_msg m;
	int rc = sip_msg_parse(&m, buf, n);

	return (rc == 0 || rc == SIP_E_BODY_SHORT) && !m.is_request && sip_msg_via(&m, 0, via) == 0;
}

static void probe_receive(struct sip_prober *pr, int fd)
{
	char buf[SIP_MSG_MAX_SIZE];
	struct sip_via via;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n <= 0 || !probe_response_via(buf, (size_t)n, &via))
		return;
	for (size_t i = 0; i < pr->npending; i++)
		if (str_eq_cstr(via.branch, pr->pending[i].branch))
			pr->pending[i].answered = true;
}

/* What an SSL call that did not complete waits for: -EAGAIN with pe->want
 * set, or -EIO when the connection failed (a certificate that does not
 * verify is logged: the reason a gateway goes down). */
static int probe_tls_wait(struct probe_pending *pe, int r)
{
	int e = SSL_get_error(pe->ssl, r);
	char why[160];

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		pe->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return -EAGAIN;
	}
	if (pe->handshaking)
		log_debug("sip", "probe: TLS handshake failed: %s", tls_error(why, sizeof(why)));
	return -EIO;
}

/* Goes on with the handshake; true once it is done. */
static bool probe_tls_handshake(struct probe_pending *pe)
{
	int r = SSL_do_handshake(pe->ssl);

	if (r == 1) {
		pe->handshaking = false;
		pe->want = 0;
		return true;
	}
	if (probe_tls_wait(pe, r) != -EAGAIN)
		probe_tcp_close(pe); /* refused, or its certificate did not verify: a miss */
	return false;
}

/* Writes what is left of the OPTIONS: bytes written, 0 to wait, <0 failed. */
static ssize_t probe_stream_send(struct probe_pending *pe)
{
	ssize_t n;

	if (pe->ssl) {
		int r = SSL_write(pe->ssl, pe->buf + pe->off, (int)(pe->len - pe->off));
		if (r > 0) {
			pe->want = 0;
			return r;
		}
		return probe_tls_wait(pe, r) == -EAGAIN ? 0 : -EIO;
	}
	n = send(pe->fd, pe->buf + pe->off, pe->len - pe->off, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return n < 0 ? -errno : n;
}

/* Reads into the answer buffer: bytes read, 0 at the end, -EAGAIN to wait,
 * another <0 when it failed. */
static ssize_t probe_stream_recv(struct probe_pending *pe)
{
	ssize_t n;

	if (pe->ssl) {
		int r = SSL_read(pe->ssl, pe->buf + pe->len, (int)(PROBE_TCP_BUF - pe->len));
		if (r > 0) {
			pe->want = 0;
			return r;
		}
		return SSL_get_error(pe->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0
									  : probe_tls_wait(pe, r);
	}
	n = recv(pe->fd, pe->buf + pe->len, PROBE_TCP_BUF - pe->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return -EAGAIN;
	return n < 0 ? -errno : n;
}

/* Connected (or refused): writes what is left of the OPTIONS. */
static void probe_tcp_write(struct probe_pending *pe)
{
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t n;

	if (getsockopt(pe->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		probe_tcp_close(pe); /* refused, unreachable: a miss */
		return;
	}
	if (pe->handshaking && !probe_tls_handshake(pe))
		return;
	n = probe_stream_send(pe);
	if (n < 0)
		probe_tcp_close(pe);
	if (n <= 0)
		return;
	pe->off += (size_t)n;
	if (pe->off == pe->len) {
		pe->writing = false;
		pe->len = 0;
	}
}

/* Reads the answer until its header block is complete (§18.3: a stream is
 * framed by the blank line and Content-Length; the body is not needed). */
static void probe_tcp_read(struct probe_pending *pe)
{
	ssize_t n = probe_stream_recv(pe);
	const char *end;
	struct sip_via via;

	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		probe_tcp_close(pe); /* closed or reset before answering: a miss */
		return;
	}
	pe->len += (size_t)n;
	end = memmem(pe->buf, pe->len, "\r\n\r\n", 4);
	if (!end && pe->len < PROBE_TCP_BUF)
		return;
	if (end && probe_response_via(pe->buf, (size_t)(end + 4 - pe->buf), &via))
		pe->answered = str_eq_cstr(via.branch, pe->branch);
	probe_tcp_close(pe); /* answered, or not SIP within the buffer */
}

static void probe_mark(struct psnap_gw_state *st, bool answered)
{
	bool was_down = atomic_load(&st->down);
	bool down = false;

	if (answered)
		atomic_store(&st->misses, 0);
	else
		down = atomic_fetch_add(&st->misses, 1) + 1 >= PROBE_DOWN_AFTER;
	/* The gauge first: whoever sees the new state sees the gauge agree. */
	if (st->up)
		metric_set(st->up, down ? 0 : 1);
	if (down != was_down) {
		atomic_store(&st->down, down);
		log_warn("sip", "gateway %s is %s", st->id, down ? "down" : "up again");
	}
}

/* One poll entry per pending probe (fd -1, which poll skips, for UDP
 * probes and closed connections), after the two UDP sockets. */
static void probe_poll_fill(struct sip_prober *pr)
{
	pr->pfd[0] = (struct pollfd){pr->fd[0], POLLIN, 0};
	pr->pfd[1] = (struct pollfd){pr->fd[1], POLLIN, 0};
	for (size_t i = 0; i < pr->npending; i++) {
		const struct probe_pending *pe = &pr->pending[i];

		/* TLS: what the handshake or the last SSL call waits for */
		short ev = pe->want ? pe->want : pe->writing ? POLLOUT : POLLIN;

		pr->pfd[2 + i] = (struct pollfd){pe->fd, ev, 0};
	}
}

static void probe_wait(struct sip_prober *pr, int64_t until)
{
	while (!atomic_load(&pr->stop)) {
		int64_t left = until - time_mono_ms();

		if (left <= 0)
			break;
		probe_poll_fill(pr);
		if (poll(pr->pfd, 2 + pr->npending,
			 (int)(left < PROBE_SLICE_MS ? left : PROBE_SLICE_MS)) <= 0)
			continue;
		for (int k = 0; k < 2; k++)
			if (pr->pfd[k].revents & POLLIN)
				probe_receive(pr, pr->pfd[k].fd);
		for (size_t i = 0; i < pr->npending; i++) {
			struct probe_pending *pe = &pr->pending[i];

			if (!pr->pfd[2 + i].revents || pe->fd < 0)
				continue;
			if (pe->writing)
				probe_tcp_write(pe);
			else
				probe_tcp_read(pe);
		}
	}
}

/* Room for a round over n gateways; false leaves the round out. */
static bool probe_reserve(struct sip_prober *pr, size_t n)
{
	struct probe_pending *np = realloc(pr->pending, (n + 1) * sizeof(*np));
	struct pollfd *nf;

	if (!np)
		return false;
	pr->pending = np;
	nf = realloc(pr->pfd, (n + 3) * sizeof(*nf));
	if (!nf)
		return false;
	pr->pfd = nf;
	return true;
}

static void *probe_thread(void *arg)
{
	struct sip_prober *pr = arg;

	while (!atomic_load(&pr->stop)) {
		const struct psnap *s = snapshot_acquire(pr->snap);
		int64_t until = time_mono_ms() + pr->interval_ms;

		pr->round++;
		if (s) {
			if (probe_reserve(pr, s->ngateways))
				probe_send_all(pr, s);
			snapshot_release(pr->snap, s);
		}
		probe_wait(pr, until);
		for (size_t i = 0; i < pr->npending; i++) {
			probe_tcp_close(&pr->pending[i]); /* unanswered by now: a miss */
			if (!atomic_load(&pr->stop))
				probe_mark(pr->pending[i].state, pr->pending[i].answered);
		}
		pr->npending = 0;
	}
	return NULL;
}

int sip_prober_start(struct sip_prober *pr, char *err, size_t errlen)
{
	struct net_addr any4, any6;

	net_addr_parse(STR_LIT("0.0.0.0"), 0, &any4);
	net_addr_parse(STR_LIT("::"), 0, &any6);
	pr->fd[0] = net_socket_bind(&any4, SOCK_DGRAM, false);
	pr->fd[1] = net_socket_bind(&any6, SOCK_DGRAM, false); /* may fail without IPv6 */
	if (pr->fd[0] < 0 && pr->fd[1] < 0) {
		snprintf(err, errlen, "no UDP socket for probes: %s", strerror(-pr->fd[0]));
		return pr->fd[0];
	}
	if (!probe_reserve(pr,
			   0)) { /* the UDP sockets' poll entries, for rounds without a snapshot */
		snprintf(err, errlen, "out of memory for the prober");
		return -ENOMEM;
	}
	if (pthread_create(&pr->thread, NULL, probe_thread, pr) != 0) {
		snprintf(err, errlen, "cannot start the prober thread");
		return -EAGAIN;
	}
	pr->started = true;
	return 0;
}

void sip_prober_free(struct sip_prober *pr)
{
	if (!pr)
		return;
	atomic_store(&pr->stop, true);
	if (pr->started)
		pthread_join(pr->thread, NULL);
	for (int k = 0; k < 2; k++)
		if (pr->fd[k] >= 0)
			close(pr->fd[k]);
	free(pr->pending);
	free(pr->pfd);
	free(pr);
}
