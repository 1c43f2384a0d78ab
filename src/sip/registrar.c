/*
 * registrar.c — a REGISTER addressed to us (RFC 3261 §10.3), on the worker
 * that owns it: the digest of the trunk it registers for (§22.2: 401, not
 * the proxy's 407), the address of record it may bind (the To URI, whose
 * user must be the digest username: a trunk registers its own AOR), its
 * contacts and their expiry, then the job to the registrar's thread
 * (reg_store.c) and the answer from it through the REGISTER's server
 * transaction.  Steps 1 (the Request-URI is ours) and 2 (Require) are the
 * proxy's decide.c and parser's; steps 4 onwards are here and there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"

#define REG_MIN_DEFAULT_S 60
#define REG_MAX_DEFAULT_S 3600

/* The AOR of To: "user@host", the host folded to lowercase (§10.3 step 5:
 * the URI compared by §19.1.4, the host case-insensitively). */
static int reg_aor(struct sip_msg *m, char *out, size_t n)
{
	struct sip_addr to;
	size_t k = 0;

	if (sip_msg_to(m, &to) != 0 || to.uri.user.len == 0 || to.uri.host.len == 0 ||
	    to.uri.user.len + to.uri.host.len + 2 > n)
		return -EINVAL;
	memcpy(out, to.uri.user.p, to.uri.user.len);
	k = to.uri.user.len;
	out[k++] = '@';
	for (size_t i = 0; i < to.uri.host.len; i++) {
		char c = to.uri.host.p[i];
		out[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[k] = '\0';
	return 0;
}

/* A header parameter as an integer (q as milli-units when q is set). */
static bool reg_param_int(struct str params, const char *name, int64_t *out)
{
	struct str v;
	return sip_params_find(params, name, &v) == 0 && str_to_i64(v, out) == 0;
}

static int reg_param_q(struct str params)
{
	struct str v;
	int q = 0, scale = 1000;

	if (sip_params_find(params, "q", &v) != 0 || v.len == 0)
		return 1000;
	/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), §25.1 */
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] == '.')
			continue;
		if (v.p[i] < '0' || v.p[i] > '9')
			return 1000;
		q = q * 10 + (v.p[i] - '0');
		if (i > 0)
			scale /= 10;
	}
	q *= scale;
	return q > 1000 ? 1000 : q;
}

/* The expiry a contact asks for: its expires parameter, else the request's
 * Expires, else the default (§10.3 step 7). */
static int64_t reg_asked(const struct sip_addr *a, int64_t header, int64_t dflt)
{
	int64_t v;
	if (reg_param_int(a->params, "expires", &v) && v >= 0)
		return v;
	return header >= 0 ? header : dflt;
}

/* One Contact into c; the expiry checked against the bounds (*too_brief set
 * for a non-zero one under the minimum: 423). */
static int reg_contact(struct sip_proxy *p, const struct sip_addr *a, int64_t header,
		       struct sip_reg_contact *c, bool *too_brief)
{
	const struct sip_proxy_opts *o = &p->o;
	int64_t min = o->register_min_expires_s > 0 ? o->register_min_expires_s : REG_MIN_DEFAULT_S;
	int64_t max = o->register_max_expires_s > 0 ? o->register_max_expires_s : REG_MAX_DEFAULT_S;
	int64_t dflt = o->register_default_expires_s > 0 ? o->register_default_expires_s : max;
	struct str inst;

	memset(c, 0, sizeof(*c));
	if (a->uri.raw.len == 0 || str_copy(c->uri, sizeof(c->uri), a->uri.raw) < 0)
		return -EINVAL;
	if (sip_params_find(a->params, "+sip.instance", &inst) == 0)
		str_copy(c->instance, sizeof(c->instance), inst);
	if (!reg_param_int(a->params, "reg-id", &c->reg_id))
		c->reg_id = 0;
	c->q = reg_param_q(a->params);
	c->expires_s = reg_asked(a, header, dflt);
	if (c->expires_s > 0 && c->expires_s < min)
		*too_brief = true;
	if (c->expires_s > max)
		c->expires_s = max;
	return 0;
}

/* The contacts of m into j; a stateless refusal code when they are bad. */
static int reg_contacts(struct sip_proxy *p, struct sip_msg *m, struct sip_reg_job *j,
			bool *too_brief)
{
	uint32_t hv;
	int64_t header = sip_msg_expires(m, &hv) == 0 ? (int64_t)hv : -1;
	struct sip_addr a;

	for (size_t i = 0; sip_msg_addr(m, SIP_HDR_CONTACT, i, &a) == 0; i++) {
		if (a.wildcard) {
			/* §10.3 step 6: "*" only alone and with Expires: 0 */
			if (i > 0 || header != 0 || sip_msg_addr(m, SIP_HDR_CONTACT, 1, &a) == 0)
				return 400;
			j->wildcard = true;
			return 0;
		}
		if (j->ncontacts == SIP_REG_CONTACTS_MAX)
			return 403;
		if (reg_contact(p, &a, header, &j->contacts[j->ncontacts++], too_brief) < 0)
			return 400;
	}
	m->err = 0; /* running past the last Contact is not the message's fault */
	return 0;
}

static void reg_job_fill_request(struct sip_reg_job *j, struct sip_msg *m,
				 const struct sip_peer *src)
{
	struct str cid = STR_NULL;
	struct sip_cseq cs = {0};
	char ip[NET_ADDR_STRLEN];

	sip_msg_call_id(m, &cid);
	str_copy(j->call_id, sizeof(j->call_id), cid);
	sip_msg_cseq(m, &cs);
	j->cseq = cs.number;
	net_addr_format(&src->addr, ip, sizeof(ip));
	snprintf(j->received, sizeof(j->received), "%s", ip);
	snprintf(j->transport, sizeof(j->transport), "%s",
		 src->transport == SIP_TRANSPORT_TLS   ? "tls"
		 : src->transport == SIP_TRANSPORT_TCP ? "tcp"
						       : "udp");
	j->conn_worker = src->conn_worker;
	j->conn_id = src->transport == SIP_TRANSPORT_UDP ? 0 : src->conn_id;
}

/* The registrar's answer, back on the worker: through the REGISTER's
 * server transaction while it lives. */
static void reg_answer(void *arg)
{
	struct sip_reg_job *j = arg;

	if (j->s) {
		j->s->watch = NULL;
		sip_server_tx_reply(j->s, NULL, j->code, j->tag, j->extra[0] ? j->extra : NULL);
	}
	sip_registrar_done(j);
}

/* Checks m and hands its job to the registrar's thread; a code to answer
 * now (with *extra) when that is not where it goes. */
static int reg_prepare(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
		       struct sip_reg_job *j, char *extra, size_t n)
{
	struct sip_proxy *p = w->p;
	struct sip_registrant who;
	struct sip_digest_admit a;
	bool too_brief = false;
	int code;

	if (sip_policy_digest_register(p->policy, m, &src->addr, sip_now(), &a, &who) != 0) {
		if (a.code == 403)
			sip_policy_note_refused(p->policy, &src->addr, sip_now());
		else if (a.code == 401 || a.code == 407)
			sip_policy_note_challenged(p->policy, &src->addr, sip_now());
		snprintf(extra, n, "%s", a.extra);
		return a.code;
	}
	sip_policy_note_authenticated(p->policy, &src->addr);
	if (reg_aor(m, j->aor, sizeof(j->aor)) < 0)
		return 400;
	/* a trunk registers its own address of record: To's user is its user */
	size_t ulen = strlen(who.user);
	if (strncmp(j->aor, who.user, ulen) != 0 || j->aor[ulen] != '@') {
		snprintf(extra, n, "Reason: SIP;cause=403;text=\"not this trunk's AOR\"\r\n");
		return 403;
	}
	snprintf(j->trunk_id, sizeof(j->trunk_id), "%s", who.trunk_id);
	code = reg_contacts(p, m, j, &too_brief);
	if (code)
		return code;
	if (too_brief) { /* §10.3 step 7 */
		int64_t min = p->o.register_min_expires_s > 0 ? p->o.register_min_expires_s
							      : REG_MIN_DEFAULT_S;
		snprintf(extra, n, "Min-Expires: %lld\r\n", (long long)min);
		return 423;
	}
	reg_job_fill_request(j, m, src);
	return 0;
}

/* A flood against the AOR of m (reg_throttle.c): 503 with Retry-After,
 * before the digest is checked. */
static int reg_throttled(struct sip_proxy *p, struct sip_msg *m, char *extra, size_t n)
{
	char aor[SIP_REG_AOR_MAX];
	int retry;

	if (reg_aor(m, aor, sizeof(aor)) < 0 ||
	    !(retry = sip_registrar_throttle(p->registrar, aor)))
		return 0;
	snprintf(extra, n,
		 "Retry-After: %d\r\nReason: SIP;cause=503;text=\"too many REGISTERs\"\r\n", retry);
	return 503;
}

void sip_request_register(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src)
{
	struct sip_proxy *p = w->p;
	struct sip_reg_job *j = calloc(1, sizeof(*j));
	char extra[1400] = "";
	struct sip_server_tx *s;
	int code = !j ? 500 : reg_throttled(p, m, extra, sizeof(extra));

	if (code == 0)
		code = reg_prepare(w, m, src, j, extra, sizeof(extra));

	if (code) {
		char tag[8];
		snprintf(tag, sizeof(tag), "%s%d", code == 401 ? "a" : "r", code);
		sip_reply(w, NULL, m, src, code, tag, extra[0] ? extra : NULL);
		free(j);
		return;
	}
	s = sip_server_tx_new(w, m, src);
	if (!s) {
		sip_reply(w, NULL, m, src, 500, "r500", NULL);
		free(j);
		return;
	}
	j->w = w;
	j->s = s;
	s->watch = &j->s;
	j->task.fn = reg_answer;
	j->task.arg = j;
	if (sip_registrar_submit(p->registrar, j) < 0) {
		s->watch = NULL;
		sip_server_tx_reply(s, m, 503, "r503", "Retry-After: 5\r\n");
		free(j);
	}
}

/* ------------------------------------------------- calls to bindings */

/* b as a call target: the Request-URI is the contact (RFC 3261 §16.5: the
 * binding's URI replaces the AOR), sent where its REGISTER came from. */
static int reg_target(const struct sip_reg_binding *b, const char *trunk_id, struct sip_target *t)
{
	struct sip_uri u;

	memset(t, 0, sizeof(*t));
	if (sip_uri_parse(str_from_cstr(b->contact), &u) != 0 || u.scheme == SIP_URI_OTHER ||
	    u.scheme == SIP_URI_TEL || str_copy(t->host, sizeof(t->host), u.host) < 0 ||
	    str_copy(t->user, sizeof(t->user), u.user) < 0)
		return -EINVAL;
	t->port = u.port;
	t->addr = b->addr;
	t->transport = b->transport;
	t->conn_worker = b->conn_worker;
	t->conn_id = b->conn_id;
	snprintf(t->trunk_id, sizeof(t->trunk_id), "%s", trunk_id);
	return 0;
}

size_t sip_registrar_targets(void *arg, const char *trunk_id, struct sip_target *out, size_t max)
{
	struct sip_proxy *p = arg;
	struct sip_reg_binding b[SIP_REG_CONTACTS_MAX];
	size_t n = 0, k;

	if (!p->registrar)
		return 0;
	k = sip_reg_table_find(sip_registrar_table(p->registrar), trunk_id, time_wall_ms(), b,
			       max < SIP_REG_CONTACTS_MAX ? max : SIP_REG_CONTACTS_MAX);
	for (size_t i = 0; i < k; i++)
		if (reg_target(&b[i], trunk_id, &out[n]) == 0)
			n++;
	return n;
}

/* ------------------------------------------------------- keep-alive */

static void reg_ping_send(struct sip_worker *w, const struct sip_reg_ping *g)
{
	struct sip_peer dst = {.addr = g->addr, .transport = SIP_TRANSPORT_UDP};
	char branch[sizeof(SIP_REG_PING_BRANCH) + ID_MAX + 20], call_id[40],
	    from[SIP_HOST_MAX + 32], to[SIP_REG_URI_MAX + 2];
	struct buf out;

	dst.listen = sip_transport_listen_for(w->p, &dst.addr);
	snprintf(branch, sizeof(branch), SIP_REG_PING_BRANCH "%s.%016llx", g->trunk_id,
		 (unsigned long long)g->token);
	snprintf(call_id, sizeof(call_id), "ka%016llx", (unsigned long long)g->token);
	snprintf(from, sizeof(from), "<sip:warp@%s>;tag=ka", w->p->listen[dst.listen].host);
	snprintf(to, sizeof(to), "<%s>", g->contact);
	struct sip_req r = {.method = "OPTIONS",
			    .ruri = g->contact,
			    .from = from,
			    .to = to,
			    .call_id = call_id,
			    .cseq = 1,
			    .via_at = &w->p->listen[dst.listen],
			    .transport = SIP_TRANSPORT_UDP,
			    .branch = branch};
	buf_init(&out);
	if (sip_build_request(&out, &r) == 0)
		sip_transport_send(w, &dst, (struct str){out.p, out.len});
	buf_fini(&out);
}

void sip_registrar_pings_send(struct sip_proxy *p, const struct sip_reg_ping *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		reg_ping_send(&p->w[0], &v[i]);
}

void sip_registrar_pong(struct sip_proxy *p, struct str branch)
{
	char trunk[ID_MAX];
	uint64_t token;

	if (p->registrar && sip_reg_ping_branch_parse(branch, trunk, sizeof(trunk), &token) == 0)
		sip_reg_table_pong(sip_registrar_table(p->registrar), trunk, token);
}
