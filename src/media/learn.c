/*
 * learn.c — which source a stream accepts packets from (endpoint learning).
 *
 * A relay port is reachable by anyone who guesses it, so a packet's source
 * is evidence, not authority (the RTP bleed and RTP inject attacks:
 * rtpengine CVE-2025-53399).  Each stream ranks a packet's source against
 * the address its party's SDP named: the same address and port (EXACT),
 * the same address (ADDR: a phone that sends from another port), or
 * neither (ANY: a NAT, which SDP cannot describe).  The first packet opens
 * a learning window; in it a better-ranked source replaces the one held,
 * and an equal or worse one is refused.  When the window closes the source
 * is locked.  A source EXACTLY as the SDP named always wins, window or not:
 * what the signalling vouches for cannot be a stranger, and a stranger
 * cannot receive what is sent there.  Everything else from another source
 * is dropped.  See docs/decisions/0019-media-endpoint-learning.md.
 *
 * Everything here runs on the stream's relay worker, per packet.
 */
#include "media/media_private.h"

#include <netinet/in.h>
#include <string.h>

/* The two addresses without their ports. */
static bool learn_same_host(const struct net_addr *a, const struct net_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
	if (a->ss.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
			      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16) == 0;
	return false;
}

/* hot path: no allocation, no locks, no I/O */
enum media_rank media_learn_rank(const struct net_addr *sdp, bool sdp_known,
				 const struct net_addr *src)
{
	if (!sdp_known)
		return MEDIA_RANK_ANY;
	if (net_addr_equal(sdp, src))
		return MEDIA_RANK_EXACT;
	return learn_same_host(sdp, src) ? MEDIA_RANK_ADDR : MEDIA_RANK_ANY;
}

void media_learn_reset(struct media_learn *l)
{
	memset(l, 0, sizeof(*l));
}

static enum media_learn_verdict learn_take(struct media_learn *l, const struct net_addr *src,
					   enum media_rank r)
{
	l->src = *src;
	l->rank = r;
	if (r == MEDIA_RANK_EXACT)
		l->locked = true; /* nothing can rank better */
	return MEDIA_LEARN_MOVED;
}

/* The old latch-anything behaviour, asked for explicitly ("loose source"):
 * the first source is taken, and packets from anyone are relayed. */
static enum media_learn_verdict learn_loose(struct media_learn *l, const struct net_addr *src)
{
	if (l->rank != MEDIA_RANK_NONE)
		return MEDIA_LEARN_ACCEPT;
	l->src = *src;
	l->rank = MEDIA_RANK_ANY;
	l->locked = true;
	return MEDIA_LEARN_MOVED;
}

/* hot path: no allocation, no locks, no I/O */
enum media_learn_verdict media_learn_packet(struct media_learn *l, const struct media_learn_in *in,
					    const struct net_addr *src, int64_t now_ms)
{
	enum media_rank r;

	if (in->mode == MEDIA_LEARN_LOOSE)
		return learn_loose(l, src);
	if (l->rank != MEDIA_RANK_NONE && !l->locked && now_ms >= l->until_ms)
		l->locked = true;
	if (l->rank != MEDIA_RANK_NONE && net_addr_equal(src, &l->src))
		return MEDIA_LEARN_ACCEPT;
	r = media_learn_rank(in->sdp, in->sdp_known, src);
	if (r == MEDIA_RANK_EXACT)
		return learn_take(l, src, r);
	if (in->mode == MEDIA_LEARN_OFF || l->locked)
		return MEDIA_LEARN_DROP;
	if (l->rank == MEDIA_RANK_NONE) {
		/* The window runs from the first packet, not from the signalling:
		 * a caller may send nothing until the call is answered. */
		l->until_ms = now_ms + (in->mode == MEDIA_LEARN_IMMEDIATE ? 0 : in->window_ms);
		l->locked = l->until_ms <= now_ms;
		return learn_take(l, src, r);
	}
	return r > l->rank ? learn_take(l, src, r) : MEDIA_LEARN_DROP;
}

int media_learn_mode_parse(struct str s, enum media_learn_mode *out)
{
	static const struct {
		const char *name;
		enum media_learn_mode mode;
	} names[] = {
	    {"heuristic", MEDIA_LEARN_HEURISTIC},
	    {"delayed", MEDIA_LEARN_HEURISTIC}, /* rtpengine's legacy mode: WARP ranks instead */
	    {"immediate", MEDIA_LEARN_IMMEDIATE},
	    {"off", MEDIA_LEARN_OFF},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (media_flag_eq(s, names[i].name)) {
			*out = names[i].mode;
			return 0;
		}
	return -1;
}
