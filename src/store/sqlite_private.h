/*
 * sqlite_private.h — private to the SQLite backend (sqlite.c and its
 * helpers): what every connection of one SQLite store shares.
 *
 * Write lock (sqlite_wlock.c): SQLite admits one writer at a time per
 * database, and a thread that finds the write lock taken polls through its
 * busy handler, sleeping 1, 2, 5, 10, 15, 20, 25 ... ms between tries.  A
 * thread that commits and begins again in a loop (one transaction per
 * message) takes the lock back long before a sleeper wakes, so a group
 * commit waited tens of milliseconds behind it (the submit_sm_resp p99).
 * Every write of the process therefore first takes this first-come,
 * first-served lock: waiters sleep on a condition variable and the lock is
 * handed to the oldest of them at release, so no writer waits for more
 * than the transactions queued before it.  Other processes on the same
 * file still meet SQLite's own lock and busy timeout.
 *
 * Checkpointer (sqlite_ckpt.c): copying the WAL back into the database
 * file (and its two fsyncs) would otherwise run inside whichever commit
 * crossed SQLite's 1,000-page mark — a hot thread's, the message path's.
 * A store on a file has one thread that checkpoints instead (PASSIVE: it
 * never blocks a writer) whenever a commit reports the WAL past
 * SQLITE_CKPT_PAGES, and once a second in any case; the other connections
 * never checkpoint themselves.
 */
#ifndef WARP_STORE_SQLITE_PRIVATE_H
#define WARP_STORE_SQLITE_PRIVATE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct sqlite_wlock_waiter;

struct sqlite_wlock {
	pthread_mutex_t mu; /* guards the fields below */
	bool held;
	struct sqlite_wlock_waiter *head, *tail; /* oldest first */
};

void sqlite_wlock_init(struct sqlite_wlock *l);
void sqlite_wlock_fini(struct sqlite_wlock *l);
/* Waits at most timeout_ms for the lock; 0 when taken, -EBUSY otherwise. */
int sqlite_wlock_take(struct sqlite_wlock *l, int64_t timeout_ms);
/* Hands the lock to the oldest waiter, or frees it. */
void sqlite_wlock_give(struct sqlite_wlock *l);
/* *ts = CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait. */
struct timespec;
void sqlite_deadline(struct timespec *ts, int64_t ms);

/* WAL pages after which a commit wakes the checkpointer (64 MiB of 4 KiB
 * pages: a hot page rewritten many times in that span is copied once;
 * at 5,000 msgs/s the checkpoints took 11 % of warp's CPU at 4,096 pages
 * and 5.5 % at 16,384, decision 0030). */
#define SQLITE_CKPT_PAGES 16384
#define SQLITE_CKPT_IDLE_MS 1000

struct sqlite_ckpt;

/* Starts the checkpointer of the database file path; NULL with a reason
 * in err. */
struct sqlite_ckpt *sqlite_ckpt_start(const char *path, char *err, size_t errlen);
/* Stops the thread and closes its connection. */
void sqlite_ckpt_stop(struct sqlite_ckpt *k);
/* Makes db report its commits to k instead of checkpointing itself. */
void sqlite_ckpt_watch(struct sqlite_ckpt *k, sqlite3 *db);
/* Checkpoints run so far (for tests and logs). */
uint64_t sqlite_ckpt_runs(const struct sqlite_ckpt *k);

/* What the connections of one SQLite store share (store_backend_state). */
struct sqlite_shared {
	struct sqlite_wlock wlock;
	struct sqlite_ckpt *ckpt; /* NULL for an in-memory store */
};

#endif
