/*
 * mo.c — mobile-originated messages (MO): a deliver_sm or data_sm from an
 * upstream that is not a receipt, addressed to one of our numbers with
 * sms enabled, goes to the number's customer (decision 0025).
 *
 * On the upstream thread: the destination is looked up in numbers (e164,
 * sms = 1; an address without '+' is read as international), and the
 * message, or one part of a multi-part message (UDH with an 8- or 16-bit
 * reference, or the sar_* TLVs), becomes a row of inbound_messages through
 * the batching writer.  The upstream's deliver_sm is answered ESME_ROK
 * only once that row is committed, so an acknowledged MO survives kill -9;
 * a store failure is answered ESME_RX_T_APPN (the upstream keeps it and
 * resends), a destination that is not such a number ESME_RINVDSTADR, a UDH
 * or SAR set that does not hold ESME_RX_P_APPN.
 *
 * Parts wait as 'part' rows until their set is complete, then one
 * transaction replaces them with one 'pending' row holding the user data
 * joined in seqnum order.  A set still incomplete after
 * mo_reassembly_timeout is delivered as it is (the parts that came, in
 * order; parts < part_total tells) rather than lost: an SMSC that drops a
 * part should not cost the customer the rest of the text.
 *
 * 'pending' rows are delivered by receipts.c's code (the same lease, the
 * same hand-over to the session thread, the same deliver_sm_resp
 * bookkeeping), to a bound receiver or transceiver of any SMPP account of
 * the number's customer; one with no such session bound stays pending
 * until one binds or it expires (default_validity).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define MO_INSERT_SQL                                                                              \
	"INSERT INTO inbound_messages (id, customer_id, number, source, source_ton, source_npi, "  \
	"destination, dest_ton, dest_npi, data_coding, body, part_ref, part_total, part_seq, "     \
	"carrier_id, state, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, "  \
	"$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) ON CONFLICT DO NOTHING"
#define MO_INSERT_PARAMS 18

#define MO_BATCH_QUEUE 16384
#define MO_BATCH_ROWS 500
#define MO_BATCH_DELAY_MS 2
#define MO_SWEEP_MS 1000

/* One set of parts: what the upstream's UDH or SAR ties together. */
struct mo_key {
	char carrier_id[ID_MAX], source[SMPP_ADDR_WIDE_MAX], number[SMPP_ADDR_WIDE_MAX + 1];
	int64_t ref, total;
};

/* A deliver_sm waiting for its row's commit, and the bind to answer it on. */
struct mo_wait {
	struct smsc *s;
	struct smsc_bind_ref bind;
	uint32_t command_id, sequence_number;
	int status;
	bool part;
	struct mo_key key;
	struct smsc_mo_keyword kw; /* a STOP, START or HELP (decision 0041) */
};

int smsc_mo_prepare(struct smsc_out *o)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_smsc_mo_total",
	    "Mobile-originated messages (and parts) from upstreams, by result.", "result");

	o->m_mo_received = metric_get(f, "received");
	o->m_mo_refused = metric_get(f, "refused");
	o->m_mo_delivered = metric_get(f, "delivered");
	o->m_mo_incomplete = metric_get(f, "incomplete");
	o->m_mo_expired = metric_get(f, "expired");
	o->m_mo_webhook = metric_get(f, "webhook");
	o->mo_hex = malloc(2 * SMPP_PDU_MAX_LEN + 1);
	/* On SQLite the one writer of the database (writes.c). */
	o->mo_insert = store_kind(o->store) == STORE_SQLITE
			   ? o->writes[0]
			   : store_batch_new(o->store, MO_INSERT_SQL, MO_INSERT_PARAMS,
					     MO_BATCH_QUEUE, MO_BATCH_ROWS, MO_BATCH_DELAY_MS);
	return o->mo_hex && o->mo_insert ? 0 : -ENOMEM;
}

/* On the upstream thread, in smsc_out_free: rows queued are committed and
 * their answers queued to this thread, where they find s->out gone. */
void smsc_mo_fini(struct smsc_out *o)
{
	if (o->mo_insert != o->writes[0])
		store_batch_free(o->mo_insert);
	o->mo_insert = NULL;
	free(o->mo_hex);
	o->mo_hex = NULL;
}

/* ------------------------------------------------------- reassembly */

#define PARTS_SQL                                                                                  \
	"SELECT id, body, created_at, customer_id, source_ton, source_npi, destination, "          \
	"dest_ton, "                                                                               \
	"dest_npi, data_coding FROM inbound_messages WHERE state = 'part' AND carrier_id = $1 "    \
	"AND source = $2 AND number = $3 AND part_ref = $4 AND part_total = $5 ORDER BY part_seq " \
	"LIMIT 255"
#define JOINED_SQL                                                                                 \
	"INSERT INTO inbound_messages (id, customer_id, number, source, source_ton, source_npi, "  \
	"destination, dest_ton, dest_npi, data_coding, body, parts, part_total, carrier_id, "      \
	"state, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "  \
	"$10, $11, $12, $13, $14, 'pending', $15, $16, $17) ON CONFLICT DO NOTHING"

/* The joined row, then the parts gone, in one transaction; the joined id
 * is the first part's with the "mo" prefix, so a second process (or a
 * rerun after a crash) joining the same set writes nothing twice. */
static int mo_join_write(struct smsc_out *o, const struct mo_key *k, const struct store_res *r,
			 const char *body)
{
	struct store_conn *c = store_conn(o->store);
	size_t n = store_res_rows(r);
	const char *first = store_res_text(r, 0, 0);
	char id[ID_MAX];
	int64_t created = store_res_int(r, 0, 2), now = time_wall_ms();
	struct store_param ids[SMPP_SEGMENTS_MAX];
	struct buf del;
	int rc = -ENOMEM;

	snprintf(id, sizeof(id), "mo_%s", strchr(first, '_') ? strchr(first, '_') + 1 : first);
	for (size_t i = 1; i < n; i++)
		if (store_res_int(r, i, 2) < created)
			created = store_res_int(r, i, 2);
	struct store_param p[] = {
	    store_p_text(id),
	    store_p_text(store_res_text(r, 0, 3)),
	    store_p_text(k->number),
	    store_p_text(k->source),
	    store_p_int(store_res_int(r, 0, 4)),
	    store_p_int(store_res_int(r, 0, 5)),
	    store_p_text(store_res_text(r, 0, 6)),
	    store_p_int(store_res_int(r, 0, 7)),
	    store_p_int(store_res_int(r, 0, 8)),
	    store_p_int(store_res_int(r, 0, 9)),
	    store_p_text(body),
	    store_p_int((int64_t)n),
	    store_p_int(k->total),
	    store_p_text(k->carrier_id),
	    store_p_int(created + o->s->o.default_validity_ms),
	    store_p_int(created),
	    store_p_int(now),
	};
	buf_init(&del);
	buf_append_cstr(&del, "DELETE FROM inbound_messages WHERE state = 'part' AND id IN (");
	for (size_t i = 0; i < n; i++) {
		ids[i] = store_p_text(store_res_text(r, i, 0));
		buf_printf(&del, "%s$%zu", i ? ", " : "", i + 1);
	}
	buf_append_char(&del, ')');
	if (!c || !del.p || store_tx_begin(c) < 0)
		goto done;
	rc = store_exec(c, JOINED_SQL, p, sizeof(p) / sizeof(p[0]), NULL);
	if (rc == 0)
		rc = store_exec(c, del.p, ids, n, NULL);
	rc = rc == 0 ? store_tx_commit(c) : (store_tx_rollback(c), rc);
done:
	buf_fini(&del);
	return rc;
}

/* Joins k's parts when all are in, or when the set waited out the
 * reassembly timeout. */
static void mo_assemble(struct smsc_out *o, const struct mo_key *k)
{
	struct store_res *r = NULL;
	struct buf body;
	struct store_param p[] = {store_p_text(k->carrier_id), store_p_text(k->source),
				  store_p_text(k->number), store_p_int(k->ref),
				  store_p_int(k->total)};
	int64_t cutoff = time_wall_ms() - o->s->o.mo_reassembly_ms;

	buf_init(&body);
	if (smsc_out_exec(o, PARTS_SQL, p, 5, &r) < 0 || store_res_rows(r) == 0)
		goto done;
	size_t n = store_res_rows(r);
	bool stale = false;
	for (size_t i = 0; i < n; i++) {
		stale |= store_res_int(r, i, 2) <= cutoff;
		buf_append_cstr(&body, store_res_text(r, i, 1));
	}
	if ((int64_t)n < k->total && !stale)
		goto done;
	if (mo_join_write(o, k, r, body.p ? body.p : "") < 0) {
		log_warn("smsc", "MO parts to %s from carrier %s not joined: store error",
			 k->number, k->carrier_id);
		goto done;
	}
	if ((int64_t)n < k->total) {
		metric_inc(o->m_mo_incomplete);
		log_info("smsc",
			 "MO to %s from carrier %s: %zu of %lld parts after the reassembly "
			 "timeout, delivered as they are",
			 k->number, k->carrier_id, n, (long long)k->total);
	}
done:
	buf_fini(&body);
	store_res_free(r);
}

/* Sets complete or timed out (parts stored by another process, or joined
 * by none before a crash), and pending MO past its validity. */
void smsc_mo_tick(struct smsc_out *o)
{
	struct store_res *r = NULL;
	int64_t now = time_mono_ms(), wall = time_wall_ms();

	smsc_mo_webhook_tick(o);
	if (now - o->mo_swept_ms < MO_SWEEP_MS)
		return;
	o->mo_swept_ms = now;
	struct store_param p[] = {store_p_int(wall - o->s->o.mo_reassembly_ms)};
	if (smsc_out_exec(o,
			  "SELECT carrier_id, source, number, part_ref, part_total FROM "
			  "inbound_messages WHERE state = 'part' GROUP BY carrier_id, source, "
			  "number, part_ref, part_total HAVING count(*) >= part_total OR "
			  "min(created_at) <= $1 LIMIT 64",
			  p, 1, &r) == 0)
		for (size_t i = 0; i < store_res_rows(r); i++) {
			struct mo_key k = {.ref = store_res_int(r, i, 3),
					   .total = store_res_int(r, i, 4)};
			snprintf(k.carrier_id, sizeof(k.carrier_id), "%s", store_res_text(r, i, 0));
			snprintf(k.source, sizeof(k.source), "%s", store_res_text(r, i, 1));
			snprintf(k.number, sizeof(k.number), "%s", store_res_text(r, i, 2));
			mo_assemble(o, &k);
		}
	store_res_free(r);
	r = NULL;
	p[0] = store_p_int(wall);
	if (smsc_out_exec(o,
			  "UPDATE inbound_messages SET state = 'expired', updated_at = $1 WHERE "
			  "state = 'pending' AND expires_at <= $1 AND lease_until <= $1",
			  p, 1, &r) == 0)
		metric_add(o->m_mo_expired, store_res_changes(r));
	store_res_free(r);
}

/* ---------------------------------------------------------- receiving */

/* On the upstream thread: the row's fate is known. */
static void mo_answer(void *arg)
{
	struct mo_wait *w = arg;
	struct smsc_out *o = w->s->out;
	struct smsc_upbind *b = o ? smsc_bind_ref_find(o, &w->bind) : NULL;

	if (!o)
		goto done; /* shutting down: unanswered, the upstream resends */
	metric_inc(w->status == 0 ? o->m_mo_received : o->m_mo_refused);
	if (w->status != 0)
		log_error("smsc", "MO to %s not stored: %s", w->key.number,
			  store_strerror(w->status));
	if (b)
		smsc_upbind_respond(b, w->command_id, w->sequence_number,
				    w->status == 0 ? SMPP_ESME_ROK : SMSC_RX_T_APPN);
	if (w->status == 0 && w->part)
		mo_assemble(o, &w->key);
	if (w->status == 0 && w->kw.kw != TENDLC_KW_NONE)
		smsc_tendlc_mo(o, &w->kw);
done:
	free(w);
}

/* On the store writer's thread. */
static void mo_stored(void *arg, int status)
{
	struct mo_wait *w = arg;

	w->status = status;
	if (loop_pool_call(w->s->pool, 1, mo_answer, w) < 0)
		free(w); /* unanswered: the upstream resends, the row is not doubled */
}

/* The customer whose number (sms enabled) dest is: 1, 0 for none, <0 on a
 * store error. */
static int mo_number(struct smsc_out *o, struct str dest, char *e164, size_t n, char *customer)
{
	struct store_res *r = NULL;
	bool plus = dest.len > 0 && dest.p[0] == '+';

	if (dest.len == 0 || dest.len + 2 > n)
		return 0;
	snprintf(e164, n, "%s%.*s", plus ? "" : "+", STR_FMT(dest));
	struct store_param p[] = {store_p_text(e164)};
	int rc = smsc_out_exec(o, "SELECT customer_id FROM numbers WHERE e164 = $1 AND sms = 1", p,
			       1, &r);
	if (rc == 0 && (rc = store_res_rows(r) > 0))
		snprintf(customer, ID_MAX, "%s", store_res_text(r, 0, 0));
	store_res_free(r);
	return rc;
}

static int mo_queue(struct smsc_out *o, const struct smpp_pdu *p, const struct smpp_concat *cc,
		    struct str body, const char *customer, struct mo_wait *w)
{
	char id[ID_MAX];
	int64_t now = time_wall_ms();

	if (id_new(w->part ? "mop" : "mo", id, sizeof(id)) < 0)
		return -EIO;
	memcpy(w->kw.id, id, sizeof(id));
	hex_encode(body.p, body.len, o->mo_hex);
	struct store_param params[MO_INSERT_PARAMS] = {
	    store_p_text(id),
	    store_p_text(customer),
	    store_p_text(w->key.number),
	    store_p_text(w->key.source),
	    store_p_int(p->source.ton),
	    store_p_int(p->source.npi),
	    store_p_str(p->dest.addr),
	    store_p_int(p->dest.ton),
	    store_p_int(p->dest.npi),
	    store_p_int(p->data_coding),
	    store_p_text(o->mo_hex),
	    w->part ? store_p_int(w->key.ref) : store_p_null(),
	    store_p_int(cc->total),
	    store_p_int(cc->seqnum),
	    store_p_text(w->key.carrier_id),
	    store_p_text(w->part ? "part" : "pending"),
	    store_p_int(now + o->s->o.default_validity_ms),
	    store_p_int(now),
	};
	struct store_batch_stmt st = {MO_INSERT_SQL, params, MO_INSERT_PARAMS};
	return store_batch_add_group(o->mo_insert, &st, 1, mo_stored, w);
}

/* What the upstream's PDU is: 0 when it was queued for the store (the
 * answer follows the commit), else the status to answer now. */
static uint32_t mo_take(struct smsc_out *o, struct smsc_upbind *b, const struct smpp_pdu *p)
{
	struct smpp_concat cc;
	struct str body;
	char customer[ID_MAX];
	struct mo_wait *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return SMSC_RX_T_APPN;
	if (smpp_concat_read(p, &cc, &body) < 0) {
		free(w);
		return SMSC_RX_P_APPN;
	}
	rc = mo_number(o, p->dest.addr, w->key.number, sizeof(w->key.number), customer);
	if (rc <= 0) {
		free(w);
		return rc < 0 ? SMSC_RX_T_APPN : SMPP_ESME_RINVDSTADR;
	}
	w->s = o->s;
	smsc_bind_ref_set(&w->bind, b);
	w->command_id = p->command_id;
	w->sequence_number = p->sequence_number;
	w->part = cc.total > 1;
	w->key.ref = cc.ref;
	w->key.total = cc.total;
	snprintf(w->key.carrier_id, sizeof(w->key.carrier_id), "%s", b->cfg.carrier_id);
	str_copy(w->key.source, sizeof(w->key.source), p->source.addr);
	w->kw.kw = w->part ? TENDLC_KW_NONE : smsc_tendlc_keyword(p->data_coding, body);
	if (w->kw.kw != TENDLC_KW_NONE) {
		snprintf(w->kw.word, sizeof(w->kw.word), "%s", tendlc_keyword_name(w->kw.kw));
		memcpy(w->kw.customer, customer, sizeof(w->kw.customer));
		memcpy(w->kw.number, w->key.number, sizeof(w->kw.number));
		memcpy(w->kw.source, w->key.source, sizeof(w->kw.source));
	}
	rc = mo_queue(o, p, &cc, body, customer, w);
	if (rc == 0)
		return SMPP_ESME_ROK;
	free(w);
	return SMSC_RX_T_APPN; /* the writer's queue is full: resend later */
}

void smsc_mo_receive(struct smsc_out *o, struct smsc_upbind *b, const struct smpp_pdu *p)
{
	uint32_t status = mo_take(o, b, p);

	if (status == SMPP_ESME_ROK)
		return;
	metric_inc(o->m_mo_refused);
	log_info("smsc", "connector %s: MO to %.*s refused with 0x%02x", b->cfg.id,
		 p->dest.addr.p ? (int)p->dest.addr.len : 0, p->dest.addr.p ? p->dest.addr.p : "",
		 status);
	smsc_upbind_respond(b, p->command_id, p->sequence_number, status);
}

/* ------------------------------------------------ delivery to the ESME */

/* A leased pending row (receipts.c's lease, MO_COLUMNS). */
struct smsc_dlr *smsc_mo_row(const struct store_res *r, size_t i)
{
	struct smsc_dlr *d = smsc_dlr_row(r, i, SMSC_DLR_MO);

	if (!d || smsc_hex_decode(store_res_text(r, i, 9), &d->body, &d->body_len) < 0) {
		free(d);
		return NULL;
	}
	d->data_coding = (uint8_t)store_res_int(r, i, 8);
	return d;
}

/* The deliver_sm as the upstream's MO came, user data joined: esm_class 0
 * (no UDH: a joined message is one), in short_message when it fits, else
 * in message_payload (§5.3.2.32), which every ESME that takes long
 * messages reads. */
void smsc_mo_fill(const struct smsc_dlr *d, struct smpp_pdu *p)
{
	struct str body = {(const char *)d->body, d->body_len};

	p->source = (struct smpp_addr){d->source_ton, d->source_npi, str_from_cstr(d->source)};
	p->dest = (struct smpp_addr){d->dest_ton, d->dest_npi, str_from_cstr(d->dest)};
	p->esm_class = 0;
	p->data_coding = d->data_coding;
	if (body.len <= SMPP_SM_MAX) {
		p->short_message = body;
		return;
	}
	p->short_message = STR_LIT("");
	p->tlv.has |= SMPP_HAS_MESSAGE_PAYLOAD;
	p->tlv.message_payload = body;
}

/* On the upstream thread: the ESME answered ESME_ROK. */
void smsc_mo_sent(void *arg)
{
	struct smsc_dlr *d = arg;
	struct smsc_out *o = d->s->out;
	struct store_param p[] = {store_p_text(d->account_id), store_p_int(time_wall_ms()),
				  store_p_text(d->id)};

	if (o &&
	    smsc_out_exec(o,
			  "UPDATE inbound_messages SET state = 'delivered', delivered_to = $1, "
			  "updated_at = $2, lease_until = 0 WHERE id = $3 AND state = 'pending'",
			  p, 3, NULL) == 0)
		metric_inc(o->m_mo_delivered);
	smsc_dlr_free(d);
}
