/*
 * failover.c — a message's failover on a carrier's retryable negative
 * receipt, as the dispatcher sees it (decision 0051).  The receipt itself
 * requeues the part (final.c's FINAL_FAILOVER_SQL, asked by matching.c
 * when the receipt's connector lists its error or stat in
 * failover_errors), adding the carrier to messages.carriers_tried.  Here,
 * when the part is leased again, those carriers are skipped: each
 * upstream takes it once, and when none of its route's carriers is left
 * it ends undeliverable with the last receipt's error — one final state,
 * so the customer gets one receipt.  Counted in
 * warp_smsc_receipt_failovers_total{result}.
 */
#include <string.h>

#include "smsc/smsc_private.h"

static struct metric *failover_metric(const char *result)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_smsc_receipt_failovers_total",
	    "Messages that a carrier's retryable negative receipt sent on, by result: rerouted "
	    "(leased again for the route's next carrier), exhausted (no carrier left: final).",
	    "result");
	return f ? metric_get(f, result) : NULL;
}

void smsc_failover_row(struct smsc_out_msg *m, const char *tried, const char *error)
{
	m->tried[0] = '\0';
	if (tried && tried[0])
		snprintf(m->tried, sizeof(m->tried), ",%s", tried);
	snprintf(m->error, sizeof(m->error), "%s",
		 error && error[0] ? error : "failover_exhausted");
}

bool smsc_failover_tried(const struct smsc_out_msg *m, const char *carrier_id)
{
	char key[ID_MAX + 2];

	if (!m->tried[0])
		return false;
	snprintf(key, sizeof(key), ",%s,", carrier_id);
	return strstr(m->tried, key) != NULL;
}

bool smsc_failover_exhausted(struct smsc_out *o, struct smsc_out_msg *m, const char *const *ids,
			     size_t n)
{
	(void)o;
	if (!m->tried[0])
		return false;
	for (size_t i = m->carrier_pos; i < n; i++)
		if (!smsc_failover_tried(m, ids[i])) {
			metric_inc(failover_metric("rerouted"));
			return false;
		}
	metric_inc(failover_metric("exhausted"));
	return true;
}
