/*
 * engine.c — the media role as a whole: interfaces, the relay worker pool,
 * the ng control thread, and the synchronous hand-off between them.
 *
 * media_new prepares everything that can fail (interfaces, port ranges,
 * the ng socket, the spool folder) so that `warp run` stops before starting
 * anything half; media_start starts the threads.
 */
#include "media/media_private.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEDIA_COOKIES_MAX 8192

/* ------------------------------------------------------------ interfaces */

static int media_iface_range(struct str r, uint16_t *min, uint16_t *max)
{
	ptrdiff_t dash = str_index(r, '-');
	uint64_t a, b;

	if (dash < 0 || str_to_u64((struct str){r.p, (size_t)dash}, &a) < 0 ||
	    str_to_u64((struct str){r.p + dash + 1, r.len - (size_t)dash - 1}, &b) < 0 ||
	    a < 1024 || b > 65535 || a + 1 >= b)
		return -EINVAL;
	*min = (uint16_t)a;
	*max = (uint16_t)b;
	return 0;
}

/* "NAME/LOCAL[!ADV][@MIN-MAX]" */
static int media_iface_parse_one(struct media_iface_opts *io, struct str def, uint16_t pmin,
				 uint16_t pmax)
{
	ptrdiff_t slash = str_index(def, '/'), at, bang;
	struct str rest, local, adv = STR_NULL;

	if (slash <= 0 ||
	    str_copy(io->name, sizeof(io->name), (struct str){def.p, (size_t)slash}) < 0)
		return -EINVAL;
	rest = (struct str){def.p + slash + 1, def.len - (size_t)slash - 1};
	io->port_min = pmin;
	io->port_max = pmax;
	if ((at = str_index(rest, '@')) >= 0) {
		struct str r = {rest.p + at + 1, rest.len - (size_t)at - 1};
		if (media_iface_range(r, &io->port_min, &io->port_max) < 0)
			return -EINVAL;
		rest.len = (size_t)at;
	}
	local = rest;
	if ((bang = str_index(rest, '!')) >= 0) {
		local.len = (size_t)bang;
		adv = (struct str){rest.p + bang + 1, rest.len - (size_t)bang - 1};
	}
	if (net_addr_parse(local, 0, &io->local) < 0)
		return -EINVAL;
	if (adv.len == 0)
		io->advertised = io->local;
	else if (net_addr_parse(adv, 0, &io->advertised) < 0)
		return -EINVAL;
	return 0;
}

int media_ifaces_parse(struct media_opts *o, const char *spec, uint16_t port_min, uint16_t port_max,
		       char *err, size_t errlen)
{
	struct str rest = str_from_cstr(spec);

	o->nifaces = 0;
	while (rest.len > 0) {
		size_t n = 0;
		while (n < rest.len && rest.p[n] != ';' && rest.p[n] != ',')
			n++;
		struct str def = str_trim((struct str){rest.p, n});
		rest = n < rest.len ? (struct str){rest.p + n + 1, rest.len - n - 1} : STR_NULL;
		if (def.len == 0)
			continue;
		if (o->nifaces == MEDIA_IFACES_MAX ||
		    media_iface_parse_one(&o->ifaces[o->nifaces], def, port_min, port_max) < 0) {
			snprintf(err, errlen,
				 "bad interface '%.*s' (NAME/ADDR[!ADVERTISED][@MIN-MAX])",
				 STR_FMT(def));
			return -EINVAL;
		}
		o->nifaces++;
	}
	if (o->nifaces == 0) {
		snprintf(err, errlen, "no media interface configured");
		return -EINVAL;
	}
	return 0;
}

static int media_ifaces_init(struct media *m, char *err, size_t errlen)
{
	for (size_t i = 0; i < m->o.nifaces; i++) {
		struct media_iface *f = &m->ifaces[i];

		f->o = m->o.ifaces[i];
		f->ports = media_ports_new(f->o.port_min, f->o.port_max, m->o.port_quiet_ms);
		if (!f->ports) {
			snprintf(err, errlen, "interface %s: empty port range %u-%u", f->o.name,
				 f->o.port_min, f->o.port_max);
			return -EINVAL;
		}
		net_addr_format_ip(&f->o.advertised, f->adv_ip, sizeof(f->adv_ip));
		f->addrtype = net_addr_family(&f->o.advertised) == AF_INET6 ? "IP6" : "IP4";
		m->nifaces++;
	}
	return 0;
}

/* ------------------------------------------------------------- threads */

int media_worker_sync(struct media *m, unsigned worker, void (*fn)(void *), void *arg)
{
	if (!m->started) {
		fn(arg); /* no threads yet (or any more): we are the only one */
		return 0;
	}
	return loop_pool_call_wait(m->relay, worker, fn, arg);
}

/* --------------------------------------------------------------- setup */

static void media_metrics_init(struct media *m)
{
	struct metrics *r = metrics_default();
	struct metric_family *pk;

	m->m_calls =
	    metric_get(metrics_gauge(r, "warp_media_calls", "Calls the relay holds now.", NULL));
	pk = metrics_counter(r, "warp_media_packets_total", "RTP and RTCP packets, by direction.",
			     "dir");
	m->m_pkts_in = pk ? metric_get(pk, "in") : NULL;
	m->m_pkts_out = pk ? metric_get(pk, "out") : NULL;
	pk = metrics_counter(
	    r, "warp_media_packets_dropped_total",
	    "RTP and RTCP packets received and not relayed, by reason: foreign_source "
	    "(not from the source the stream learnt), no_destination (the other "
	    "party's address unknown yet), send_failed (its socket buffer full).",
	    "reason");
	m->m_drop_foreign = pk ? metric_get(pk, "foreign_source") : NULL;
	m->m_drop_nodest = pk ? metric_get(pk, "no_destination") : NULL;
	m->m_drop_send = pk ? metric_get(pk, "send_failed") : NULL;
	m->m_timeouts = metric_get(
	    metrics_counter(r, "warp_media_timeouts_total",
			    "Calls ended because media stopped or final-timeout passed.", NULL));
	m->m_cmds = metrics_counter(r, "warp_media_ng_commands_total", "ng commands answered.",
				    "command,result");
}

static int media_spool_init(struct media *m, char *err, size_t errlen)
{
	const char *d = m->o.spool_dir && *m->o.spool_dir ? m->o.spool_dir : "var/spool/media";

	if (str_copy(m->spool, sizeof(m->spool), str_from_cstr(d)) < 0)
		return -ENAMETOOLONG;
	/* mkdir -p, one component at a time */
	for (char *p = m->spool + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(m->spool, 0750);
		*p = '/';
	}
	if (mkdir(m->spool, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "recording spool %s: %s", m->spool, strerror(errno));
		return -errno;
	}
	return 0;
}

static int media_pools_new(struct media *m)
{
	m->nworkers = m->o.workers ? m->o.workers : loop_default_threads();
	m->relay = loop_pool_new(m->nworkers, "media");
	m->ctl = loop_pool_new(1, "ng");
	m->workers = calloc(m->nworkers, sizeof(*m->workers));
	m->nbuckets = 4099;
	m->table = calloc(m->nbuckets, sizeof(*m->table));
	m->sdp = malloc(sizeof(*m->sdp));
	m->cookies = ng_cookie_cache_new(MEDIA_COOKIES_MAX, m->o.cookie_ttl_ms);
	if (!m->relay || !m->ctl || !m->workers || !m->table || !m->sdp || !m->cookies)
		return -ENOMEM;
	for (unsigned i = 0; i < m->nworkers; i++) {
		m->workers[i].m = m;
		m->workers[i].index = i;
	}
	return 0;
}

struct media *media_new(const struct media_opts *o, char *err, size_t errlen)
{
	struct media *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->o = *o;
	m->ng_fd = -1;
	buf_init(&m->reply);
	buf_init(&m->sdp_out);
	if (media_ifaces_init(m, err, errlen) < 0 || media_spool_init(m, err, errlen) < 0)
		goto fail;
	if (media_pools_new(m) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (media_rec_writer_init(m) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (media_ng_open(m, err, errlen) < 0)
		goto fail;
	media_metrics_init(m);
	return m;
fail:
	media_free(m);
	return NULL;
}

int media_start(struct media *m)
{
	if (media_rec_writer_start(m) < 0 || loop_pool_start(m->relay) < 0)
		return -EIO;
	m->started = true;
	if (media_ng_start(m) < 0 || loop_pool_start(m->ctl) < 0)
		return -EIO;
	return 0;
}

static void media_end_all(void *arg)
{
	struct media *m = arg;
	struct media_call *calls[64];
	size_t n;

	while ((n = media_call_list(m, calls, 64)) > 0)
		for (size_t i = 0; i < n; i++)
			media_call_end(calls[i], "shutdown");
}

void media_stop(struct media *m)
{
	if (!m || !m->started)
		return;
	/* Calls end on the control thread while the workers still run, so
	 * that every socket is closed by the thread that owns it. */
	loop_pool_call_wait(m->ctl, 0, media_end_all, m);
	loop_pool_stop(m->ctl);
	media_ng_stop(m);
	loop_pool_stop(m->relay);
	media_rec_writer_stop(m); /* after the relay: nothing is queued any more */
	m->started = false;
}

void media_free(struct media *m)
{
	if (!m)
		return;
	media_end_all(m);
	if (m->ng_fd >= 0)
		close(m->ng_fd);
	loop_pool_free(m->ctl);
	loop_pool_free(m->relay);
	for (size_t i = 0; i < m->nifaces; i++)
		media_ports_free(m->ifaces[i].ports);
	ng_cookie_cache_free(m->cookies);
	media_rec_writer_fini(m);
	free(m->workers);
	free(m->table);
	free(m->sdp);
	buf_fini(&m->reply);
	buf_fini(&m->sdp_out);
	free(m);
}
