/*
 * route.c — where a request goes and how it is forwarded (RFC 3261 §16.4
 * to §16.6): Route values of ours dropped, the next hop from the next
 * Route or the Request-URI (addresses only: names are not resolved on the
 * packet path), the forwarded copy built (our Via, Record-Route, a hidden
 * call's rewriting) and handed to a client transaction; and a response
 * going back up its server transaction.
 *
 * Runs on the worker owning the message's Call-ID (decision 0012).
 * hot path: no locks; allocation only for the bytes built.
 */
#include "sip/call_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int sip_peer_from_uri(const struct sip_proxy *p, const struct sip_uri *u,
			     struct sip_peer *out)
{
	char host[SIP_HOST_MAX];
	struct str tp;
	if (str_copy(host, sizeof(host), u->host) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	bool sips = u->scheme == SIP_URI_SIPS;
	if (net_addr_parse(str_from_cstr(host),
			   u->port ? u->port
			   : sips  ? 5061
				   : 5060,
			   &out->addr) < 0)
		return -EHOSTUNREACH; /* names are not resolved on the packet path */
	out->transport = sips ? SIP_TRANSPORT_TLS : SIP_TRANSPORT_UDP;
	if (sip_uri_param(u, "transport", &tp) == 0 && str_caseeq_cstr(tp, "tcp") && !sips)
		out->transport = SIP_TRANSPORT_TCP;
	if (sip_uri_param(u, "transport", &tp) == 0 && str_caseeq_cstr(tp, "tls"))
		out->transport = SIP_TRANSPORT_TLS; /* RFC 5630 §3 kept simple */
	out->listen = sip_transport_listen_for(p, &out->addr);
	return 0;
}

int sip_proxy_next_hop(const struct sip_proxy *p, const char *route, const char *ruri,
		       struct sip_peer *out)
{
	struct sip_addr a;
	struct sip_uri u;
	if (route && route[0]) {
		struct str r = str_from_cstr(route);
		ptrdiff_t close = str_index(r, '>');
		if (close < 0 || sip_addr_parse((struct str){r.p, (size_t)close + 1}, &a) != 0)
			return -EINVAL;
		return sip_peer_from_uri(p, &a.uri, out);
	}
	if (sip_uri_parse(str_from_cstr(ruri), &u) != 0)
		return -EINVAL;
	return sip_peer_from_uri(p, &u, out);
}

/* How many Route values at the top name us (§16.4). */
size_t sip_route_count_ours(const struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_addr a;
	size_t n = 0;
	while (sip_msg_addr(m, SIP_HDR_ROUTE, n, &a) == 0 && sip_uri_is_ours(p, &a.uri))
		n++;
	return n;
}

int sip_route_next_hop(struct sip_proxy *p, struct sip_msg *m, size_t drop, struct sip_peer *dst)
{
	struct sip_addr a;
	struct sip_uri ruri;
	if (sip_msg_addr(m, SIP_HDR_ROUTE, drop, &a) == 0)
		return sip_peer_from_uri(p, &a.uri, dst);
	if (sip_msg_ruri(m, &ruri) != 0)
		return -EINVAL;
	return sip_peer_from_uri(p, &ruri, dst);
}

/* Forwards m statefully (s given) or statelessly (ACK) to dst. */
int sip_proxy_send_request(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			   const struct sip_peer *dst, struct str ruri, size_t drop_routes,
			   struct sip_server_tx *s)
{
	struct sip_proxy *p = w->p;
	char branch[64];
	int mf = 70;
	if (sip_msg_max_forwards(m, &mf) == 0)
		mf--;
	sip_proxy_branch(w, branch, sizeof(branch));
	struct sip_addr to;
	/* Record-Route on a dialog-creating INVITE only (§16.6 step 4). */
	bool rr = m->method == SIP_METHOD_INVITE && !(sip_msg_to(m, &to) == 0 && to.tag.p);
	struct sip_fwd f = {
	    .ruri = ruri,
	    .via_at = &p->listen[dst->listen],
	    .via_transport = dst->transport,
	    .branch = str_from_cstr(branch),
	    .src = src,
	    .rr_in = rr ? &p->listen[src->listen] : NULL,
	    .rr_in_tp = src->transport,
	    .rr_out = rr ? &p->listen[dst->listen] : NULL,
	    .rr_out_tp = dst->transport,
	    .drop_routes = drop_routes,
	    .max_forwards = mf,
	};
	struct sip_th_view view;
	char contact[SIP_HOST_MAX + 64];
	if (sip_call_th_forward(w, m, dst, &f, &view, contact, sizeof(contact)) < 0)
		return -ENOSPC;
	if (f.th && rr) {
		/* Hidden: one entry, facing the receiver (not where we face the sender). */
		f.rr_in = f.rr_out;
		f.rr_in_tp = f.rr_out_tp;
	}
	struct buf out;
	buf_init(&out);
	int rc = sip_build_forward(&out, m, &f);
	if (rc == 0 && !s) {
		rc = sip_transport_send(w, dst, (struct str){out.p, out.len});
	} else if (rc == 0) {
		struct sip_client_tx *c = sip_client_tx_new(w, (struct str){out.p, out.len}, dst,
							    str_from_cstr(branch), m->method);
		rc = c ? 0 : -ENOMEM;
		if (c) {
			c->peer = s;
			s->peer = c;
			if (s->call && m->method == SIP_METHOD_INVITE && s->call->server_tx == s) {
				c->call = s->call;
				s->call->client_tx = c;
			}
			sip_tx_client_start(&c->tx, sip_now());
		}
	}
	buf_fini(&out);
	return rc;
}

/* ---------------------------------------------------------- responses */

void sip_response_forward(struct sip_server_tx *s, struct sip_msg *resp)
{
	struct buf out;
	struct str cid;
	enum sip_th_side side;
	struct sip_call *c = s->call;
	if (!c && sip_msg_call_id(resp, &cid) == 0)
		c = sip_call_find(s->w, cid, &side);
	buf_init(&out);
	/* Stripped only when it goes up: a hidden call's strip remembers it. */
	if (s->tx.state < SIP_TX_COMPLETED && sip_call_strip_via(c, s, &out, resp) == 0)
		sip_server_tx_respond(s, resp->status, (struct str){out.p, out.len});
	buf_fini(&out);
}
