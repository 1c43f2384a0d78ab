/*
 * retention.c — message events do not pile up: the webhook dispatcher
 * (webhook_dispatch.c) deletes those older than [webhooks] message_retention, with
 * their deliveries, a bounded batch a round (decision 0032).
 *
 * An event goes only once the dispatcher is done with it: fanned out (seq
 * set) and no delivery of it, to a webhook or to a callback URL, still
 * pending.  A delivery never becomes pending again and the fan-out only
 * adds deliveries to events still without seq, so the set chosen stays
 * right until the transaction ends.  The event's delivered and failed
 * deliveries go with it, so GET /api/v1/events and a webhook's delivery
 * list show message events only as far back as the retention.
 * Provisioning events (events) are kept: they are the audit trail.
 */
#include <errno.h>
#include <stdlib.h>

#include "api/webhook_dispatch.h"

#define OLD_EVENTS_SQL                                                                             \
	"SELECT m.id FROM message_events m WHERE m.created_at < $1 AND m.seq IS NOT NULL"          \
	" AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = m.id"              \
	" AND d.status = 'pending')"                                                               \
	" AND NOT EXISTS (SELECT 1 FROM message_callbacks k WHERE k.event_id = m.id"               \
	" AND k.status = 'pending')"                                                               \
	" ORDER BY m.created_at, m.id LIMIT $2"

/* "DELETE FROM <table> WHERE <key> IN ($1, …, $n)" over the n ids of r. */
static int retention_delete(struct store_conn *c, const char *table, const char *key,
			    const struct store_res *r, struct store_param *ids)
{
	size_t n = store_res_rows(r);
	struct buf sql;
	int rc;

	buf_init(&sql);
	rc = buf_printf(&sql, "DELETE FROM %s WHERE %s IN (", table, key);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = buf_printf(&sql, "%s$%zu", i ? ", " : "", i + 1);
	rc = rc ? rc : buf_append_cstr(&sql, ")");
	rc = rc ? rc : store_exec(c, sql.p, ids, n, NULL);
	buf_fini(&sql);
	return rc;
}

static int retention_batch(struct store_conn *c, int64_t before_ms, int batch)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_int(before_ms), store_p_int(batch)};
	struct store_param *ids = NULL;
	int rc = store_exec(c, OLD_EVENTS_SQL, p, 2, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc < 0 || n == 0)
		goto out;
	if (!(ids = calloc(n, sizeof(*ids)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		ids[i] = store_p_text(store_res_text(r, i, 0));
	rc = retention_delete(c, "webhook_deliveries", "event_id", r, ids);
	rc = rc ? rc : retention_delete(c, "message_callbacks", "event_id", r, ids);
	rc = rc ? rc : retention_delete(c, "message_events", "id", r, ids);
out:
	free(ids);
	store_res_free(r);
	return rc < 0 ? rc : (int)n;
}

int api_retention_prune(struct store_conn *c, int64_t before_ms, int batch)
{
	int rc = store_tx_begin(c);
	if (rc < 0)
		return rc;
	int n = retention_batch(c, before_ms, batch);
	rc = n < 0 ? n : store_tx_commit(c);
	if (rc < 0) {
		store_tx_rollback(c);
		return rc;
	}
	return n;
}
