/*
 * final.c — a message part's move to a final state (delivered,
 * undeliverable, expired, rejected) and, when that makes its group final,
 * the group's one message.status event, in one transaction.
 *
 * A group is the rows sharing messages.group_id: the id the customer sees
 * for an HTTP message, and for the parts of a long message an SMPP
 * customer submits one submit_sm each, the parts tied together at insert
 * (submit.c, docs/decisions/0026), and the destinations of a submit_multi
 * (multi.c).  Each destination is final on its own parts: delivered when
 * all its part_total parts are, failed as soon as one of them fails.  The
 * group is final when every destination is — for a message to one
 * destination, at its last part delivered or its first part failed — and
 * its status is then a failed destination's state or delivered (decision
 * 0043).  The event is a message_events row: the table is the
 * interface to the webhook dispatcher of the api role, which smsc may not
 * call (decision 0022).  Nothing here touches the config version, so
 * message traffic never makes a process rebuild its snapshots.
 *
 * A move is a group of statements with no decision in C between them, so
 * that it can go through the batching writer (writes.c): many moves, each
 * still all-or-nothing, in one transaction, while the upstream thread goes
 * on (decision 0029).  The part's guarded UPDATE comes first; the event's
 * INSERT … SELECT then reads the group as that UPDATE left it and inserts
 * only when the part is in the state this move gave it at this move's time
 * (the UPDATE took effect) and the group is final.  Whether the event was
 * written — what the status metrics count — is read after the commit by
 * the event's id, for many moves in one SELECT (smsc_final_settle).
 *
 * Two processes finishing two parts of one group at the same moment must
 * neither both miss the end (each seeing the other's part unfinished) nor
 * both emit.  On PostgreSQL the group's rows are locked in id order before
 * the part is updated, so the second waits for the first to commit and then
 * counts its part (a part known to be its group's only one needs no lock);
 * SQLite's BEGIN IMMEDIATE serializes writers already.  The insert itself
 * is conditional — UNIQUE (group_id, type) with ON CONFLICT DO NOTHING — so
 * a group's final status is emitted once even when a later part fails
 * after an earlier one did.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

/* The UPDATE of a part: what every final move sets, then rest (more SETs
 * and the guard's WHERE). */
#define FINAL_SQL(rest)                                                                            \
	"UPDATE messages SET state = $1, error = $2, updated_at = $3, " RECEIPT_DUE("$1") rest

#define FINAL_LEASED_SQL                                                                           \
	FINAL_SQL(", next_attempt_at = 0, attempts = attempts + $5, lease_owner = NULL, "          \
		  "lease_until = 0 WHERE id = $4 AND lease_owner = $6")
#define FINAL_SUBMITTED_SQL FINAL_SQL(" WHERE id = $4 AND state = 'submitted'")
/* A held "submitted" row (sent.c) and its final in one UPDATE. */
#define FINAL_SENT_SQL                                                                             \
	FINAL_SQL(", carrier_id = $7, upstream_id = $8, submitted_at = $9, next_attempt_at = 0, "  \
		  "attempts = attempts + $5, lease_owner = NULL, lease_until = 0 WHERE id = $4 "   \
		  "AND lease_owner = $6")
#define FINAL_EXPIRY_SQL                                                                           \
	FINAL_SQL(" WHERE id = $4 AND state IN ('accepted', 'queued') AND expires_at <= $3 AND "   \
		  "lease_until <= $3")

/* Each guard's UPDATE and how many parameters it takes. */
static const struct {
	const char *sql;
	size_t nparams;
} final_update_sql[] = {
    [SMSC_FINAL_LEASED] = {FINAL_LEASED_SQL, 6},
    [SMSC_FINAL_SUBMITTED] = {FINAL_SUBMITTED_SQL, 4},
    [SMSC_FINAL_EXPIRY] = {FINAL_EXPIRY_SQL, 4},
    [SMSC_FINAL_SENT] = {FINAL_SENT_SQL, 9},
};

#define FINAL_LOCK_SQL                                                                             \
	"SELECT id FROM messages WHERE group_id = (SELECT group_id FROM messages WHERE id = $1) "  \
	"ORDER BY id FOR UPDATE"

/* The event: $1 its id, $2 the part's new state, $3 its error, $4 the
 * part, $5 the move's time.  Parameters are cast so that PostgreSQL knows
 * their types inside the JSON builder.  Its data is what GET /api/v1/events
 * and the webhook body show (docs/openapi.yaml, MessageStatusData); obj is
 * the backend's JSON object function.
 *
 * The group is read a destination a row (d): the rows of a submit_multi
 * are one destination each, a long message's parts share theirs.  A
 * destination is final when one of its parts failed or all its part_total
 * are delivered; the group when every destination is.  Its status is then
 * a failed destination's state (rejected, undeliverable, expired, in that
 * order, as GET /api/v1/messages/{id} and query_sm derive it, decision
 * 0032) with that state's error, else delivered.  For a message to one
 * destination that is its first failed part, or all parts delivered. */
/* clang-format off */
#define FINAL_N(cond) "SUM(CASE WHEN " cond " THEN 1 ELSE 0 END)"
#define FINAL_IS(state) "m.state = '" state "'"
/* A state's error: the moving part's when it failed so, else any part's. */
#define FINAL_ERR(state)                                                                           \
	"COALESCE(MAX(CASE WHEN m.id = CAST($4 AS TEXT) AND m.state = '" state "' "                \
	"THEN NULLIF(CAST($3 AS TEXT), '') END), "                                                 \
	"MAX(CASE WHEN m.state = '" state "' THEN NULLIF(m.error, '') END))"
#define FINAL_DEST_SQL                                                                             \
	"SELECT m.group_id, m.destination, MAX(m.part_total) AS total, "                           \
	FINAL_N(FINAL_IS("delivered")) " AS delivered, "                                           \
	FINAL_N("m.state IN ('undeliverable', 'expired', 'rejected')") " AS failed, "              \
	FINAL_N(FINAL_IS("rejected")) " AS n_rej, "                                                \
	FINAL_N(FINAL_IS("undeliverable")) " AS n_und, "                                           \
	FINAL_N(FINAL_IS("expired")) " AS n_exp, "                                                 \
	FINAL_ERR("rejected") " AS e_rej, "                                                        \
	FINAL_ERR("undeliverable") " AS e_und, "                                                   \
	FINAL_ERR("expired") " AS e_exp, "                                                         \
	"MAX(m.customer_id) AS customer_id, "                                                      \
	"MAX(CASE WHEN m.id = CAST($4 AS TEXT) THEN m.carrier_id END) AS carrier_id, "             \
	"MAX(m.client_ref) AS client_ref, MIN(m.created_at) AS created_at "                        \
	"FROM messages m WHERE m.group_id = (SELECT group_id FROM messages "                       \
	"WHERE id = CAST($4 AS TEXT) AND state = CAST($2 AS TEXT) "                                \
	"AND updated_at = CAST($5 AS BIGINT)) "                                                    \
	"GROUP BY m.group_id, m.destination"
#define FINAL_PICK(rej, und, exp, none)                                                            \
	"CASE WHEN SUM(d.n_rej) > 0 THEN " rej " WHEN SUM(d.n_und) > 0 THEN " und                  \
	" WHEN SUM(d.n_exp) > 0 THEN " exp " ELSE " none " END"
#define FINAL_SUM(x) "CAST(SUM(" x ") AS BIGINT)"
#define FINAL_EVENT_SQL(obj)                                                                       \
	"INSERT INTO message_events (id, group_id, customer_id, type, data, created_at) "          \
	"SELECT CAST($1 AS TEXT), d.group_id, MAX(d.customer_id), 'message.status', CAST(" obj "(" \
	"'id', d.group_id, "                                                                       \
	"'status', " FINAL_PICK("'rejected'", "'undeliverable'", "'expired'", "'delivered'") ", "  \
	"'parts', " obj "('total', " FINAL_SUM("d.total") ", "                                     \
		"'delivered', " FINAL_SUM("d.delivered") ", "                                      \
		"'failed', " FINAL_SUM("d.failed") "), "                                           \
	"'destinations', " obj "('total', COUNT(*), "                                              \
		"'delivered', " FINAL_SUM("CASE WHEN d.failed = 0 THEN 1 ELSE 0 END") ", "         \
		"'failed', " FINAL_SUM("CASE WHEN d.failed > 0 THEN 1 ELSE 0 END") "), "           \
	"'error', " FINAL_PICK("MAX(d.e_rej)", "MAX(d.e_und)", "MAX(d.e_exp)", "NULL") ", "        \
	"'carrier_id', MAX(d.carrier_id), 'client_ref', MAX(d.client_ref), "                       \
	"'submitted_at', MIN(d.created_at), 'done_at', CAST($5 AS BIGINT)) AS TEXT), "             \
	"CAST($5 AS BIGINT) FROM (" FINAL_DEST_SQL ") d GROUP BY d.group_id "                      \
	"HAVING " FINAL_SUM("CASE WHEN d.failed > 0 OR d.delivered >= d.total THEN 0 ELSE 1 END")  \
	" = 0 ON CONFLICT (group_id, type) DO NOTHING"
/* clang-format on */

/* A part known to be its group's only row (parts 1, SMSC_PARTS_SQL) makes
 * the group final by itself: its event is built from the row alone.  On SQLite a
 * second statement, by the same parameters as FINAL_EVENT_SQL; on
 * PostgreSQL the same statement as the UPDATE (a data-modifying WITH whose
 * RETURNING row is the part as it is now), one round trip instead of
 * three.  evt is the event id's parameter. */
#define FINAL_ONE_COUNTS(obj, status)                                                              \
	obj "('total', 1, 'delivered', CASE WHEN " status " = 'delivered' THEN 1 ELSE 0 END, "     \
	    "'failed', CASE WHEN " status " = 'delivered' THEN 0 ELSE 1 END)"
#define FINAL_ONE_DATA(obj, row, status, error, done)                                              \
	"CAST(" obj "('id', " row "group_id, 'status', " status                                    \
	", 'parts', " FINAL_ONE_COUNTS(obj, status) ", 'destinations', " FINAL_ONE_COUNTS(         \
	    obj, status) ", 'error', CASE WHEN " status " <> 'delivered' AND " error               \
			 " <> '' THEN " error " END, 'carrier_id', " row                           \
			 "carrier_id, 'client_ref', " row "client_ref, 'submitted_at', " row       \
			 "created_at, 'done_at', " done ") AS TEXT)"
#define FINAL_ONE_INSERT                                                                           \
	"INSERT INTO message_events (id, group_id, customer_id, type, data, created_at) SELECT "
#define FINAL_ONE_SQLITE                                                                           \
	FINAL_ONE_INSERT                                                                           \
	"CAST($1 AS TEXT), group_id, customer_id, 'message.status', " FINAL_ONE_DATA(              \
	    "json_object", "", "CAST($2 AS TEXT)", "CAST($3 AS TEXT)",                             \
	    "CAST($5 AS BIGINT)") ", CAST($5 AS BIGINT) FROM messages WHERE id = $4 AND "          \
				  "state = $2 AND updated_at = $5 AND part_total = 1 ON "          \
				  "CONFLICT "                                                      \
				  "(group_id, type) DO NOTHING"
#define FINAL_ONE_PG(update, evt)                                                                  \
	"WITH u AS (" update " RETURNING group_id, customer_id, state, error, carrier_id, "        \
	"client_ref, created_at, updated_at, part_total) " FINAL_ONE_INSERT "CAST(" evt            \
	" AS TEXT), u.group_id, u.customer_id, 'message.status', " FINAL_ONE_DATA(                 \
	    "json_build_object", "u.", "u.state", "u.error",                                       \
	    "u.updated_at") ", u.updated_at FROM u WHERE u.part_total = 1 ON CONFLICT (group_id, " \
			    "type) DO NOTHING"

static const char *const final_one_pg[] = {
    [SMSC_FINAL_LEASED] = FINAL_ONE_PG(FINAL_LEASED_SQL, "$7"),
    [SMSC_FINAL_SUBMITTED] = FINAL_ONE_PG(FINAL_SUBMITTED_SQL, "$5"),
    [SMSC_FINAL_EXPIRY] = FINAL_ONE_PG(FINAL_EXPIRY_SQL, "$5"),
    [SMSC_FINAL_SENT] = FINAL_ONE_PG(FINAL_SENT_SQL, "$10"),
};

/* The statements of a part that is its group's only one. */
static void final_stmts_one(const struct smsc_final *f, bool postgres, struct smsc_final_stmts *out)
{
	size_t k = final_update_sql[f->guard].nparams;

	if (postgres) {
		out->update[k] = out->event[0]; /* the event's id after the UPDATE's own */
		out->st[0] = (struct store_batch_stmt){final_one_pg[f->guard], out->update, k + 1};
		out->n = 1;
		return;
	}
	out->st[0] = (struct store_batch_stmt){final_update_sql[f->guard].sql, out->update, k};
	out->st[1] = (struct store_batch_stmt){FINAL_ONE_SQLITE, out->event, 5};
	out->n = 2;
}

/* A retryable negative receipt (decision 0051): the part back to the
 * queue, due now, its carrier added to those the dispatcher skips, while
 * it has failed over fewer than $4 times.  Run before the final's UPDATE,
 * whose guard (state 'submitted') it then takes away: the move is either
 * this requeue (no event, no receipt for the customer) or the final. */
#define FINAL_FAILOVER_SQL                                                                         \
	"UPDATE messages SET state = 'queued', error = $1, updated_at = $2, next_attempt_at = "    \
	"$2, "                                                                                     \
	"carriers_tried = carriers_tried || COALESCE(carrier_id, '') || ',', "                     \
	"receipt_failovers = receipt_failovers + 1 WHERE id = $3 AND state = 'submitted' AND "     \
	"receipt_failovers < $4"

static void final_failover(const struct smsc_final *f, bool postgres, struct smsc_final_stmts *out)
{
	size_t at = postgres && f->parts != 1; /* after the group's lock */

	out->failover[0] = store_p_text(f->error);
	out->failover[1] = store_p_int(f->now);
	out->failover[2] = store_p_text(f->id);
	out->failover[3] = store_p_int(f->failover_max);
	memmove(&out->st[at + 1], &out->st[at], (out->n - at) * sizeof(out->st[0]));
	out->st[at] = (struct store_batch_stmt){FINAL_FAILOVER_SQL, out->failover, 4};
	out->n++;
}

static int final_stmts_main(const struct smsc_final *f, bool postgres,
			    struct smsc_final_stmts *out);

int smsc_final_stmts(const struct smsc_final *f, bool postgres, struct smsc_final_stmts *out)
{
	int rc = final_stmts_main(f, postgres, out);

	if (rc == 0 && f->guard == SMSC_FINAL_SUBMITTED && f->failover_max > 0)
		final_failover(f, postgres, out);
	return rc;
}

static int final_stmts_main(const struct smsc_final *f, bool postgres, struct smsc_final_stmts *out)
{
	int rc = id_new("evt", out->evt, sizeof(out->evt));
	size_t n = 0;

	if (rc < 0)
		return rc;
	out->lock[0] = store_p_text(f->id);
	out->update[0] = store_p_text(f->state);
	out->update[1] = store_p_text(f->error);
	out->update[2] = store_p_int(f->now);
	out->update[3] = store_p_text(f->id);
	out->update[4] = store_p_int(f->attempted);
	out->update[5] = store_p_text(f->owner);
	out->update[6] = store_p_text(f->carrier_id);
	out->update[7] = store_p_text(f->upstream_id);
	out->update[8] = store_p_int(f->submitted_at);
	out->event[0] = store_p_text(out->evt);
	out->event[1] = store_p_text(f->state);
	out->event[2] = store_p_text(f->error);
	out->event[3] = store_p_text(f->id);
	out->event[4] = store_p_int(f->now);
	if (f->parts == 1) {
		final_stmts_one(f, postgres, out);
		return 0;
	}
	if (postgres)
		out->st[n++] = (struct store_batch_stmt){FINAL_LOCK_SQL, out->lock, 1};
	out->st[n++] = (struct store_batch_stmt){final_update_sql[f->guard].sql, out->update,
						 final_update_sql[f->guard].nparams};
	out->st[n++] = (struct store_batch_stmt){postgres ? FINAL_EVENT_SQL("json_build_object")
							  : FINAL_EVENT_SQL("json_object"),
						 out->event, 5};
	out->n = n;
	return 0;
}

int smsc_final_apply(struct store *s, const struct smsc_final *f)
{
	struct smsc_final_stmts st;
	int64_t changes[3] = {0, 0, 0};
	int rc = smsc_final_stmts(f, store_kind(s) == STORE_POSTGRES, &st);

	if (rc == 0)
		rc = smsc_writes_run(store_conn(s), st.st, st.n, changes);
	if (rc < 0)
		return rc;
	if (st.n == 1) /* one statement: the part moved when its event was written */
		return changes[0] > 0 ? 2 : 0;
	return changes[st.n - 2] > 0 ? 1 + (changes[st.n - 1] > 0) : 0;
}

struct smsc_settle *smsc_final_settle_new(struct smsc_out *o, const struct smsc_final *f,
					  const char *evt, const struct smsc_upbind *b,
					  const struct smpp_pdu *p)
{
	struct smsc_settle *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->o = o;
	snprintf(t->evt, sizeof(t->evt), "%s", evt);
	snprintf(t->id, sizeof(t->id), "%s", f->id);
	snprintf(t->state, sizeof(t->state), "%s", f->state);
	t->now = f->now;
	/* An expiry found by the sweep may find its guard gone by the commit
	 * (leased, cancelled, expired by another process, or by this one's
	 * previous sweep while the writer was behind): counted once it took
	 * effect.  A leased part's final is this process's own to make. */
	t->outcome = f->guard == SMSC_FINAL_EXPIRY;
	if (b && p) {
		t->answer = true;
		smsc_bind_ref_set(&t->bind, b);
		t->command_id = p->command_id;
		t->sequence_number = p->sequence_number;
	}
	return t;
}

int smsc_final_queue(struct smsc_out *o, const struct smsc_final *f, const struct smsc_upbind *b,
		     const struct smpp_pdu *p)
{
	struct smsc_final_stmts st;
	struct smsc_settle *t = NULL;
	int rc = smsc_final_stmts(f, store_kind(o->store) == STORE_POSTGRES, &st);

	if (rc == 0 && !(t = smsc_final_settle_new(o, f, st.evt, b, p)))
		rc = -ENOMEM;
	if (rc < 0) {
		log_warn("smsc", "message %s to %s: %s", f->id, f->state, strerror(-rc));
		return rc;
	}
	return smsc_writes_add(o, f->id, f->parts, st.st, st.n, t);
}

/* "<head>$1, … $SMSC_SETTLE_CHUNK)" over t[0..n)'s event ids (or part ids),
 * padded with the last so that SQLite prepares one statement. */
static int settle_select(struct smsc_out *o, const char *head, struct smsc_settle **t, size_t n,
			 bool parts, struct store_res **r)
{
	struct store_param p[SMSC_SETTLE_CHUNK];
	struct buf sql;
	int rc;

	buf_init(&sql);
	buf_append_cstr(&sql, head);
	for (size_t i = 0; i < SMSC_SETTLE_CHUNK; i++) {
		const struct smsc_settle *k = t[i < n ? i : n - 1];
		p[i] = store_p_text(parts ? k->id : k->evt);
		buf_printf(&sql, "%s$%zu", i ? ", " : "", i + 1);
	}
	buf_append_char(&sql, ')');
	rc = sql.p ? smsc_out_exec(o, sql.p, p, SMSC_SETTLE_CHUNK, r) : -ENOMEM;
	buf_fini(&sql);
	return rc;
}

/* The status metrics: which events were written (not beaten by another
 * part's or process's) and when each group was accepted. */
static void settle_events(struct smsc_out *o, struct smsc_settle **t, size_t n)
{
	struct store_res *r = NULL;

	if (settle_select(o,
			  "SELECT e.id, (SELECT MIN(m.created_at) FROM messages m WHERE "
			  "m.group_id = e.group_id) FROM message_events e WHERE e.id IN (",
			  t, n, false, &r) == 0)
		for (size_t i = 0; i < store_res_rows(r); i++)
			for (size_t k = 0; k < n; k++) {
				if (strcmp(t[k]->evt, store_res_text(r, i, 0)) != 0)
					continue;
				int64_t accepted = store_res_int(r, i, 1);
				metric_inc(metric_get(o->m_status, t[k]->state));
				if (accepted > 0 && t[k]->now >= accepted)
					metric_observe(metric_get(o->m_e2e, t[k]->state),
						       (double)(t[k]->now - accepted) / 1000.0);
				break;
			}
	store_res_free(r);
}

/* The outcome metric of the moves to count (expiries): those whose part is
 * in their state since their time, which only their own UPDATE set. */
static void settle_outcomes(struct smsc_out *o, struct smsc_settle **t, size_t n)
{
	struct smsc_settle *m[SMSC_SETTLE_CHUNK];
	struct store_res *r = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (t[i]->outcome)
			m[k++] = t[i];
	if (k == 0 || settle_select(o, "SELECT id, state, updated_at FROM messages WHERE id IN (",
				    m, k, true, &r) < 0)
		return;
	for (size_t i = 0; i < store_res_rows(r); i++)
		for (size_t j = 0; j < k; j++)
			if (strcmp(m[j]->id, store_res_text(r, i, 0)) == 0 &&
			    strcmp(m[j]->state, store_res_text(r, i, 1)) == 0 &&
			    m[j]->now == store_res_int(r, i, 2))
				metric_inc(metric_get(o->m_outcomes, m[j]->state));
	store_res_free(r);
}

void smsc_final_settle(struct smsc_out *o, struct smsc_settle **t, size_t n)
{
	if (n == 0)
		return;
	settle_events(o, t, n);
	settle_outcomes(o, t, n);
}

/* Many held rows' moves (sent.c) in one statement, each row's event built
 * from it as FINAL_ONE_PG does: the arrays are unnested into v, the UPDATE
 * joins them by id under the lease, and its RETURNING rows, the parts as
 * they are now, become the events. */
#define FINAL_ARRAYS                                                                               \
	"unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), "  \
	"CAST($5 AS TEXT[]), CAST($6 AS TEXT[]), CAST($7 AS BIGINT[]), CAST($8 AS BIGINT[])) AS "  \
	"v(id, state, error, carrier_id, upstream_id, evt, submitted_at, done_at)"
const char smsc_final_sent_many_pg[] =
    "WITH u AS (UPDATE messages m SET state = v.state, error = v.error, updated_at = v.done_at, "
    "" RECEIPT_DUE(
	"v.state") ", carrier_id = v.carrier_id, upstream_id = v.upstream_id, "
		   "submitted_at = v.submitted_at, next_attempt_at = 0, attempts = m.attempts + 1, "
		   "lease_owner = NULL, lease_until = 0 FROM " FINAL_ARRAYS
		   " WHERE m.id = v.id AND "
		   "m.lease_owner = $9 RETURNING m.group_id, m.customer_id, m.state, m.error, "
		   "m.carrier_id, "
		   "m.client_ref, m.created_at, m.updated_at, m.part_total, "
		   "v.evt) " FINAL_ONE_INSERT
		   "u.evt, u.group_id, u.customer_id, 'message.status', " FINAL_ONE_DATA(
		       "json_build_object", "u.", "u.state", "u.error",
		       "u.updated_at") ", u.updated_at FROM u WHERE u.part_total = 1 ON CONFLICT "
				       "(group_id, "
				       "type) DO NOTHING";
