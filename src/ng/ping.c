/*
 * ping.c — the health prober of an ng engine set.
 *
 * Every interval it sends {"command": "ping"} to each engine and counts
 * the pings that went unanswered until the next tick; miss_max misses in
 * a row make the engine DOWN (no new calls), and the first "pong" makes it
 * UP again.  It runs on one event base (the main loop or a thread of its
 * own) and touches the set only through the atomic engine states, so the
 * SIP workers see changes at once without locks.
 *
 * Cookies are "<prefix>_<engine>_<seq>": a pong is accepted from the
 * engine's own address for any ping of the current run, so a pong that
 * arrives late still proves the engine alive.
 */
#include "ng/ng.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ng_ping_state {
	uint64_t seq;	 /* of the last ping sent; 0 before the first */
	bool answered;	 /* the last ping got its pong */
	unsigned missed; /* unanswered pings in a row */
};

struct ng_pinger {
	struct ng_engine_set *set;
	struct event_base *base;
	int64_t interval_ms;
	unsigned miss_max;
	int fd[2];
	struct event *ev[2];
	struct event *tick;
	char prefix[9];
	struct ng_ping_state st[NG_ENGINES_MAX];
	struct buf out;
	char rbuf[2048];
};

static int ng_pinger_fam(const struct net_addr *a)
{
	return net_addr_family(a) == AF_INET6 ? 1 : 0;
}

static void ng_pinger_send(struct ng_pinger *p, size_t i)
{
	const struct net_addr *to = ng_engine_addr(p->set, i);
	struct ng_ping_state *s = &p->st[i];

	s->seq++;
	s->answered = false;
	buf_reset(&p->out);
	if (buf_printf(&p->out, "%s_%zu_%" PRIu64 " ", p->prefix, i, s->seq) < 0 ||
	    ng_build_ping(&p->out) < 0)
		return;
	if (sendto(p->fd[ng_pinger_fam(to)], p->out.p, p->out.len, 0,
		   (const struct sockaddr *)&to->ss, to->len) < 0)
		log_debug("ng", "ping %s: %s", ng_engine_name(p->set, i), strerror(errno));
}

static void ng_pinger_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ng_pinger *p = arg;

	for (size_t i = 0; i < ng_engine_set_count(p->set); i++) {
		struct ng_ping_state *s = &p->st[i];

		if (s->seq && !s->answered && s->missed < p->miss_max && ++s->missed == p->miss_max)
			ng_engine_state_set(p->set, i, NG_ENGINE_DOWN);
		ng_pinger_send(p, i);
	}
}

/* "<prefix>_<engine>_<seq>" → engine index and seq. */
static int ng_pinger_cookie(const struct ng_pinger *p, struct str cookie, size_t *idx,
			    uint64_t *seq)
{
	struct str rest, num;
	uint64_t i;
	ptrdiff_t us;

	if (cookie.len < 10 || memcmp(cookie.p, p->prefix, 8) != 0 || cookie.p[8] != '_')
		return -EINVAL;
	rest = (struct str){cookie.p + 9, cookie.len - 9};
	us = str_index(rest, '_');
	if (us <= 0)
		return -EINVAL;
	num = (struct str){rest.p, (size_t)us};
	if (str_to_u64(num, &i) < 0 || i >= ng_engine_set_count(p->set))
		return -EINVAL;
	*idx = (size_t)i;
	return str_to_u64((struct str){rest.p + us + 1, rest.len - (size_t)us - 1}, seq);
}

static void ng_pinger_pong(struct ng_pinger *p, struct str dgram, const struct net_addr *from)
{
	struct bencode_node nodes[16];
	const struct bencode_node *root;
	struct str cookie, body, result;
	struct bencode_doc doc;
	uint64_t seq;
	size_t i;

	if (ng_msg_split(dgram, &cookie, &body) < 0 || ng_pinger_cookie(p, cookie, &i, &seq) < 0 ||
	    !net_addr_equal(from, ng_engine_addr(p->set, i)) || seq == 0 || seq > p->st[i].seq)
		return;
	bencode_doc_init(&doc, nodes, sizeof(nodes) / sizeof(nodes[0]));
	if (bencode_decode(&doc, body, &root) < 0 ||
	    bencode_dict_get_str(root, "result", &result) < 0 || !str_eq_cstr(result, "pong"))
		return;
	if (seq == p->st[i].seq)
		p->st[i].answered = true;
	p->st[i].missed = 0;
	if (ng_engine_state_get(p->set, i) != NG_ENGINE_UP)
		ng_engine_state_set(p->set, i, NG_ENGINE_UP);
}

static void ng_pinger_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ng_pinger *p = arg;

	for (int n = 0; n < 64; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct net_addr from;
		ssize_t len =
		    recvfrom(fd, p->rbuf, sizeof(p->rbuf), 0, (struct sockaddr *)&ss, &sl);

		if (len < 0)
			return;
		if (net_addr_from_sockaddr((struct sockaddr *)&ss, sl, &from) == 0)
			ng_pinger_pong(p, (struct str){p->rbuf, (size_t)len}, &from);
	}
}

static int ng_pinger_open(struct ng_pinger *p, int k)
{
	p->fd[k] = socket(k ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd[k] < 0)
		return -errno;
	p->ev[k] = event_new(p->base, p->fd[k], EV_READ | EV_PERSIST, ng_pinger_on_read, p);
	if (!p->ev[k] || event_add(p->ev[k], NULL) < 0)
		return -ENOMEM;
	return 0;
}

struct ng_pinger *ng_pinger_new(struct ng_engine_set *s, struct event_base *base,
				int64_t interval_ms, unsigned miss_max)
{
	struct ng_pinger *p = calloc(1, sizeof(*p));
	uint8_t rnd[4];

	if (!p)
		return NULL;
	p->fd[0] = p->fd[1] = -1;
	p->set = s;
	p->base = base;
	p->interval_ms = interval_ms > 0 ? interval_ms : 1000;
	p->miss_max = miss_max ? miss_max : 3;
	buf_init(&p->out);
	if (random_bytes(rnd, sizeof(rnd)) < 0)
		goto fail;
	hex_encode(rnd, sizeof(rnd), p->prefix);
	for (size_t i = 0; i < ng_engine_set_count(s); i++) {
		int k = ng_pinger_fam(ng_engine_addr(s, i));

		if (p->fd[k] < 0 && ng_pinger_open(p, k) < 0)
			goto fail;
	}
	struct timeval tv = {(time_t)(p->interval_ms / 1000),
			     (suseconds_t)(p->interval_ms % 1000) * 1000};

	p->tick = event_new(base, -1, EV_PERSIST, ng_pinger_on_tick, p);
	if (!p->tick || event_add(p->tick, &tv) < 0)
		goto fail;
	/* First round at once, so a dead engine is found one interval sooner. */
	ng_pinger_on_tick(-1, 0, p);
	return p;
fail:
	ng_pinger_free(p);
	return NULL;
}

void ng_pinger_free(struct ng_pinger *p)
{
	if (!p)
		return;
	if (p->tick)
		event_free(p->tick);
	for (int k = 0; k < 2; k++) {
		if (p->ev[k])
			event_free(p->ev[k]);
		if (p->fd[k] >= 0)
			close(p->fd[k]);
	}
	buf_fini(&p->out);
	free(p);
}
