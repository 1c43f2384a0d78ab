/*
 * client.c — the asynchronous ng client a SIP worker uses to drive its
 * media relays.
 *
 * One client per worker thread, on that worker's event base; all clients
 * share one ng_engine_set, which says where each call goes.  A request is
 * one datagram "<cookie> <bencoded dict>" to the call's engine; the reply
 * carries the same cookie.  Over UDP a request or its reply may be lost,
 * so the same datagram (same cookie) is sent again every retransmit_ms:
 * rtpengine and WARP's relay keep replies by cookie and answer a repeat
 * from that cache without acting twice, so resending an offer never
 * allocates a second set of ports.
 *
 * In-flight requests live in a table allocated once (inflight_max slots,
 * each keeping its datagram buffer between uses) with a free list; the
 * cookie is "<client prefix>_<id in hex>", the id holding the slot number
 * in its low 16 bits, so a reply finds its slot in O(1) and a stale or
 * forged cookie (wrong prefix, old id, other source address) is dropped.
 * Replies are decoded into a node arena of the client's: nothing is
 * allocated per packet.
 */
#include "ng/ng.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NG_SLOT_BITS 16
#define NG_SLOT_MAX ((size_t)1 << NG_SLOT_BITS)
#define NG_PREFIX_LEN 8
#define NG_RECV_BURST 64 /* datagrams read per wake-up, so one busy socket cannot starve the loop  \
			  */

struct ng_req {
	struct event timer;
	struct ng_client *owner;
	struct buf dgram; /* cookie SP body, kept for retransmission */
	size_t cookie_len;
	uint64_t id; /* 0 when the slot is free */
	size_t engine;
	unsigned sends;
	ng_client_cb *cb;
	void *arg;
	size_t next_free;
};

struct ng_client {
	struct ng_engine_set *set;
	struct event_base *base;
	struct ng_client_opts o;
	int fd[2]; /* [0] IPv4, [1] IPv6; -1 when no engine of that family */
	struct event *ev[2];
	struct ng_req *req;
	size_t free_head; /* o.inflight_max when none is free */
	size_t inflight;
	uint64_t seq;
	char prefix[NG_PREFIX_LEN + 1];
	char rbuf[65536];
	struct bencode_node nodes[BENCODE_NODES_DEFAULT];
};

static void ng_client_on_read(evutil_socket_t fd, short what, void *arg);
static void ng_client_on_timer(evutil_socket_t fd, short what, void *arg);

static int ng_client_family_slot(const struct net_addr *a)
{
	return net_addr_family(a) == AF_INET6 ? 1 : 0;
}

static int ng_client_open(struct ng_client *c, int k)
{
	c->fd[k] = socket(k ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd[k] < 0)
		return -errno;
	c->ev[k] = event_new(c->base, c->fd[k], EV_READ | EV_PERSIST, ng_client_on_read, c);
	if (!c->ev[k] || event_add(c->ev[k], NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void ng_client_opts_fill(struct ng_client_opts *o, const struct ng_client_opts *in)
{
	*o = in ? *in : (struct ng_client_opts){0};
	if (o->retransmit_ms <= 0)
		o->retransmit_ms = 500;
	if (!in)
		o->retransmits = 2;
	if (o->inflight_max == 0)
		o->inflight_max = 1024;
	if (o->inflight_max > NG_SLOT_MAX - 1)
		o->inflight_max = NG_SLOT_MAX - 1;
}

struct ng_client *ng_client_new(struct ng_engine_set *s, struct event_base *base,
				const struct ng_client_opts *opts)
{
	struct ng_client *c = calloc(1, sizeof(*c));
	uint8_t rnd[NG_PREFIX_LEN / 2];

	if (!c)
		return NULL;
	c->fd[0] = c->fd[1] = -1;
	c->set = s;
	c->base = base;
	ng_client_opts_fill(&c->o, opts);
	if (random_bytes(rnd, sizeof(rnd)) < 0)
		goto fail;
	hex_encode(rnd, sizeof(rnd), c->prefix);
	c->req = calloc(c->o.inflight_max, sizeof(*c->req));
	if (!c->req)
		goto fail;
	for (size_t i = 0; i < c->o.inflight_max; i++) {
		buf_init(&c->req[i].dgram);
		c->req[i].next_free = i + 1;
		c->req[i].owner = c;
		if (event_assign(&c->req[i].timer, base, -1, 0, ng_client_on_timer, &c->req[i]) < 0)
			goto fail;
	}
	for (size_t i = 0; i < ng_engine_set_count(s); i++) {
		int k = ng_client_family_slot(ng_engine_addr(s, i));

		if (c->fd[k] < 0 && ng_client_open(c, k) < 0)
			goto fail;
	}
	return c;
fail:
	ng_client_free(c);
	return NULL;
}

void ng_client_free(struct ng_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->req && i < c->o.inflight_max; i++) {
		if (c->req[i].id)
			event_del(&c->req[i].timer);
		buf_fini(&c->req[i].dgram);
	}
	free(c->req);
	for (int k = 0; k < 2; k++) {
		if (c->ev[k])
			event_free(c->ev[k]);
		if (c->fd[k] >= 0)
			close(c->fd[k]);
	}
	free(c);
}

size_t ng_client_inflight(const struct ng_client *c)
{
	return c->inflight;
}

const char *ng_client_strerror(int status)
{
	switch (status) {
	case 0:
		return "ok";
	case NG_CLIENT_ERR_REPLY:
		return "engine replied with an error";
	case -ETIMEDOUT:
		return "engine did not answer";
	case -EBADMSG:
		return "engine's reply does not decode";
	case -EHOSTUNREACH:
		return "no ng engine available";
	case -ENOBUFS:
		return "too many ng requests in flight";
	case -EMSGSIZE:
		return "ng request too large";
	default:
		return "ng request failed";
	}
}

static struct ng_req *ng_client_slot(struct ng_client *c, uint64_t id)
{
	size_t slot = (size_t)(id & (NG_SLOT_MAX - 1));

	if (id == 0 || slot >= c->o.inflight_max || c->req[slot].id != id)
		return NULL;
	return &c->req[slot];
}

static void ng_client_release(struct ng_client *c, struct ng_req *r)
{
	event_del(&r->timer);
	r->id = 0;
	r->cb = NULL;
	r->next_free = c->free_head;
	c->free_head = (size_t)(r - c->req);
	c->inflight--;
}

static void ng_client_send(struct ng_client *c, struct ng_req *r)
{
	const struct net_addr *to = ng_engine_addr(c->set, r->engine);
	int fd = c->fd[ng_client_family_slot(to)];
	struct timeval tv = {(time_t)(c->o.retransmit_ms / 1000),
			     (suseconds_t)(c->o.retransmit_ms % 1000) * 1000};

	/* A failed send is retried by the timer like a lost datagram. */
	if (sendto(fd, r->dgram.p, r->dgram.len, 0, (const struct sockaddr *)&to->ss, to->len) < 0)
		log_debug("ng", "send to %s: %s", ng_engine_name(c->set, r->engine),
			  strerror(errno));
	r->sends++;
	evtimer_add(&r->timer, &tv);
}

static int ng_client_fill(struct ng_client *c, struct ng_req *r, struct str body)
{
	int rc;

	buf_reset(&r->dgram);
	rc = buf_printf(&r->dgram, "%s_%" PRIx64 " ", c->prefix, r->id);
	r->cookie_len = r->dgram.len - 1;
	return rc ? rc : buf_append_str(&r->dgram, body);
}

int ng_client_request_engine(struct ng_client *c, size_t idx, struct str body, ng_client_cb *cb,
			     void *arg, uint64_t *id)
{
	struct ng_req *r;
	size_t slot;
	int rc;

	if (idx >= ng_engine_set_count(c->set) || body.len == 0 || !cb)
		return -EINVAL;
	if (body.len > NG_CLIENT_DATAGRAM_MAX - 32)
		return -EMSGSIZE;
	if (c->free_head >= c->o.inflight_max)
		return -ENOBUFS;
	slot = c->free_head;
	r = &c->req[slot];
	r->id = (++c->seq << NG_SLOT_BITS) | slot;
	if ((rc = ng_client_fill(c, r, body)) < 0) {
		r->id = 0;
		return rc;
	}
	c->free_head = r->next_free;
	c->inflight++;
	r->engine = idx;
	r->sends = 0;
	r->cb = cb;
	r->arg = arg;
	if (id)
		*id = r->id;
	ng_client_send(c, r);
	return 0;
}

int ng_client_request(struct ng_client *c, struct str call_id, struct str body, ng_client_cb *cb,
		      void *arg, uint64_t *id)
{
	size_t idx;
	int rc;

	if (c->free_head >= c->o.inflight_max)
		return -ENOBUFS;
	if ((rc = ng_engine_set_pick(c->set, call_id, &idx)) < 0)
		return rc;
	return ng_client_request_engine(c, idx, body, cb, arg, id);
}

void ng_client_cancel(struct ng_client *c, uint64_t id)
{
	struct ng_req *r = ng_client_slot(c, id);

	if (r)
		ng_client_release(c, r);
}

static void ng_client_finish(struct ng_client *c, struct ng_req *r, int status,
			     const struct bencode_node *reply, struct str raw)
{
	ng_client_cb *cb = r->cb;
	void *arg = r->arg;

	/* Free the slot first: the callback may send the next request. */
	ng_client_release(c, r);
	cb(arg, status, reply, raw);
}

static void ng_client_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ng_req *r = arg;
	struct ng_client *c = r->owner;

	if (r->sends <= c->o.retransmits) {
		ng_client_send(c, r);
		return;
	}
	log_warn("ng", "engine %s did not answer %u sends", ng_engine_name(c->set, r->engine),
		 r->sends);
	/* Suspect, not down: the pinger decides down; a suspect engine only
	 * loses new calls while another engine is up. */
	if (ng_engine_state_get(c->set, r->engine) == NG_ENGINE_UP)
		ng_engine_state_set(c->set, r->engine, NG_ENGINE_SUSPECT);
	ng_client_finish(c, r, -ETIMEDOUT, NULL, STR_NULL);
}

/* The request a reply's cookie names, when it came from that request's
 * engine. */
static struct ng_req *ng_client_match(struct ng_client *c, struct str cookie,
				      const struct net_addr *from)
{
	struct str pre = {c->prefix, NG_PREFIX_LEN};
	uint64_t id = 0;
	struct ng_req *r;

	if (cookie.len <= NG_PREFIX_LEN + 1 || cookie.len > NG_PREFIX_LEN + 17 ||
	    !str_has_prefix(cookie, pre) || cookie.p[NG_PREFIX_LEN] != '_')
		return NULL;
	for (size_t i = NG_PREFIX_LEN + 1; i < cookie.len; i++) {
		char ch = cookie.p[i];
		int v = ch >= '0' && ch <= '9'	 ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
						 : -1;

		if (v < 0)
			return NULL;
		id = id << 4 | (uint64_t)v;
	}
	r = ng_client_slot(c, id);
	if (!r || !net_addr_equal(from, ng_engine_addr(c->set, r->engine)))
		return NULL;
	return r;
}

static void ng_client_deliver(struct ng_client *c, struct str dgram, const struct net_addr *from)
{
	struct str cookie, body, result;
	const struct bencode_node *root = NULL;
	struct bencode_doc doc;
	struct ng_req *r;
	int status;

	if (ng_msg_split(dgram, &cookie, &body) < 0 || !(r = ng_client_match(c, cookie, from)))
		return; /* stray, late or forged: its request is already done */
	bencode_doc_init(&doc, c->nodes, BENCODE_NODES_DEFAULT);
	if (bencode_decode(&doc, body, &root) < 0 || root->type != BENCODE_DICT ||
	    bencode_dict_get_str(root, "result", &result) < 0) {
		log_warn("ng", "undecodable reply from %s", ng_engine_name(c->set, r->engine));
		ng_client_finish(c, r, -EBADMSG, NULL, body);
		return;
	}
	status = str_eq_cstr(result, "ok") || str_eq_cstr(result, "pong") ? 0 : NG_CLIENT_ERR_REPLY;
	/* An answer proves the engine alive: a timeout's suspicion is lifted. */
	if (ng_engine_state_get(c->set, r->engine) == NG_ENGINE_SUSPECT)
		ng_engine_state_set(c->set, r->engine, NG_ENGINE_UP);
	ng_client_finish(c, r, status, root, body);
}

static void ng_client_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ng_client *c = arg;

	for (int i = 0; i < NG_RECV_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct net_addr from;
		ssize_t n =
		    recvfrom(fd, c->rbuf, sizeof(c->rbuf) - 1, 0, (struct sockaddr *)&ss, &sl);

		if (n < 0)
			return;
		if (net_addr_from_sockaddr((struct sockaddr *)&ss, sl, &from) < 0)
			continue;
		ng_client_deliver(c, (struct str){c->rbuf, (size_t)n}, &from);
	}
}
