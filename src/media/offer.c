/*
 * offer.c — the ng offer and answer commands.
 *
 * An offer comes from one party (the from-tag) and is rewritten for the
 * other; an answer comes from the other party (the to-tag) and is rewritten
 * for the offerer.  For each m= section the relay holds a port pair per
 * party: the rewritten SDP carries the receiving party's pair on its
 * interface's advertised address, and the sending party's own address
 * becomes the endpoint its media is relayed to.  Everything the edits do
 * not name reaches the other side byte for byte (sdp_rewrite).
 */
#include "media/media_private.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define OFFER_EDITS_MAX (8 * SDP_MEDIA_MAX + 8)
#define OFFER_TEXT_MAX (6 * SDP_MEDIA_MAX)
#define PT_PCMU 0
#define PT_PCMA 8

struct offer_ep {
	struct media_stream *st;
	struct net_addr ep;
	bool known, mux, set_tc;
	enum media_transcode tc;
	uint8_t from_pt, to_pt;
};

struct offer {
	struct media *m;
	const struct bencode_node *req, *flags, *codec;
	bool answer;
	struct media_call *c;
	int snd, rcv; /* sides: the party that sent this SDP, the one it goes to */
	const struct sdp_session *sdp;
	struct sdp_edit edits[OFFER_EDITS_MAX];
	size_t nedits;
	char text[OFFER_TEXT_MAX][128];
	size_t ntext;
	uint8_t pts[SDP_MEDIA_MAX][4][SDP_FMT_MAX];
	struct offer_ep eps[SDP_MEDIA_MAX * 4];
	size_t neps;
	bool asymmetric; /* the call's flags once applied (offer_call_flags) */
	enum media_learn_mode learning;
	const char *why;
};

static int offer_fail(struct offer *o, const char *why, int rc)
{
	o->why = why;
	return rc;
}

static struct sdp_edit *offer_edit(struct offer *o, enum sdp_edit_op op, int media)
{
	struct sdp_edit *e;

	if (o->nedits == OFFER_EDITS_MAX)
		return NULL;
	e = &o->edits[o->nedits++];
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->media = media;
	return e;
}

static struct str offer_text(struct offer *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct str offer_text(struct offer *o, const char *fmt, ...)
{
	va_list ap;

	if (o->ntext == OFFER_TEXT_MAX)
		return STR_NULL;
	char *t = o->text[o->ntext++];
	va_start(ap, fmt);
	int n = vsnprintf(t, sizeof(o->text[0]), fmt, ap);
	va_end(ap);
	return (struct str){t, n > 0 && (size_t)n < sizeof(o->text[0]) ? (size_t)n : 0};
}

static void offer_append(struct offer *o, int media, struct str text)
{
	struct sdp_edit *e = text.len ? offer_edit(o, SDP_EDIT_ATTR_APPEND, media) : NULL;

	if (e)
		e->text = text;
}

/* ---------------------------------------------------------- interfaces */

static struct media_iface *offer_iface(struct media *m, struct str name, bool *ok)
{
	for (size_t i = 0; i < m->nifaces; i++)
		if (str_eq_cstr(name, m->ifaces[i].o.name))
			return &m->ifaces[i];
	/* rtpengine's legacy reading: internal/external without such
	 * interfaces configured only chose an address family. */
	if (str_eq_cstr(name, "internal") || str_eq_cstr(name, "external"))
		return &m->ifaces[0];
	*ok = false;
	return NULL;
}

static int offer_ifaces(struct offer *o)
{
	const struct bencode_node *dir = media_dict_get(o->req, "direction");
	struct media_call *c = o->c;
	struct media_iface *f[2] = {c->mono[o->snd].iface, c->mono[o->rcv].iface};
	bool ok = true;

	if (dir && dir->type == BENCODE_LIST && dir->count == 2 && !o->answer) {
		const struct bencode_node *a = dir->child, *b = a->next;
		if (a->type != BENCODE_STR || b->type != BENCODE_STR)
			return offer_fail(o, "Invalid direction", -EINVAL);
		f[0] = offer_iface(o->m, a->str, &ok);
		f[1] = offer_iface(o->m, b->str, &ok);
		if (!ok)
			return offer_fail(o, "Unknown interface in direction", -EINVAL);
	}
	c->mono[o->snd].iface = f[0] ? f[0] : &o->m->ifaces[0];
	c->mono[o->rcv].iface = f[1] ? f[1] : &o->m->ifaces[0];
	return 0;
}

/* ------------------------------------------------------------- parties */

static void offer_tag_set(struct media_mono *mo, struct str tag)
{
	if (tag.len && tag.len < MEDIA_TAG_MAX) {
		memcpy(mo->tag, tag.p, tag.len);
		mo->tag[tag.len] = 0;
	}
	if (!mo->known)
		mo->created_s = time_wall_ms() / 1000;
	mo->known = true;
}

/* Which party sent this SDP: the from-tag for an offer (a re-INVITE from the
 * callee carries the callee's tag there), the to-tag for an answer. */
static int offer_parties(struct offer *o, struct str from, struct str to)
{
	struct media_call *c = o->c;
	struct str me = o->answer ? to : from;

	if (me.len >= MEDIA_TAG_MAX)
		return offer_fail(o, "Tag too long", -EINVAL);
	if (c->mono[0].known && str_eq_cstr(me, c->mono[0].tag))
		o->snd = 0;
	else if (c->mono[1].known && str_eq_cstr(me, c->mono[1].tag))
		o->snd = 1;
	else
		o->snd = o->answer ? 1 : (c->mono[0].known ? 1 : 0);
	o->rcv = 1 - o->snd;
	offer_tag_set(&c->mono[o->snd], me);
	if (o->answer)
		offer_tag_set(&c->mono[o->rcv], from);
	return 0;
}

/* --------------------------------------------------------- endpoints */

static struct sdp_conn offer_media_conn(const struct sdp_session *s, const struct sdp_media *md)
{
	return md->conn.address.len ? md->conn : s->conn;
}

static bool offer_ep_parse(struct str addr, uint16_t port, struct net_addr *out)
{
	if (port == 0 || net_addr_parse(addr, port, out) < 0)
		return false;
	if (net_addr_family(out) == AF_INET)
		return ((struct sockaddr_in *)&out->ss)->sin_addr.s_addr != 0; /* 0.0.0.0: hold */
	return true;
}

static void offer_addr_port(struct net_addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

/* The sender's addresses for section i: RTP from c=/m=, RTCP from a=rtcp
 * (RFC 3605) or the next port (RFC 3550 §11). */
static void offer_sender_eps(struct offer *o, size_t i, const struct net_addr *sip_src)
{
	const struct sdp_media *md = &o->sdp->media[i];
	struct media_side *sd = &o->c->sect[i].side[o->snd];
	struct sdp_conn conn = offer_media_conn(o->sdp, md);
	const struct sdp_attr *rtcp = sdp_attr_find(o->sdp, md, SDP_ATTR_RTCP);
	struct offer_ep *rtp_ep = &o->eps[o->neps++], *rtcp_ep = &o->eps[o->neps++];

	*rtp_ep = (struct offer_ep){.st = &sd->rtp, .mux = md->rtcp_mux};
	*rtcp_ep = (struct offer_ep){.st = &sd->rtcp, .mux = md->rtcp_mux};
	rtp_ep->known = offer_ep_parse(conn.address, md->port, &rtp_ep->ep);
	if (rtcp && rtcp->u.rtcp.conn.address.len)
		conn = rtcp->u.rtcp.conn;
	uint16_t rport = rtcp ? rtcp->u.rtcp.port : (uint16_t)(md->port + 1);
	rtcp_ep->known = md->port && offer_ep_parse(conn.address, rport, &rtcp_ep->ep);
	if (sip_src && md->port) {
		/* "SIP source address": the SDP's address is not to be trusted. */
		rtp_ep->known = rtcp_ep->known = true;
		rtp_ep->ep = rtcp_ep->ep = *sip_src;
		offer_addr_port(&rtp_ep->ep, md->port);
		offer_addr_port(&rtcp_ep->ep, rport);
	}
}

/* --------------------------------------------------------------- codecs */

static int offer_codec_pt(struct str name)
{
	if (media_flag_eq(name, "PCMU"))
		return PT_PCMU;
	if (media_flag_eq(name, "PCMA"))
		return PT_PCMA;
	return -1;
}

static bool offer_media_has_pt(const struct sdp_media *md, int pt)
{
	uint64_t v;

	for (size_t k = 0; k < md->nfmts; k++)
		if (str_to_u64(md->fmts[k], &v) == 0 && (int)v == pt)
			return true;
	return false;
}

/* Payload types of section i named in the list (codec names, numbers or
 * "all") into out; returns how many. */
static size_t offer_codec_match(const struct offer *o, size_t i, const struct bencode_node *list,
				uint8_t *out)
{
	const struct sdp_media *md = &o->sdp->media[i];
	size_t n = 0;
	uint64_t pt;

	for (size_t k = 0; k < md->nfmts && list && list->type == BENCODE_LIST; k++) {
		if (str_to_u64(md->fmts[k], &pt) < 0 || pt > 127)
			continue;
		const struct sdp_attr *map = sdp_rtpmap_find(o->sdp, md, (int)pt);
		for (const struct bencode_node *it = list->child; it; it = it->next) {
			if (it->type != BENCODE_STR)
				continue;
			bool hit = media_flag_eq(it->str, "all") ||
				   (map && str_caseeq(map->u.rtpmap.encoding, it->str)) ||
				   (!map && offer_codec_pt(it->str) == (int)pt) ||
				   str_eq(it->str, md->fmts[k]);
			if (hit) {
				out[n++] = (uint8_t)pt;
				break;
			}
		}
	}
	return n;
}

static void offer_codecs_strip(struct offer *o, size_t i)
{
	const char *keys[2] = {"strip", "mask"};

	for (int k = 0; k < 2; k++) {
		size_t n = offer_codec_match(o, i, media_dict_get(o->codec, keys[k]), o->pts[i][k]);
		struct sdp_edit *e = n ? offer_edit(o, SDP_EDIT_CODEC_STRIP, (int)i) : NULL;
		if (e) {
			e->pts = o->pts[i][k];
			e->npts = n;
		}
	}
}

/* codec transcode PCMA on an offer of PCMU only (or the reverse): the
 * other law is added to the offer, and the answer decides. */
static void offer_codecs_transcode(struct offer *o, size_t i)
{
	const struct bencode_node *tl = media_dict_get(o->codec, "transcode");
	const struct sdp_media *md = &o->sdp->media[i];
	struct media_sect *se = &o->c->sect[i];

	for (const struct bencode_node *it = tl && tl->type == BENCODE_LIST ? tl->child : NULL; it;
	     it = it->next) {
		int want = it->type == BENCODE_STR ? offer_codec_pt(it->str) : -1;
		int other = want == PT_PCMU ? PT_PCMA : PT_PCMU;
		if (want < 0 || offer_media_has_pt(md, want) || !offer_media_has_pt(md, other))
			continue;
		o->pts[i][2][0] = (uint8_t)want;
		struct sdp_edit *e = offer_edit(o, SDP_EDIT_CODEC_ADD, (int)i);
		if (!e)
			return;
		e->pts = o->pts[i][2];
		e->npts = 1;
		offer_append(
		    o, (int)i,
		    offer_text(o, "rtpmap:%s/8000", want == PT_PCMU ? "0 PCMU" : "8 PCMA"));
		se->tc_orig = other;
		se->tc_added = want;
		return;
	}
}

/* In the answer: the answerer took only the added law, so the relay
 * converts, and the offerer is answered in its own law. */
static void offer_codecs_answer(struct offer *o, size_t i)
{
	const struct sdp_media *md = &o->sdp->media[i];
	struct media_sect *se = &o->c->sect[i];
	struct offer_ep *a, *b;

	if (se->tc_added < 0 || offer_media_has_pt(md, se->tc_orig) ||
	    !offer_media_has_pt(md, se->tc_added) || o->neps + 2 > SDP_MEDIA_MAX * 4)
		return;
	o->pts[i][2][0] = (uint8_t)se->tc_added;
	o->pts[i][3][0] = (uint8_t)se->tc_orig;
	struct sdp_edit *e = offer_edit(o, SDP_EDIT_CODEC_STRIP, (int)i);
	struct sdp_edit *f = offer_edit(o, SDP_EDIT_CODEC_ADD, (int)i);
	if (!e || !f)
		return;
	e->pts = o->pts[i][2];
	f->pts = o->pts[i][3];
	e->npts = f->npts = 1;
	offer_append(o, (int)i,
		     offer_text(o, "rtpmap:%s/8000", se->tc_orig == PT_PCMU ? "0 PCMU" : "8 PCMA"));
	bool u2a = se->tc_orig == PT_PCMU;
	a = &o->eps[o->neps++]; /* offerer's packets: its law to the answerer's */
	b = &o->eps[o->neps++];
	*a = (struct offer_ep){.st = &se->side[o->rcv].rtp,
			       .set_tc = true,
			       .tc = u2a ? MEDIA_TC_U2A : MEDIA_TC_A2U,
			       .from_pt = (uint8_t)se->tc_orig,
			       .to_pt = (uint8_t)se->tc_added};
	*b = (struct offer_ep){.st = &se->side[o->snd].rtp,
			       .set_tc = true,
			       .tc = u2a ? MEDIA_TC_A2U : MEDIA_TC_U2A,
			       .from_pt = (uint8_t)se->tc_added,
			       .to_pt = (uint8_t)se->tc_orig};
}

/* ---------------------------------------------------------------- edits */

static void offer_edits_ice(struct offer *o, size_t i, const struct media_side *rs)
{
	const struct bencode_node *ice = media_dict_get(o->req, "ICE");
	const struct media_iface *f = rs->rtp.iface;

	/* The relay terminates the media path, so the sender's candidates
	 * would only mislead the receiver: they always go. */
	offer_edit(o, SDP_EDIT_ICE_REMOVE, (int)i);
	if (!media_list_has(ice, "force"))
		return;
	/* ICE=force: the relay is the only candidate (RFC 8839 §5.1). */
	uint8_t rnd[16];
	char hex[33];
	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	offer_append(o, (int)i, offer_text(o, "ice-ufrag:%.8s", hex));
	offer_append(o, (int)i, offer_text(o, "ice-pwd:%s", hex + 8));
	offer_append(o, (int)i,
		     offer_text(o, "candidate:1 1 UDP 2130706431 %s %u typ host", f->adv_ip,
				rs->rtp.local_port));
	offer_append(o, (int)i,
		     offer_text(o, "candidate:1 2 UDP 2130706430 %s %u typ host", f->adv_ip,
				rs->rtcp.local_port));
}

static void offer_edits_mux(struct offer *o, size_t i)
{
	const struct bencode_node *mux = media_dict_get(o->req, "rtcp-mux");
	const struct sdp_media *md = &o->sdp->media[i];

	if (o->answer) {
		/* The relay demultiplexes itself, so an offerer that asked for
		 * rtcp-mux is accepted whatever the answerer said (RFC 5761 §5.1.1). */
		if (o->c->sect[i].side[o->rcv].rtp.mux)
			offer_edit(o, SDP_EDIT_RTCP_MUX_ADD, (int)i);
		return;
	}
	if (media_list_has(mux, "demux") && md->rtcp_mux)
		offer_edit(o, SDP_EDIT_RTCP_MUX_REMOVE, (int)i);
	else if (media_list_has(mux, "offer") && !md->rtcp_mux)
		offer_edit(o, SDP_EDIT_RTCP_MUX_ADD, (int)i);
}

static int offer_edits_media(struct offer *o, size_t i)
{
	const struct sdp_media *md = &o->sdp->media[i];
	const struct media_side *rs = &o->c->sect[i].side[o->rcv];
	const struct media_iface *f = rs->rtp.iface;
	struct str proto;
	struct sdp_edit *e;

	if (md->conn.address.len && (e = offer_edit(o, SDP_EDIT_CONN, (int)i))) {
		e->addrtype = str_from_cstr(f->addrtype);
		e->addr = str_from_cstr(f->adv_ip);
	}
	if (!o->sdp->conn.address.len && !md->conn.address.len &&
	    (e = offer_edit(o, SDP_EDIT_CONN, (int)i))) {
		e->addrtype = str_from_cstr(f->addrtype);
		e->addr = str_from_cstr(f->adv_ip);
	}
	if ((e = offer_edit(o, SDP_EDIT_PORT, (int)i)))
		e->port = md->port ? rs->rtp.local_port : 0;
	if (md->port && (e = offer_edit(o, SDP_EDIT_RTCP_SET, (int)i)))
		e->port = rs->rtcp.local_port;
	offer_edits_ice(o, i, rs);
	offer_edits_mux(o, i);
	if (md->rtp && !o->answer) {
		offer_codecs_strip(o, i);
		offer_codecs_transcode(o, i);
	} else if (md->rtp) {
		offer_codecs_answer(o, i);
	}
	if (media_dict_str(o->req, "transport-protocol", &proto) == 0 &&
	    !str_eq(proto, md->proto)) {
		if (!str_eq_cstr(proto, "RTP/AVP") && !str_eq_cstr(proto, "RTP/AVPF"))
			return offer_fail(o, "Unsupported transport protocol", -ENOTSUP);
		if ((e = offer_edit(o, SDP_EDIT_PROTO, (int)i)))
			e->text = proto;
	}
	return o->nedits < OFFER_EDITS_MAX ? 0 : offer_fail(o, "SDP too complex", -E2BIG);
}

static void offer_edits_session(struct offer *o)
{
	const struct bencode_node *rep = media_dict_get(o->req, "replace");
	const struct media_iface *f = o->c->mono[o->rcv].iface;
	struct sdp_edit *e;

	if (media_list_has(rep, "origin") &&
	    (e = offer_edit(o, SDP_EDIT_ORIGIN_ADDR, SDP_SESSION))) {
		e->addrtype = str_from_cstr(f->addrtype);
		e->addr = str_from_cstr(f->adv_ip);
	}
	/* The session c= is the default for every section (RFC 8866 §5.7);
	 * it always becomes ours, "session-connection" or not. */
	if (o->sdp->conn.address.len && (e = offer_edit(o, SDP_EDIT_CONN, SDP_SESSION))) {
		e->addrtype = str_from_cstr(f->addrtype);
		e->addr = str_from_cstr(f->adv_ip);
	}
}

/* ------------------------------------------------------------ the flow */

static int offer_sections(struct offer *o, const struct net_addr *sip_src)
{
	struct media_call *c = o->c;
	int rc;

	if (o->answer && o->sdp->nmedia > c->nsect)
		return offer_fail(o, "Answer has more media than the offer", -EINVAL);
	for (size_t i = 0; i < o->sdp->nmedia; i++) {
		const struct sdp_media *md = &o->sdp->media[i];
		struct media_sect *se = &c->sect[i];

		if (i >= c->nsect) {
			str_copy(se->type, sizeof(se->type), md->type);
			str_copy(se->proto, sizeof(se->proto), md->proto);
			c->nsect = i + 1;
		}
		for (int k = 0; k < 2; k++) {
			rc = media_call_side_open(c, i, k, c->mono[k].iface);
			if (rc == -ENOSPC)
				return offer_fail(o, "Ran out of ports", rc);
			if (rc < 0)
				return offer_fail(o, "Cannot open media ports", rc);
		}
		offer_sender_eps(o, i, sip_src);
		if ((rc = offer_edits_media(o, i)) < 0)
			return rc;
	}
	return 0;
}

/* On the worker: a new SDP address for st.  One naming another address (the
 * party moved, or took the call off hold elsewhere), or the first one for
 * this stream, starts learning again: media goes to the new address until
 * the party's packets are learnt (learn.c).  The same SDP again (a session
 * refresh) keeps what was learnt, so a NATed party is not lost. */
static void offer_apply_ep(struct media_stream *st, const struct offer_ep *u)
{
	st->mux = u->mux;
	if (!st->sdp_ep.len || !u->ep.len || !net_addr_equal(&st->sdp_ep, &u->ep) ||
	    st->sdp_known != u->known) {
		st->latched = false;
		media_learn_reset(&st->learn);
	}
	st->sdp_ep = u->ep;
	st->sdp_known = u->known;
	if (!st->latched) {
		st->ep = u->ep;
		st->ep_known = u->known;
	}
}

/* On the call's worker: the call's learning flags, the endpoints and codec
 * choices, then the sockets. */
static void offer_apply(void *arg)
{
	struct offer *o = arg;

	o->c->asymmetric = o->asymmetric;
	o->c->learning = o->learning;
	for (size_t i = 0; i < o->neps; i++) {
		const struct offer_ep *u = &o->eps[i];
		struct media_stream *st = u->st;

		if (u->set_tc) {
			st->tc = u->tc;
			st->tc_from_pt = u->from_pt;
			st->tc_to_pt = u->to_pt;
			continue;
		}
		offer_apply_ep(st, u);
	}
	if (media_call_streams_add(o->c) < 0)
		o->why = "Cannot watch media ports";
}

static int offer_received_from(struct offer *o, struct net_addr *out)
{
	const struct bencode_node *rf = media_dict_get(o->req, "received-from");

	if (!media_flags_has(o->flags, "SIP-source-address") || !rf || rf->type != BENCODE_LIST ||
	    rf->count != 2 || rf->child->next->type != BENCODE_STR)
		return -ENOENT;
	return net_addr_parse(rf->child->next->str, 0, out);
}

/* The call's learning flags as this message leaves them (offer_apply sets
 * them on the worker, which reads them per packet).  They last for the
 * call.  Only "loose source" brings back latching to anyone; "strict
 * source" restates the default and wins over it in the same message. */
static void offer_call_flags(struct offer *o)
{
	struct str v;
	enum media_learn_mode mode;

	o->asymmetric = o->c->asymmetric;
	o->learning = o->c->learning;
	if (media_flags_has(o->flags, "asymmetric"))
		o->asymmetric = true;
	if (media_flags_has(o->flags, "symmetric"))
		o->asymmetric = false;
	if ((media_dict_str(o->req, "endpoint-learning", &v) == 0 ||
	     media_flags_prefixed(o->flags, "endpoint-learning-", &v)) &&
	    media_learn_mode_parse(v, &mode) == 0)
		o->learning = mode;
	if (media_flags_has(o->flags, "loose-source"))
		o->learning = MEDIA_LEARN_LOOSE;
	if (media_flags_has(o->flags, "strict-source") && o->learning == MEDIA_LEARN_LOOSE)
		o->learning = o->m->o.learning;
}

static bool offer_wants_recording(const struct offer *o)
{
	struct str rec;

	if (media_flags_has(o->flags, "record-call"))
		return true;
	return media_dict_str(o->req, "record-call", &rec) == 0 &&
	       (media_flag_eq(rec, "yes") || media_flag_eq(rec, "on"));
}

static int offer_run(struct offer *o, struct buf *out)
{
	struct net_addr sip_src;
	int rc;

	if ((rc = offer_ifaces(o)) < 0)
		return rc;
	offer_call_flags(o);
	bool use_src = offer_received_from(o, &sip_src) == 0;
	if ((rc = offer_sections(o, use_src ? &sip_src : NULL)) < 0)
		return rc;
	offer_edits_session(o);
	media_worker_sync(o->m, o->c->worker, offer_apply, o);
	if (o->why)
		return -EIO;
	if (offer_wants_recording(o) && media_call_record_start(o->c) < 0)
		return offer_fail(o, "Cannot start recording", -EIO);
	buf_reset(&o->m->sdp_out);
	rc = sdp_rewrite(o->sdp, o->edits, o->nedits, &o->m->sdp_out);
	if (rc < 0)
		return offer_fail(o, sdp_strerror(rc), rc);
	rc = bencode_put_dict_begin(out);
	rc = rc ? rc : bencode_put_kv_str(out, "result", STR_LIT("ok"));
	rc = rc ? rc
		: bencode_put_kv_str(out, "sdp", (struct str){o->m->sdp_out.p, o->m->sdp_out.len});
	rc = rc ? rc : bencode_put_end(out);
	return rc;
}

int media_offer(struct media *m, const struct bencode_node *req, bool answer, struct buf *out,
		const char **why)
{
	static __thread struct offer o; /* large; the control thread is the only caller */
	struct str callid, from, to = STR_NULL, body;
	int rc;

	memset(&o, 0, sizeof(o));
	o.m = m;
	o.req = req;
	o.answer = answer;
	o.flags = media_dict_get(req, "flags");
	o.codec = media_dict_get(req, "codec");
	if (media_dict_str(req, "call-id", &callid) < 0 || callid.len == 0)
		return *why = "No call-id in message", -EINVAL;
	if (media_dict_str(req, "from-tag", &from) < 0)
		return *why = "No from-tag in message", -EINVAL;
	if (media_dict_str(req, "sdp", &body) < 0)
		return *why = "No SDP body in message", -EINVAL;
	if (answer && (media_dict_str(req, "to-tag", &to) < 0 || to.len == 0))
		return *why = "No to-tag in message", -EINVAL;
	if ((rc = sdp_parse(m->sdp, body)) < 0)
		return *why = "Failed to parse SDP", rc;
	o.sdp = m->sdp;
	o.c = media_call_find(m, callid);
	if (!o.c && answer)
		return *why = "Unknown call-id", -ENOENT;
	bool fresh = !o.c;
	if (!o.c && !(o.c = media_call_new(m, callid)))
		return *why = "Call-ID too long or out of memory", -ENOMEM;
	if ((rc = offer_parties(&o, from, to)) == 0)
		rc = offer_run(&o, out);
	*why = o.why;
	if (rc < 0 && fresh)
		media_call_end(o.c, "failed");
	if (rc == 0) {
		o.c->state = answer ? MEDIA_CALL_ANSWERED : o.c->state;
		o.c->last_signal_s = time_wall_ms() / 1000;
		o.c->last_signal_mono_ms = time_mono_ms();
	}
	return rc;
}
