/*
 * role.c — the billing role's thread: passes over the pending CDRs and
 * messages (role_cdr.c, role_msg.c), one batch of each per transaction,
 * back to back while batches come full, then a sleep of [billing]
 * rate_interval (decision 0036).  Each pass takes the rating snapshot it
 * prices with and its version, which is also the version a quarantined
 * record is written with: it is tried again only under a newer snapshot.
 *
 * Metrics (process registry):
 *   warp_billing_rated_total{kind}            records rated (cdr, message part)
 *   warp_billing_quarantined_total{kind}      records written as quarantined
 *   warp_billing_quarantined{reason}          gauge: records in quarantine now
 *   warp_billing_rating_lag_seconds           gauge: age of the oldest record the
 *                                             last full batch rated (0 caught up)
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "role_private.h"

struct billing_role {
	struct billing_role_opts o;
	pthread_t thread;
	bool started;
	struct stop_signal stop; /* billing_role_free raises it */
};

/* The reasons billing_rate_record and role_charge_post give. */
static const char *const role_reasons[] = {"no_party",		"no_deck",    "no_rate",
					   "currency_mismatch", "no_carrier", "out_of_range",
					   "ledger_refused"};
#define ROLE_NREASONS (sizeof(role_reasons) / sizeof(role_reasons[0]))

static struct store_param p_text_opt(const char *s)
{
	return store_p_text(s && s[0] ? s : NULL);
}

void role_price_params(const struct billing_rated *p, int64_t charged, int64_t ratings,
		       int64_t version, struct store_param *v)
{
	size_t i = 1;

	v[i++] = p_text_opt(p->currency);
	v[i++] = store_p_int(p->sell);
	v[i++] = p_text_opt(p->buy_currency);
	v[i++] = store_p_int(p->buy);
	v[i++] = p->has_margin ? store_p_int(p->margin) : store_p_null();
	v[i++] = p_text_opt(p->prefix);
	v[i++] = p_text_opt(p->zone);
	v[i++] = p_text_opt(p->destination);
	v[i++] = p_text_opt(p->sell_deck.deck_id);
	v[i++] = p->sell_deck.deck_id[0] ? store_p_int(p->sell_deck.number) : store_p_null();
	v[i++] = p_text_opt(p->buy_deck.deck_id);
	v[i++] = p->buy_deck.deck_id[0] ? store_p_int(p->buy_deck.number) : store_p_null();
	v[i++] = store_p_int(charged);
	v[i++] = store_p_int(ratings);
	v[i++] = store_p_int(version);
	v[i++] = store_p_int(time_wall_ms());
}

void role_count(const char *kind, const struct role_pass *p)
{
	struct metrics *m = metrics_default();
	struct metric_family *rated =
	    metrics_counter(m, "warp_billing_rated_total",
			    "Records the billing role rated: cdr, message (parts).", "kind");
	struct metric_family *quar = metrics_counter(
	    m, "warp_billing_quarantined_total",
	    "Records the billing role wrote as quarantined (a retry counts again).", "kind");

	if (rated && p->rated)
		metric_add(metric_get(rated, kind), p->rated);
	if (quar && p->quarantined)
		metric_add(metric_get(quar, kind), p->quarantined);
	/* the batch's bulk postings, as single ones count themselves */
	for (int k = 0; k < BILLING_ENTRY_KINDS; k++) {
		enum billing_entry_kind ek = (enum billing_entry_kind)k;

		if (p->posted[k])
			billing_ledger_count(ek, 0, false, p->posted[k]);
		if (p->found[k])
			billing_ledger_count(ek, 0, true, p->found[k]);
		if (p->refused[k])
			billing_ledger_count(ek, BILLING_LEDGER_ENOCUSTOMER, false, p->refused[k]);
	}
}

/* warp_billing_quarantined{reason}: what is in quarantine now, CDRs and
 * message parts, every reason shown (0 when none). */
static void role_quarantine_gauge(struct store_conn *c)
{
	struct metric_family *f = metrics_gauge(
	    metrics_default(), "warp_billing_quarantined",
	    "Records in quarantine now (CDRs and message parts), by reason.", "reason");
	int64_t n[ROLE_NREASONS] = {0};
	struct store_res *r = NULL;

	if (!f || store_exec(c,
			     "SELECT reason, COUNT(*) FROM cdr_ratings WHERE state = 'quarantined' "
			     "GROUP BY reason UNION ALL SELECT reason, COUNT(*) FROM "
			     "message_ratings WHERE state = 'quarantined' GROUP BY reason",
			     NULL, 0, &r) != 0) {
		store_res_free(r);
		return;
	}
	for (size_t i = 0; i < store_res_rows(r); i++)
		for (size_t k = 0; k < ROLE_NREASONS; k++)
			if (strcmp(store_res_text(r, i, 0), role_reasons[k]) == 0)
				n[k] += store_res_int(r, i, 1);
	store_res_free(r);
	for (size_t k = 0; k < ROLE_NREASONS; k++)
		metric_set(metric_get(f, role_reasons[k]), n[k]);
}

static void role_lag(const struct role_pass *a, const struct role_pass *b)
{
	struct metric_family *f = metrics_gauge(
	    metrics_default(), "warp_billing_rating_lag_seconds",
	    "How far the billing role is behind: the age of the oldest record its last full batch "
	    "rated; 0 once a batch comes short.",
	    NULL);
	int64_t oldest = 0;

	if (a->full && a->oldest_ms)
		oldest = a->oldest_ms;
	if (b->full && b->oldest_ms && (!oldest || b->oldest_ms < oldest))
		oldest = b->oldest_ms;
	if (f)
		metric_set(metric_get(f), oldest ? (time_wall_ms() - oldest) / 1000 : 0);
}

void role_pass_metrics(const struct role_pass *cdr, const struct role_pass *msg)
{
	role_count("cdr", cdr);
	role_count("message", msg);
	role_lag(cdr, msg);
}

static bool role_stopping(void *arg)
{
	struct billing_role *br = arg;

	return stop_signal_raised(&br->stop);
}

/* One batch of each kind under one snapshot; *more when either was full.
 * A full CDR batch on SQLite is a backlog: the pending CDRs behind it are
 * read ahead on a second thread while this one writes (role_pipe.c). */
static int role_pass_once(struct billing_role *br, struct store_conn *c, bool *more,
			  int64_t *written)
{
	const struct billing_rating *r = snapshot_acquire(br->o.rating);
	int64_t version = snapshot_version(br->o.rating);
	struct role_pass cdr = {0}, msg = {0};
	int rc = r ? role_cdr_pass(c, r, version, &br->o, &cdr) : -EAGAIN;

	rc = rc ? rc : role_msg_pass(c, r, version, &br->o, &msg);
	snapshot_release(br->o.rating, r);
	role_pass_metrics(&cdr, &msg);
	*more = rc == 0 && (cdr.full || msg.full);
	*written += cdr.rated + cdr.quarantined + msg.rated + msg.quarantined;
	if (rc == 0 && cdr.full && store_kind(br->o.store) == STORE_SQLITE)
		rc = role_pipe_drain(&br->o, c, role_stopping, br, written);
	return rc;
}

int64_t billing_role_drain(struct billing_role *br, struct store_conn *c)
{
	int64_t written = 0;
	bool more = true;
	int rc = 0;

	if (!c)
		return STORE_EDOWN;
	/* SQLite: a batch reads CDRs, ratings and ledger pages all over the
	 * file; a larger page cache than the 2 MB default saves most preads */
	if (store_kind(br->o.store) == STORE_SQLITE)
		store_exec(c, ROLE_SQLITE_CACHE, NULL, 0, NULL);
	while (more && rc == 0)
		rc = role_pass_once(br, c, &more, &written);
	role_quarantine_gauge(c);
	return rc ? rc : written;
}

static bool role_sleep(struct billing_role *br)
{
	return stop_signal_sleep(&br->stop, br->o.interval_ms);
}

static void *role_main(void *arg)
{
	struct billing_role *br = arg;
	int last = 0;

	do {
		int64_t rc = billing_role_drain(br, store_conn(br->o.store));

		if (rc < 0 && rc != last)
			log_warn("billing", "rating pass failed: %s (retried every %lld ms)",
				 store_strerror((int)rc), (long long)br->o.interval_ms);
		last = rc < 0 ? (int)rc : 0;
	} while (role_sleep(br));
	store_conn_release(br->o.store);
	return NULL;
}

struct billing_role *billing_role_new(const struct billing_role_opts *o)
{
	struct billing_role *br = calloc(1, sizeof(*br));

	if (!br)
		return NULL;
	br->o = *o;
	if (br->o.batch < 1)
		br->o.batch = 1000;
	if (br->o.interval_ms < 1)
		br->o.interval_ms = 1000;
	stop_signal_init(&br->stop);
	return br;
}

int billing_role_start(struct billing_role *br)
{
	int e = pthread_create(&br->thread, NULL, role_main, br);

	if (e != 0)
		return -e;
	br->started = true;
	return 0;
}

void billing_role_free(struct billing_role *br)
{
	if (!br)
		return;
	stop_signal_raise(&br->stop);
	if (br->started)
		pthread_join(br->thread, NULL);
	stop_signal_fini(&br->stop);
	free(br);
}
