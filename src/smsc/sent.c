/*
 * sent.c — a message's "submitted" row, written as few times and in as few
 * statements as can be (decision 0055).
 *
 * A submit_sm_resp ESME_ROK makes the message "submitted" with the
 * upstream's id.  For a message in one part (SMSC_PARTS_SQL 1) the row is
 * held here until the dispatcher's next tick (at most TICK_MS, or until
 * HELD_MAX are held) instead of queued at once, because a fast upstream's
 * receipt often comes within that time: the receipt's final state then
 * joins the held row (smsc_sent_final) and the message costs one UPDATE —
 * submitted and final together, under the lease — instead of two, each
 * rewriting the row and its indexes.  At the flush each lane's held rows
 * go to the writer as one entry: on PostgreSQL one statement for the
 * "submitted" rows and one for those with their final (the arrays of an
 * UPDATE … FROM unnest), instead of one statement a message; on SQLite a
 * statement a row as before (in process, a statement costs little there).
 *
 * Durability is the writer's, as before: a row not yet committed when the
 * process dies leaves its message leased until the lease runs out, and it
 * is then sent again (at most one tick longer than before); a receipt
 * joined to a held row is answered only once the row is committed.
 * The parts of a long message and the destinations of a submit_multi are
 * not held: their finals read their group (final.c), which must see the
 * "submitted" row committed first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define HELD_MAX 1024 /* held rows a round: then they are flushed at once */

#define SUBMITTED_SQL                                                                              \
	"UPDATE messages SET state = 'submitted', error = NULL, carrier_id = $1, "                 \
	"upstream_id = $2, updated_at = $3, submitted_at = $3, attempts = attempts + 1, "          \
	"lease_owner = NULL, lease_until = 0 WHERE id = $4 AND lease_owner = $5"
#define SUBMITTED_MANY_PG                                                                          \
	"UPDATE messages m SET state = 'submitted', error = NULL, carrier_id = v.carrier_id, "     \
	"upstream_id = v.upstream_id, updated_at = v.at, submitted_at = v.at, "                    \
	"attempts = m.attempts + 1, lease_owner = NULL, lease_until = 0 FROM "                     \
	"unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), "                      \
	"CAST($4 AS BIGINT[])) AS v(id, carrier_id, upstream_id, at) WHERE m.id = v.id AND "       \
	"m.lease_owner = $5"

/* The row written now, one UPDATE. */
static void sent_write_one(struct smsc_out *o, const char *carrier_id, const char *upstream_id,
			   int64_t at, const char *id, int parts)
{
	struct store_param p[] = {store_p_text(carrier_id), store_p_text(upstream_id),
				  store_p_int(at), store_p_text(id), store_p_text(o->owner)};
	struct store_batch_stmt st = {SUBMITTED_SQL, p, 5};

	smsc_writes_add(o, id, parts, &st, 1, NULL);
}

void smsc_sent_record(struct smsc_out *o, const char *carrier_id, const char *upstream_id,
		      const struct smsc_out_msg *m)
{
	struct smsc_sent *h = NULL;
	int64_t now = time_wall_ms();

	metric_inc(metric_get(o->m_outcomes, "submitted"));
	if (m->parts == 1 && o->nheld == HELD_MAX)
		smsc_sent_flush(o);
	if (m->parts == 1 && !o->held && !(o->held = calloc(HELD_MAX, sizeof(*o->held))))
		log_warn("smsc", "holding submitted rows: out of memory, written one by one");
	if (m->parts == 1 && o->held) {
		if (o->held_round == 0)
			o->held_round = 1;
		h = &o->held[o->nheld++];
		memset(h, 0, sizeof(*h));
		snprintf(h->id, sizeof(h->id), "%s", m->id);
		snprintf(h->carrier_id, sizeof(h->carrier_id), "%s", carrier_id);
		snprintf(h->upstream_id, sizeof(h->upstream_id), "%s", upstream_id);
		h->at = now;
	} else {
		sent_write_one(o, carrier_id, upstream_id, now, m->id, m->parts);
	}
	smsc_match_submitted(o, carrier_id, upstream_id, m, h);
}

struct smsc_sent *smsc_sent_find(struct smsc_out *o, const struct smsc_idrec *r)
{
	if (r->held_round == 0 || r->held_round != o->held_round || r->held_at >= o->nheld ||
	    strcmp(o->held[r->held_at].id, r->id) != 0)
		return NULL;
	return &o->held[r->held_at];
}

int smsc_sent_final(struct smsc_out *o, struct smsc_sent *h, const char *state, const char *error,
		    const struct smsc_upbind *b, const struct smpp_pdu *p)
{
	char evt[ID_MAX];
	struct smsc_final f = {.guard = SMSC_FINAL_SENT,
			       .id = h->id,
			       .state = state,
			       .error = error,
			       .owner = o->owner,
			       .attempted = 1,
			       .now = time_wall_ms(),
			       .parts = 1};
	int rc = h->final ? -EALREADY : id_new("evt", evt, sizeof(evt));

	if (rc < 0)
		return rc;
	if (!(h->final = smsc_final_settle_new(o, &f, evt, b, p)))
		return -ENOMEM;
	snprintf(h->error, sizeof(h->error), "%s", error ? error : "");
	return 0;
}

/* ------------------------------------------------------------ flushing */

/* Array literals of PostgreSQL (its manual, "Array Value Input"): "{"
 * before the first element, "," before the others. */
static void sent_array_next(struct buf *a)
{
	buf_append_char(a, a->len == 0 ? '{' : ',');
}

/* s as an element: quoted, with '"' and '\' escaped. */
static void sent_array_text(struct buf *a, const char *s)
{
	sent_array_next(a);
	buf_append_char(a, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_append_char(a, '\\');
		buf_append_char(a, *s);
	}
	buf_append_char(a, '"');
}

static void sent_array_int(struct buf *a, int64_t v)
{
	sent_array_next(a);
	buf_printf(a, "%lld", (long long)v);
}

/* The arrays of one lane's statement: at most 8 columns. */
struct sent_arrays {
	struct buf col[8];
	size_t rows;
};

static void sent_arrays_close(struct sent_arrays *a, size_t ncols, struct store_param *p)
{
	for (size_t k = 0; k < ncols; k++) {
		if (a->col[k].len == 0)
			buf_append_char(&a->col[k], '{');
		buf_append_char(&a->col[k], '}');
		p[k] = a->col[k].p ? store_p_text(a->col[k].p) : store_p_null();
	}
}

static void sent_arrays_fini(struct sent_arrays *a)
{
	for (size_t k = 0; k < 8; k++)
		buf_fini(&a->col[k]);
}

/* Lane i's held rows: the "submitted" ones in one UPDATE, those with a
 * final in another, one writer entry; the finals' settles as one list. */
static void sent_flush_lane_pg(struct smsc_out *o, size_t lane)
{
	struct sent_arrays up = {0}, fin = {0};
	struct store_param pu[5], pf[9];
	struct store_batch_stmt st[2];
	struct smsc_settle *settles = NULL;
	size_t n = 0;

	for (size_t k = 0; k < 8; k++) {
		buf_init(&up.col[k]);
		buf_init(&fin.col[k]);
	}
	for (size_t i = 0; i < o->nheld; i++) {
		struct smsc_sent *h = &o->held[i];
		if (smsc_writes_lane(o, h->id, 1) != lane)
			continue;
		if (!h->final) {
			sent_array_text(&up.col[0], h->id);
			sent_array_text(&up.col[1], h->carrier_id);
			sent_array_text(&up.col[2], h->upstream_id);
			sent_array_int(&up.col[3], h->at);
			up.rows++;
			continue;
		}
		sent_array_text(&fin.col[0], h->id);
		sent_array_text(&fin.col[1], h->final->state);
		sent_array_text(&fin.col[2], h->error);
		sent_array_text(&fin.col[3], h->carrier_id);
		sent_array_text(&fin.col[4], h->upstream_id);
		sent_array_text(&fin.col[5], h->final->evt);
		sent_array_int(&fin.col[6], h->at);
		sent_array_int(&fin.col[7], h->final->now);
		fin.rows++;
		h->final->next = settles; /* newest first, as writes.c wants */
		settles = h->final;
		h->final = NULL;
	}
	if (up.rows) {
		sent_arrays_close(&up, 4, pu);
		pu[4] = store_p_text(o->owner);
		st[n++] = (struct store_batch_stmt){SUBMITTED_MANY_PG, pu, 5};
	}
	if (fin.rows) {
		sent_arrays_close(&fin, 8, pf);
		pf[8] = store_p_text(o->owner);
		st[n++] = (struct store_batch_stmt){smsc_final_sent_many_pg, pf, 9};
	}
	if (n > 0)
		smsc_writes_add_by_key(o, lane, st, n, settles);
	sent_arrays_fini(&up);
	sent_arrays_fini(&fin);
}

/* SQLite: a writer entry a row, as the row would have been written. */
static void sent_flush_each(struct smsc_out *o)
{
	for (size_t i = 0; i < o->nheld; i++) {
		struct smsc_sent *h = &o->held[i];
		struct smsc_final_stmts st;
		struct smsc_final f = {.guard = SMSC_FINAL_SENT,
				       .id = h->id,
				       .error = h->error,
				       .owner = o->owner,
				       .attempted = 1,
				       .parts = 1,
				       .carrier_id = h->carrier_id,
				       .upstream_id = h->upstream_id,
				       .submitted_at = h->at};
		if (!h->final) {
			sent_write_one(o, h->carrier_id, h->upstream_id, h->at, h->id, 1);
			continue;
		}
		f.state = h->final->state;
		f.now = h->final->now;
		if (smsc_final_stmts(&f, false, &st) == 0) {
			snprintf(h->final->evt, sizeof(h->final->evt), "%s", st.evt);
			smsc_writes_add(o, h->id, 1, st.st, st.n, h->final);
		} else {
			free(h->final); /* left leased: sent again once its lease runs out */
		}
		h->final = NULL;
	}
}

void smsc_sent_flush(struct smsc_out *o)
{
	if (o->nheld == 0)
		return;
	if (store_kind(o->store) == STORE_POSTGRES)
		for (size_t lane = 0; lane < (o->nwrites ? o->nwrites : 1); lane++)
			sent_flush_lane_pg(o, lane);
	else
		sent_flush_each(o);
	o->nheld = 0;
	o->held_round++;
}

void smsc_sent_free(struct smsc_out *o)
{
	smsc_sent_flush(o);
	free(o->held);
	o->held = NULL;
}
