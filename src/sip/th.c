/*
 * th.c — topology hiding (decision 0028): what each side of a hidden call
 * is shown instead of the other side's addresses, and how it is restored.
 *
 * A trunk with topology_hiding on (the default) has its calls, termination
 * and origination alike, rewritten at the proxy as Kamailio's topoh module
 * does, but with the state kept in the call rather than encoded in the
 * messages (WARP is a stateful proxy and has the call at hand anyway):
 *
 *   - a forwarded request carries only our Via and our one Record-Route
 *     entry facing the receiver; the sender's Via and Record-Route lines
 *     stay with its transaction and are put back on the responses that
 *     return to it, after our entry facing it (sip_th_build_response);
 *   - Contact is replaced by our own address with a per-call token, so
 *     in-dialog requests come to us, and we send them on to the real
 *     Contact and route set the dialog keeps;
 *   - the caller's From and To URIs are shown to the callee with our host
 *     (user part kept), and put back on whatever returns;
 *   - the callee sees a keyed hash of the caller's Call-ID, which names the
 *     worker that owns the call ("wth<worker>-<hex>"), so that messages of
 *     both sides land on the same worker (decision 0012).
 *
 * Everything here is pure: views in, bytes out; the call glue is th_call.c.
 */
#include "sip/th.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIP_TH_CID_PREFIX "wth"
#define SIP_TH_CID_HASH 16 /* bytes of HMAC-SHA256 shown, as hex */

int sip_th_call_id(char *out, size_t n, const unsigned char key[SIP_TH_KEY_LEN], unsigned owner,
		   struct str cid)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, SIP_TH_KEY_LEN, (const unsigned char *)cid.p, cid.len, md,
		  &len) ||
	    len < SIP_TH_CID_HASH)
		return -EINVAL;
	int k = snprintf(out, n, SIP_TH_CID_PREFIX "%u-", owner);
	for (size_t i = 0; k >= 0 && (size_t)k < n && i < SIP_TH_CID_HASH; i++)
		k += snprintf(out + k, n - (size_t)k, "%02x", md[i]);
	return k < 0 || (size_t)k >= n ? -ENOSPC : 0;
}

/* hot path: no allocation, no locks, no I/O */
bool sip_th_call_id_owner(struct str cid, unsigned *owner)
{
	const struct str pre = STR_LIT(SIP_TH_CID_PREFIX);
	uint64_t n;
	if (!str_has_prefix(cid, pre))
		return false;
	struct str rest = {cid.p + pre.len, cid.len - pre.len};
	ptrdiff_t dash = str_index(rest, '-');
	if (dash <= 0 || dash > 5 || str_to_u64((struct str){rest.p, (size_t)dash}, &n) < 0)
		return false;
	*owner = (unsigned)n;
	return true;
}

int sip_th_uri_mask(char *out, size_t n, struct str uri, const char *host)
{
	struct sip_uri u;
	int k;
	/* A tel: URI (or one we cannot read) names no host: shown as it is. */
	if (sip_uri_parse(uri, &u) != 0 || (u.scheme != SIP_URI_SIP && u.scheme != SIP_URI_SIPS))
		return str_copy(out, n, uri) < 0 ? -ENOSPC : 0;
	k = snprintf(out, n, "%.*s:%.*s%s%s", STR_FMT(u.scheme_name), STR_FMT(u.user),
		     u.user.len ? "@" : "", host);
	return k < 0 || (size_t)k >= n ? -ENOSPC : 0;
}

int sip_th_contact(char *out, size_t n, const struct sip_th *th, const struct sip_listen *l,
		   enum sip_transport_kind tp)
{
	l = sip_build_listen_at(l, tp);
	int k = snprintf(out, n, "<sip:th-%s@%s:%u%s>", th->token, l->host, l->port,
			 l->tls == l		   ? ";transport=tls"
			 : tp == SIP_TRANSPORT_TCP ? ";transport=tcp"
						   : "");
	return k < 0 || (size_t)k >= n ? -ENOSPC : 0;
}

/* The From or To line with its URI swapped when it is one the side the
 * message comes from knows (the caller's From or To, either way round). */
static int sip_th_addr_line(struct buf *out, const struct sip_hdr *h, const struct sip_th *th,
			    enum sip_th_side toward)
{
	struct sip_addr a;
	const char *to = NULL;
	if (sip_addr_parse(h->value, &a) != 0 || a.wildcard)
		return buf_append_str(out, h->line);
	if (str_eq_cstr(a.uri.raw, th->from[!toward]))
		to = th->from[toward];
	else if (str_eq_cstr(a.uri.raw, th->to[!toward]))
		to = th->to[toward];
	if (!to)
		return buf_append_str(out, h->line);
	const char *end = h->line.p + h->line.len, *after = a.uri.raw.p + a.uri.raw.len;
	int rc = buf_append(out, h->line.p, (size_t)(a.uri.raw.p - h->line.p));
	rc = rc ? rc : buf_append_cstr(out, to);
	return rc ? rc : buf_append(out, after, (size_t)(end - after));
}

int sip_th_header(struct buf *out, const struct sip_hdr *h, struct sip_th_view *v)
{
	const struct sip_th *th = v->th;
	switch (h->id) {
	case SIP_HDR_FROM:
	case SIP_HDR_TO:
		return sip_th_addr_line(out, h, th, v->toward) < 0 ? -ENOMEM : 1;
	case SIP_HDR_CALL_ID:
		if (!str_eq_cstr(str_trim(h->value), th->call_id[!v->toward]))
			return buf_append_str(out, h->line) < 0 ? -ENOMEM : 1;
		return buf_printf(out, "Call-ID: %s\r\n", th->call_id[v->toward]) < 0 ? -ENOMEM : 1;
	case SIP_HDR_CONTACT:
		/* One Contact, ours (a REGISTER's "*" does not occur in a dialog). */
		if (v->contact_done || !v->contact)
			return 1;
		v->contact_done = true;
		return buf_printf(out, "Contact: %s\r\n", v->contact) < 0 ? -ENOMEM : 1;
	default:
		return 0;
	}
}

int sip_th_up_init(struct sip_th_up *up, struct sip_msg *req, const struct sip_peer *src)
{
	bool first = true;
	int rc = 0;
	buf_init(&up->vias);
	buf_init(&up->rrs);
	for (uint16_t i = 0; rc == 0 && i < req->nhdrs; i++) {
		const struct sip_hdr *h = &req->hdrs[i];
		if (h->id == SIP_HDR_VIA) {
			/* As we would have forwarded it: received/rport on the top one. */
			rc = first ? sip_build_top_via(&up->vias, req, h, src)
				   : buf_append_str(&up->vias, h->line);
			first = false;
		} else if (h->id == SIP_HDR_RECORD_ROUTE) {
			rc = buf_append_str(&up->rrs, h->line);
		}
	}
	if (rc < 0)
		sip_th_up_fini(up);
	return rc;
}

void sip_th_up_fini(struct sip_th_up *up)
{
	buf_fini(&up->vias);
	buf_fini(&up->rrs);
}

int sip_th_build_response(struct buf *out, struct sip_msg *resp, struct sip_th_view *v,
			  const struct sip_th_up *up)
{
	bool rr_done = false;
	int rc = buf_printf(out, "%.*s\r\n", STR_FMT(resp->start_line));
	rc = rc ? rc : buf_append(out, up->vias.p, up->vias.len);
	for (uint16_t i = 0; rc == 0 && i < resp->nhdrs; i++) {
		const struct sip_hdr *h = &resp->hdrs[i];
		if (h->id == SIP_HDR_VIA)
			continue; /* ours only: the side it came from saw no other */
		if (h->id == SIP_HDR_RECORD_ROUTE) {
			/* Our entry facing the receiver (the callee saw only the
			 * one facing it), then the receiver's own side's. */
			if (!rr_done && v->at)
				rc = sip_build_rr(out, v->at, v->tp);
			if (!rr_done && rc == 0)
				rc = buf_append(out, up->rrs.p, up->rrs.len);
			rr_done = true;
			continue;
		}
		rc = sip_th_header(out, h, v);
		rc = rc < 0 ? rc : rc == 1 ? 0 : buf_append_str(out, h->line);
	}
	rc = rc ? rc : buf_append_cstr(out, "\r\n");
	return rc ? rc : buf_append_str(out, resp->body);
}

int sip_th_build_copy(struct buf *out, struct sip_msg *m, struct sip_th_view *v)
{
	int rc = buf_printf(out, "%.*s\r\n", STR_FMT(m->start_line));
	for (uint16_t i = 0; rc == 0 && i < m->nhdrs; i++) {
		rc = sip_th_header(out, &m->hdrs[i], v);
		rc = rc < 0 ? rc : rc == 1 ? 0 : buf_append_str(out, m->hdrs[i].line);
	}
	rc = rc ? rc : buf_append_cstr(out, "\r\n");
	return rc ? rc : buf_append_str(out, m->body);
}

void sip_th_contact_of(char *out, size_t n, struct sip_msg *m)
{
	struct sip_addr a;
	out[0] = '\0';
	if (sip_msg_addr(m, SIP_HDR_CONTACT, 0, &a) == 0 && !a.wildcard &&
	    str_copy(out, n, a.uri.raw) < 0)
		out[0] = '\0';
	m->err = 0; /* a message without Contact is not at fault */
}

static int sip_th_uri_of(char *out, size_t n, struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);
	struct sip_addr a;
	if (!h || sip_addr_parse(h->value, &a) != 0)
		return -EINVAL;
	return str_copy(out, n, a.uri.raw) < 0 ? -ENOSPC : 0;
}

/* ------------------------------------------------------- the values */

enum { SIP_TH_NVALS = 8 };

static const char **sip_th_slot(struct sip_th *th, int i)
{
	const char **slot[SIP_TH_NVALS] = {&th->call_id[0], &th->call_id[1], &th->from[0],
					   &th->from[1],    &th->to[0],	     &th->to[1],
					   &th->contact[0], &th->contact[1]};
	return slot[i];
}

/* The eight values v (NULL: "") packed into one new allocation. */
static int sip_th_pack(struct sip_th *th, const char *v[SIP_TH_NVALS])
{
	size_t len[SIP_TH_NVALS], total = 0;
	for (int i = 0; i < SIP_TH_NVALS; i++) {
		len[i] = v[i] ? strlen(v[i]) : 0;
		if (len[i] >= SIP_TH_VALUE_MAX)
			return -ENOSPC;
		total += len[i] + 1;
	}
	char *p = malloc(total), *at = p;
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < SIP_TH_NVALS; i++) {
		memcpy(at, v[i] ? v[i] : "", len[i] + 1);
		*sip_th_slot(th, i) = at;
		at += len[i] + 1;
	}
	free(th->vals); /* after the copy: v may point into it */
	th->vals = p;
	return 0;
}

/* The values now, into v. */
static void sip_th_values(struct sip_th *th, const char *v[SIP_TH_NVALS])
{
	for (int i = 0; i < SIP_TH_NVALS; i++)
		v[i] = *sip_th_slot(th, i);
}

int sip_th_init(struct sip_th *th, struct sip_msg *invite, const struct sip_peer *src,
		const unsigned char key[SIP_TH_KEY_LEN], unsigned owner)
{
	char cid[2][SIP_TH_VALUE_MAX], from[SIP_TH_VALUE_MAX], to[SIP_TH_VALUE_MAX];
	char contact[SIP_TH_VALUE_MAX];
	struct str c;
	struct sip_cseq cs;
	uint64_t r = 0;
	memset(th, 0, sizeof(*th));
	buf_init(&th->caller_up.vias);
	buf_init(&th->caller_up.rrs);
	for (int i = 0; i < 2; i++)
		buf_init(&th->sent_2xx[i]);
	if (sip_msg_call_id(invite, &c) != 0 || sip_msg_cseq(invite, &cs) != 0 ||
	    str_copy(cid[SIP_TH_CALLER], SIP_TH_VALUE_MAX, c) < 0 ||
	    sip_th_call_id(cid[SIP_TH_CALLEE], SIP_TH_VALUE_MAX, key, owner, c) < 0 ||
	    sip_th_uri_of(from, SIP_TH_VALUE_MAX, invite, SIP_HDR_FROM) < 0 ||
	    sip_th_uri_of(to, SIP_TH_VALUE_MAX, invite, SIP_HDR_TO) < 0)
		return -EINVAL;
	sip_th_contact_of(contact, SIP_TH_VALUE_MAX, invite);
	/* The callee is shown From and To as they are until sip_th_target. */
	const char *v[SIP_TH_NVALS] = {cid[0], cid[1], from, from, to, to, contact, ""};
	int rc = sip_th_pack(th, v);
	if (rc < 0)
		return rc;
	random_bytes(&r, sizeof(r));
	snprintf(th->token, sizeof(th->token), "%016llx", (unsigned long long)r);
	th->invite_cseq = cs.number;
	return sip_th_up_init(&th->caller_up, invite, src);
}

int sip_th_target(struct sip_th *th, const char *host)
{
	char from[SIP_TH_VALUE_MAX], to[SIP_TH_VALUE_MAX];
	const char *v[SIP_TH_NVALS];
	if (sip_th_uri_mask(from, sizeof(from), str_from_cstr(th->from[SIP_TH_CALLER]), host) < 0 ||
	    sip_th_uri_mask(to, sizeof(to), str_from_cstr(th->to[SIP_TH_CALLER]), host) < 0)
		return -ENOSPC;
	sip_th_values(th, v);
	v[3] = from;
	/* From and To shown alike could not be told apart on the way back
	 * (the same user on both): the To is then shown as it was. */
	v[5] = strcmp(from, to) == 0 ? th->to[SIP_TH_CALLER] : to;
	return sip_th_pack(th, v);
}

int sip_th_set_contact(struct sip_th *th, enum sip_th_side side, const char *contact)
{
	const char *v[SIP_TH_NVALS];
	if (strcmp(th->contact[side], contact) == 0)
		return 0;
	sip_th_values(th, v);
	v[6 + side] = contact;
	return sip_th_pack(th, v);
}

void sip_th_acked(struct sip_th *th, enum sip_th_side side, uint32_t cseq)
{
	/* buf_fini leaves each buffer empty and usable. */
	if (th->sent_cseq[side] == cseq)
		buf_fini(&th->sent_2xx[side]);
	if (side == SIP_TH_CALLER && cseq == th->invite_cseq)
		sip_th_up_fini(&th->caller_up);
}

void sip_th_fini(struct sip_th *th)
{
	sip_th_up_fini(&th->caller_up);
	for (int i = 0; i < 2; i++)
		buf_fini(&th->sent_2xx[i]);
	free(th->vals);
	th->vals = NULL;
}
