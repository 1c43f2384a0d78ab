/*
 * smppsink.c — the upstream carrier SMSC of bench/smsc.sh: an SMPP 3.4
 * server on 127.0.0.1 that accepts every bind, answers every submit_sm at
 * once with ESME_ROK and a message id of its own, and for each one that
 * asks for a receipt (registered_delivery bit 0) sends a deliver_sm
 * receipt — the Appendix B text plus the receipted_message_id and
 * message_state TLVs (§5.3.2.12, §5.3.2.35) — on the same bind when it is
 * a transceiver, else on a bound receiver.  WARP and Kannel both bind to
 * it, so the benchmark measures them against the same far end.
 *
 * It counts submits and duplicates (a submit whose destination and text
 * were seen before: the load tools put a unique tag in the destination),
 * receipts sent and acknowledged, and prints them on SIGUSR1 and at exit
 * (SIGTERM, SIGINT) as one line:
 *   SINK submits=N duplicates=D receipts_sent=R receipts_acked=A
 *        receipts_unsent=U binds=B bound=C cpu_s=S
 * One thread, epoll; its own wire code (smppwire.h), not WARP's.
 *
 *   smppsink [-p PORT]      (0 or none: a free port, printed first as
 *                            "LISTENING port=N")
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smppconn.h"

#define SINK_CONNS_MAX 256
#define SINK_BACKLOG_MAX (4u << 20) /* output bytes at which a peer's input waits */
#define SINK_SEEN_MIN_BITS 20
#define SINK_SEEN_MAX_BITS 26 /* 64 Mi entries, 512 MiB: past it duplicates go uncounted */

struct sink_conn {
	struct smppc c;
	bool bound, receives, dirty;
	struct sink_conn *next;
};

/* Hashes of destination + text seen, open addressing; 0 marks a free slot. */
struct sink_seen {
	uint64_t *slot;
	unsigned bits;
	size_t used;
	bool full;
};

struct sink {
	int lfd, ep, sfd;
	struct sink_conn *conns;
	unsigned nconns, binds;
	uint64_t submits, duplicates, receipts_sent, receipts_acked, receipts_unsent, next_id;
	struct sink_seen seen;
	time_t date_at;
	char date[16]; /* YYYYMMDDhhmm of date_at */
	uint8_t pdu[SMPPW_PDU_MAX];
};

/* ---------------------------------------------------------- duplicates */

static uint64_t sink_hash(const char *a, size_t an, const char *b, size_t bn)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a, 64 bits */

	for (size_t i = 0; i < an; i++)
		h = (h ^ (uint8_t)a[i]) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (size_t i = 0; i < bn; i++)
		h = (h ^ (uint8_t)b[i]) * 1099511628211ull;
	return h ? h : 1;
}

static bool sink_seen_put(struct sink_seen *s, uint64_t h); /* true: seen before */

static int sink_seen_grow(struct sink_seen *s)
{
	struct sink_seen n = {.bits = s->bits ? s->bits + 1 : SINK_SEEN_MIN_BITS};

	if (n.bits > SINK_SEEN_MAX_BITS)
		return -1;
	n.slot = calloc((size_t)1 << n.bits, sizeof(uint64_t));
	if (!n.slot)
		return -1;
	for (size_t i = 0; s->slot && i < ((size_t)1 << s->bits); i++)
		if (s->slot[i])
			sink_seen_put(&n, s->slot[i]);
	free(s->slot);
	*s = n;
	return 0;
}

static bool sink_seen_put(struct sink_seen *s, uint64_t h)
{
	if (s->full)
		return false;
	if ((!s->slot || s->used * 2 >= ((size_t)1 << s->bits)) && sink_seen_grow(s) < 0) {
		s->full = true;
		return false;
	}
	size_t mask = ((size_t)1 << s->bits) - 1;
	/* Bounded: the table is at most half full, so a free slot is near. */
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		if (s->slot[i] == h)
			return true;
		if (!s->slot[i]) {
			s->slot[i] = h;
			s->used++;
			return false;
		}
	}
}

/* ------------------------------------------------------------- sending */

static void sink_send(struct sink_conn *sc, struct smppw_out *o)
{
	if (smppc_send(&sc->c, o->buf, smppw_end(o)) == 0)
		sc->dirty = true;
}

static void sink_answer(struct sink *k, struct sink_conn *sc, const struct smppw_pdu *p,
			const char *body, size_t n)
{
	struct smppw_out o = {k->pdu, 0};

	smppw_begin(&o, p->id | SMPPW_RESP, 0, p->seq);
	if (body)
		smppw_cstr(&o, body, n);
	sink_send(sc, &o);
}

/* Where a receipt for a submit on sc goes: sc itself when it can receive,
 * else the first bound receiver. */
static struct sink_conn *sink_receiver(struct sink *k, struct sink_conn *sc)
{
	if (sc->receives)
		return sc;
	for (struct sink_conn *r = k->conns; r; r = r->next)
		if (r->bound && r->receives)
			return r;
	return NULL;
}

static const char *sink_date(struct sink *k)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != k->date_at) {
		gmtime_r(&now, &tm);
		strftime(k->date, sizeof(k->date), "%Y%m%d%H%M", &tm);
		k->date_at = now;
	}
	return k->date + 2; /* YY: Appendix B has two digits of year */
}

/* SMPP 3.4 Appendix B text and the TLVs of a delivered message. */
static void sink_receipt(struct sink *k, struct sink_conn *to, const struct smppw_sm *sm,
			 const char *id)
{
	struct smppw_out o = {k->pdu, 0};
	char text[200];
	const char *d = sink_date(k);
	int n = snprintf(text, sizeof(text),
			 "id:%s sub:001 dlvrd:001 submit date:%s done date:%s stat:DELIVRD "
			 "err:000 text:%.*s",
			 id, d, d, (int)(sm->text_len < 20 ? sm->text_len : 20), sm->text);
	uint8_t state = 2; /* DELIVERED, §5.2.28 */
	/* The receipt travels back: from the message's destination to its source. */
	struct smppw_sm r = {.src = sm->dst,
			     .src_len = sm->dst_len,
			     .dst = sm->src,
			     .dst_len = sm->src_len,
			     .text = text,
			     .text_len = n > 0 && n < 255 ? (size_t)n : 0,
			     .esm_class = SMPPW_ESM_RECEIPT};

	smppw_begin(&o, SMPPW_DELIVER_SM, 0, (uint32_t)(k->receipts_sent % 0x7fffffff) + 1);
	smppw_sm_put(&o, &r);
	smppw_tlv(&o, SMPPW_TLV_RECEIPTED_ID, id, (uint16_t)(strlen(id) + 1));
	smppw_tlv(&o, SMPPW_TLV_MESSAGE_STATE, &state, 1);
	sink_send(to, &o);
	k->receipts_sent++;
}

/* ------------------------------------------------------------ handling */

static void sink_submit(struct sink *k, struct sink_conn *sc, struct smppw_pdu *p)
{
	struct smppw_sm sm;
	char id[24];

	if (smppw_sm_parse(&p->body, &sm) < 0) {
		struct smppw_out o = {k->pdu, 0};
		smppw_begin(&o, SMPPW_SUBMIT_SM | SMPPW_RESP, 0x00000001u /* RINVMSGLEN */, p->seq);
		sink_send(sc, &o);
		return;
	}
	k->submits++;
	if (sink_seen_put(&k->seen, sink_hash(sm.dst, sm.dst_len, sm.text, sm.text_len)))
		k->duplicates++;
	int n = snprintf(id, sizeof(id), "%llx", (unsigned long long)++k->next_id);
	sink_answer(k, sc, p, id, (size_t)n);
	if (!(sm.registered_delivery & 1))
		return;
	struct sink_conn *to = sink_receiver(k, sc);
	if (to)
		sink_receipt(k, to, &sm, id);
	else
		k->receipts_unsent++;
}

/* One PDU from a peer; returns -1 when the connection is to end. */
static int sink_pdu(struct sink *k, struct sink_conn *sc, struct smppw_pdu *p)
{
	switch (p->id) {
	case SMPPW_BIND_RECEIVER:
	case SMPPW_BIND_TRANSMITTER:
	case SMPPW_BIND_TRANSCEIVER:
		sc->bound = true;
		sc->receives = p->id != SMPPW_BIND_TRANSMITTER;
		k->binds++;
		sink_answer(k, sc, p, "smppsink", 8);
		return 0;
	case SMPPW_SUBMIT_SM:
		sink_submit(k, sc, p);
		return 0;
	case SMPPW_ENQUIRE_LINK:
		sink_answer(k, sc, p, NULL, 0);
		return 0;
	case SMPPW_UNBIND:
		sink_answer(k, sc, p, NULL, 0);
		sc->bound = false;
		return 0;
	case SMPPW_DELIVER_SM | SMPPW_RESP:
		k->receipts_acked += p->status == 0;
		return 0;
	default:
		if (p->id & SMPPW_RESP)
			return 0;
		struct smppw_out o = {k->pdu, 0};
		smppw_begin(&o, SMPPW_GENERIC_NACK, SMPPW_ESME_RINVCMDID, p->seq);
		sink_send(sc, &o);
		return 0;
	}
}

static void sink_conn_close(struct sink *k, struct sink_conn *sc)
{
	for (struct sink_conn **pp = &k->conns; *pp; pp = &(*pp)->next)
		if (*pp == sc) {
			*pp = sc->next;
			break;
		}
	epoll_ctl(k->ep, EPOLL_CTL_DEL, sc->c.fd, NULL);
	smppc_fini(&sc->c);
	free(sc);
	k->nconns--;
}

/* Acknowledges what was just read at once instead of after the delayed-ACK
 * timer (tcp(7): TCP_QUICKACK is not permanent, so it is set again after
 * every read).  A peer with Nagle's algorithm on (RFC 896) holds its next
 * small write until its last one is acknowledged; a deliver_sm_resp is such
 * a write the sink has nothing to answer to, so without this each window
 * of a Nagle client waits ~40 ms: Kannel 1.4.5's SMPP client (no setting
 * for TCP_NODELAY) then sends at window / 40 ms (250/s at window 10) once
 * receipts flow.  A busy carrier SMSC acknowledges at once by sending;
 * this makes the quiet sink do the same for every client alike. */
static void sink_ack_now(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* Reads and answers what a peer sent; -1 when it is gone. */
static int sink_conn_input(struct sink *k, struct sink_conn *sc)
{
	struct smppw_pdu p;
	int rc;

	if (smppc_pending(&sc->c) > SINK_BACKLOG_MAX)
		return 0; /* its answers first */
	if (smppc_read(&sc->c) < 0)
		return -1;
	sink_ack_now(sc->c.fd);
	while ((rc = smppc_next(&sc->c, &p)) == 1)
		if (sink_pdu(k, sc, &p) < 0)
			return -1;
	return rc < 0 ? -1 : 0;
}

static void sink_accept(struct sink *k)
{
	int fd = accept4(k->lfd, NULL, NULL, SOCK_NONBLOCK);
	struct sink_conn *sc;

	if (fd < 0)
		return;
	sc = k->nconns < SINK_CONNS_MAX ? malloc(sizeof(*sc)) : NULL;
	if (!sc) {
		close(fd);
		return;
	}
	smppc_init(&sc->c, fd);
	sc->bound = sc->receives = sc->dirty = false;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = sc};
	if (epoll_ctl(k->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		smppc_fini(&sc->c);
		free(sc);
		return;
	}
	sc->next = k->conns;
	k->conns = sc;
	k->nconns++;
}

/* Sends what each peer has queued; a peer with output left is also
 * watched for writability. */
static void sink_flush_all(struct sink *k)
{
	struct sink_conn *sc = k->conns, *next;

	for (; sc; sc = next) {
		next = sc->next;
		if (!sc->dirty)
			continue;
		if (smppc_flush(&sc->c) < 0) {
			sink_conn_close(k, sc);
			continue;
		}
		size_t left = smppc_pending(&sc->c);
		struct epoll_event ev = {.events = (left ? EPOLLOUT : 0) |
						   (left > SINK_BACKLOG_MAX ? 0 : EPOLLIN),
					 .data.ptr = sc};
		epoll_ctl(k->ep, EPOLL_CTL_MOD, sc->c.fd, &ev);
		sc->dirty = left > 0;
	}
}

static void sink_report(const struct sink *k)
{
	unsigned bound = 0;

	for (const struct sink_conn *sc = k->conns; sc; sc = sc->next)
		bound += sc->bound;
	printf("SINK submits=%llu duplicates=%llu receipts_sent=%llu receipts_acked=%llu "
	       "receipts_unsent=%llu binds=%u bound=%u cpu_s=%.3f%s\n",
	       (unsigned long long)k->submits, (unsigned long long)k->duplicates,
	       (unsigned long long)k->receipts_sent, (unsigned long long)k->receipts_acked,
	       (unsigned long long)k->receipts_unsent, k->binds, bound, smppc_cpu_seconds(0),
	       k->seen.full ? " dedupe=full" : "");
	fflush(stdout);
}

/* A signal: 1 to go on, 0 to end. */
static int sink_signal(struct sink *k)
{
	struct signalfd_siginfo si;

	if (read(k->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 1;
	sink_report(k);
	return si.ssi_signo == SIGUSR1;
}

static void sink_run(struct sink *k)
{
	struct epoll_event evs[64];

	for (;;) {
		int n = epoll_wait(k->ep, evs, 64, 1000);
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			if (ptr == &k->lfd) {
				sink_accept(k);
			} else if (ptr == &k->sfd) {
				if (!sink_signal(k))
					return;
			} else {
				struct sink_conn *sc = ptr;
				if (evs[i].events & EPOLLOUT)
					sc->dirty = true;
				if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
				    sink_conn_input(k, sc) < 0)
					sink_conn_close(k, sc);
			}
		}
		sink_flush_all(k);
	}
}

/* ---------------------------------------------------------------- main */

static int sink_listen(struct sink *k, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t sl = sizeof(sa);
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	k->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (k->lfd < 0)
		return -1;
	setsockopt(k->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(k->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(k->lfd, 64) < 0 ||
	    getsockname(k->lfd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	printf("LISTENING port=%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	return 0;
}

static int sink_setup(struct sink *k, uint16_t port)
{
	sigset_t mask;
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &k->lfd};
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &k->sfd};

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	k->sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	k->ep = epoll_create1(0);
	if (k->sfd < 0 || k->ep < 0 || sink_listen(k, port) < 0 ||
	    epoll_ctl(k->ep, EPOLL_CTL_ADD, k->lfd, &lev) < 0 ||
	    epoll_ctl(k->ep, EPOLL_CTL_ADD, k->sfd, &sev) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct sink k = {.lfd = -1, .ep = -1, .sfd = -1};
	unsigned long port = 0;
	int c, rc = 1;

	while ((c = getopt(argc, argv, "p:")) != -1) {
		char *end;
		port = c == 'p' ? strtoul(optarg, &end, 10) : 65536;
		if (c != 'p' || *end || port > 65535) {
			fprintf(stderr, "usage: smppsink [-p PORT]\n");
			return 2;
		}
	}
	if (sink_setup(&k, (uint16_t)port) < 0) {
		fprintf(stderr, "smppsink: %s\n", strerror(errno));
		goto out;
	}
	sink_run(&k);
	rc = 0;
out:
	while (k.conns)
		sink_conn_close(&k, k.conns);
	free(k.seen.slot);
	if (k.lfd >= 0)
		close(k.lfd);
	if (k.ep >= 0)
		close(k.ep);
	if (k.sfd >= 0)
		close(k.sfd);
	return rc;
}
