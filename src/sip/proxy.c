/*
 * proxy.c — the stateful proxy core (RFC 3261 §16): where a received
 * message goes (a retransmission to its server transaction, a response to
 * its client transaction, an in-dialog request along its route set, an
 * out-of-dialog one to the call's setup or our own answer), and the
 * workers' lifecycle.  The transactions are txn.c's, forwarding route.c's,
 * a call's setup (the INVITE, its attempts, CANCEL) call.c's.
 *
 * Runs on the worker owning the message's Call-ID (decision 0012); a
 * message another worker read, sip_proxy_receive hands to its owner with
 * loop_pool_call, and sip_handoff_run parses it again there.
 * hot path: no locks; allocation only for a message handed to its owner.
 */
#include "sip/call_private.h"
#include "sip/decide.h"
#include "sip/registrar.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/prepaid.h"

unsigned sip_proxy_owner(const struct sip_proxy *p, struct str call_id)
{
	unsigned n;
	/* A hidden Call-ID names the worker that owns its call (th.c). */
	if (sip_th_call_id_owner(call_id, &n))
		return n % p->nworkers;
	return (unsigned)(sip_hash(call_id) % p->nworkers);
}

/* ------------------------------------------------------------ requests */

static bool sip_addressed_to_us(struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_uri u;
	return sip_msg_ruri(m, &u) == 0 && sip_uri_is_ours(p, &u);
}

/* §16.3 step 4: our own Via came back with this very request: a loop.  Our
 * branches are random, so a Via of ours whose transaction is still open
 * here, for the same method and Request-URI, is this request again. */
static bool sip_loop_detected(struct sip_worker *w, struct sip_msg *m)
{
	struct sip_via v;
	char key[SIP_KEY_MAX];
	for (size_t i = 1; sip_msg_via(m, i, &v) == 0 && i < 64; i++) {
		if (!str_has_prefix(v.branch, STR_LIT(SIP_BRANCH_PREFIX)))
			continue;
		snprintf(key, sizeof(key), "%.*s|%d", STR_FMT(v.branch), m->method);
		if (sip_table_find(&w->client_txs, str_from_cstr(key)))
			return true;
	}
	m->err = 0; /* running past the last Via is not the message's fault */
	return false;
}

/* A request whose next hop is our own hidden Contact (th.c): its call is
 * gone, and routed on it would come back to us until Max-Forwards ran out. */
static bool sip_th_contact_stale(struct sip_proxy *p, struct sip_msg *m, size_t drop)
{
	struct sip_addr a;
	struct sip_uri u;
	if (sip_msg_addr(m, SIP_HDR_ROUTE, drop, &a) == 0)
		return false;
	m->err = 0;
	return sip_msg_ruri(m, &u) == 0 && sip_uri_is_ours(p, &u) &&
	       str_has_prefix(u.user, STR_LIT("th-"));
}

/* A refusal the rules decided: a stateless answer, or nothing for an ACK. */
static void sip_proxy_verdict_reply(struct sip_worker *w, struct sip_msg *m,
				    const struct sip_peer *src, const struct sip_req_verdict *v)
{
	if (v->action == SIP_REQ_REPLY)
		sip_reply(w, NULL, m, src, v->code, v->tag, v->allow ? SIP_ALLOW_HEADER : NULL);
}

static void sip_proxy_ood_act(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			      const struct sip_req_verdict *v);
static void sip_proxy_register(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			       int mf);

/* In-dialog requests follow their Route set (§16.4, §16.12 loose routing). */
static void sip_request_in_dialog(struct sip_worker *w, struct sip_msg *m,
				  const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct sip_peer dst;
	struct str cid;
	enum sip_th_side side;
	struct sip_req_verdict v;
	struct sip_dialog_facts f = {.method = m->method,
				     .routes_ours = sip_route_count_ours(p, m)};
	size_t drop = f.routes_ours;
	f.addressed_to_us = drop == 0 && sip_addressed_to_us(p, m);
	f.next_hop = (drop > 0 || f.addressed_to_us) && sip_route_next_hop(p, m, drop, &dst) == 0;
	struct sip_call *c = sip_msg_call_id(m, &cid) == 0 ? sip_call_find(w, cid, &side) : NULL;
	f.call = c != NULL;
	f.stale_contact = !c && f.next_hop && sip_th_contact_stale(p, m, drop);
	sip_decide_in_dialog(&f, &v);
	if (v.action != SIP_REQ_FORWARD) {
		sip_proxy_verdict_reply(w, m, src, &v);
		return;
	}
	if (c) {
		sip_dialog_request(c, m, src);
		if (c->th && m->method == SIP_METHOD_ACK)
			sip_call_th_acked(c, side, m);
		/* Send towards a side over the connection it came in on. */
		if (c->th)
			sip_call_th_next_hop(
			    c, side == SIP_TH_CALLER ? SIP_TH_CALLEE : SIP_TH_CALLER, &dst);
		else if (net_addr_equal(&dst.addr, &c->caller.addr))
			dst = c->caller;
		else if (net_addr_equal(&dst.addr, &c->callee.addr))
			dst = c->callee;
		if (sip_media_in_dialog(c, m, src, &dst, drop))
			return; /* its SDP goes through the engine first */
	}
	if (m->method == SIP_METHOD_ACK) {
		sip_proxy_send_request(w, m, src, &dst, STR_NULL, drop, NULL);
		return;
	}
	struct sip_server_tx *s = sip_server_tx_new(w, m, src);
	if (!s || sip_proxy_send_request(w, m, src, &dst, STR_NULL, drop, s) < 0) {
		if (s)
			sip_reply(w, s, m, src, 500, "d500", NULL);
	}
}

static void sip_request_out_of_dialog(struct sip_worker *w, struct sip_msg *m,
				      const struct sip_peer *src, int mf)
{
	struct sip_proxy *p = w->p;
	struct sip_digest_admit a;
	if (m->method == SIP_METHOD_REGISTER) {
		sip_proxy_register(w, m, src, mf); /* its own digest: before admission */
		return;
	}
	if (!sip_policy_source_known(p->policy, &src->addr)) {
		/* §22.3: a stranger may prove a trunk's digest credentials. */
		if (sip_policy_digest_admit(p->policy, m, &src->addr, sip_now(), &a) != 0) {
			if (a.code != 407)
				sip_policy_note_refused(p->policy, &src->addr, sip_now());
			else
				sip_policy_note_challenged(p->policy, &src->addr, sip_now());
			/* A challenge or refusal of an INVITE is held by a server
			 * transaction (§17.2.1): resent until ACKed, the ACK absorbed. */
			sip_reply(w, a.stateful ? sip_server_tx_new(w, m, src) : NULL, m, src,
				  a.code, a.tag, a.extra);
			return;
		}
		sip_policy_note_authenticated(p->policy, &src->addr);
		m = &a.msg; /* without our Proxy-Authorization */
	}
	struct sip_ood_facts f = {.method = m->method, .max_forwards = mf};
	struct sip_req_verdict v;
	f.addressed_to_us = m->method == SIP_METHOD_OPTIONS && sip_addressed_to_us(p, m);
	sip_decide_out_of_dialog(&f, &v);
	sip_proxy_ood_act(w, m, src, &v);
}

/* Carries out an out-of-dialog verdict. */
static void sip_proxy_ood_act(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			      const struct sip_req_verdict *v)
{
	if (v->action == SIP_REQ_REGISTER)
		sip_request_register(w, m, src);
	else if (v->action == SIP_REQ_OPTIONS)
		sip_reply(w, NULL, m, src, 200, "o200", SIP_ALLOW_HEADER);
	else if (v->action == SIP_REQ_INVITE)
		sip_request_invite(w, m, src);
	else
		sip_proxy_verdict_reply(w, m, src, v);
}

static void sip_proxy_register(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			       int mf)
{
	struct sip_ood_facts f = {.method = m->method,
				  .max_forwards = mf,
				  .addressed_to_us = sip_addressed_to_us(w->p, m)};
	struct sip_req_verdict v;
	sip_decide_out_of_dialog(&f, &v);
	sip_proxy_ood_act(w, m, src, &v);
}

/* The ACK of a final response we sent statelessly: its To tag carries our
 * stateless prefix.  There is nothing to forward it to — routed by its
 * Request-URI it would come straight back to us until Max-Forwards ran out. */
static bool sip_ack_ours(const struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_addr to;
	size_t n = strlen(p->sl_tag);

	return sip_msg_to(m, &to) == 0 && to.tag.p && to.tag.len > n &&
	       memcmp(to.tag.p, p->sl_tag, n) == 0 && to.tag.p[n] == '.';
}

static void sip_handle_request(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_server_tx *s = sip_server_tx_find(w, m, m->method);
	struct sip_req_facts f = {.method = m->method, .server_tx = s != NULL, .max_forwards = 70};
	struct sip_req_verdict v;
	struct sip_addr to;

	if (!s && m->method == SIP_METHOD_ACK)
		f.ack_ours = sip_ack_ours(w->p, m);
	if (!s && !f.ack_ours && m->method != SIP_METHOD_CANCEL) {
		if (sip_msg_max_forwards(m, &f.max_forwards) == SIP_E_MISSING)
			f.max_forwards = 70;
		f.loop = sip_loop_detected(w, m);
		f.to_tag = sip_msg_to(m, &to) == 0 && to.tag.p != NULL;
	}
	sip_decide_request(&f, &v);
	switch (v.action) {
	case SIP_REQ_ACK_TO_TX:
		sip_tx_server_ack(&s->tx, sip_now());
		break;
	case SIP_REQ_RETRANSMIT:
		sip_tx_server_retransmit(&s->tx); /* §17.2.1, §17.2.2 */
		break;
	case SIP_REQ_CANCEL:
		sip_request_cancel(w, m, src);
		break;
	case SIP_REQ_IN_DIALOG:
		sip_request_in_dialog(w, m, src);
		break;
	case SIP_REQ_OUT_OF_DIALOG:
		sip_request_out_of_dialog(w, m, src, f.max_forwards);
		break;
	default:
		sip_proxy_verdict_reply(w, m, src, &v);
	}
}

/* ----------------------------------------------------------- responses */

/* Where a response goes once our Via is off (§18.2.2, RFC 3581 §4): the
 * next Via's received and rport, as we wrote them when forwarding the
 * request; over the connection of the call's side it names. */
static int sip_response_dst(struct sip_proxy *p, struct sip_msg *m, const struct sip_call *c,
			    struct sip_peer *out)
{
	struct sip_via v;
	char host[SIP_HOST_MAX];
	if (sip_msg_via(m, 1, &v) != 0 ||
	    str_copy(host, sizeof(host), v.received.len ? v.received : v.host) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (net_addr_parse(str_from_cstr(host),
			   v.rport_port ? v.rport_port
			   : v.port	? v.port
					: 5060,
			   &out->addr) < 0)
		return -EINVAL;
	if (net_addr_equal(&out->addr, &c->caller.addr)) {
		*out = c->caller;
	} else if (net_addr_equal(&out->addr, &c->callee.addr)) {
		*out = c->callee;
	} else {
		out->transport = str_caseeq_cstr(v.transport, "TCP")   ? SIP_TRANSPORT_TCP
				 : str_caseeq_cstr(v.transport, "TLS") ? SIP_TRANSPORT_TLS
								       : SIP_TRANSPORT_UDP;
		out->listen = sip_transport_listen_for(p, &out->addr);
	}
	return 0;
}

static void sip_handle_response(struct sip_worker *w, struct sip_msg *m)
{
	struct sip_via v;
	struct sip_cseq cs;
	char key[SIP_KEY_MAX];
	if (sip_msg_via(m, 0, &v) != 0 || sip_msg_cseq(m, &cs) != 0)
		return;
	snprintf(key, sizeof(key), "%.*s|%d", STR_FMT(v.branch), cs.method);
	struct sip_entry *e = sip_table_find(&w->client_txs, str_from_cstr(key));
	if (e) {
		sip_response_to_client_tx(w, sip_container_of(e, struct sip_client_tx, e), m);
		return;
	}
	if (cs.method == SIP_METHOD_OPTIONS &&
	    str_has_prefix(v.branch, STR_LIT(SIP_REG_PING_BRANCH))) {
		sip_registrar_pong(w->p, v.branch); /* a registered contact is alive */
		return;
	}
	/* §16.7 step 1 (no transaction): a retransmitted 2xx to INVITE goes on
	 * statelessly, to whoever sent the INVITE (the caller, or the callee
	 * for its re-INVITE); anything else stops here. */
	struct str cid;
	struct sip_peer dst;
	if (cs.method != SIP_METHOD_INVITE || m->status < 200 || m->status >= 300 ||
	    sip_msg_call_id(m, &cid) != 0 || !str_has_prefix(v.branch, STR_LIT(SIP_BRANCH_PREFIX)))
		return;
	enum sip_th_side side;
	struct sip_call *c = sip_call_find(w, cid, &side);
	if (c && c->th) {
		sip_call_th_resend_2xx(c, side, m);
		return;
	}
	if (!c || sip_response_dst(w->p, m, c, &dst) < 0)
		return;
	struct buf out;
	buf_init(&out);
	if (sip_media_strip_via(c, &out, m) == 0)
		sip_transport_send(w, &dst, (struct str){out.p, out.len});
	buf_fini(&out);
}

/* ------------------------------------------------------------- receive */

static void sip_proxy_handle(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	if (!m->is_request) {
		sip_handle_response(w, m);
		return;
	}
	char name[32] = "OTHER";
	if (m->method != SIP_METHOD_OTHER)
		str_copy(name, sizeof(name), m->method_name);
	metric_inc(metric_get(w->p->m_requests, name));
	sip_handle_request(w, m, src);
}

static void sip_handoff_run(void *arg)
{
	struct sip_handoff *h = arg;
	struct sip_msg m;
	/* The parser's views point into the reader's buffer: the copy is
	 * parsed again here, on the owner (the one re-parse of received input). */
	if (sip_msg_parse(&m, h->bytes, h->len) == 0 && sip_msg_validate(&m) == 0)
		sip_proxy_handle(h->w, &m, &h->peer);
	free(h);
}

/* Which worker a message belongs to: our branch names it in responses. */
static unsigned sip_msg_owner(struct sip_proxy *p, struct sip_msg *m)
{
	struct sip_via v;
	struct str cid;
	if (!m->is_request && sip_msg_via(m, 0, &v) == 0 &&
	    str_has_prefix(v.branch, STR_LIT(SIP_BRANCH_PREFIX))) {
		uint64_t n;
		struct str rest = {v.branch.p + 8, v.branch.len - 8};
		ptrdiff_t dash = str_index(rest, '-');
		if (dash > 0 && str_to_u64((struct str){rest.p, (size_t)dash}, &n) == 0 &&
		    n < p->nworkers)
			return (unsigned)n;
	}
	return sip_msg_call_id(m, &cid) == 0 ? sip_proxy_owner(p, cid) : 0;
}

static void sip_reject_malformed(struct sip_worker *w, struct sip_msg *m,
				 const struct sip_peer *src)
{
	char warn[160];
	metric_inc(w->p->m_parse_errors);
	if (!m->is_request || !sip_msg_can_reply(m))
		return;
	int code = sip_err_status(sip_msg_error_code(m));
	snprintf(warn, sizeof(warn), "Warning: 399 warp \"%s\"\r\n",
		 sip_msg_error(m) ? sip_msg_error(m) : "malformed");
	sip_reply(w, NULL, m, src, code ? code : 400, "x400", warn);
}

void sip_proxy_conn_lost(struct sip_worker *w, uint64_t conn_id)
{
	sip_client_txs_transport_failed(w, conn_id);
	if (w->p->registrar)
		sip_registrar_conn_lost(w->p->registrar, w->index, conn_id);
}

void sip_proxy_receive(struct sip_worker *w, const char *buf, size_t len,
		       const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct sip_msg m;
	if (sip_policy_source_banned(p->policy, &src->addr, sip_now()))
		return; /* silently: a scanner learns nothing */
	if (sip_msg_parse(&m, buf, len) != 0 || sip_msg_validate(&m) != 0) {
		sip_reject_malformed(w, &m, src);
		return;
	}
	unsigned owner = sip_msg_owner(p, &m);
	if (owner == w->index) {
		sip_proxy_handle(w, &m, src);
		return;
	}
	sip_handoff_post(p, owner, src, (struct str){buf, len}, sip_handoff_run);
}

/* ------------------------------------------------------------ lifecycle */

static int64_t sip_read_transactions(void *arg)
{
	(void)arg;
	return atomic_load(&sip_gauge_transactions);
}

static int64_t sip_read_dialogs(void *arg)
{
	(void)arg;
	return atomic_load(&sip_gauge_dialogs);
}

static void sip_proxy_metrics(struct sip_proxy *p)
{
	struct metrics *r = metrics_default();
	p->m_requests =
	    metrics_counter(r, "warp_sip_requests_total", "SIP requests received.", "method");
	p->m_responses =
	    metrics_counter(r, "warp_sip_responses_total", "SIP responses sent.", "code");
	p->m_calls = metrics_counter(r, "warp_sip_calls_total", "Calls by outcome.", "outcome");
	struct metric_family *pe = metrics_counter(r, "warp_sip_parse_errors_total",
						   "SIP messages that failed to parse.", NULL);
	p->m_parse_errors = pe ? metric_get(pe) : NULL;
	/* Registered once per process; a second proxy in a test reuses them. */
	metrics_gauge_fn(r, "warp_sip_transactions", "SIP transactions open.",
			 sip_read_transactions, NULL);
	metrics_gauge_fn(r, "warp_sip_active_dialogs", "Established SIP dialogs.", sip_read_dialogs,
			 NULL);
}

static int sip_listen_init(struct sip_listen *l, const struct net_addr *a)
{
	char ip[NET_ADDR_STRLEN - 2]; /* room for the brackets of an IPv6 host */
	l->addr = *a;
	l->port = net_addr_port(&l->addr);
	if (net_addr_format_ip(&l->addr, ip, sizeof(ip)) < 0)
		return -EINVAL;
	snprintf(l->host, sizeof(l->host), net_addr_family(&l->addr) == AF_INET6 ? "[%s]" : "%s",
		 ip);
	return 0;
}

/* listen[]: the plain addresses, then the TLS ones; each plain one points
 * at the first TLS one of its family (a TLS hop's Via and Record-Route). */
static int sip_proxy_listens(struct sip_proxy *p, const struct sip_proxy_opts *o)
{
	for (size_t i = 0; i < o->nlisten && p->nlisten < SIP_LISTEN_MAX / 2; i++)
		if (sip_listen_init(&p->listen[p->nlisten++], &o->listen[i]) < 0)
			return -EINVAL;
	for (size_t i = 0; i < o->ntls_listen && p->ntls < SIP_LISTEN_MAX / 2; i++) {
		struct sip_listen *t = &p->listen[p->nlisten + p->ntls++];
		if (sip_listen_init(t, &o->tls_listen[i]) < 0)
			return -EINVAL;
		t->tls = t;
		for (size_t j = 0; j < p->nlisten; j++)
			if (!p->listen[j].tls &&
			    net_addr_family(&p->listen[j].addr) == net_addr_family(&t->addr))
				p->listen[j].tls = t;
	}
	return p->nlisten ? 0 : -EINVAL;
}

static struct sip_policy *sip_proxy_policy(const struct sip_proxy *p, char *err, size_t errlen)
{
	const struct sip_proxy_opts *o = &p->o;
	struct sip_policy_opts po = {
	    .tls_client = p->tls_client,
	    .store = o->store,
	    .loader = o->loader,
	    .rating = o->rating,
	    .cfg = o->policy,
	    .registered = sip_registrar_targets,
	    .registered_arg = (void *)p,
	};
	return sip_policy_new(&po, err, errlen);
}

/* Prepaid authorization's engine, when the process rates (decision 0037).
 * A reservation lives as long as the longest call can (the dialog ceiling,
 * and the setup before it): a call extends by new reservations, so an
 * early one must not expire under a call still talking. */
static int sip_proxy_prepaid(struct sip_proxy *p, const struct sip_proxy_opts *o, char *err,
			     size_t errlen)
{
	int64_t ceiling =
	    o->policy.dialog_ceiling_ms > 0 ? o->policy.dialog_ceiling_ms : 4 * 3600 * 1000;
	struct sip_prepaid_opts po = {
	    .rating = o->rating,
	    .store = o->store,
	    .quantum_s = o->prepaid_quantum_s > 0 ? o->prepaid_quantum_s : 300,
	    .timeout_ms = o->prepaid_timeout_ms > 0 ? o->prepaid_timeout_ms : 2000,
	    .threads = o->prepaid_threads,
	    .sweep_interval_ms = o->prepaid_sweep_ms > 0 ? o->prepaid_sweep_ms : 30000,
	    .ttl_ms = ceiling + 10 * 60 * 1000,
	    .ledger = {.low_balance_threshold = o->low_balance_threshold},
	};
	if (!o->rating || !o->store)
		return 0;
	p->prepaid = sip_prepaid_engine_new(&po, p, err, errlen);
	return p->prepaid ? 0 : -1;
}

bool sip_proxy_limits_degraded(struct sip_proxy *p)
{
	return p->policy && sip_policy_limits_degraded(p->policy);
}

struct sip_proxy *sip_proxy_new(const struct sip_proxy_opts *o, char *err, size_t errlen)
{
	struct sip_proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->o = *o;
	p->txn_hooks = &sip_call_txn_hooks;
	uint32_t r = 0;
	random_bytes(&r, sizeof(r));
	snprintf(p->sl_tag, sizeof(p->sl_tag), "sl%08x", r);
	random_bytes(p->th_key, sizeof(p->th_key));
	if (sip_proxy_listens(p, o) < 0) {
		snprintf(err, errlen, "no usable listen address");
		goto fail;
	}
	if (sip_tls_open(p, err, errlen) < 0)
		goto fail;
	sip_proxy_metrics(p);
	p->policy = sip_proxy_policy(p, err, errlen);
	if (!p->policy)
		goto fail;
	p->registrar = sip_registrar_new(p);
	if (!p->registrar) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	p->pool = loop_pool_new(o->threads, "sip");
	p->nworkers = p->pool ? loop_pool_size(p->pool) : 0;
	p->w = p->nworkers ? calloc(p->nworkers, sizeof(*p->w)) : NULL;
	if (!p->w) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct sip_worker *w = &p->w[i];
		w->p = p;
		w->index = i;
		w->base = loop_pool_base(p->pool, i);
		for (size_t j = 0; j < SIP_LISTEN_MAX; j++)
			w->udp_fd[j] = -1;
		pthread_mutex_init(&w->dead_lock, NULL);
	}
	for (unsigned i = 0; i < p->nworkers; i++)
		if (sip_transport_open(&p->w[i], err, errlen) < 0)
			goto fail;
	for (unsigned i = 0; i < p->nworkers; i++)
		if (sip_media_worker_open(&p->w[i]) < 0) {
			snprintf(err, errlen, "cannot open the ng client for the media engines");
			goto fail;
		}
	if (sip_proxy_prepaid(p, o, err, errlen) < 0)
		goto fail;
	return p;
fail:
	sip_proxy_free(p);
	return NULL;
}

int sip_proxy_start(struct sip_proxy *p)
{
	int rc = sip_policy_start(p->policy);
	if (rc == 0)
		rc = sip_registrar_start(p->registrar);
	if (rc == 0)
		rc = loop_pool_start(p->pool);
	p->started = rc == 0;
	return rc;
}

static void sip_call_drop(struct sip_entry *e, void *arg)
{
	struct sip_worker *w = arg;
	struct sip_call *c = sip_container_of(e, struct sip_call, e);
	(void)w;
	/* Stopping: nobody would end these calls any more, so the parties are
	 * told now (one try each: the transactions go with the worker). */
	if (c->state == SIP_CALL_UP) {
		sip_dialog_bye_both(c);
		return;
	}
	sip_call_abandon(c);
	sip_call_finish_setup(c, 503, SIP_HANGUP_PROXY);
}

/* Runs on each worker before its loop stops: calls up are ended (their
 * CDRs submitted) and transactions freed. */
static void sip_worker_drain(void *arg)
{
	struct sip_worker *w = arg;
	sip_media_worker_drain(w); /* first: the calls it finishes may end */
	sip_table_each(&w->calls, sip_call_drop, w);
	sip_txn_drain(w);
	sip_transport_close(w);
}

void sip_proxy_stop(struct sip_proxy *p)
{
	if (!p || !p->started)
		return;
	sip_registrar_close(p->registrar); /* its answers reach the loops first */
	for (unsigned i = 0; i < p->nworkers; i++)
		loop_pool_call(p->pool, i, sip_worker_drain, &p->w[i]);
	loop_pool_stop(p->pool);
	sip_policy_stop(p->policy);
	p->started = false;
}

void sip_proxy_free(struct sip_proxy *p)
{
	if (!p)
		return;
	sip_proxy_stop(p);
	for (unsigned i = 0; p->w && i < p->nworkers; i++)
		sip_worker_drain(&p->w[i]);
	/* The policy's CDR writer flushes first: its callbacks still reach
	 * the workers' dead lists, which are reaped while the bases live. */
	sip_policy_free(p->policy);
	for (unsigned i = 0; p->w && i < p->nworkers; i++) {
		sip_call_reap(&p->w[i]);
		sip_media_worker_close(&p->w[i]);
		pthread_mutex_destroy(&p->w[i].dead_lock);
	}
	sip_registrar_free(p->registrar);
	free(p->w);
	loop_pool_free(p->pool);
	/* Last: the calls freed above queued their settles, and answers the
	 * stopped pool never ran are the engine's to release. */
	sip_prepaid_engine_free(p->prepaid);
	sip_tls_close(p);
	free(p);
}
