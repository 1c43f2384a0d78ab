/*
 * call.c — calls: the table by Call-ID, their sockets and how they end.
 *
 * Everything here runs on the ng control thread.  A call's sockets are
 * bound here but registered, read and closed on the call's relay worker
 * (media_worker_sync), which owns them from activation to the end.
 */
#include "media/media_private.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEDIA_BIND_TRIES 16

static size_t media_call_bucket(const struct media *m, struct str callid)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < callid.len; i++)
		h = (h ^ (uint8_t)callid.p[i]) * 1099511628211ull;
	return (size_t)(h % m->nbuckets);
}

struct media_call *media_call_find(struct media *m, struct str callid)
{
	struct media_call *c = m->table[media_call_bucket(m, callid)];

	while (c && !str_eq_cstr(callid, c->callid))
		c = c->next;
	return c;
}

static void media_stream_init(struct media_stream *st, struct media_call *c, bool rtcp)
{
	st->call = c;
	st->fd = -1;
	st->is_rtcp = rtcp;
}

struct media_call *media_call_new(struct media *m, struct str callid)
{
	struct media_call *c;
	size_t b = media_call_bucket(m, callid);

	/* The table keys calls by the stored, NUL-terminated id: an id with a
	 * NUL inside would be filed under one bucket and looked for in another. */
	if (callid.len == 0 || callid.len >= MEDIA_CALLID_MAX || memchr(callid.p, '\0', callid.len))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->m = m;
	memcpy(c->callid, callid.p, callid.len);
	c->created_s = c->last_signal_s = time_wall_ms() / 1000;
	c->created_mono_ms = time_mono_ms();
	c->worker = m->next_worker++ % m->nworkers;
	c->learning = m->o.learning; /* before any worker sees the call */
	for (size_t s = 0; s < SDP_MEDIA_MAX; s++) {
		for (int i = 0; i < 2; i++) {
			media_stream_init(&c->sect[s].side[i].rtp, c, false);
			media_stream_init(&c->sect[s].side[i].rtcp, c, true);
		}
		c->sect[s].tc_orig = c->sect[s].tc_added = -1;
	}
	c->next = m->table[b];
	m->table[b] = c;
	m->ncalls++;
	m->stats.managed++;
	if (m->m_calls)
		metric_set(m->m_calls, (int64_t)m->ncalls);
	return c;
}

static int media_stream_bind(struct media_stream *st, struct media_iface *f, uint16_t port)
{
	struct net_addr a = f->o.local;

	if (a.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a.ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a.ss)->sin6_port = htons(port);
	st->fd = net_socket_bind(&a, SOCK_DGRAM, false);
	if (st->fd < 0)
		return st->fd;
	st->local = a;
	st->local_port = port;
	st->iface = f;
	return 0;
}

static void media_stream_close(struct media_stream *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
}

/* Ties the components of section s together: what arrives on one side
 * leaves through the other side's socket of the same component. */
static void media_sect_link(struct media_sect *se)
{
	for (int i = 0; i < 2; i++) {
		struct media_side *me = &se->side[i], *other = &se->side[1 - i];

		me->rtp.peer_rtp = me->rtcp.peer_rtp = &other->rtp;
		me->rtp.peer_rtcp = me->rtcp.peer_rtcp = &other->rtcp;
	}
}

int media_call_side_open(struct media_call *c, size_t s, int i, struct media_iface *f)
{
	struct media_side *sd = &c->sect[s].side[i];
	int64_t now = time_mono_ms();

	if (c->sect[s].ports[i])
		return 0;
	for (int t = 0; t < MEDIA_BIND_TRIES; t++) {
		uint16_t port;
		int rc = media_ports_alloc(f->ports, now, &port);
		if (rc < 0)
			return rc;
		if (media_stream_bind(&sd->rtp, f, port) == 0 &&
		    media_stream_bind(&sd->rtcp, f, (uint16_t)(port + 1)) == 0) {
			c->sect[s].ports[i] = true;
			media_sect_link(&c->sect[s]);
			return 0;
		}
		/* Someone else holds one of the two: skip the pair for now. */
		media_stream_close(&sd->rtp);
		media_stream_close(&sd->rtcp);
		media_ports_release(f->ports, port, now);
	}
	return -ENOSPC;
}

int media_call_streams_add(struct media_call *c)
{
	int rc = 0;
	struct event_base *base = loop_pool_base(c->m->relay, c->worker);

	for (size_t s = 0; s < c->nsect; s++) {
		for (int i = 0; i < 2; i++) {
			struct media_stream *sts[2] = {&c->sect[s].side[i].rtp,
						       &c->sect[s].side[i].rtcp};
			for (int k = 0; k < 2; k++) {
				struct media_stream *st = sts[k];
				if (st->fd < 0 || st->ev)
					continue;
				st->ev = event_new(base, st->fd, EV_READ | EV_PERSIST,
						   media_relay_readable, st);
				if (!st->ev || event_add(st->ev, NULL) < 0)
					rc = -ENOMEM;
			}
		}
	}
	return rc;
}

/* On the worker: every event and socket of the call.  Its recording, no
 * longer fed, is handed to the writer thread by media_call_record_meta. */
static void media_streams_teardown(void *arg)
{
	struct media_call *c = arg;

	for (size_t s = 0; s < SDP_MEDIA_MAX; s++) {
		for (int i = 0; i < 2; i++) {
			struct media_stream *sts[2] = {&c->sect[s].side[i].rtp,
						       &c->sect[s].side[i].rtcp};
			for (int k = 0; k < 2; k++) {
				if (sts[k]->ev)
					event_free(sts[k]->ev);
				sts[k]->ev = NULL;
				media_stream_close(sts[k]);
			}
		}
	}
}

static void media_call_unlink(struct media_call *c)
{
	struct media *m = c->m;
	struct media_call **link = &m->table[media_call_bucket(m, str_from_cstr(c->callid))];

	while (*link && *link != c)
		link = &(*link)->next;
	if (*link)
		*link = c->next;
	m->ncalls--;
	if (m->m_calls)
		metric_set(m->m_calls, (int64_t)m->ncalls);
}

static void media_call_remember(struct media_call *c, const char *reason)
{
	struct media *m = c->m;
	struct media_ended *e = &m->ended[m->nended % MEDIA_ENDED_MAX];

	memcpy(e->callid, c->callid, sizeof(e->callid));
	e->reason = reason;
	e->ended_s = time_wall_ms() / 1000;
	m->nended++;
}

void media_call_end(struct media_call *c, const char *reason)
{
	struct media *m = c->m;
	int64_t now = time_mono_ms();

	media_worker_sync(m, c->worker, media_streams_teardown, c);
	for (size_t s = 0; s < SDP_MEDIA_MAX; s++)
		for (int i = 0; i < 2; i++)
			if (c->sect[s].ports[i])
				media_ports_release(c->sect[s].side[i].rtp.iface->ports,
						    c->sect[s].side[i].rtp.local_port, now);
	if (c->rec_base[0])
		media_call_record_meta(c, reason);
	media_call_unlink(c);
	media_call_remember(c, reason);
	log_info("media", "call %s ended: %s", c->callid, reason);
	free(c->branch);
	free(c);
}

size_t media_call_list(struct media *m, struct media_call **out, size_t max)
{
	size_t n = 0;

	for (size_t b = 0; b < m->nbuckets && n < max; b++)
		for (struct media_call *c = m->table[b]; c && n < max; c = c->next)
			out[n++] = c;
	return n;
}
