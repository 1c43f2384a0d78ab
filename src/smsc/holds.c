/*
 * holds.c — US 10DLC throughput holds on the upstream thread (decision
 * 0050).  Every message the dispatcher leases meets the limits of its
 * sender's campaign toward its destination's carrier (a window of
 * [tendlc] throughput_window, AT&T's minute) and of its brand toward
 * T-Mobile (a US Pacific day).  Within them it goes on to routing; over
 * one it is held, not refused: written back 'queued' with next_attempt_at
 * at the window it is promised to and hold_reason naming the limit, so it
 * waits in the queue's index costing no CPU until that window opens, and
 * the customer sees the hold in the message's status.
 *
 * The windows live in this thread's table (no lock: only the upstream
 * thread reads or writes it), one entry per campaign and carrier or brand
 * that met a limit, at most HOLD_KEYS_MAX.  They are this process's: two
 * smsc processes on one PostgreSQL each let a limit through (decision
 * 0050 says what sharing them would take).
 */
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define HOLD_BUCKETS 4096
#define HOLD_KEYS_MAX 65536

struct hold_key {
	struct hold_key *next;
	char key[2 * ID_MAX + 16];
	struct tendlc_window w;
};

struct smsc_holds {
	struct hold_key *buckets[HOLD_BUCKETS];
	size_t n;
	struct metric_family *m_holds;
	struct metric *m_full;
};

static uint32_t hold_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct smsc_holds *holds_get(struct smsc_out *o)
{
	struct metrics *r = metrics_default();

	if (o->holds || !(o->holds = calloc(1, sizeof(*o->holds))))
		return o->holds;
	o->holds->m_holds = metrics_counter(
	    r, "warp_tendlc_holds_total",
	    "Messages held in the queue by a 10DLC throughput limit (decision 0050), by limit.",
	    "limit");
	o->holds->m_full = metric_get(metrics_counter(r, "warp_tendlc_hold_table_full_total",
						      "Messages sent unlimited because the "
						      "throughput table was full.",
						      NULL));
	return o->holds;
}

/* The window of kind:id:carrier, made on first use; NULL when the table
 * is full (the message then goes unlimited, counted). */
static struct hold_key *hold_find(struct smsc_holds *h, const char *kind, const char *id,
				  enum tendlc_carrier carrier)
{
	char key[sizeof(((struct hold_key *)0)->key)];
	struct hold_key *k;

	snprintf(key, sizeof(key), "%s:%s:%s", kind, id, tendlc_carrier_name(carrier));
	uint32_t b = hold_hash(key) % HOLD_BUCKETS;
	for (k = h->buckets[b]; k; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k;
	if (h->n >= HOLD_KEYS_MAX || !(k = calloc(1, sizeof(*k)))) {
		metric_inc(h->m_full);
		return NULL;
	}
	memcpy(k->key, key, sizeof(key));
	k->next = h->buckets[b];
	h->buckets[b] = k;
	h->n++;
	return k;
}

/* m back to the queue, due at until, with the limit it waits for. */
static void hold_write(struct smsc_out *o, struct smsc_out_msg *m, const char *reason,
		       int64_t until)
{
	struct store_param p[] = {store_p_text(reason), store_p_int(until),
				  store_p_int(time_wall_ms()), store_p_text(m->id),
				  store_p_text(o->owner)};
	struct store_batch_stmt st = {
	    "UPDATE messages SET state = 'queued', hold_reason = $1, next_attempt_at = $2, "
	    "updated_at = $3, lease_owner = NULL, lease_until = 0 WHERE id = $4 AND "
	    "lease_owner = $5",
	    p, 5};
	smsc_writes_add(o, m->id, m->parts, &st, 1, NULL);
	metric_inc(metric_get(o->holds->m_holds, reason));
	log_debug("smsc", "message %s held until %lld by %s", m->id, (long long)until, reason);
	free(m->body);
	free(m);
}

/* Both limits have room: both count it.  Else it is promised to the
 * window of the one over (the day's first: it is the later). */
static bool hold_apply(struct smsc_out *o, struct smsc_out_msg *m, const struct tendlc_mt_limits *l)
{
	struct smsc_holds *h = holds_get(o);
	int64_t win = o->s->o.tendlc.limits.window_ms, now = time_wall_ms();
	struct hold_key *kw =
	    h && l->per_window ? hold_find(h, "c", l->campaign_id, l->carrier) : NULL;
	struct hold_key *kd =
	    h && l->per_day ? hold_find(h, "b", l->brand_id, TENDLC_CARRIER_TMOBILE) : NULL;
	char reason[48];

	if (kd && !tendlc_window_room(&kd->w, TENDLC_WINDOW_PACIFIC_DAY, l->per_day, now)) {
		hold_write(o, m, "tmobile_brand_day",
			   tendlc_window_take(&kd->w, TENDLC_WINDOW_PACIFIC_DAY, l->per_day, now));
		return true;
	}
	if (kw && !tendlc_window_room(&kw->w, win, l->per_window, now)) {
		snprintf(reason, sizeof(reason), "%s_campaign_minute",
			 tendlc_carrier_name(l->carrier));
		hold_write(o, m, reason, tendlc_window_take(&kw->w, win, l->per_window, now));
		return true;
	}
	if (kw)
		tendlc_window_take(&kw->w, win, l->per_window, now);
	if (kd)
		tendlc_window_take(&kd->w, TENDLC_WINDOW_PACIFIC_DAY, l->per_day, now);
	return false;
}

/* An admin released m from its review (hold_reason 'released'): one read,
 * made only for a message a hold-for-review rule matches (rare), so the
 * lease needs no column for it. */
static bool review_released(struct smsc_out *o, const struct smsc_out_msg *m)
{
	struct store_param p[] = {store_p_text(m->id)};
	struct store_res *r = NULL;
	bool released =
	    smsc_out_exec(o, "SELECT hold_reason FROM messages WHERE id = $1", p, 1, &r) == 0 &&
	    store_res_rows(r) == 1 && strcmp(store_res_text(r, 0, 0), "released") == 0;

	store_res_free(r);
	return released;
}

/* A content rule's 'hold' (decision 0050): held until an admin releases it
 * (POST /api/v1/messages/{id}/release) or its validity ends. */
static bool hold_review(struct smsc_out *o, const struct tendlc_snap *t, struct smsc_out_msg *m)
{
	const char *rule = smsc_tendlc_review(t, m);
	char reason[96];

	if (!rule || !holds_get(o) || review_released(o, m))
		return false;
	snprintf(reason, sizeof(reason), "review:%s", rule);
	hold_write(o, m, reason, m->expires_at);
	return true;
}

bool smsc_hold_take(struct smsc_out *o, struct smsc_out_msg *m)
{
	struct snapshot *snap = o->s->tendlc;
	const struct tendlc_snap *t = snap ? snapshot_acquire(snap) : NULL;
	struct tendlc_mt_limits l;
	bool held = false;

	if (!t)
		return false;
	if (hold_review(o, t, m))
		held = true;
	else if (tendlc_mt_limits(t, &o->s->o.tendlc.limits, str_from_cstr(m->source),
				  str_from_cstr(m->dest), &l))
		held = hold_apply(o, m, &l);
	snapshot_release(snap, t);
	return held;
}

void smsc_holds_free(struct smsc_holds *h)
{
	if (!h)
		return;
	for (size_t b = 0; b < HOLD_BUCKETS; b++)
		while (h->buckets[b]) {
			struct hold_key *k = h->buckets[b]->next;
			free(h->buckets[b]);
			h->buckets[b] = k;
		}
	free(h);
}
