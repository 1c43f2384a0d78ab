/*
 * submit.c — submit_sm and data_sm from a bound ESME (SMPP 3.4 §4.4,
 * §4.7): checked against the session's bind state, the account's window
 * and throughput, then written to the messages queue through the batching
 * writer.  The answer with our message id goes out only when the row is
 * committed (principle 2 of docs/ARCHITECTURE.md): an ESME that got
 * ESME_ROK may forget the message, since kill -9 can no longer lose it.
 *
 * The message is stored as received — addresses, data_coding, esm_class
 * and the user data (short_message, or message_payload when sm_length is
 * 0) in hex — so that what goes upstream is byte for byte what came in.
 *
 * The steps are shared (smsc_submit_*): submit_multi (multi.c) checks and
 * stores each of its destinations with them, and replace_sm (ops.c) reads
 * its new times with smsc_submit_times.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

/* A part of a long message (UDH or SAR, concat_key not NULL) joins the
 * newest group of this customer with its key that began within
 * CONCAT_WINDOW_MS and does not hold its part number yet; otherwise it
 * goes into the group the caller names ($22: its own id, or a
 * submit_multi's shared one), decision 0026.  The writer runs its rows
 * one statement after another in one transaction, so parts in one batch
 * see each other. */
#define INSERT_SQL                                                                                 \
	"INSERT INTO messages (id, group_id, part_seq, part_total, concat_key, customer_id, "      \
	"origin, smpp_account_id, client_ref, source, source_ton, source_npi, destination, "       \
	"dest_ton, dest_npi, data_coding, esm_class, registered_delivery, body, state, "           \
	"next_attempt_at, expires_at, created_at, updated_at) VALUES ($1, COALESCE((SELECT "       \
	"g.group_id FROM messages g WHERE g.concat_key = $18 AND g.customer_id = $2 AND "          \
	"g.created_at >= $21 AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.group_id = "         \
	"g.group_id AND x.part_seq = $19) ORDER BY g.created_at DESC LIMIT 1), $22), $19, $20, "   \
	"$18, $2, 'smpp', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'accepted', $15, "  \
	"$16, $17, $17) ON CONFLICT (id) DO NOTHING"
#define INSERT_PARAMS 22
#define CONCAT_WINDOW_MS 600000 /* the parts of one message arrive within this */

#define BATCH_QUEUE 65536
#define BATCH_ROWS 2000
/* How long the writer waits for more rows (decision 0042).  PostgreSQL: not
 * at all, classic group commit — the next group as soon as one committed,
 * its COMMIT in the same round trip.  SQLite: 2 ms, since each group pays
 * an fsync of its own in the writer (decision 0030): without the wait, 20 %
 * more CPU a message at 5,000/s (more, smaller groups) and no p99 seen to
 * gain. */
#define BATCH_DELAY_MS_PG 0
#define BATCH_DELAY_MS_SQLITE 2

struct submit_wait {
	struct smsc_session *ss;
	uint32_t command_id, sequence_number;
	int status;
	int64_t arrived_us;
	char id[ID_MAX];
};

int smsc_submit_prepare(struct smsc *s)
{
	int delay = store_kind(s->o.store) == STORE_POSTGRES ? BATCH_DELAY_MS_PG : BATCH_DELAY_MS_SQLITE;
	s->insert = store_batch_new(s->o.store, INSERT_SQL, INSERT_PARAMS, BATCH_QUEUE, BATCH_ROWS,
				    delay);
	s->insert_prepaid = store_batch_new(s->o.store, INSERT_SQL, INSERT_PARAMS, BATCH_QUEUE,
					    BATCH_ROWS, delay);
	s->prepaid = smsc_prepaid_new(s);
	return s->insert && s->insert_prepaid && s->prepaid ? 0 : -ENOMEM;
}

/* On the session thread: the row's fate is known. */
static void submit_answer(void *arg)
{
	struct submit_wait *w = arg;
	struct smsc_session *ss = w->ss;
	struct smpp_pdu r;

	ss->outstanding--;
	smpp_pdu_init(&r, w->command_id | SMPP_RESP_BIT, w->sequence_number);
	r.command_status = w->status == 0 ? SMPP_ESME_ROK : smsc_prepaid_status(ss->s, w->status);
	r.message_id = w->status == 0 ? smsc_wire_id(w->id) : STR_LIT("");
	metric_inc(w->status == 0 ? ss->s->m_submits_ok : ss->s->m_submits_refused);
	if (r.command_status == SMPP_ESME_RSYSERR)
		log_error("smsc", "message %s not stored: %s", w->id, store_strerror(w->status));
	smsc_session_send(ss, &r);
	metric_observe(ss->s->m_resp_seconds, (double)(time_mono_us() - w->arrived_us) / 1e6);
	smsc_session_unref(ss);
	free(w);
}

/* On the store writer's thread. */
static void submit_stored(void *arg, int status)
{
	struct submit_wait *w = arg;

	w->status = status;
	if (loop_pool_call(w->ss->s->pool, 0, submit_answer, w) < 0)
		log_error("smsc", "message %s stored but its answer is lost (out of memory)",
			  w->id);
}

/* sar_* TLVs that do not tie a part (SMPP 3.4 §5.3.2.22-24): the three
 * come together, and sar_total_segments and sar_segment_seqnum are 1..255
 * with the number within the total — a set that does not hold is refused,
 * not stored as a whole message without them.  (A UDH's concatenation IE
 * that does not hold is ignored as 3GPP TS 23.040 §9.2.3.24.1 says: the
 * part goes as one message, as it came.) */
static uint32_t submit_sar_check(const struct smpp_pdu *p)
{
	const uint32_t sar =
	    SMPP_HAS_SAR_MSG_REF_NUM | SMPP_HAS_SAR_TOTAL_SEGMENTS | SMPP_HAS_SAR_SEGMENT_SEQNUM;
	uint32_t has = p->tlv.has & sar;

	if (has == 0 || (p->esm_class & SMPP_ESM_UDHI))
		return SMPP_ESME_ROK;
	if (has != sar)
		return SMPP_ESME_RMISSINGOPTPARAM;
	if (p->tlv.sar_total_segments == 0 || p->tlv.sar_segment_seqnum == 0 ||
	    p->tlv.sar_segment_seqnum > p->tlv.sar_total_segments)
		return SMPP_ESME_RINVOPTPARAMVAL;
	return SMPP_ESME_ROK;
}

/* The user data: short_message, or message_payload when sm_length is 0
 * (§5.3.2.32: never both).  0, or the status to refuse with. */
uint32_t smsc_submit_body(const struct smpp_pdu *p, struct str *body)
{
	bool payload = p->tlv.has & SMPP_HAS_MESSAGE_PAYLOAD;
	uint32_t sar = submit_sar_check(p);

	if (payload && p->short_message.len > 0)
		return SMPP_ESME_RINVMSGLEN;
	if (sar != SMPP_ESME_ROK)
		return sar;
	*body = payload ? p->tlv.message_payload : p->short_message;
	return SMPP_ESME_ROK;
}

uint8_t smsc_submit_udh_form(const struct smpp_pdu *p, struct str *body, uint8_t *buf, size_t cap)
{
	struct smpp_concat c;
	struct str data;
	struct smpp_pdu form = {.esm_class = p->esm_class};

	if ((p->esm_class & SMPP_ESM_UDHI) || !(p->tlv.has & SMPP_HAS_SAR_MSG_REF_NUM) ||
	    smpp_concat_read(p, &c, &data) != 0 || c.total < 2 ||
	    smpp_segment_fill(&form, c.ref > 0xff ? SMPP_CONCAT_UDH16 : SMPP_CONCAT_UDH8, &c, *body,
			      buf, cap) != 0)
		return p->esm_class;
	*body = form.short_message;
	return form.esm_class;
}

/* Times: schedule_delivery_time becomes the first attempt, validity_period
 * the expiry (the default when absent, never past the maximum). */
uint32_t smsc_submit_times(struct smsc *s, const struct smpp_pdu *p, int64_t now, int64_t *due,
			   int64_t *expires)
{
	int rc = smsc_time_parse(p->schedule_delivery_time, now, due);

	if (rc < 0)
		return SMPP_ESME_RINVSCHED;
	if (rc > 0 || *due < now)
		*due = now;
	rc = smsc_time_parse(p->validity_period, now, expires);
	if (rc < 0 || (rc == 0 && *expires <= now))
		return SMPP_ESME_RINVEXPIRY;
	if (rc > 0)
		*expires = now + s->o.default_validity_ms;
	if (*expires > now + s->o.max_validity_ms)
		*expires = now + s->o.max_validity_ms;
	if (*due >= *expires)
		return SMPP_ESME_RINVSCHED;
	return SMPP_ESME_ROK;
}

/* The limits an ESME can act on before its PDU is looked at: not bound
 * to send, window full (wait for answers). */
uint32_t smsc_submit_admit(const struct smsc_session *ss)
{
	if (ss->state != SMSC_BOUND_TX && ss->state != SMSC_BOUND_TRX)
		return SMPP_ESME_RINVBNDSTS;
	if (ss->outstanding >= ss->window)
		return SMPP_ESME_RMSGQFUL;
	return SMPP_ESME_ROK;
}

/* A destination no message route serves is refused now, not accepted to
 * fail later. */
uint32_t smsc_submit_routed(const struct smsc_session *ss, struct str dest)
{
	if (!dest.p || dest.len == 0)
		return SMPP_ESME_RINVDSTADR;
	const struct smsc_routes *routes = snapshot_acquire(ss->s->out->routes);
	bool routed = smsc_route_find(routes, dest, ss->customer_id) != NULL;
	snapshot_release(ss->s->out->routes, routes);
	return routed ? SMPP_ESME_ROK : SMPP_ESME_RINVDSTADR;
}

/* The limits, in the order an ESME can act on: admission, throttled (slow
 * down), then the destination. */
static uint32_t submit_check(struct smsc_session *ss, const struct smpp_pdu *p)
{
	uint32_t status = smsc_submit_admit(ss);

	if (status != SMPP_ESME_ROK)
		return status;
	if (!smsc_live_take(ss->live, ss->throughput, ss->burst, time_mono_us()))
		return SMPP_ESME_RTHROTTLED;
	status = smsc_submit_routed(ss, p->dest.addr);
	return status ? status : smsc_tendlc_check(ss, p, p->dest.addr); /* decision 0041 */
}

/* Queues one row of p for the batching writer; done(arg, status) runs on
 * the writer's thread once it is committed or has failed. */
/* Which part of which long message p is, for destination dest: concat_key
 * "<source>|<dest>|<reference>|<total>" and the part number, or key "" for
 * a whole one.  A UDH or SAR set that does not hold is stored as a whole
 * message, as it came. */
static void submit_concat(const struct smpp_pdu *p, const struct smpp_addr *dest, char *key,
			  size_t n, struct smpp_concat *c)
{
	struct str body;
	struct str src = p->source.addr.p ? p->source.addr : STR_LIT("");

	key[0] = '\0';
	if (smpp_concat_read(p, c, &body) != 0 || c->total < 2) {
		*c = (struct smpp_concat){.total = 1, .seqnum = 1};
		return;
	}
	snprintf(key, n, "%.*s|%.*s|%u|%u", STR_FMT(src), STR_FMT(dest->addr), (unsigned)c->ref,
		 (unsigned)c->total);
}

int smsc_submit_queue(struct smsc_session *ss, const struct smpp_pdu *p,
		      const struct smsc_submit_row *row, store_batch_done_fn done, void *arg)
{
	char ref[8], key[2 * SMPP_ADDR_WIDE_MAX + 16];
	int64_t now = time_wall_ms();
	struct smpp_concat c;

	if (p->tlv.has & SMPP_HAS_USER_MESSAGE_REFERENCE) /* most submits carry none */
		snprintf(ref, sizeof(ref), "%u", (unsigned)p->tlv.user_message_reference);
	submit_concat(p, row->dest, key, sizeof(key), &c);
	struct store_param params[INSERT_PARAMS] = {
	    store_p_text(row->id),
	    store_p_text(ss->customer_id),
	    store_p_text(ss->account_id),
	    (p->tlv.has & SMPP_HAS_USER_MESSAGE_REFERENCE) ? store_p_text(ref) : store_p_null(),
	    store_p_str(p->source.addr.p ? p->source.addr : STR_LIT("")),
	    store_p_int(p->source.ton),
	    store_p_int(p->source.npi),
	    store_p_str(row->dest->addr),
	    store_p_int(row->dest->ton),
	    store_p_int(row->dest->npi),
	    store_p_int(p->data_coding),
	    store_p_int(row->esm_class),
	    store_p_int(p->registered_delivery),
	    store_p_text(row->hex),
	    store_p_int(row->due),
	    store_p_int(row->expires),
	    store_p_int(now),
	    key[0] ? store_p_text(key) : store_p_null(),
	    store_p_int(c.seqnum),
	    store_p_int(c.total),
	    store_p_int(now - CONCAT_WINDOW_MS),
	    store_p_text(row->group_id),
	};
	int64_t amount = 0; /* a prepaid customer's part: its price, reserved with it */
	int rc = smsc_prepaid_price(ss->s, ss->customer_id, row->dest->addr, &amount);

	if (rc == 0 && amount > 0)
		return smsc_prepaid_queue(ss->s, ss->customer_id, row, amount, params,
					  INSERT_PARAMS, done, arg);
	return rc < 0 ? rc : store_batch_add(ss->s->insert, params, done, arg);
}

void smsc_submit_handle(struct smsc_session *ss, const struct smpp_pdu *p)
{
	struct submit_wait *w = NULL;
	struct str body;
	int64_t due, expires, now = time_wall_ms();
	uint32_t status = submit_check(ss, p);

	if (status == SMPP_ESME_ROK)
		status = smsc_submit_body(p, &body);
	if (status == SMPP_ESME_ROK)
		status = smsc_submit_times(ss->s, p, now, &due, &expires);
	if (status == SMPP_ESME_ROK && (!(w = calloc(1, sizeof(*w))) ||
					smsc_msgid_new(&ss->s->ids, now, w->id, sizeof(w->id)) < 0))
		status = SMPP_ESME_RSYSERR;
	if (status != SMPP_ESME_ROK)
		goto refuse;
	w->ss = ss;
	w->arrived_us = time_mono_us();
	w->command_id = p->command_id;
	w->sequence_number = p->sequence_number;
	ss->refs++;
	ss->outstanding++;
	uint8_t form[SMSC_UDH_FORM_MAX];
	uint8_t esm_class = smsc_submit_udh_form(p, &body, form, sizeof(form));
	hex_encode(body.p, body.len, ss->s->hex);
	struct smsc_submit_row row = {w->id, w->id, &p->dest, ss->s->hex, due, expires, esm_class};
	int rc = smsc_submit_queue(ss, p, &row, submit_stored, w);
	if (rc == 0)
		return;
	ss->refs--;
	ss->outstanding--;
	status = rc == -EAGAIN	 ? SMPP_ESME_RMSGQFUL
		 : rc == -ENOENT ? SMPP_ESME_RINVDSTADR /* prepaid: no price for it */
				 : SMPP_ESME_RSYSERR;
refuse:
	free(w);
	metric_inc(ss->s->m_submits_refused);
	smsc_answer(ss, p, status);
}

/* Our ids as an ESME sees them: without the "msg_" prefix, so that an id
 * in receipt text under the default alphabet (where '_' is not '_') reads
 * the same in every client.  The store keeps the full id. */
struct str smsc_wire_id(const char *id)
{
	struct str s = str_from_cstr(id);
	if (str_has_prefix(s, STR_LIT("msg_")))
		return (struct str){s.p + 4, s.len - 4};
	return s;
}
