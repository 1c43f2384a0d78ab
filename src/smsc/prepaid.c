/*
 * prepaid.c — prepaid customers' messages (issue 10, decision 0038): each
 * part is priced at submit from the rating snapshot (the customer's SMS sell
 * rate for the destination, one segment per stored part) and its money is
 * reserved in the same transaction of the batching writer that stores the
 * part (billing_reserve_batch), so the session thread never waits on the
 * store and a part is never stored without its reservation.  A part the
 * available balance does not cover is refused (ESME_RSUBMITFAIL), one
 * without a price too (ESME_RINVDSTADR); a prepaid customer with no sell
 * deck assigned at all is not on rating yet and goes unpriced, as its calls
 * do (decision 0037).  Prepaid parts go through a batch
 * writer of their own: a refused reservation fails its group's transaction,
 * and the writer then re-runs that batch row by row; other customers'
 * submits never share such a batch.
 *
 * A settler thread ends the reservations: every SETTLE_MS it reads the open
 * message reservations whose message (every part of its group present and
 * in a final state) is done, posts one message_charge entry for the group
 * with key "msg:<group id>" (the billing role's key: whoever posts first
 * wins, the other is told replayed) for the parts that are owed — the
 * delivered ones, or with [billing] sms_refund_undelivered off every part a
 * carrier took — and releases the group's reservations, which gives back
 * what undelivered parts held.  Any smsc process may settle any group: the
 * key and the reservations' conditional release make a second settle a
 * no-op.  It also expires reservations past their time (a process that
 * died with parts in flight).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing.h"
#include "smsc/smsc_private.h"

#define SETTLE_MS 200		 /* between two settle rounds */
#define SETTLE_ROWS 500		 /* reservations read per round */
#define EXPIRE_ROWS 200		 /* expired reservations ended per round */
#define HOLD_MARGIN_MS 3600000LL /* a reservation outlives its message's validity by this */
#define FINAL_STATES "('delivered', 'undeliverable', 'expired', 'rejected')"

/* The reservations of messages whose group is complete and final, by
 * group: reservation id, amount, customer, group, the part's state and
 * whether a carrier took it. */
static const char settle_sql[] =
    "SELECT r.id, r.amount, r.customer_id, m.group_id, m.state, m.submitted_at FROM "
    "reservations r JOIN messages m ON m.id = r.reference_id WHERE r.state = 'open' AND "
    "r.reference_type = 'message' AND m.state IN " FINAL_STATES " AND NOT EXISTS (SELECT 1 "
    "FROM messages x WHERE x.group_id = m.group_id AND x.state NOT IN " FINAL_STATES
    ") AND (SELECT COUNT(*) FROM messages y WHERE y.group_id = m.group_id) >= m.part_total "
    "ORDER BY m.group_id, r.id LIMIT $1";

enum { S_ID, S_AMOUNT, S_CUSTOMER, S_GROUP, S_STATE, S_SUBMITTED };

struct smsc_prepaid {
	struct store *store;
	struct billing_ledger_opts lo;
	bool refund;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards stop; cond wakes the settler to stop */
	pthread_cond_t cond;
	bool stop;
	struct metric *m_reserved, *m_refused, *m_no_rate, *m_no_deck, *m_charged, *m_released;
};

/* ------------------------------------------------------------- submit */

/* hot path: no allocation, no locks, no I/O */
int smsc_prepaid_price(struct smsc *s, const char *customer_id, struct str dest, int64_t *amount)
{
	const struct billing_rating *r = s->o.rating ? snapshot_acquire(s->o.rating) : NULL;
	const struct billing_customer *cu =
	    r ? billing_rating_customer(r, str_from_cstr(customer_id)) : NULL;
	char digits[SMPP_ADDR_WIDE_MAX];
	struct billing_rate row;
	int rc = 0;

	*amount = 0;
	/* No sell deck at all is no price either: a prepaid part is never
	 * sent unpriced (decision 0052), counted as no_deck. */
	if (cu && cu->prepaid) {
		smsc_dest_digits(dest, digits, sizeof(digits));
		int err =
		    billing_rating_sell(r, str_from_cstr(customer_id), STR_NULL, time_wall_ms(),
					BILLING_SMS, str_from_cstr(digits), &row, NULL);
		rc = err == 0 && billing_rate_sms_cost(&row, 1, amount) == 0 ? 0 : -ENOENT;
		if (rc < 0 && s->prepaid)
			metric_inc(err == BILLING_PRICE_NO_DECK ? s->prepaid->m_no_deck
								: s->prepaid->m_no_rate);
	}
	if (r)
		snapshot_release(s->o.rating, r);
	return rc;
}

int smsc_prepaid_queue(struct smsc *s, const char *customer_id, const struct smsc_submit_row *row,
		       int64_t amount, const struct store_param *params, size_t nparams,
		       store_batch_done_fn done, void *arg)
{
	struct billing_reserve_batch rb;
	struct store_batch_stmt st[BILLING_RESERVE_BATCH_STMTS + 1];
	int64_t now = time_wall_ms();
	int rc = billing_reserve_batch(&rb, customer_id, amount, "message", row->id,
				       row->expires + HOLD_MARGIN_MS, now);

	if (rc < 0)
		return -EINVAL;
	memcpy(st, rb.st, sizeof(rb.st));
	st[BILLING_RESERVE_BATCH_STMTS] = (struct store_batch_stmt){NULL, params, nparams};
	rc = store_batch_add_group(s->insert_prepaid, st, BILLING_RESERVE_BATCH_STMTS + 1, done,
				   arg);
	if (rc == 0 && s->prepaid)
		metric_inc(s->prepaid->m_reserved);
	return rc;
}

uint32_t smsc_prepaid_status(struct smsc *s, int store_status)
{
	if (!billing_reserve_batch_refused(store_status))
		return SMPP_ESME_RSYSERR;
	if (s->prepaid)
		metric_inc(s->prepaid->m_refused);
	return SMPP_ESME_RSUBMITFAIL; /* SMPP 3.4 has no "insufficient funds" */
}

/* ------------------------------------------------------------- settle */

/* What a group owes: the amounts of its owed parts. */
static int64_t group_cost(const struct smsc_prepaid *pp, struct store_res *r, size_t from,
			  size_t to, int *owed)
{
	int64_t cost = 0;

	*owed = 0;
	for (size_t i = from; i < to; i++) {
		bool delivered = strcmp(store_res_text(r, i, S_STATE), "delivered") == 0;
		bool taken = !store_res_isnull(r, i, S_SUBMITTED);

		if (delivered || (!pp->refund && taken)) {
			cost += store_res_int(r, i, S_AMOUNT);
			(*owed)++;
		}
	}
	return cost;
}

/* Charges one group (rows from..to of r) and releases its reservations. */
static void settle_group(struct smsc_prepaid *pp, struct store_conn *c, struct store_res *r,
			 size_t from, size_t to)
{
	int owed = 0;
	int64_t cost = group_cost(pp, r, from, to, &owed);
	const char *group = store_res_text(r, from, S_GROUP);
	struct billing_entry e = {.kind = BILLING_MESSAGE_CHARGE, .amount = -cost};
	bool replayed = false;
	int rc = 0;

	if (cost > 0) {
		snprintf(e.customer_id, sizeof(e.customer_id), "%s",
			 store_res_text(r, from, S_CUSTOMER));
		snprintf(e.idempotency_key, sizeof(e.idempotency_key), "msg:%s", group);
		snprintf(e.reference_type, sizeof(e.reference_type), "message");
		snprintf(e.reference_id, sizeof(e.reference_id), "%s", group);
		snprintf(e.description, sizeof(e.description), "message, %d of %zu parts owed",
			 owed, to - from);
		snprintf(e.created_by, sizeof(e.created_by), "smsc");
		rc = billing_ledger_post(c, &pp->lo, &e, &replayed);
		if (rc == BILLING_LEDGER_EKEYREUSED)
			rc = 0; /* charged already, by the billing role's own pricing */
	}
	if (rc < 0) {
		log_warn("smsc", "prepaid message %s: charge not posted (%s); tried again later",
			 group, billing_ledger_strerror(rc));
		return;
	}
	if (cost > 0 && !replayed)
		metric_inc(pp->m_charged);
	for (size_t i = from; i < to; i++)
		if (billing_reservation_release(c, store_res_text(r, i, S_ID)) == 0)
			metric_inc(pp->m_released);
}

/* One round: every complete group read is settled; the last group of a
 * full page may be cut, so it waits for the next round. */
static void settle_round(struct smsc_prepaid *pp)
{
	struct store_conn *c = store_conn(pp->store);
	struct store_param lim = store_p_int(SETTLE_ROWS);
	struct store_res *r = NULL;

	if (!c || store_exec(c, settle_sql, &lim, 1, &r) < 0) {
		store_res_free(r);
		return;
	}
	size_t n = store_res_rows(r), from = 0;

	for (size_t i = 1; i <= n; i++) {
		if (i < n &&
		    strcmp(store_res_text(r, i, S_GROUP), store_res_text(r, from, S_GROUP)) == 0)
			continue;
		if (i < n || n < SETTLE_ROWS || from == 0)
			settle_group(pp, c, r, from, i);
		from = i;
	}
	store_res_free(r);
	billing_reservations_expire(c, time_wall_ms(), EXPIRE_ROWS);
}

static void *settle_main(void *arg)
{
	struct smsc_prepaid *pp = arg;

	pthread_mutex_lock(&pp->lock);
	while (!pp->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&pp->lock);
		settle_round(pp);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)SETTLE_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&pp->lock);
		if (!pp->stop)
			pthread_cond_timedwait(&pp->cond, &pp->lock, &ts);
	}
	pthread_mutex_unlock(&pp->lock);
	store_conn_release(pp->store);
	return NULL;
}

/* ----------------------------------------------------------- lifetime */

struct smsc_prepaid *smsc_prepaid_new(struct smsc *s)
{
	struct smsc_prepaid *pp = calloc(1, sizeof(*pp));
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_smsc_prepaid_total",
	    "Prepaid customers' message parts: reserved at submit, refused (not covered by the "
	    "available balance), no_rate (no sell price: refused), no_deck (no sell deck at all: "
	    "refused); charged messages and released reservations once they are final.",
	    "result");

	if (!pp)
		return NULL;
	pp->store = s->o.store;
	pp->lo.low_balance_threshold = s->o.low_balance_threshold;
	pp->refund = s->o.sms_refund_undelivered;
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->cond, NULL);
	pp->m_reserved = f ? metric_get(f, "reserved") : NULL;
	pp->m_refused = f ? metric_get(f, "refused") : NULL;
	pp->m_no_rate = f ? metric_get(f, "no_rate") : NULL;
	pp->m_no_deck = f ? metric_get(f, "no_deck") : NULL;
	pp->m_charged = f ? metric_get(f, "charged") : NULL;
	pp->m_released = f ? metric_get(f, "released") : NULL;
	return pp;
}

int smsc_prepaid_start(struct smsc_prepaid *pp)
{
	if (!pp || pp->running)
		return 0;
	if (pthread_create(&pp->thread, NULL, settle_main, pp) != 0)
		return -EAGAIN;
	pp->running = true;
	return 0;
}

void smsc_prepaid_free(struct smsc_prepaid *pp)
{
	if (!pp)
		return;
	if (pp->running) {
		pthread_mutex_lock(&pp->lock);
		pp->stop = true;
		pthread_cond_signal(&pp->cond);
		pthread_mutex_unlock(&pp->lock);
		pthread_join(pp->thread, NULL);
	}
	pthread_cond_destroy(&pp->cond);
	pthread_mutex_destroy(&pp->lock);
	free(pp);
}
