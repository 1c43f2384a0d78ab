/*
 * netsuite_sender.c — the billing role's delivery of documents to NetSuite
 * (docs/decisions/0054).  An invoice run, from the API or the command line,
 * commits its documents first ("pending"); this thread then finds every
 * document not accepted yet whose netsuite_next_at has come, claims it,
 * and sends it as netsuite_send does for `warp invoice run`, which records
 * the outcome and, after a failure, the time of the next attempt.  All of
 * its state is in the store, so a restart goes on where the last process
 * stopped; an accepted document is never sent again.
 *
 * The claim moves netsuite_next_at from the value just read to now plus a
 * lease (the request's timeout and a minute), in one UPDATE: of two
 * billing processes (PostgreSQL) only one wins it, and a process that dies
 * holding a claim leaves the document to be sent once the lease ends.  The
 * PUT is an upsert by external id, so that resend updates the same record.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "invoice/invoice_private.h"

#define SENDER_BATCH 50		    /* documents per pass (each one PUT) */
#define SENDER_LEASE_EXTRA_MS 60000 /* a claim outlives the request's timeout by this */

struct netsuite_sender {
	struct netsuite_sender_opts o;
	pthread_t thread;
	bool started;
	struct stop_signal stop;
};

static const char due_sql[] =
    "SELECT id, netsuite_next_at FROM invoices WHERE netsuite_state IN ('pending', 'failed')"
    " AND netsuite_next_at <= $1 ORDER BY netsuite_next_at, number_seq LIMIT $2";
static const char claim_sql[] =
    "UPDATE invoices SET netsuite_next_at = $2 WHERE id = $1 AND netsuite_next_at = $3"
    " AND netsuite_state IN ('pending', 'failed')";

/* 1 when this sender now holds the document, 0 when another took it. */
static int sender_claim(struct store_conn *c, const char *id, int64_t seen, int64_t until)
{
	struct store_param p[3] = {store_p_text(id), store_p_int(until), store_p_int(seen)};
	struct store_res *r = NULL;
	int rc = store_exec(c, claim_sql, p, 3, &r);

	if (rc == 0)
		rc = store_res_changes(r) == 1;
	store_res_free(r);
	return rc;
}

/* Claims, loads and sends one document; 1 when it was sent (accepted or
 * not), 0 when another sender had it. */
static int sender_one(struct store_conn *c, const struct netsuite_opts *o, const char *id,
		      int64_t seen, int64_t now_ms)
{
	struct invoice doc;
	int rc = sender_claim(c, id, seen, now_ms + o->timeout_ms + SENDER_LEASE_EXTRA_MS);

	if (rc <= 0)
		return rc;
	invoice_init(&doc);
	rc = invoice_load(c, id, &doc);
	if (rc == 0) {
		/* a failure is recorded on the document with its next attempt */
		netsuite_send(c, o, &doc, false, time_wall_ms());
		rc = 1;
	}
	invoice_fini(&doc);
	return rc;
}

int netsuite_sender_pass(struct store_conn *c, const struct netsuite_opts *o, int64_t now_ms,
			 int max)
{
	struct store_param p[2] = {store_p_int(now_ms), store_p_int(max)};
	struct store_res *r = NULL;
	int rc = store_exec(c, due_sql, p, 2, &r), sent = 0;

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		int one = sender_one(c, o, store_res_text(r, i, 0), store_res_int(r, i, 1), now_ms);
		if (one < 0)
			rc = one;
		sent += one > 0;
	}
	store_res_free(r);
	return rc < 0 ? rc : sent;
}

static void *sender_main(void *arg)
{
	struct netsuite_sender *s = arg;

	log_context_set("netsuite");
	log_info("netsuite", "delivering invoices to NetSuite account %s", s->o.ns.account_id);
	while (!stop_signal_raised(&s->stop)) {
		struct store_conn *c = store_conn(s->o.store);
		int n = c ? netsuite_sender_pass(c, &s->o.ns, time_wall_ms(), SENDER_BATCH) : 0;
		if (n < 0)
			log_warn("netsuite", "looking for documents to send: %s",
				 store_conn_errmsg(c));
		/* a full batch: more may be due at once */
		if (n < SENDER_BATCH && !stop_signal_sleep(&s->stop, s->o.poll_ms))
			break;
	}
	store_conn_release(s->o.store);
	return NULL;
}

struct netsuite_sender *netsuite_sender_new(const struct netsuite_sender_opts *o)
{
	struct netsuite_sender *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->o = *o;
	stop_signal_init(&s->stop);
	s->o.ns.stop = &s->stop.stop; /* a stop abandons the request in flight */
	return s;
}

int netsuite_sender_start(struct netsuite_sender *s)
{
	if (pthread_create(&s->thread, NULL, sender_main, s) != 0)
		return -EAGAIN;
	s->started = true;
	return 0;
}

void netsuite_sender_free(struct netsuite_sender *s)
{
	if (!s)
		return;
	if (s->started) {
		stop_signal_raise(&s->stop);
		pthread_join(s->thread, NULL);
	}
	stop_signal_fini(&s->stop);
	free(s);
}
