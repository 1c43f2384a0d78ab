/*
 * matching.c — a receipt from an upstream finds its message: by the
 * (carrier, upstream id) the message's submit_sm_resp gave, whatever base
 * or case the upstream writes it in (smsc_out_id_norm).
 *
 * In memory first (idtable.c): a submit_sm_resp leaves a SENT record, and
 * the receipt that follows queues its message's final state by our id at
 * once — behind the "submitted" row in the writer's FIFO, so the guard
 * (state = 'submitted') holds when it runs — and its deliver_sm is answered
 * once that state is committed.  A receipt with no SENT record (it came
 * before the submit_sm_resp, or is for a message another process or an
 * earlier run sent, or its record was evicted) is answered at once and
 * HELD: a submit_sm_resp that comes with its id takes it from memory, and
 * each tick the HELD receipts due for a look are searched in the store,
 * LOOKUP_CHUNK in one SELECT, first at once and then after 1, 2, 4 … s
 * until PENDING_RECEIPT_MS, when the receipt is given up (counted
 * unmatched).  The upstream thread thus reads the store per tick, not per
 * receipt.
 */
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define SENT_TTL_MS 60000	  /* a SENT record's life: a receipt after it reads the store */
#define PENDING_RECEIPT_MS 120000 /* a HELD receipt's */
#define CHECK_MAX_MS 16000	  /* between two looks in the store */
#define LOOKUP_CHUNK 16		  /* HELD receipts per SELECT */

/* retry: the receipt's connector marks it retryable, so the part fails
 * over to its route's next carrier while it may (decision 0051). */
static void match_final(struct smsc_out *o, const char *id, int parts, const char *state,
			const char *error, bool retry, struct smsc_upbind *b,
			const struct smpp_pdu *p, struct smsc_sent *held)
{
	struct smsc_final f = {.guard = SMSC_FINAL_SUBMITTED,
			       .id = id,
			       .state = state,
			       .error = error,
			       .now = time_wall_ms(),
			       .parts = parts};
	if (retry)
		f.failover_max = o->s->o.receipt_failover_attempts - 1;
	metric_inc(o->m_receipts_matched);
	/* Its "submitted" row not written yet: the final joins it (sent.c),
	 * unless the receipt may fail over, which only final.c's statements do. */
	if (held && !retry && smsc_sent_final(o, held, state, error, b, p) == 0)
		return;
	if (held)
		smsc_sent_flush(o); /* the final's guard needs the row first */
	if (smsc_final_queue(o, &f, b, p) < 0 && b && p)
		smsc_upbind_respond(b, p->command_id, p->sequence_number, SMSC_RX_T_APPN);
}

struct match_receipt {
	const char *state, *error;
	bool retry;
};

static void match_hold(struct smsc_out *o, const char *carrier_id, const char *id,
		       const struct match_receipt *rc)
{
	int64_t now = time_mono_ms();
	struct smsc_idrec *h =
	    smsc_ids_add(o->ids, SMSC_ID_HELD, carrier_id, id, now + PENDING_RECEIPT_MS);

	if (!h) {
		metric_inc(o->m_receipts_unmatched);
		return;
	}
	snprintf(h->state, sizeof(h->state), "%s", rc->state);
	snprintf(h->error, sizeof(h->error), "%s", rc->error);
	h->retry = rc->retry;
	h->check_ms = now;
}

void smsc_out_receipt(struct smsc_out *o, struct smsc_upbind *b, const struct smpp_pdu *p)
{
	struct smsc_receipt rc;
	char id[SMPP_MESSAGE_ID_MAX + 1];

	smsc_receipt_parse(p, &rc);
	if (!rc.id.p || rc.id.len == 0) {
		metric_inc(o->m_receipts_unmatched);
		log_warn("smsc", "connector %s: a receipt without a message id", b->cfg.id);
	}
	if (rc.id.p && rc.id.len > 0 && rc.state) {
		smsc_out_id_norm(rc.id, b->cfg.receipt_id_base, id, sizeof(id));
		struct smsc_idrec *s = smsc_ids_find(o->ids, SMSC_ID_SENT, b->cfg.carrier_id, id);
		struct match_receipt k = {rc.state, rc.error, smsc_receipt_retryable(&b->cfg, &rc)};
		if (s) {
			match_final(o, s->id, s->parts, k.state, k.error, k.retry, b, p,
				    smsc_sent_find(o, s));
			smsc_ids_remove(o->ids, s);
			return; /* answered once committed */
		}
		match_hold(o, b->cfg.carrier_id, id, &k);
	}
	/* An intermediate state (nothing to record), or held in memory. */
	smsc_upbind_respond(b, p->command_id, p->sequence_number, SMPP_ESME_ROK);
}

void smsc_match_submitted(struct smsc_out *o, const char *carrier_id, const char *upstream_id,
			  const struct smsc_out_msg *m, struct smsc_sent *held)
{
	struct smsc_idrec *h = smsc_ids_find(o->ids, SMSC_ID_HELD, carrier_id, upstream_id);

	if (h) {
		match_final(o, m->id, m->parts, h->state, h->error, h->retry, NULL, NULL, held);
		smsc_ids_remove(o->ids, h);
		return;
	}
	struct smsc_idrec *s = smsc_ids_add(o->ids, SMSC_ID_SENT, carrier_id, upstream_id,
					    time_mono_ms() + SENT_TTL_MS);
	if (s) {
		snprintf(s->id, sizeof(s->id), "%s", m->id);
		s->parts = m->parts;
		if (held) {
			s->held_round = o->held_round;
			s->held_at = (size_t)(held - o->held);
		}
	}
}

/* One SELECT for the HELD receipts h[0..n), padded to LOOKUP_CHUNK pairs
 * (one prepared statement); those found are queued, the others looked
 * for again later. */
static void match_lookup(struct smsc_out *o, struct smsc_idrec **h, size_t n, int64_t now)
{
	struct store_param p[2 * LOOKUP_CHUNK];
	struct store_res *r = NULL;
	struct buf sql;

	buf_init(&sql);
	buf_append_cstr(&sql, "SELECT id, carrier_id, upstream_id, " SMSC_PARTS_SQL
			      " FROM messages WHERE "
			      "state = 'submitted' AND (");
	for (size_t i = 0; i < LOOKUP_CHUNK; i++) {
		const struct smsc_idrec *k = h[i < n ? i : n - 1];
		p[2 * i] = store_p_text(k->carrier_id);
		p[2 * i + 1] = store_p_text(k->upstream_id);
		buf_printf(&sql, "%s(carrier_id = $%zu AND upstream_id = $%zu)", i ? " OR " : "",
			   2 * i + 1, 2 * i + 2);
	}
	buf_append_char(&sql, ')');
	if (sql.p && smsc_out_exec(o, sql.p, p, 2 * LOOKUP_CHUNK, &r) == 0)
		for (size_t i = 0; i < store_res_rows(r); i++)
			for (size_t k = 0; k < n; k++) {
				if (!h[k] || strcmp(h[k]->carrier_id, store_res_text(r, i, 1)) ||
				    strcmp(h[k]->upstream_id, store_res_text(r, i, 2)))
					continue;
				match_final(o, store_res_text(r, i, 0), (int)store_res_int(r, i, 3),
					    h[k]->state, h[k]->error, h[k]->retry, NULL, NULL, NULL);
				smsc_ids_remove(o->ids, h[k]);
				h[k] = NULL;
			}
	store_res_free(r);
	buf_fini(&sql);
	for (size_t k = 0; k < n; k++)
		if (h[k]) {
			int64_t wait = h[k]->checks < 5 ? 1000LL << h[k]->checks : CHECK_MAX_MS;
			h[k]->checks++;
			h[k]->check_ms = now + wait;
		}
}

void smsc_match_tick(struct smsc_out *o)
{
	int64_t now = time_mono_ms();
	struct smsc_idrec *r, *next, *due[LOOKUP_CHUNK];
	size_t n = 0;

	while ((r = smsc_ids_oldest(o->ids, SMSC_ID_SENT)) && r->until_ms <= now)
		smsc_ids_remove(o->ids, r);
	for (r = smsc_ids_oldest(o->ids, SMSC_ID_HELD); r; r = next) {
		next = r->next;
		if (r->until_ms <= now) {
			metric_inc(o->m_receipts_unmatched);
			smsc_ids_remove(o->ids, r);
			continue;
		}
		if (r->check_ms <= now)
			due[n++] = r;
		if (n == LOOKUP_CHUNK) {
			match_lookup(o, due, n, now);
			n = 0;
		}
	}
	if (n > 0)
		match_lookup(o, due, n, now);
}
