/*
 * relay.c — the packet path.
 *
 * Each relay worker reads its sockets in batches (recvmmsg), decides per
 * packet where it goes, and writes the batch out (sendmmsg), grouping
 * packets by outgoing socket.  What arrives on one party's port leaves from
 * the other party's port of the same call, so that each party sees one
 * symmetric address for us (what NATs and SBCs expect).
 *
 * Learning: a party's endpoint starts as its SDP says; each stream learns
 * the one source it accepts (learn.c), and media to the party goes to that
 * source (behind NAT the only address that reaches it) unless the call is
 * "asymmetric".  Packets from any other source are dropped and counted
 * (warp_media_packets_dropped_total{reason="foreign_source"}).
 */
#include "media/media_private.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define MEDIA_READ_ROUNDS 4 /* batches per wake-up before yielding to other sockets */
#define RTP_HDR 12

static int64_t media_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* hot path: no allocation, no locks, no I/O */
static bool media_relay_accept(struct media_stream *st, const struct net_addr *src, int64_t mono)
{
	const struct media_call *c = st->call;
	const struct media_learn_in in = {.sdp = &st->sdp_ep,
					  .sdp_known = st->sdp_known,
					  .mode = c->learning,
					  .window_ms = c->m->o.learning_window_ms};
	enum media_learn_verdict v = media_learn_packet(&st->learn, &in, src, mono);

	if (v == MEDIA_LEARN_MOVED && !c->asymmetric) {
		st->ep = *src;
		st->ep_known = true;
		st->latched = true;
	}
	return v != MEDIA_LEARN_DROP;
}

/* hot path: no allocation, no locks, no I/O
 * G.711 payloads change law in place; the RTP header keeps everything but
 * the payload type (RFC 3550 §5.1: the marker bit shares its octet). */
static void media_relay_transcode(const struct media_stream *st, uint8_t *p, size_t len)
{
	size_t hdr, pad = 0;

	if (len < RTP_HDR || (p[0] >> 6) != 2 || (p[1] & 0x7f) != st->tc_from_pt)
		return;
	hdr = RTP_HDR + 4u * (p[0] & 0x0f);
	if ((p[0] & 0x10) && len >= hdr + 4)
		hdr += 4 + 4u * ((size_t)p[hdr + 2] << 8 | p[hdr + 3]);
	if ((p[0] & 0x20) && len > hdr)
		pad = p[len - 1];
	if (hdr + pad > len)
		return;
	if (st->tc == MEDIA_TC_U2A)
		g711_ulaw_to_alaw(p + hdr, len - hdr - pad);
	else
		g711_alaw_to_ulaw(p + hdr, len - hdr - pad);
	p[1] = (uint8_t)((p[1] & 0x80) | st->tc_to_pt);
}

/* hot path: no allocation, no locks, no I/O
 * Where a packet received on st goes: RTP to the other party's RTP port;
 * RTCP to its RTCP port, or its RTP port when it multiplexes (RFC 5761). */
static struct media_stream *media_relay_route(struct media_stream *st, uint8_t *p, size_t len)
{
	struct rtcp_report r;

	if (!st->is_rtcp && !rtcp_is_rtcp(p, len)) {
		if (st->tc != MEDIA_TC_NONE)
			media_relay_transcode(st, p, len);
		return st->peer_rtp;
	}
	if (rtcp_parse(p, len, &r) == 1) {
		st->rr = r;
		st->rtcp_reports++;
	}
	return st->peer_rtp && st->peer_rtp->mux ? st->peer_rtp : st->peer_rtcp;
}

/* hot path: no allocation, no locks, no I/O (a recording is a copy into a ring) */
/* Packets of one batch not handed to sendmmsg, by reason. */
struct media_relay_drops {
	int64_t foreign, nodest;
};

static void media_relay_one(struct media_worker *w, struct media_stream *st, unsigned i,
			    size_t *nout, struct media_relay_drops *d, int64_t mono,
			    int64_t wall_us)
{
	uint8_t *p = w->buf[i];
	size_t len = w->in[i].msg_len;
	struct net_addr src;
	struct media_stream *out;

	src.len = w->in[i].msg_hdr.msg_namelen;
	memcpy(&src.ss, &w->in_src[i], sizeof(src.ss));
	if (!media_relay_accept(st, &src, mono)) {
		st->errors++;
		d->foreign++;
		return;
	}
	st->packets++;
	st->bytes += len;
	st->last_wall_s = wall_us / 1000000;
	atomic_store_explicit(&st->last_mono_ms, mono, memory_order_relaxed);
	out = media_relay_route(st, p, len);
	if (st->call->rec)
		media_rec_packet(w, st->call->rec, &src, &st->local, p, len, wall_us);
	if (!out || out->fd < 0 || !out->ep_known) {
		st->errors++;
		d->nodest++;
		return;
	}
	w->out_iov[*nout] = (struct iovec){p, len};
	w->out[*nout].msg_hdr = (struct msghdr){.msg_name = &out->ep.ss,
						.msg_namelen = out->ep.len,
						.msg_iov = &w->out_iov[*nout],
						.msg_iovlen = 1};
	w->out_fd[*nout] = out->fd;
	(*nout)++;
}

/* Sends runs of packets that share an outgoing socket; returns how many
 * left.  A full socket buffer drops the rest of the run (no blocking). */
static size_t media_relay_flush(struct media_worker *w, size_t n)
{
	size_t sent = 0, i = 0;

	while (i < n) {
		size_t j = i + 1;
		while (j < n && w->out_fd[j] == w->out_fd[i])
			j++;
		int rc = sendmmsg(w->out_fd[i], &w->out[i], (unsigned)(j - i), MSG_DONTWAIT);
		sent += rc > 0 ? (size_t)rc : 0;
		i = j;
	}
	return sent;
}

static void media_relay_prepare(struct media_worker *w)
{
	for (unsigned i = 0; i < MEDIA_BATCH; i++) {
		w->in_iov[i] = (struct iovec){w->buf[i], MEDIA_PKT_MAX};
		w->in[i].msg_hdr = (struct msghdr){.msg_name = &w->in_src[i],
						   .msg_namelen = sizeof(w->in_src[i]),
						   .msg_iov = &w->in_iov[i],
						   .msg_iovlen = 1};
	}
}

/* hot path: no allocation, no locks, no I/O (relaxed atomic adds) */
static void media_relay_count_drops(struct media *m, const struct media_relay_drops *d,
				    int64_t unsent)
{
	if (d->foreign)
		metric_add(m->m_drop_foreign, d->foreign);
	if (d->nodest)
		metric_add(m->m_drop_nodest, d->nodest);
	if (unsent)
		metric_add(m->m_drop_send, unsent);
}

void media_relay_readable(evutil_socket_t fd, short what, void *arg)
{
	struct media_stream *st = arg;
	struct media *m = st->call->m;
	struct media_worker *w = &m->workers[st->call->worker];

	for (int round = 0; round < MEDIA_READ_ROUNDS; round++) {
		media_relay_prepare(w);
		int n = recvmmsg(fd, w->in, MEDIA_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		int64_t mono = time_mono_ms(), wall = media_wall_us();
		size_t nout = 0, sent;
		struct media_relay_drops d = {0, 0};
		for (unsigned i = 0; i < (unsigned)n; i++)
			media_relay_one(w, st, i, &nout, &d, mono, wall);
		sent = media_relay_flush(w, nout);
		media_relay_count_drops(m, &d, (int64_t)(nout - sent));
		atomic_fetch_add_explicit(&m->stats.relayed, sent, memory_order_relaxed);
		atomic_fetch_add_explicit(&m->stats.relay_errors, (uint64_t)n - sent,
					  memory_order_relaxed);
		if (m->m_pkts_in)
			metric_add(m->m_pkts_in, n);
		if (m->m_pkts_out)
			metric_add(m->m_pkts_out, (int64_t)sent);
		if (n < MEDIA_BATCH)
			break;
	}
}
