/*
 * sqlite_ckpt.c — one thread per SQLite store on a file that copies the
 * WAL back into the database (why: the header of sqlite_private.h).
 *
 * Every other connection has the wal hook below instead of SQLite's
 * automatic checkpoint: after each commit SQLite tells it how many pages
 * the WAL holds, and past SQLITE_CKPT_PAGES it wakes this thread (one
 * atomic exchange per commit; the lock only when it actually wakes it).
 * The thread runs a PASSIVE checkpoint on its own connection — it copies
 * what no reader still needs and never waits for a writer — and once every
 * SQLITE_CKPT_IDLE_MS in any case, so a quiet WAL is folded back too.
 * Durability is SQLite's: a checkpoint syncs the WAL before it copies and
 * the database before the WAL may be reused.
 */
#include "store/backend.h"
#include "store/sqlite_private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct sqlite_ckpt {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t lock; /* guards stopping, with wake */
	pthread_cond_t wake;
	bool stopping;
	atomic_bool due;
	atomic_uint_fast64_t runs;
};

static void *ckpt_main(void *arg)
{
	struct sqlite_ckpt *k = arg;
	struct timespec ts;

	log_context_set("sqlite-checkpoint");
	pthread_setname_np(pthread_self(), "sqlite-ckpt");
	pthread_mutex_lock(&k->lock);
	while (!k->stopping) {
		if (!atomic_load(&k->due)) {
			sqlite_deadline(&ts, SQLITE_CKPT_IDLE_MS);
			pthread_cond_timedwait(&k->wake, &k->lock, &ts);
		}
		if (k->stopping)
			break;
		atomic_store(&k->due, false);
		pthread_mutex_unlock(&k->lock);
		int rc =
		    sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			log_warn("store", "sqlite: checkpoint failed: %s", sqlite3_errmsg(k->db));
		atomic_fetch_add(&k->runs, 1);
		pthread_mutex_lock(&k->lock);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sqlite_ckpt *k = arg;

	(void)db;
	(void)name;
	if (pages >= SQLITE_CKPT_PAGES && !atomic_exchange(&k->due, true)) {
		pthread_mutex_lock(&k->lock);
		pthread_cond_signal(&k->wake);
		pthread_mutex_unlock(&k->lock);
	}
	return SQLITE_OK;
}

void sqlite_ckpt_watch(struct sqlite_ckpt *k, sqlite3 *db)
{
	if (k)
		sqlite3_wal_hook(db, ckpt_hook, k);
}

uint64_t sqlite_ckpt_runs(const struct sqlite_ckpt *k)
{
	return k ? atomic_load(&((struct sqlite_ckpt *)k)->runs) : 0;
}

static int ckpt_open(struct sqlite_ckpt *k, const char *path, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &k->db, flags, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(k->db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open SQLite store %s for checkpoints: %s", path,
			 k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(rc));
		return -EIO;
	}
	return 0;
}

struct sqlite_ckpt *sqlite_ckpt_start(const char *path, char *err, size_t errlen)
{
	struct sqlite_ckpt *k = calloc(1, sizeof(*k));
	pthread_condattr_t attr;

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (ckpt_open(k, path, err, errlen) < 0)
		goto fail;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
		snprintf(err, errlen, "cannot start the SQLite checkpoint thread");
		pthread_cond_destroy(&k->wake);
		pthread_mutex_destroy(&k->lock);
		goto fail;
	}
	return k;
fail:
	sqlite3_close_v2(k->db);
	free(k);
	return NULL;
}

void sqlite_ckpt_stop(struct sqlite_ckpt *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = true;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	sqlite3_close_v2(k->db);
	free(k);
}
