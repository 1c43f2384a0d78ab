/*
 * record_writer.c — the recording writer thread: pcap and metadata files
 * written off the packet path.
 *
 * A recorded call has a struct media_rec: its open pcap, where its files
 * go, and its counts.  The call's relay worker queues each packet in its
 * ring (record_ring.c) with media_rec_packet; one writer thread per media
 * role drains every worker's ring into the pcap files, so a slow or full
 * disk fills a ring (records dropped and counted) instead of stalling the
 * calls the worker relays.  When a call ends the control thread hands its
 * recording over (media_rec_finish); the writer waits until every record
 * queued for it is written, closes the pcap and only then writes NAME.json
 * (renamed into place), so an archiver that waits for the JSON finds a
 * whole pcap.  media_rec_writer_stop, on SIGTERM, writes whatever is left.
 */
#include "media/media_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MEDIA_REC_IDLE_MS 10 /* writer's nap when every ring is empty */
#define MEDIA_REC_PATH_MAX 600

struct media_rec {
	struct media_pcap *pc;
	char base[MEDIA_REC_PATH_MAX];
	uint64_t queued;	  /* worker only: records put in the ring */
	uint64_t done;		  /* writer only: records taken out of it */
	_Atomic uint64_t dropped; /* ring full (worker) or write failed (writer) */
	struct buf meta;	  /* from media_rec_finish */
	struct media_rec *next;	  /* finishing and pending lists */
};

struct media_rec_writer {
	struct media *m;
	pthread_t th;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;		     /* under mu */
	unsigned open;		     /* under mu: recordings opened, not yet finished */
	struct media_rec *finishing; /* under mu: handed over, not yet seen */
	struct media_rec *pending;   /* writer only: seen, records still queued */
	struct metric *m_dropped;
};

static void media_rec_count_drop(struct media *m, struct media_rec *r)
{
	atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
	if (m->writer)
		metric_inc(m->writer->m_dropped);
}

/* A recording opens or finishes: with none open and none pending the
 * writer sleeps until one opens, instead of napping 100 times a second. */
static void media_rec_writer_count(struct media_rec_writer *w, int delta)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->open = (unsigned)((int)w->open + delta);
	if (delta > 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

struct media_rec *media_rec_open(struct media *m, const char *base, int *err)
{
	char path[MEDIA_REC_PATH_MAX + 8];
	struct media_rec *r = calloc(1, sizeof(*r));

	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	if (str_copy(r->base, sizeof(r->base), str_from_cstr(base)) < 0) {
		*err = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s.pcap", r->base);
	r->pc = media_pcap_open(path, err);
	if (!r->pc)
		goto fail;
	buf_init(&r->meta);
	atomic_init(&r->dropped, 0);
	media_rec_writer_count(m->writer, 1);
	return r;
fail:
	free(r);
	return NULL;
}

/* hot path: no allocation, no locks, no I/O */
void media_rec_packet(struct media_worker *w, struct media_rec *r, const struct net_addr *src,
		      const struct net_addr *dst, const uint8_t *payload, size_t len,
		      int64_t wall_us)
{
	struct media_rec_slot *s;
	int hl;

	if (len > MEDIA_PKT_MAX)
		return;
	s = media_recq_reserve(&w->recq);
	if (!s) {
		media_rec_count_drop(w->m, r);
		return;
	}
	hl = media_pcap_headers(s->pkt, src, dst, payload, len);
	if (hl < 0)
		return; /* not committed: the slot stays free */
	memcpy(s->pkt + hl, payload, len);
	s->rec = r;
	s->wall_us = wall_us;
	s->len = (uint32_t)((size_t)hl + len);
	r->queued++;
	media_recq_commit(&w->recq);
}

/* Writes every record queued in every worker's ring; returns how many. */
static size_t media_rec_drain(struct media *m)
{
	size_t n = 0;

	for (unsigned i = 0; m->workers && i < m->nworkers; i++) {
		struct media_recq *q = &m->workers[i].recq;
		struct media_rec_slot *s;
		/* Bounded: at most one ring's worth per round, so that one busy
		 * worker cannot starve the others or the finished calls. */
		for (uint32_t k = 0; k < q->cap && (s = media_recq_peek(q)); k++, n++) {
			if (media_pcap_write_packet(s->rec->pc, s->pkt, s->len, s->wall_us) < 0)
				media_rec_count_drop(m, s->rec);
			s->rec->done++;
			media_recq_pop(q);
		}
	}
	return n;
}

/* The pcap closed, then NAME.json: meta plus the counts, renamed into place
 * so that a reader never sees half a file. */
static void media_rec_complete(struct media_rec *r)
{
	char path[MEDIA_REC_PATH_MAX + 8], tmp[MEDIA_REC_PATH_MAX + 16];
	uint64_t packets = media_pcap_packets(r->pc);
	uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	/* stdio reports a failed write at a later flush, maybe only here: then
	 * `packets` may count records that never reached the disk, and the
	 * JSON says the pcap is not whole. */
	bool whole = media_pcap_close(r->pc) == 0;
	FILE *f;

	if (!whole)
		log_warn("media", "recording %s.pcap: write error", r->base);
	if (dropped)
		log_warn("media", "recording %s.pcap: %llu packets not recorded", r->base,
			 (unsigned long long)dropped);
	snprintf(path, sizeof(path), "%s.json", r->base);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (buf_printf(&r->meta, ",\"packets\":%llu,\"dropped\":%llu%s}\n",
		       (unsigned long long)packets, (unsigned long long)dropped,
		       whole ? "" : ",\"write_error\":true") < 0 ||
	    !(f = fopen(tmp, "w"))) {
		log_error("media", "recording metadata %s: cannot write", path);
		goto out;
	}
	bool ok = fwrite(r->meta.p, 1, r->meta.len, f) == r->meta.len;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		log_error("media", "recording metadata %s: %s", path, strerror(errno));
		unlink(tmp);
	}
out:
	buf_fini(&r->meta);
	free(r);
}

/* Writer: completes the pending recordings whose records are all written. */
static void media_rec_complete_ready(struct media_rec_writer *w)
{
	struct media_rec **link = &w->pending;

	while (*link) {
		struct media_rec *r = *link;
		if (r->done != r->queued) {
			link = &r->next;
			continue;
		}
		*link = r->next;
		media_rec_complete(r);
	}
}

/* Writer: takes the recordings handed over; when there was nothing to
 * write it naps (a recording is open: its packets may be coming) or sleeps
 * until a recording opens or stop is asked.  Returns whether stop was. */
static bool media_rec_writer_wait(struct media_rec_writer *w, bool idle)
{
	bool stop;

	pthread_mutex_lock(&w->mu);
	if (idle && !w->stop && !w->finishing && !w->open && !w->pending) {
		pthread_cond_wait(&w->cv, &w->mu);
	} else if (idle && !w->stop && !w->finishing) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += MEDIA_REC_IDLE_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	while (w->finishing) {
		struct media_rec *r = w->finishing;
		w->finishing = r->next;
		r->next = w->pending;
		w->pending = r;
	}
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

static void *media_rec_writer_main(void *arg)
{
	struct media_rec_writer *w = arg;

	for (;;) {
		size_t n = media_rec_drain(w->m);
		bool stop = media_rec_writer_wait(w, n == 0);
		media_rec_complete_ready(w);
		/* The relay is stopped before the writer: empty rings stay empty. */
		if (stop && n == 0 && !w->pending)
			break;
	}
	return NULL;
}

void media_rec_finish(struct media *m, struct media_rec *r, struct buf *meta)
{
	struct media_rec_writer *w = m->writer;

	if (!r) {
		buf_fini(meta);
		return;
	}
	r->meta = *meta;
	buf_init(meta);
	media_rec_writer_count(w, -1);
	if (!w || !w->running) {
		/* No writer thread (not started, or stopped): no worker feeds
		 * the rings either, so this thread may drain them itself. */
		media_rec_drain(m);
		media_rec_complete(r);
		return;
	}
	pthread_mutex_lock(&w->mu);
	r->next = w->finishing;
	w->finishing = r;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int media_rec_writer_init(struct media *m)
{
	struct media_rec_writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (!w)
		return -ENOMEM;
	w->m = m;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->m_dropped = metric_get(metrics_counter(
	    metrics_default(), "warp_media_record_dropped_total",
	    "Recorded packets left out of their pcap: the writer fell behind or a write failed.",
	    NULL));
	m->writer = w;
	for (unsigned i = 0; i < m->nworkers; i++)
		if (media_recq_init(&m->workers[i].recq, MEDIA_REC_SLOTS) < 0)
			return -ENOMEM;
	return 0;
}

int media_rec_writer_start(struct media *m)
{
	struct media_rec_writer *w = m->writer;

	if (!w || w->running)
		return w ? 0 : -EINVAL;
	w->stop = false;
	if (pthread_create(&w->th, NULL, media_rec_writer_main, w) != 0)
		return -EAGAIN;
	w->running = true;
	return 0;
}

void media_rec_writer_stop(struct media *m)
{
	struct media_rec_writer *w = m->writer;

	if (!w || !w->running)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	w->running = false;
}

void media_rec_writer_fini(struct media *m)
{
	struct media_rec_writer *w = m->writer;

	if (!w)
		return;
	media_rec_writer_stop(m);
	for (unsigned i = 0; m->workers && i < m->nworkers; i++)
		media_recq_fini(&m->workers[i].recq);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	m->writer = NULL;
}
