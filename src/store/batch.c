/*
 * batch.c — group commit for hot-path inserts (CDRs, messages).
 *
 * Callers queue rows (parameters for one statement) into a bounded FIFO;
 * one writer thread takes up to max_rows at a time — as soon as that many
 * are waiting, or max_delay_ms after the oldest arrived, or at once when
 * someone flushes — and runs them in one transaction, so a thousand rows
 * cost one commit (one fsync) instead of a thousand.  max_delay_ms 0 is
 * classic group commit: the writer takes whatever is queued the moment it
 * is free, so a row waits at most for the commit before its own, and the
 * groups grow with the load by themselves (the smsc's writers on
 * PostgreSQL, decision 0042).  A delay suits a writer whose groups each
 * pay an fsync (SQLite) or that nobody waits on (CDRs).  Only after the
 * commit is on disk (store_tx_commit_durable: on SQLite the WAL synced
 * after COMMIT, decision 0030) are the rows' done callbacks called, on the
 * writer thread, with 0: the row is durable and an acknowledgement may be
 * sent (principle 2 of docs/ARCHITECTURE.md).
 *
 * Failures: a transient error (STORE_EBUSY, STORE_EDOWN, no connection)
 * retries the whole group with backoff (100 ms doubling to 5 s, 10 tries).
 * Any other error means some row is bad (a constraint, a type): the group
 * is then re-run one row per transaction so that only the bad row's
 * callback receives the error and its neighbours still commit.  Rows are
 * never dropped: store_batch_free() drains the queue before it returns.
 *
 * An entry may also be a group of statements (store_batch_add_group: a
 * message's parts and the record of its answer) that commit together or
 * not at all: when the group is re-run to isolate a bad entry, the entry's
 * statements still share one transaction.
 *
 * Callbacks must not call store_batch_flush() or store_batch_free() on the
 * same batch (the writer would wait for itself).
 */
#include "store/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX_ATTEMPTS 10

/* One statement of an entry; sql NULL runs the batch's own. */
struct batch_stmt {
	const char *sql;
	struct store_param *params;
	size_t nparams;
};

/* One entry: its statements, their parameters and texts in this one
 * allocation. */
struct batch_row {
	struct batch_stmt *stmts;
	size_t nstmts;
	store_batch_done_fn done;
	void *arg;
};

struct store_batch {
	struct store *store;
	char *sql;
	size_t nparams, max_queue, max_rows;
	int max_delay_ms;

	pthread_mutex_t lock;
	pthread_cond_t wake;	/* writer: rows arrived, flush or stop */
	pthread_cond_t settled; /* flushers: a group finished */
	struct batch_row **ring;
	size_t head, count;
	int64_t oldest_ms; /* arrival of the row at head */
	uint64_t added, settled_rows;
	int flushing;
	bool stopping;
	pthread_t thread;
	struct batch_row **group; /* writer only: the rows being written */
	struct store_run *runs;	  /* writer only: their statements, for exec_many */
	size_t cap_runs;
};

static bool batch_transient(int rc)
{
	return rc == STORE_EBUSY || rc == STORE_EDOWN || rc == -ENOMEM;
}

/* One transaction of the rows' statements, one store_exec each. */
static int batch_exec_each(struct store_batch *b, struct store_conn *c, struct batch_row **rows,
			   size_t n)
{
	int rc = store_tx_begin(c);

	for (size_t i = 0; i < n && rc == 0; i++)
		for (size_t j = 0; j < rows[i]->nstmts && rc == 0; j++) {
			const struct batch_stmt *st = &rows[i]->stmts[j];
			rc = store_exec(c, st->sql ? st->sql : b->sql, st->params, st->nparams,
					NULL);
		}
	if (rc == 0)
		rc = store_tx_commit_durable(c); /* the callbacks acknowledge: on disk */
	return rc;
}

/* One transaction of the rows' statements.  Where the backend runs many
 * statements in one round trip (PostgreSQL's pipeline) BEGIN and COMMIT go
 * in it with them: a group costs one round trip to the server, not three
 * (BEGIN, the statements, COMMIT), and a commit's latency is the server's
 * work, not the scheduling of three exchanges. */
static int batch_exec(struct store_batch *b, struct store_conn *c, struct batch_row **rows,
		      size_t n)
{
	size_t total = 2, k = 0; /* BEGIN and COMMIT */
	int rc;

	for (size_t i = 0; i < n; i++)
		total += rows[i]->nstmts;
	if (c->be->exec_many && total > b->cap_runs) {
		struct store_run *runs = realloc(b->runs, total * sizeof(*runs));
		if (runs) {
			b->runs = runs;
			b->cap_runs = total;
		}
	}
	if (!c->be->exec_many || total > b->cap_runs)
		return batch_exec_each(b, c, rows, n);
	b->runs[k++] = (struct store_run){c->be->begin_sql, NULL, 0};
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < rows[i]->nstmts; j++) {
			const struct batch_stmt *st = &rows[i]->stmts[j];
			b->runs[k++] =
			    (struct store_run){st->sql ? st->sql : b->sql, st->params, st->nparams};
		}
	b->runs[k++] = (struct store_run){"COMMIT", NULL, 0};
	rc = c->be->exec_many(c, b->runs, k);
	if (rc == STORE_EDOWN)
		c->broken = true;
	if (rc == 0 && c->be->sync)
		rc = c->be->sync(c); /* the callbacks acknowledge: on disk */
	return rc;
}

/* One transaction for n rows; 0 or the first error (rolled back). */
static int batch_try(struct store_batch *b, struct batch_row **rows, size_t n)
{
	struct store_conn *c = store_conn(b->store);
	int rc;

	if (!c)
		return STORE_EDOWN;
	rc = batch_exec(b, c, rows, n);
	if (rc < 0) {
		log_warn("store", "batch of %zu rows failed: %s", n, store_conn_errmsg(c));
		store_tx_rollback(c);
	}
	return rc;
}

static void batch_settle(struct batch_row **rows, size_t n, int status)
{
	for (size_t i = 0; i < n; i++) {
		if (rows[i]->done)
			rows[i]->done(rows[i]->arg, status);
		free(rows[i]);
		rows[i] = NULL;
	}
}

static void batch_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Writes rows, retrying; calls every done callback exactly once. */
static void batch_write(struct store_batch *b, struct batch_row **rows, size_t n)
{
	int backoff = 0;
	int rc = 0;

	for (int attempt = 1; attempt <= BATCH_MAX_ATTEMPTS; attempt++) {
		rc = batch_try(b, rows, n);
		if (rc == 0 || !batch_transient(rc))
			break;
		backoff = store_backoff_next(backoff);
		if (attempt < BATCH_MAX_ATTEMPTS)
			batch_sleep_ms(backoff);
	}
	if (rc < 0 && !batch_transient(rc) && n > 1) {
		/* Isolate the bad row: each row on its own. */
		for (size_t i = 0; i < n; i++)
			batch_write(b, &rows[i], 1);
		return;
	}
	if (rc < 0)
		log_error("store", "batch: %zu rows failed for good: %s", n, store_strerror(rc));
	batch_settle(rows, n, rc);
}

static void batch_deadline(struct timespec *ts, int64_t mono_ms)
{
	ts->tv_sec = mono_ms / 1000;
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* Waits (lock held) until a group is due; returns its size, 0 to exit.
 * With max_delay_ms 0 a group is due as soon as a row is there: the writer
 * takes what arrived while it committed the previous group (classic group
 * commit, the load sets the group's size). */
static size_t batch_take(struct store_batch *b)
{
	struct timespec ts;
	size_t n;

	while (b->count == 0 && !b->stopping)
		pthread_cond_wait(&b->wake, &b->lock);
	if (b->count == 0)
		return 0;
	batch_deadline(&ts, b->oldest_ms + b->max_delay_ms);
	while (b->max_delay_ms > 0 && b->count < b->max_rows && !b->stopping && b->flushing == 0) {
		if (pthread_cond_timedwait(&b->wake, &b->lock, &ts) == ETIMEDOUT)
			break;
	}
	n = b->count < b->max_rows ? b->count : b->max_rows;
	for (size_t i = 0; i < n; i++) {
		b->group[i] = b->ring[b->head];
		b->head = (b->head + 1) % b->max_queue;
	}
	b->count -= n;
	b->oldest_ms = time_mono_ms(); /* the rest wait at most another delay */
	return n;
}

static void *batch_main(void *arg)
{
	struct store_batch *b = arg;
	size_t n;

	log_context_set("batch-writer");
	pthread_setname_np(pthread_self(), "store-batch");
	pthread_mutex_lock(&b->lock);
	while ((n = batch_take(b)) > 0) {
		pthread_mutex_unlock(&b->lock);
		batch_write(b, b->group, n);
		pthread_mutex_lock(&b->lock);
		b->settled_rows += n;
		pthread_cond_broadcast(&b->settled);
	}
	pthread_mutex_unlock(&b->lock);
	store_conn_release(b->store);
	return NULL;
}

static int batch_init_sync(struct store_batch *b)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, &attr);
	pthread_cond_init(&b->settled, NULL);
	pthread_condattr_destroy(&attr);
	return 0;
}

struct store_batch *store_batch_new(struct store *s, const char *sql, size_t nparams,
				    size_t max_queue, size_t max_rows, int max_delay_ms)
{
	struct store_batch *b = calloc(1, sizeof(*b));

	if (!b || !s || !sql || max_queue == 0 || max_rows == 0 || max_delay_ms < 0)
		goto fail;
	b->store = s;
	b->nparams = nparams;
	b->max_queue = max_queue;
	b->max_rows = max_rows < max_queue ? max_rows : max_queue;
	b->max_delay_ms = max_delay_ms;
	b->sql = strdup(sql);
	b->ring = calloc(max_queue, sizeof(*b->ring));
	b->group = calloc(b->max_rows, sizeof(*b->group));
	if (!b->sql || !b->ring || !b->group)
		goto fail;
	batch_init_sync(b);
	if (pthread_create(&b->thread, NULL, batch_main, b) != 0) {
		pthread_cond_destroy(&b->wake);
		pthread_cond_destroy(&b->settled);
		pthread_mutex_destroy(&b->lock);
		goto fail;
	}
	return b;
fail:
	if (b) {
		free(b->sql);
		free(b->ring);
		free(b->group);
		free(b);
	}
	return NULL;
}

/* The octets an entry's statement needs beyond its struct: parameters,
 * their text and its SQL. */
static size_t batch_stmt_size(const struct store_batch_stmt *st)
{
	size_t n = st->nparams * sizeof(struct store_param) + (st->sql ? strlen(st->sql) + 1 : 0);

	for (size_t i = 0; i < st->nparams; i++)
		if (st->params[i].type == STORE_P_TEXT)
			n += st->params[i].len;
	return n;
}

/* Copies st into out, its parameters, texts and SQL at *p. */
static void batch_stmt_copy(const struct store_batch_stmt *st, struct batch_stmt *out, char **p)
{
	out->params = (struct store_param *)(void *)*p;
	out->nparams = st->nparams;
	*p += st->nparams * sizeof(struct store_param);
	for (size_t i = 0; i < st->nparams; i++) {
		out->params[i] = st->params[i];
		if (st->params[i].type != STORE_P_TEXT)
			continue;
		if (st->params[i].len)
			memcpy(*p, st->params[i].s, st->params[i].len);
		out->params[i].s = *p;
		*p += st->params[i].len;
	}
	out->sql = NULL;
	if (st->sql) {
		size_t len = strlen(st->sql) + 1;
		memcpy(*p, st->sql, len);
		out->sql = *p;
		*p += len;
	}
}

/* One allocation holding the entry, its statements and what they carry.
 * Parameters come first after the statement array, so they stay aligned. */
static struct batch_row *batch_row_new(const struct store_batch_stmt *stmts, size_t n)
{
	size_t size = sizeof(struct batch_row) + n * sizeof(struct batch_stmt);
	struct batch_row *r;
	char *p;

	for (size_t i = 0; i < n; i++) /* each statement's block rounded to param alignment */
		size += (batch_stmt_size(&stmts[i]) + sizeof(struct store_param) - 1) /
			sizeof(struct store_param) * sizeof(struct store_param);
	r = malloc(size + 1);
	if (!r)
		return NULL;
	r->stmts = (struct batch_stmt *)(r + 1);
	r->nstmts = n;
	p = (char *)(r->stmts + n);
	for (size_t i = 0; i < n; i++) {
		char *start = p;
		batch_stmt_copy(&stmts[i], &r->stmts[i], &p);
		size_t used = (size_t)(p - start);
		p = start + (used + sizeof(struct store_param) - 1) / sizeof(struct store_param) *
				sizeof(struct store_param);
	}
	return r;
}

static int batch_enqueue(struct store_batch *b, struct batch_row *r, store_batch_done_fn done,
			 void *arg)
{
	int rc = 0;

	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&b->lock);
	if (b->stopping) {
		rc = -EPIPE;
	} else if (b->count == b->max_queue) {
		rc = -EAGAIN;
	} else {
		if (b->count == 0)
			b->oldest_ms = time_mono_ms();
		b->ring[(b->head + b->count) % b->max_queue] = r;
		b->count++;
		b->added++;
		if (b->count == 1 || b->count >= b->max_rows)
			pthread_cond_signal(&b->wake);
	}
	pthread_mutex_unlock(&b->lock);
	if (rc < 0)
		free(r);
	return rc;
}

int store_batch_add(struct store_batch *b, const struct store_param *params,
		    store_batch_done_fn done, void *arg)
{
	struct batch_row *r;

	if (!b || (b->nparams && !params))
		return -EINVAL;
	struct store_batch_stmt st = {NULL, params, b->nparams};
	r = batch_row_new(&st, 1);
	return r ? batch_enqueue(b, r, done, arg) : -ENOMEM;
}

int store_batch_add_group(struct store_batch *b, const struct store_batch_stmt *stmts, size_t n,
			  store_batch_done_fn done, void *arg)
{
	struct batch_row *r;

	if (!b || !stmts || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (stmts[i].nparams && !stmts[i].params)
			return -EINVAL;
	r = batch_row_new(stmts, n);
	return r ? batch_enqueue(b, r, done, arg) : -ENOMEM;
}

int store_batch_flush(struct store_batch *b)
{
	uint64_t target;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	target = b->added;
	b->flushing++;
	pthread_cond_signal(&b->wake);
	while (b->settled_rows < target)
		pthread_cond_wait(&b->settled, &b->lock);
	b->flushing--;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL); /* the writer drains the queue first */
	pthread_cond_destroy(&b->wake);
	pthread_cond_destroy(&b->settled);
	pthread_mutex_destroy(&b->lock);
	free(b->runs);
	free(b->group);
	free(b->ring);
	free(b->sql);
	free(b);
}
