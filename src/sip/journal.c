/*
 * journal.c — an answered call is billed even when the process holding it
 * dies before the call ends.
 *
 * A CDR is written when a call ends (cdr.c).  A process killed (SIGKILL,
 * OOM, power loss) while it holds answered calls would write none for them,
 * and the carrier's invoice would show seconds the customer is never
 * billed for.  So each answered call also has a row in open_calls (the
 * CDR's columns as known at answer, migration 0007) from answer until its
 * CDR is durable, and each SIP process (a node, with a random id per run)
 * writes a heartbeat to sip_nodes every interval.  Every round, each node
 * also looks for nodes that have missed three heartbeats (sip_nodes only:
 * while every node is alive, open_calls is not read at all); a dead one's
 * calls become CDRs ending at its last heartbeat (final_code 200, hangup
 * "proxy", final_reason SIP_CDR_RECOVERED_REASON) and leave open_calls in
 * one transaction, then the node's row goes.  Every JOURNAL_SWEEP rounds a
 * sweep bills rows no node row speaks for (see journal_orphans_sql).  A call is thus billed to within one interval of its
 * true end, never beyond it, and a restarted process (a new node) or any
 * other replica does the recovery.
 *
 * The CDR insert is idempotent on (call_id, direction), so two replicas
 * recovering the same node never double a call; and a node that was only
 * cut off from the store for three heartbeats, whose calls another replica
 * recovered meanwhile, replaces a recovered CDR with the real one when its
 * calls end (cdr.c's ON CONFLICT … WHERE final_reason is the recovered
 * one).  The open row is deleted in the CDR's own transaction
 * (sip_journal_close_stmt, run by cdr.c's writer), so a crash leaves one of
 * the two, never both.  Every replica must use the same interval.
 *
 * Hot path: one statement at answer and one at the end, both queued on the
 * CDR writer (cdr.c): group commit, and every group pays an fsync (decision
 * 0030), so writers of their own would cost commits of their own; one FIFO
 * also commits a call's open row before its deletion.  The heartbeat is one
 * statement per interval per process, whatever the number of calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/policy_private.h"

#define JOURNAL_MISSED 3 /* heartbeats a node may miss before its calls are recovered */
#define JOURNAL_SWEEP 10 /* rounds between two looks for orphaned rows */

struct sip_journal {
	struct store *store;
	char node[ID_MAX];
	int interval_ms;
	int64_t started_ms;
	unsigned rounds; /* journal thread only */
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop; /* under mu */
	struct metric *recovered;
};

static const char journal_open_sql[] =
    "INSERT INTO open_calls (node_id, " SIP_CDR_COLUMNS_SQL ") VALUES ($1, $2, $3, $4, $5, $6, "
    "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, "
    "$26, $27, $28, $29) ON CONFLICT (call_id, direction) DO NOTHING";

static const char journal_close_sql[] =
    "DELETE FROM open_calls WHERE call_id = $1 AND direction = $2";

static const char journal_beat_sql[] =
    "INSERT INTO sip_nodes (id, started_ms, seen_ms) VALUES ($1, $2, $3) "
    "ON CONFLICT (id) DO UPDATE SET seen_ms = excluded.seen_ms";

/* A lost call's CDR from its open row o: ending `held` ms after its
 * answer, written at `now` (a placeholder). */
#define JOURNAL_CDR_SELECT(held, now)                                                           \
	"SELECT o.id, o.call_id, o.direction, o.customer_id, o.trunk_id, o.carrier_id, "         \
	"o.gateway_id, o.caller, o.dialed, o.normalized, o.source, o.start_ms, o.answer_ms, "    \
	"o.answer_ms + " held ", " held ", (" held " + 999) / 1000 * 1000, 200, "               \
	"'" SIP_CDR_RECOVERED_REASON "', 'proxy', o.attempts, o.pdd_ms, NULL, NULL, NULL, NULL, " \
	"NULL, NULL, CAST(" now " AS BIGINT) "

/* To its node's last heartbeat. */
#define JOURNAL_HELD "(CASE WHEN n.seen_ms > o.answer_ms THEN n.seen_ms - o.answer_ms ELSE 0 END)"

static const char journal_stale_sql[] = "SELECT id FROM sip_nodes WHERE seen_ms < $1";

/* $1 stale, $2 now, $3 the node: its calls, if it is still silent. */
static const char journal_recover_sql[] =
    "INSERT INTO cdrs (" SIP_CDR_COLUMNS_SQL ") " JOURNAL_CDR_SELECT(JOURNAL_HELD, "$2")
    "FROM open_calls o JOIN sip_nodes n ON n.id = o.node_id "
    "WHERE o.node_id = $3 AND n.seen_ms < $1 ON CONFLICT (call_id, direction) DO NOTHING";

static const char journal_forget_calls_sql[] = "DELETE FROM open_calls WHERE node_id = $1";

static const char journal_forget_node_sql[] = "DELETE FROM sip_nodes WHERE id = $1";

/* Rows whose node row is gone: written after their node had been taken
 * for dead, by a node that then died before its next heartbeat brought
 * its row back.  No heartbeat is left to bill them to: 0 ms. */
#define JOURNAL_ORPHAN "NOT EXISTS (SELECT 1 FROM sip_nodes n WHERE n.id = o.node_id)"

static const char journal_orphans_sql[] =
    "INSERT INTO cdrs (" SIP_CDR_COLUMNS_SQL ") " JOURNAL_CDR_SELECT("0", "$1")
    "FROM open_calls o WHERE " JOURNAL_ORPHAN " ON CONFLICT (call_id, direction) DO NOTHING";

static const char journal_forget_orphans_sql[] =
    "DELETE FROM open_calls WHERE node_id IN (SELECT o.node_id FROM open_calls o WHERE "
    JOURNAL_ORPHAN ")";

struct sip_journal *sip_journal_new(struct store *s, int interval_ms)
{
	struct sip_journal *j = calloc(1, sizeof(*j));
	pthread_condattr_t ca;

	if (!j || id_new("node", j->node, sizeof(j->node)) < 0)
		goto fail;
	j->store = s;
	j->interval_ms = interval_ms;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	j->recovered = metric_get(metrics_counter(
	    metrics_default(), "warp_sip_calls_recovered_total",
	    "Answered calls whose SIP process stopped before they ended, billed to its last "
	    "heartbeat.",
	    NULL));
	return j;
fail:
	free(j);
	return NULL;
}

const char *sip_journal_node(const struct sip_journal *j)
{
	return j->node;
}

struct store_batch_stmt sip_journal_open_stmt(const struct sip_journal *j,
					     struct store_param v[SIP_CDR_COLUMNS + 1],
					     const struct store_param *cdr)
{
	v[0] = store_p_text(j->node);
	memcpy(v + 1, cdr, SIP_CDR_COLUMNS * sizeof(*v));
	return (struct store_batch_stmt){journal_open_sql, v, SIP_CDR_COLUMNS + 1};
}

struct store_batch_stmt sip_journal_close_stmt(struct store_param v[2], const char *call_id,
					      const char *direction)
{
	v[0] = store_p_text(call_id);
	v[1] = store_p_text(direction);
	return (struct store_batch_stmt){journal_close_sql, v, 2};
}

static int journal_beat(struct sip_journal *j, struct store_conn *c, int64_t now)
{
	struct store_param v[3] = {store_p_text(j->node), store_p_int(j->started_ms),
				   store_p_int(now)};

	return store_exec(c, journal_beat_sql, v, 3, NULL);
}

/* Runs the INSERT … SELECT insert and then the DELETE forget with the
 * same leading params, in one transaction; returns the CDRs written or a
 * negative error (rolled back). */
static int64_t journal_bill(struct store_conn *c, const char *insert, const struct store_param *v,
			    size_t nv, const char *forget, const struct store_param *fv, size_t nfv)
{
	struct store_res *res = NULL;
	int64_t n = 0;
	int rc = store_tx_begin(c);

	if (rc == 0)
		rc = store_exec(c, insert, v, nv, &res);
	if (rc == 0)
		n = store_res_changes(res);
	store_res_free(res);
	if (rc == 0)
		rc = store_exec(c, forget, fv, nfv, NULL);
	if (rc == 0)
		rc = store_tx_commit(c);
	else
		store_tx_rollback(c);
	return rc < 0 ? rc : n;
}

/* The calls of each node silent since before stale become CDRs, node by
 * node (the scan of open_calls happens only when a node is dead: a live
 * cluster's round reads sip_nodes alone); orphans every JOURNAL_SWEEP
 * rounds.  Returns the CDRs written, or a negative error. */
static int64_t journal_recover(struct sip_journal *j, struct store_conn *c, int64_t stale,
			       int64_t now)
{
	struct store_param v[3] = {store_p_int(stale), store_p_int(now), store_p_null()};
	struct store_res *res = NULL;
	int64_t total = 0, n = 0;
	int rc = store_exec(c, journal_stale_sql, v, 1, &res);

	for (size_t i = 0; rc == 0 && i < store_res_rows(res) && n >= 0; i++) {
		v[2] = store_p_text(store_res_text(res, i, 0));
		n = journal_bill(c, journal_recover_sql, v, 3, journal_forget_calls_sql, v + 2, 1);
		if (n >= 0 && store_exec(c, journal_forget_node_sql, v + 2, 1, NULL) < 0)
			n = -EIO;
		total += n > 0 ? n : 0;
	}
	store_res_free(res);
	if (rc == 0 && n >= 0 && ++j->rounds % JOURNAL_SWEEP == 0) {
		n = journal_bill(c, journal_orphans_sql, v + 1, 1, journal_forget_orphans_sql, NULL, 0);
		total += n > 0 ? n : 0;
	}
	return rc < 0 ? rc : n < 0 ? n : total;
}

/* One round: this node's heartbeat, then the others' lost calls. */
static void journal_round(struct sip_journal *j)
{
	struct store_conn *c = store_conn(j->store);
	int64_t now = time_wall_ms(), n;

	if (!c) {
		log_warn("sip", "call journal: store unreachable");
		return;
	}
	if (journal_beat(j, c, now) < 0)
		log_warn("sip", "call journal: heartbeat not written: %s", store_conn_errmsg(c));
	n = journal_recover(j, c, now - (int64_t)JOURNAL_MISSED * j->interval_ms, now);
	if (n < 0) {
		log_warn("sip", "call journal: recovery failed: %s", store_conn_errmsg(c));
	} else if (n > 0) {
		log_warn("sip",
			 "call journal: %lld answered calls of a stopped SIP process billed to its "
			 "last heartbeat",
			 (long long)n);
		metric_add(j->recovered, (uint64_t)n);
	}
}

/* Waits one interval, or until stop; returns whether stop was asked. */
static bool journal_wait(struct sip_journal *j)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += j->interval_ms / 1000;
	ts.tv_nsec += (long)(j->interval_ms % 1000) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&j->mu);
	if (!j->stop)
		pthread_cond_timedwait(&j->cv, &j->mu, &ts);
	stop = j->stop;
	pthread_mutex_unlock(&j->mu);
	return stop;
}

static void *journal_thread(void *arg)
{
	struct sip_journal *j = arg;

	do
		journal_round(j);
	while (!journal_wait(j));
	/* The last heartbeat: calls left open end here if nobody ends them. */
	struct store_conn *c = store_conn(j->store);
	if (c)
		journal_beat(j, c, time_wall_ms());
	store_conn_release(j->store);
	return NULL;
}

int sip_journal_start(struct sip_journal *j, char *err, size_t errlen)
{
	j->started_ms = time_wall_ms();
	if (pthread_create(&j->thread, NULL, journal_thread, j) != 0) {
		snprintf(err, errlen, "cannot start the call journal thread");
		return -EAGAIN;
	}
	j->running = true;
	return 0;
}

void sip_journal_free(struct sip_journal *j)
{
	if (!j)
		return;
	if (j->running) {
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->thread, NULL);
	}
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}
