/*
 * stats.c — the media statistics of a query or delete reply, for CDRs.
 *
 * Both engines answer in rtpengine's shape (docs/ng_control_protocol.md,
 * "query"): "totals" → "RTP"/"RTCP" → {packets, bytes, errors}, and
 * "tags" → tag → "medias" → [{"streams": [{"flags": ["RTP"|"RTCP", …],
 * "stats": {packets, bytes, errors}}]}].  A stream's counters are what the
 * relay received from that tag's party, so they sum into that leg.
 *
 * Loss and jitter come from RTCP and describe the media a leg SENT, as
 * its peer reported it:
 *   - rtpengine lists per-SSRC statistics under the top-level "SSRC"
 *     dictionary ("cumulative loss", "average MOS" → "jitter" in ms); a
 *     stream names the SSRC it received under "SSRC";
 *   - WARP puts the last report block received on an RTCP stream under
 *     "rtcp" ("packets lost", "jitter" in timestamp units); the reporter
 *     is that stream's party, so the figures belong to the leg it is "in
 *     dialogue with".
 */
#include "ng/ng.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint64_t ng_stats_u64(const struct bencode_node *d, const char *key)
{
	int64_t v = 0;

	return bencode_dict_get_int(d, key, &v) == 0 && v > 0 ? (uint64_t)v : 0;
}

static int64_t ng_stats_i64(const struct bencode_node *d, const char *key, int64_t dflt)
{
	int64_t v;

	return bencode_dict_get_int(d, key, &v) == 0 ? v : dflt;
}

static void ng_stats_totals(const struct bencode_node *reply, struct ng_call_stats *out)
{
	const struct bencode_node *t = bencode_dict_get(reply, "totals");
	const struct bencode_node *rtp = bencode_dict_get(t, "RTP");
	const struct bencode_node *rtcp = bencode_dict_get(t, "RTCP");

	out->rtp_packets = ng_stats_u64(rtp, "packets");
	out->rtp_bytes = ng_stats_u64(rtp, "bytes");
	out->rtp_errors = ng_stats_u64(rtp, "errors");
	out->rtcp_packets = ng_stats_u64(rtcp, "packets");
	out->rtcp_bytes = ng_stats_u64(rtcp, "bytes");
	out->rtcp_errors = ng_stats_u64(rtcp, "errors");
	out->created = ng_stats_i64(reply, "created", 0);
}

static struct ng_leg_stats *ng_stats_leg_mut(struct ng_call_stats *s, struct str tag)
{
	return (struct ng_leg_stats *)ng_stats_leg(s, tag);
}

/* rtpengine: the loss and jitter of the SSRC a stream received. */
static void ng_stats_ssrc(const struct bencode_node *reply, const struct bencode_node *stream,
			  struct ng_leg_stats *leg)
{
	const struct bencode_node *e, *mos;
	char key[24];
	int64_t ssrc;

	if (bencode_dict_get_int(stream, "SSRC", &ssrc) < 0 || ssrc <= 0)
		return;
	snprintf(key, sizeof(key), "%" PRId64, ssrc);
	e = bencode_dict_get(bencode_dict_get(reply, "SSRC"), key);
	if (!e)
		return;
	leg->lost = ng_stats_i64(e, "cumulative loss", leg->lost);
	mos = bencode_dict_get(e, "average MOS");
	leg->jitter = ng_stats_i64(mos, "jitter", leg->jitter);
}

/* WARP: a report block received from this stream's party describes what
 * the peer sent. */
static void ng_stats_rtcp(struct ng_call_stats *out, const struct bencode_node *tagd,
			  const struct bencode_node *stream)
{
	const struct bencode_node *rr = bencode_dict_get(stream, "rtcp");
	struct ng_leg_stats *peer;
	struct str other;

	if (!rr || bencode_dict_get_str(tagd, "in dialogue with", &other) < 0 ||
	    !(peer = ng_stats_leg_mut(out, other)))
		return;
	peer->lost = ng_stats_i64(rr, "packets lost", peer->lost);
	peer->jitter = ng_stats_i64(rr, "jitter", peer->jitter);
}

static void ng_stats_streams(const struct bencode_node *reply, const struct bencode_node *tagd,
			     struct ng_leg_stats *leg, struct ng_call_stats *out, bool rtcp_pass)
{
	const struct bencode_node *medias = bencode_dict_get(tagd, "medias");

	if (!medias || medias->type != BENCODE_LIST)
		return;
	for (const struct bencode_node *m = medias->child; m; m = m->next) {
		const struct bencode_node *streams = bencode_dict_get(m, "streams");

		for (const struct bencode_node *st =
			 streams && streams->type == BENCODE_LIST ? streams->child : NULL;
		     st; st = st->next) {
			const struct bencode_node *stats = bencode_dict_get(st, "stats");
			bool is_rtcp =
			    bencode_list_contains_str(bencode_dict_get(st, "flags"), "RTCP");

			if (rtcp_pass) {
				ng_stats_rtcp(out, tagd, st);
				continue;
			}
			if (is_rtcp) {
				leg->rtcp_packets += ng_stats_u64(stats, "packets");
				leg->rtcp_bytes += ng_stats_u64(stats, "bytes");
				continue;
			}
			leg->packets += ng_stats_u64(stats, "packets");
			leg->bytes += ng_stats_u64(stats, "bytes");
			leg->errors += ng_stats_u64(stats, "errors");
			ng_stats_ssrc(reply, st, leg);
		}
	}
}

int ng_stats_parse(const struct bencode_node *reply, struct ng_call_stats *out)
{
	const struct bencode_node *tags;
	struct str result;

	memset(out, 0, sizeof(*out));
	if (!reply || reply->type != BENCODE_DICT ||
	    bencode_dict_get_str(reply, "result", &result) < 0 || !str_eq_cstr(result, "ok"))
		return -EINVAL;
	ng_stats_totals(reply, out);
	tags = bencode_dict_get(reply, "tags");
	if (!tags || tags->type != BENCODE_DICT)
		return 0;
	for (const struct bencode_node *k = tags->child; k && out->nlegs < NG_STATS_LEGS_MAX;
	     k = k->next->next) {
		struct ng_leg_stats *leg = &out->leg[out->nlegs++];

		leg->tag = k->str;
		leg->lost = leg->jitter = -1;
		ng_stats_streams(reply, k->next, leg, out, false);
	}
	/* Second pass: WARP's report blocks go to the peer leg, which the
	 * first pass has now created. */
	for (const struct bencode_node *k = tags->child; k; k = k->next->next)
		ng_stats_streams(reply, k->next, NULL, out, true);
	return 0;
}

const struct ng_leg_stats *ng_stats_leg(const struct ng_call_stats *s, struct str tag)
{
	for (size_t i = 0; i < s->nlegs; i++)
		if (str_eq(s->leg[i].tag, tag))
			return &s->leg[i];
	return NULL;
}
