/*
 * final.c — a message part's move to a final state (delivered,
 * undeliverable, expired, rejected) and, when that makes its group final,
 * the group's one message.status event, in one transaction.
 *
 * A group is the rows sharing messages.group_id: the id the customer sees
 * for an HTTP message, and for the parts of a long message an SMPP
 * customer submits one submit_sm each, the parts tied together at insert
 * (submit.c, docs/decisions/0026).  It is delivered when all part_total
 * parts are, and failed — with that part's state and error — as soon as
 * one part fails.  The event is a message_events row: the table is the
 * interface to the webhook dispatcher of the api role, which smsc may not
 * call (decision 0022).  Nothing here touches the config version, so
 * message traffic never makes a process rebuild its snapshots.
 *
 * Two processes finishing two parts of one group at the same moment must
 * neither both miss the end (each seeing the other's part unfinished) nor
 * both emit.  On PostgreSQL the group's rows are locked in id order before
 * the part is updated, so the second waits for the first to commit and then
 * counts its part; SQLite's BEGIN IMMEDIATE serializes writers already.
 * The insert itself is conditional — UNIQUE (group_id, type) with ON
 * CONFLICT DO NOTHING — so a group's final status is emitted once even
 * when a later part fails after an earlier one did.
 */
#include <errno.h>
#include <jansson.h>
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
};

#define GROUP_SQL                                                                                  \
	"SELECT COUNT(*), SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), "                  \
	"SUM(CASE WHEN state IN ('undeliverable', 'expired', 'rejected') THEN 1 ELSE 0 END), "     \
	"MAX(part_total), MIN(created_at), MAX(customer_id), MAX(client_ref), "                    \
	"MAX(CASE WHEN id = $2 THEN carrier_id END) FROM messages WHERE group_id = $1"

/* The part's group, its rows locked on PostgreSQL; -ENOENT for no such part. */
static int final_group_lock(struct store_conn *c, bool postgres, const char *id, char *group,
			    size_t n)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(id)};
	int rc = store_exec(c, "SELECT group_id FROM messages WHERE id = $1", p, 1, &r);

	if (rc == 0 && store_res_rows(r) != 1)
		rc = -ENOENT;
	if (rc == 0)
		snprintf(group, n, "%s", store_res_text(r, 0, 0));
	store_res_free(r);
	if (rc == 0 && postgres) {
		struct store_param g[] = {store_p_text(group)};
		rc = store_exec(
		    c, "SELECT id FROM messages WHERE group_id = $1 ORDER BY id FOR UPDATE", g, 1,
		    NULL);
	}
	return rc;
}

/* 1 when the part moved, 0 when its guard no longer holds. */
static int final_update(struct store_conn *c, const struct smsc_final *f)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(f->state),    store_p_text(f->error),
				  store_p_int(f->now),	     store_p_text(f->id),
				  store_p_int(f->attempted), store_p_text(f->owner)};
	int rc = store_exec(c, final_update_sql[f->guard].sql, p,
			    final_update_sql[f->guard].nparams, &r);
	if (rc == 0)
		rc = store_res_changes(r) > 0;
	store_res_free(r);
	return rc;
}

/* The event's data: what GET /api/v1/events and the webhook body show
 * (docs/openapi.yaml, MessageStatusData).  g is GROUP_SQL's row. */
static char *final_data(const char *group, const char *status, const struct smsc_final *f,
			const struct store_res *g)
{
	bool failed = strcmp(status, "delivered") != 0;
	json_t *o = json_pack(
	    "{s:s,s:s,s:{s:I,s:I,s:I},s:o,s:o,s:o,s:I,s:I}", "id", group, "status", status, "parts",
	    "total", (json_int_t)store_res_int(g, 0, 3), "delivered",
	    (json_int_t)store_res_int(g, 0, 1), "failed", (json_int_t)store_res_int(g, 0, 2),
	    "error", failed && f->error && f->error[0] ? json_string(f->error) : json_null(),
	    "carrier_id",
	    store_res_isnull(g, 0, 7) ? json_null() : json_string(store_res_text(g, 0, 7)),
	    "client_ref",
	    store_res_isnull(g, 0, 6) ? json_null() : json_string(store_res_text(g, 0, 6)),
	    "submitted_at", (json_int_t)store_res_int(g, 0, 4), "done_at", (json_int_t)f->now);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

/* The group's status now that f's part moved: "" while it is not final. */
static const char *final_group_status(const struct smsc_final *f, const struct store_res *g)
{
	int64_t delivered = store_res_int(g, 0, 1), failed = store_res_int(g, 0, 2);

	if (strcmp(f->state, "delivered") != 0)
		return f->state; /* the guard drops it if an earlier part failed */
	return failed == 0 && delivered >= store_res_int(g, 0, 3) ? "delivered" : "";
}

/* Writes the group's message.status event when f's part made it final:
 * 1 when written, 0 when the group is not final or already had its event. */
static int final_group_event(struct store_conn *c, const char *group, const struct smsc_final *f)
{
	struct store_res *g = NULL;
	struct store_param p[] = {store_p_text(group), store_p_text(f->id)};
	char id[ID_MAX], *data = NULL;
	int rc = store_exec(c, GROUP_SQL, p, 2, &g);
	const char *status = rc == 0 && store_res_rows(g) == 1 ? final_group_status(f, g) : "";

	if (rc < 0 || !status[0])
		goto out;
	rc = id_new("evt", id, sizeof(id));
	if (rc == 0 && !(data = final_data(group, status, f, g)))
		rc = -ENOMEM;
	if (rc < 0)
		goto out;
	struct store_param e[] = {store_p_text(id), store_p_text(group),
				  store_p_text(store_res_text(g, 0, 5)), store_p_text(data),
				  store_p_int(f->now)};
	struct store_res *ins = NULL;
	rc = store_exec(c,
			"INSERT INTO message_events (id, group_id, customer_id, type, data, "
			"created_at) VALUES ($1, $2, $3, 'message.status', $4, $5) "
			"ON CONFLICT (group_id, type) DO NOTHING",
			e, 5, &ins);
	rc = rc < 0 ? rc : store_res_changes(ins) > 0;
	if (rc == 1 && f->accepted_at)
		*f->accepted_at = store_res_int(g, 0, 4);
	store_res_free(ins);
out:
	free(data);
	store_res_free(g);
	return rc;
}

int smsc_final_apply(struct store *s, const struct smsc_final *f)
{
	struct store_conn *c = store_conn(s);
	char group[ID_MAX];
	int rc = c ? store_tx_begin(c) : STORE_EDOWN;

	if (rc < 0)
		goto fail;
	rc = final_group_lock(c, store_kind(s) == STORE_POSTGRES, f->id, group, sizeof(group));
	if (rc == 0)
		rc = final_update(c, f);
	if (rc == 1) {
		int e = final_group_event(c, group, f);
		rc = e < 0 ? e : 1 + e;
	}
	if (rc == -ENOENT)
		rc = 0;
	if (rc >= 0) {
		int e = store_tx_commit(c);
		if (e == 0)
			return rc;
		rc = e;
	}
	store_tx_rollback(c);
fail:
	log_warn("smsc", "message %s to %s: store: %s%s%s", f->id, f->state, store_strerror(rc),
		 c ? ": " : "", c ? store_conn_errmsg(c) : "");
	return rc;
}
