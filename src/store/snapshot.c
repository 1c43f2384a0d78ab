/*
 * snapshot.c — immutable in-memory views of the store, rebuilt by a loader
 * thread when the config version changes and read by hot paths without
 * locks.
 *
 * Each snapshot owns a fixed array of slots; a slot holds one built
 * version (data pointer, version, reference count).  `cur` names the slot
 * readers should use.  Publishing a new version fills a free slot and
 * stores its index into `cur`; the old slot is then "retired".
 *
 * Why this is safe without locks.  A reader loads `cur` (say i), increments
 * slot i's count, and then loads `cur` again: only if it still names i does
 * it read slot i's data; otherwise it decrements and starts over.  The
 * loader reuses (frees) a retired slot only when its count is zero.  If
 * the loader saw zero before a reader's increment, the slot was already
 * retired, so the reader's second load cannot name i until the loader has
 * refilled i and republished it — and then the data the reader reads is the
 * new, fully written one (the publishing store is sequentially consistent,
 * like every atomic here).  If the loader looked after the increment, it
 * sees a non-zero count and leaves the slot alone.  On top of that a
 * retired slot is reused only after a grace period (1 s) since retirement,
 * so even a reader preempted between its two loads finds its slot unchanged
 * in practice; the re-check is what makes it correct, the grace period what
 * makes the retry rare.
 *
 * Slots are never freed while the snapshot lives, so snapshot_release()
 * can find a reader's slot by scanning for its data pointer (data pointers
 * of live slots are distinct: a slot's pointer is cleared before its data
 * is freed).  When every slot is taken (readers holding 31 old versions) a
 * new build is not published; the loader keeps the current one, logs, and
 * tries again on its next tick.
 *
 * The loader polls the config version every poll_ms; on PostgreSQL it also
 * LISTENs on channel warp_config on a dedicated connection and wakes at
 * once when a provisioning transaction commits.  A failing build keeps the
 * old snapshot, logs an error once per version, counts
 * warp_snapshot_builds_total{result="error"}, and is retried on later ticks.
 */
#include "store/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAPSHOT_SLOTS 32
#define SNAPSHOT_GRACE_MS 1000
#define SNAPSHOT_POLL_DEFAULT_MS 200
#define SNAPSHOT_CHANNEL "warp_config"

struct snapshot_slot {
	_Atomic(void *) data;
	atomic_long refs;
	/* Loader only: */
	bool used;	    /* holds data (current or retired) */
	int64_t retired_ms; /* 0 while current */
};

struct snapshot {
	struct snapshot_loader *loader;
	char *name;
	snapshot_build_fn build;
	snapshot_free_fn free_fn;
	void *arg;
	atomic_int cur;
	_Atomic int64_t version;
	struct snapshot_slot slots[SNAPSHOT_SLOTS];
	int64_t failed_version; /* loader only: last version whose build failed */
	struct metric *m_ok, *m_err, *m_version;
	struct snapshot *next;
};

struct snapshot_loader {
	struct store *store;
	int poll_ms;
	pthread_mutex_t lock; /* guards the list and every rebuild */
	struct snapshot *list;
	pthread_t thread;
	bool running;
	int wake[2];
	atomic_bool stop;
	atomic_bool reload;
	struct store_listener *listener;
	int64_t listen_next_ms;
	int listen_backoff_ms;
};

/* hot path: no allocation, no locks, no I/O */
const void *snapshot_acquire(struct snapshot *s)
{
	for (;;) {
		int i = atomic_load(&s->cur);
		struct snapshot_slot *slot = &s->slots[i];

		atomic_fetch_add(&slot->refs, 1);
		if (atomic_load(&s->cur) == i)
			return atomic_load(&slot->data);
		atomic_fetch_sub(&slot->refs, 1);
	}
}

/* hot path: no allocation, no locks, no I/O */
void snapshot_release(struct snapshot *s, const void *data)
{
	if (!data)
		return;
	for (size_t i = 0; i < SNAPSHOT_SLOTS; i++) {
		if (atomic_load(&s->slots[i].data) == data) {
			atomic_fetch_sub(&s->slots[i].refs, 1);
			return;
		}
	}
}

int64_t snapshot_version(const struct snapshot *s)
{
	return atomic_load(&((struct snapshot *)s)->version);
}

/* Frees retired versions nobody reads any more (loader, under lock). */
static void snapshot_reclaim(struct snapshot *s, int64_t now, bool all)
{
	for (size_t i = 0; i < SNAPSHOT_SLOTS; i++) {
		struct snapshot_slot *slot = &s->slots[i];
		void *data;

		if (!slot->used ||
		    (!all && (slot->retired_ms == 0 || atomic_load(&slot->refs) != 0 ||
			      now - slot->retired_ms < SNAPSHOT_GRACE_MS)))
			continue;
		data = atomic_exchange(&slot->data, NULL);
		slot->used = false;
		slot->retired_ms = 0;
		if (data && s->free_fn)
			s->free_fn(data);
	}
}

/* Makes data the current version; -EBUSY when no slot is free. */
static int snapshot_publish(struct snapshot *s, void *data, int64_t version)
{
	int64_t now = time_mono_ms();
	int old = atomic_load(&s->cur);
	int i;

	snapshot_reclaim(s, now, false);
	for (i = 0; i < SNAPSHOT_SLOTS && s->slots[i].used; i++)
		;
	if (i == SNAPSHOT_SLOTS)
		return -EBUSY;
	atomic_store(&s->slots[i].refs, 0);
	atomic_store(&s->slots[i].data, data);
	s->slots[i].used = true;
	s->slots[i].retired_ms = 0;
	atomic_store(&s->version, version);
	atomic_store(&s->cur, i);
	if (s->slots[old].used && old != i)
		s->slots[old].retired_ms = now;
	if (s->m_version)
		metric_set(s->m_version, version);
	return 0;
}

/* Builds and publishes one snapshot at version v (loader, under lock). */
static int snapshot_rebuild(struct snapshot *s, struct store_conn *c, int64_t v)
{
	void *data = s->build(c, s->arg);

	if (!data || snapshot_publish(s, data, v) < 0) {
		if (s->m_err)
			metric_inc(s->m_err);
		if (s->failed_version != v)
			log_error("store", "snapshot %s: %s at config version %lld; current: %lld",
				  s->name, data ? "every slot is held by readers" : "build failed",
				  (long long)v, (long long)snapshot_version(s));
		s->failed_version = v;
		if (data && s->free_fn)
			s->free_fn(data);
		return -EAGAIN;
	}
	if (s->m_ok)
		metric_inc(s->m_ok);
	s->failed_version = 0;
	log_debug("store", "snapshot %s rebuilt at config version %lld", s->name, (long long)v);
	return 0;
}

/* One pass of the loader: rebuilds what is out of date (or all on reload). */
static void snapshot_loader_tick(struct snapshot_loader *l, bool force)
{
	struct store_conn *c = store_conn(l->store);
	int64_t v = 0;

	if (!c || store_config_version_get(c, &v) < 0)
		return; /* store.c logs connection failures; retried next tick */
	pthread_mutex_lock(&l->lock);
	for (struct snapshot *s = l->list; s; s = s->next) {
		if (force || snapshot_version(s) != v)
			snapshot_rebuild(s, c, v);
		snapshot_reclaim(s, time_mono_ms(), false);
	}
	pthread_mutex_unlock(&l->lock);
}

struct snapshot_loader *snapshot_loader_new(struct store *s, int poll_ms)
{
	struct snapshot_loader *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(l);
		return NULL;
	}
	l->store = s;
	l->poll_ms = poll_ms > 0 ? poll_ms : SNAPSHOT_POLL_DEFAULT_MS;
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

static void snapshot_metrics_init(struct snapshot *s)
{
	struct metrics *m = metrics_default();
	struct metric_family *builds, *version;

	if (!m)
		return;
	builds = metrics_counter(m, "warp_snapshot_builds_total",
				 "Snapshot builds by snapshot name and result (ok, error).",
				 "name,result");
	version = metrics_gauge(m, "warp_snapshot_version",
				"Config version the current snapshot was built from.", "name");
	if (builds) {
		s->m_ok = metric_get(builds, s->name, "ok");
		s->m_err = metric_get(builds, s->name, "error");
	}
	if (version)
		s->m_version = metric_get(version, s->name);
}

static void snapshot_free_one(struct snapshot *s)
{
	snapshot_reclaim(s, 0, true);
	free(s->name);
	free(s);
}

/* The snapshot registered already with this name and these functions
 * (loader, under lock). */
static struct snapshot *snapshot_registered(struct snapshot_loader *l, const char *name,
					    snapshot_build_fn build, snapshot_free_fn free_fn,
					    void *arg)
{
	for (struct snapshot *s = l->list; s; s = s->next)
		if (s->build == build && s->free_fn == free_fn && s->arg == arg &&
		    strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

struct snapshot *snapshot_register(struct snapshot_loader *l, const char *name,
				   snapshot_build_fn build, snapshot_free_fn free_fn, void *arg)
{
	struct snapshot *s;
	struct store_conn *c = store_conn(l->store);
	int64_t v = 0;

	/* Two modules of one process reading the same view share one build
	 * (the smsc's message routes, read by the HTTP send checks too). */
	pthread_mutex_lock(&l->lock);
	s = snapshot_registered(l, name, build, free_fn, arg);
	pthread_mutex_unlock(&l->lock);
	if (s)
		return s;
	if (!(s = calloc(1, sizeof(*s))) || !(s->name = strdup(name)))
		goto fail;
	if (!c || store_config_version_get(c, &v) < 0) {
		log_error("store", "snapshot %s: cannot read the config version: %s", name,
			  store_conn_errmsg(c));
		goto fail;
	}
	s->loader = l;
	s->build = build;
	s->free_fn = free_fn;
	s->arg = arg;
	atomic_store(&s->cur, 0);
	atomic_store(&s->version, 0); /* none yet: versions start at 1 */
	snapshot_metrics_init(s);
	pthread_mutex_lock(&l->lock);
	if (snapshot_rebuild(s, c, v) < 0) {
		pthread_mutex_unlock(&l->lock);
		goto fail;
	}
	s->next = l->list;
	l->list = s;
	pthread_mutex_unlock(&l->lock);
	return s;
fail:
	if (s)
		snapshot_free_one(s);
	return NULL;
}

/* PostgreSQL: (re)opens the LISTEN connection, at most once per backoff. */
static void snapshot_listener_check(struct snapshot_loader *l)
{
	const struct store_backend *be =
	    store_kind(l->store) == STORE_POSTGRES ? &store_backend_pg : NULL;

	if (!be || l->listener || time_mono_ms() < l->listen_next_ms)
		return;
	l->listener = be->listen_open(l->store, SNAPSHOT_CHANNEL);
	if (l->listener) {
		l->listen_backoff_ms = 0;
		return;
	}
	l->listen_backoff_ms = store_backoff_next(l->listen_backoff_ms);
	l->listen_next_ms = time_mono_ms() + l->listen_backoff_ms;
	log_warn("store", "snapshot loader: LISTEN %s failed; polling only", SNAPSHOT_CHANNEL);
}

/* Waits for a notification, a wake-up or poll_ms; true when woken early. */
static bool snapshot_loader_wait(struct snapshot_loader *l)
{
	struct pollfd pfd[2] = {{.fd = l->wake[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}};
	char drain[64];
	bool woke = false;

	snapshot_listener_check(l);
	if (l->listener)
		pfd[1].fd = store_backend_pg.listen_fd(l->listener);
	if (poll(pfd, 2, l->poll_ms) <= 0)
		return false;
	while (read(l->wake[0], drain, sizeof(drain)) > 0)
		woke = true;
	if (l->listener && pfd[1].revents) {
		int rc = store_backend_pg.listen_drain(l->listener);
		if (rc < 0) {
			store_backend_pg.listen_close(l->listener);
			l->listener = NULL;
		}
		woke = woke || rc > 0;
	}
	return woke;
}

static void *snapshot_loader_main(void *arg)
{
	struct snapshot_loader *l = arg;

	log_context_set("snapshot-loader");
	while (!atomic_load(&l->stop)) {
		snapshot_loader_wait(l);
		if (atomic_load(&l->stop))
			break;
		snapshot_loader_tick(l, atomic_exchange(&l->reload, false));
	}
	if (l->listener)
		store_backend_pg.listen_close(l->listener);
	l->listener = NULL;
	store_conn_release(l->store);
	return NULL;
}

int snapshot_loader_start(struct snapshot_loader *l)
{
	if (l->running)
		return 0;
	atomic_store(&l->stop, false);
	if (pthread_create(&l->thread, NULL, snapshot_loader_main, l) != 0)
		return -EAGAIN;
	l->running = true;
	return 0;
}

static void snapshot_loader_wake(struct snapshot_loader *l)
{
	ssize_t n = write(l->wake[1], "w", 1);

	(void)n; /* a full pipe already holds a wake-up */
}

void snapshot_loader_reload(struct snapshot_loader *l)
{
	if (!l->running) {
		snapshot_loader_tick(l, true);
		return;
	}
	atomic_store(&l->reload, true);
	snapshot_loader_wake(l);
}

void snapshot_loader_stop(struct snapshot_loader *l)
{
	if (!l || !l->running)
		return;
	atomic_store(&l->stop, true);
	snapshot_loader_wake(l);
	pthread_join(l->thread, NULL);
	l->running = false;
}

void snapshot_loader_free(struct snapshot_loader *l)
{
	struct snapshot *s, *next;

	if (!l)
		return;
	snapshot_loader_stop(l);
	for (s = l->list; s; s = next) {
		next = s->next;
		snapshot_free_one(s);
	}
	close(l->wake[0]);
	close(l->wake[1]);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
