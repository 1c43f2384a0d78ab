/*
 * probe.c — health probing of carrier gateways with SIP OPTIONS (RFC 3261
 * §11), on a thread and UDP sockets of its own so that a slow or silent
 * gateway never delays a call.
 *
 * Every interval the prober takes the current snapshot, sends one OPTIONS to
 * each gateway with probe on (UDP gateways only: TCP and TLS gateways are
 * judged by the core's connection failures), and waits until the next round
 * for the answers, matched by the Via branch.  Any response means the
 * gateway's SIP stack is alive, even 4xx/5xx (many carriers answer OPTIONS
 * with 404 or 405).  PROBE_DOWN_AFTER rounds without an answer mark it down
 * (the planner skips it); one answer marks it up again.  The marks live in
 * the gateway's state entry, which outlives snapshot rebuilds, and are shown
 * as warp_sip_gateway_up{gateway}.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sip/policy_private.h"

#define PROBE_DOWN_AFTER 2 /* unanswered rounds before a gateway is down */
#define PROBE_SLICE_MS 100 /* stop requests are seen within this */
#define PROBE_MSG_MAX 1024

struct probe_pending {
	char branch[64];
	struct psnap_gw_state *state;
	bool answered;
};

struct sip_prober {
	struct snapshot *snap;
	int interval_ms;
	int fd[2]; /* IPv4, IPv6 */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	uint64_t round;
	struct probe_pending *pending;
	size_t npending;
};

struct sip_prober *sip_prober_new(struct snapshot *snap, int interval_ms)
{
	struct sip_prober *pr = calloc(1, sizeof(*pr));

	if (!pr)
		return NULL;
	pr->snap = snap;
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

static int probe_format(struct sip_prober *pr, const struct psnap_gateway *g, const char *branch,
			char *out, size_t n)
{
	int fam = g->addr.ss.ss_family == AF_INET6;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct net_addr local, bound;
	char via[NET_ADDR_STRLEN], ip[NET_ADDR_STRLEN], hp[SIP_HOST_MAX + 16];

	if (probe_local_addr(&g->addr, &local) < 0 ||
	    getsockname(pr->fd[fam], (struct sockaddr *)&ss, &len) < 0 ||
	    net_addr_from_sockaddr((struct sockaddr *)&ss, len, &bound) < 0 ||
	    net_addr_format_ip(&local, ip, sizeof(ip)) < 0)
		return -EIO;
	snprintf(via, sizeof(via), fam ? "[%s]:%u" : "%s:%u", ip, (unsigned)net_addr_port(&bound));
	/* An IPv6 reference is bracketed in a SIP URI (RFC 3261 §25.1). */
	snprintf(hp, sizeof(hp), strchr(g->host, ':') ? "[%s]:%u" : "%s:%u", g->host,
		 (unsigned)(g->port ? g->port : 5060));
	/* RFC 3261 §11.1 OPTIONS; rport (RFC 3581) so NAT'd answers find us. */
	int w = snprintf(out, n,
			 "OPTIONS sip:%s SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:probe@%s>;tag=%s\r\n"
			 "To: <sip:%s>\r\n"
			 "Call-ID: %s\r\n"
			 "CSeq: 1 OPTIONS\r\n"
			 "Accept: application/sdp\r\n"
			 "Content-Length: 0\r\n\r\n",
			 hp, via, branch, via, branch + 7, hp, branch + 7);
	return w > 0 && (size_t)w < n ? w : -ENOSPC;
}

static void probe_send_all(struct sip_prober *pr, const struct psnap *s)
{
	char msg[PROBE_MSG_MAX];

	pr->npending = 0;
	for (size_t i = 0; i < s->ngateways; i++) {
		const struct psnap_gateway *g = &s->gateways[i];
		struct probe_pending *pe = &pr->pending[pr->npending];
		int fam = g->addr.ss.ss_family == AF_INET6, len;

		if (!g->probe || !g->resolved || g->transport != SIP_TRANSPORT_UDP ||
		    pr->fd[fam] < 0)
			continue;
		snprintf(pe->branch, sizeof(pe->branch), "z9hG4bKprobe%llx.%zx",
			 (unsigned long long)pr->round, i);
		pe->state = g->state;
		pe->answered = false;
		len = probe_format(pr, g, pe->branch, msg, sizeof(msg));
		if (len > 0 && sendto(pr->fd[fam], msg, (size_t)len, 0,
				      (const struct sockaddr *)&g->addr.ss, g->addr.len) < 0)
			log_debug("sip", "probe to gateway %s: %s", g->id, strerror(errno));
		pr->npending++;
	}
}

static void probe_receive(struct sip_prober *pr, int fd)
{
	char buf[SIP_MSG_MAX_SIZE];
	struct sip_msg m;
	struct sip_via via;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n <= 0 || sip_msg_parse(&m, buf, (size_t)n) < 0 || m.is_request ||
	    sip_msg_via(&m, 0, &via) < 0)
		return;
	for (size_t i = 0; i < pr->npending; i++)
		if (str_eq_cstr(via.branch, pr->pending[i].branch))
			pr->pending[i].answered = true;
}

static void probe_mark(struct psnap_gw_state *st, bool answered)
{
	bool was_down = atomic_load(&st->down);
	bool down = false;

	if (answered)
		atomic_store(&st->misses, 0);
	else
		down = atomic_fetch_add(&st->misses, 1) + 1 >= PROBE_DOWN_AFTER;
	if (down != was_down) {
		atomic_store(&st->down, down);
		log_warn("sip", "gateway %s is %s", st->id, down ? "down" : "up again");
	}
	if (st->up)
		metric_set(st->up, down ? 0 : 1);
}

static void probe_wait(struct sip_prober *pr, int64_t until)
{
	struct pollfd pfd[2] = {{pr->fd[0], POLLIN, 0}, {pr->fd[1], POLLIN, 0}};

	while (!atomic_load(&pr->stop)) {
		int64_t left = until - time_mono_ms();

		if (left <= 0)
			break;
		if (poll(pfd, 2, (int)(left < PROBE_SLICE_MS ? left : PROBE_SLICE_MS)) <= 0)
			continue;
		for (int k = 0; k < 2; k++)
			if (pfd[k].revents & POLLIN)
				probe_receive(pr, pfd[k].fd);
	}
}

static void *probe_thread(void *arg)
{
	struct sip_prober *pr = arg;

	while (!atomic_load(&pr->stop)) {
		const struct psnap *s = snapshot_acquire(pr->snap);
		int64_t until = time_mono_ms() + pr->interval_ms;

		pr->round++;
		if (s) {
			struct probe_pending *np =
			    realloc(pr->pending, (s->ngateways + 1) * sizeof(*np));

			if (np) {
				pr->pending = np;
				probe_send_all(pr, s);
			}
			snapshot_release(pr->snap, s);
		}
		probe_wait(pr, until);
		for (size_t i = 0; i < pr->npending && !atomic_load(&pr->stop); i++)
			probe_mark(pr->pending[i].state, pr->pending[i].answered);
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
	free(pr);
}
