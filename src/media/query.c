/*
 * query.c — the statistics a query or delete reply carries, in the shape
 * rtpengine's documentation gives (docs/ng_control_protocol.md, "query"):
 * created, last signal, tags → medias → streams with endpoints, flags and
 * packet/byte/error counters, and totals for RTP and RTCP.
 *
 * Each RTCP stream also carries "rtcp": the last report block received
 * there (fraction lost, cumulative lost, jitter), a WARP addition that a
 * client not knowing it skips.  Runs on the call's worker, which owns the
 * counters.
 */
#include "media/media_private.h"

#include <errno.h>

struct query_totals {
	uint64_t p[2], b[2], e[2]; /* [0] RTP, [1] RTCP */
};

static int query_put_ep(struct buf *out, const char *key, const struct net_addr *a, bool known)
{
	char ip[NET_ADDR_STRLEN];
	int rc;

	if (!known)
		return 0;
	net_addr_format_ip(a, ip, sizeof(ip));
	rc = bencode_put_cstr(out, key);
	rc = rc ? rc : bencode_put_dict_begin(out);
	rc = rc ? rc
		: bencode_put_kv_str(out, "family",
				     net_addr_family(a) == AF_INET6 ? STR_LIT("IPv6")
								    : STR_LIT("IPv4"));
	rc = rc ? rc : bencode_put_kv_str(out, "address", str_from_cstr(ip));
	rc = rc ? rc : bencode_put_kv_int(out, "port", net_addr_port(a));
	return rc ? rc : bencode_put_end(out);
}

static int query_put_rtcp(struct buf *out, const struct media_stream *st)
{
	int rc;

	if (!st->rtcp_reports)
		return 0;
	rc = bencode_put_cstr(out, "rtcp");
	rc = rc ? rc : bencode_put_dict_begin(out);
	rc = rc ? rc : bencode_put_kv_int(out, "reports", (int64_t)st->rtcp_reports);
	rc = rc ? rc : bencode_put_kv_int(out, "ssrc", st->rr.ssrc);
	rc = rc ? rc : bencode_put_kv_int(out, "fraction lost", st->rr.fraction_lost);
	rc = rc ? rc : bencode_put_kv_int(out, "packets lost", st->rr.cumulative_lost);
	rc = rc ? rc : bencode_put_kv_int(out, "highest seq", st->rr.highest_seq);
	rc = rc ? rc : bencode_put_kv_int(out, "jitter", st->rr.jitter);
	return rc ? rc : bencode_put_end(out);
}

static int query_put_stream(struct buf *out, const struct media_stream *st, struct query_totals *t)
{
	int k = st->is_rtcp ? 1 : 0, rc;

	t->p[k] += st->packets;
	t->b[k] += st->bytes;
	t->e[k] += st->errors;
	rc = bencode_put_dict_begin(out);
	char ip[NET_ADDR_STRLEN];

	net_addr_format_ip(&st->local, ip, sizeof(ip));
	rc = rc ? rc : bencode_put_kv_int(out, "local port", st->local_port);
	rc = rc ? rc : bencode_put_kv_str(out, "local address", str_from_cstr(ip));
	rc = rc ? rc
		: bencode_put_kv_str(out, "family",
				     net_addr_family(&st->local) == AF_INET6 ? STR_LIT("IPv6")
									     : STR_LIT("IPv4"));
	rc = rc ? rc : query_put_ep(out, "endpoint", &st->ep, st->ep_known);
	rc = rc ? rc : query_put_ep(out, "advertised endpoint", &st->sdp_ep, st->sdp_ep.len > 0);
	/* Like rtpengine: before any packet, the call's creation time. */
	rc = rc ? rc
		: bencode_put_kv_int(out, "last packet",
				     st->last_wall_s ? st->last_wall_s : st->call->created_s);
	rc = rc ? rc : bencode_put_cstr(out, "flags");
	rc = rc ? rc : bencode_put_list_begin(out);
	rc = rc ? rc : bencode_put_cstr(out, st->is_rtcp ? "RTCP" : "RTP");
	rc = rc || !st->ep_known ? rc : bencode_put_cstr(out, "filled");
	rc = rc || !st->latched ? rc : bencode_put_cstr(out, "confirmed");
	rc = rc ? rc : bencode_put_end(out);
	rc = rc ? rc : bencode_put_cstr(out, "stats");
	rc = rc ? rc : bencode_put_dict_begin(out);
	rc = rc ? rc : bencode_put_kv_int(out, "packets", (int64_t)st->packets);
	rc = rc ? rc : bencode_put_kv_int(out, "bytes", (int64_t)st->bytes);
	rc = rc ? rc : bencode_put_kv_int(out, "errors", (int64_t)st->errors);
	rc = rc ? rc : bencode_put_end(out);
	rc = rc ? rc : query_put_rtcp(out, st);
	return rc ? rc : bencode_put_end(out);
}

static int query_put_media(struct buf *out, const struct media_call *c, size_t s, int side,
			   struct query_totals *t)
{
	const struct media_sect *se = &c->sect[s];
	int rc = bencode_put_dict_begin(out);

	rc = rc ? rc : bencode_put_kv_int(out, "index", (int64_t)s + 1);
	rc = rc ? rc : bencode_put_kv_str(out, "type", str_from_cstr(se->type));
	rc = rc ? rc : bencode_put_kv_str(out, "protocol", str_from_cstr(se->proto));
	rc = rc ? rc : bencode_put_cstr(out, "flags");
	rc = rc ? rc : bencode_put_list_begin(out);
	rc = rc ? rc : bencode_put_cstr(out, "initialized");
	rc = rc || !se->side[side].rtp.mux ? rc : bencode_put_cstr(out, "rtcp-mux");
	rc = rc || se->side[side].rtp.tc == MEDIA_TC_NONE ? rc
							  : bencode_put_cstr(out, "transcoding");
	rc = rc ? rc : bencode_put_end(out);
	rc = rc ? rc : bencode_put_cstr(out, "streams");
	rc = rc ? rc : bencode_put_list_begin(out);
	rc = rc ? rc : query_put_stream(out, &se->side[side].rtp, t);
	rc = rc ? rc : query_put_stream(out, &se->side[side].rtcp, t);
	rc = rc ? rc : bencode_put_end(out);
	return rc ? rc : bencode_put_end(out);
}

static int query_put_tag(struct buf *out, const struct media_call *c, int side,
			 struct query_totals *t)
{
	const struct media_mono *mo = &c->mono[side], *other = &c->mono[1 - side];
	int rc = bencode_put_cstr(out, mo->tag);

	rc = rc ? rc : bencode_put_dict_begin(out);
	rc = rc ? rc : bencode_put_kv_str(out, "tag", str_from_cstr(mo->tag));
	rc = rc ? rc
		: bencode_put_kv_int(out, "created", mo->created_s ? mo->created_s : c->created_s);
	rc = rc ? rc : bencode_put_kv_str(out, "in dialogue with", str_from_cstr(other->tag));
	rc = rc ? rc : bencode_put_cstr(out, "medias");
	rc = rc ? rc : bencode_put_list_begin(out);
	for (size_t s = 0; s < c->nsect && rc == 0; s++)
		rc = query_put_media(out, c, s, side, t);
	rc = rc ? rc : bencode_put_end(out);
	return rc ? rc : bencode_put_end(out);
}

static int query_put_totals(struct buf *out, const struct query_totals *t)
{
	int rc = bencode_put_cstr(out, "totals");

	rc = rc ? rc : bencode_put_dict_begin(out);
	for (int k = 0; k < 2 && rc == 0; k++) {
		rc = bencode_put_cstr(out, k ? "RTCP" : "RTP");
		rc = rc ? rc : bencode_put_dict_begin(out);
		rc = rc ? rc : bencode_put_kv_int(out, "packets", (int64_t)t->p[k]);
		rc = rc ? rc : bencode_put_kv_int(out, "bytes", (int64_t)t->b[k]);
		rc = rc ? rc : bencode_put_kv_int(out, "errors", (int64_t)t->e[k]);
		rc = rc ? rc : bencode_put_end(out);
	}
	return rc ? rc : bencode_put_end(out);
}

/* The body of the reply after "result": its keys, not the dictionary. */
int media_query_put(struct media_call *c, struct buf *out)
{
	struct query_totals t = {0};
	int rc = bencode_put_kv_int(out, "created", c->created_s);

	rc = rc ? rc : bencode_put_kv_int(out, "last signal", c->last_signal_s);
	rc = rc ? rc : bencode_put_cstr(out, "tags");
	rc = rc ? rc : bencode_put_dict_begin(out);
	for (int side = 0; side < 2 && rc == 0; side++)
		rc = query_put_tag(out, c, side, &t);
	rc = rc ? rc : bencode_put_end(out);
	return rc ? rc : query_put_totals(out, &t);
}
