/*
 * receipts.c — what goes from the store to a customer's bound receiver or
 * transceiver session as deliver_sm: final states back to the SMPP
 * customer that asked for them (esm_class 0x04, receipted_message_id,
 * message_state and the SMPP 3.4 Appendix B text), and mobile-originated
 * messages to the customer whose number they were sent to (mo.c builds
 * those PDUs and records their delivery).
 *
 * Both are durable before they are sent (messages.receipt_due, set in the
 * same UPDATE that makes the state final; an inbound_messages row in state
 * 'pending') and cleared only when the ESME answered deliver_sm_resp
 * ESME_ROK, so one held while no receiver is bound waits in the store and
 * one lost with a session is sent again once its lease (RECEIPT_LEASE_MS)
 * runs out.  The upstream thread leases them only for accounts (receipts)
 * and customers (MO) with a receiver bound in this process (the session
 * thread tells it on every bind and unbind) and hands them to the session
 * thread, which sends them and reports the answers back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smsc/smsc_private.h"

#define RECEIPT_LEASE_MS 30000
#define RECEIPT_BATCH 1000
#define RECEIPT_CLEAR_MAX 500	/* ids per clearing UPDATE */
#define RECEIPT_CLEAR_PAD 512	/* the power of two >= RECEIPT_CLEAR_MAX */
#define RECEIPT_ACCOUNTS_MAX 32 /* per query */
#define RECEIPT_POLL_MS 100

/* What one kind of deliver_sm leases: the rows due for the receivers'
 * keys (account or customer ids) in $3..., lease_until set to $1 where it
 * is <= $2. */
struct lease_kind {
	const char *head, *order, *columns;
	struct smsc_dlr *(*row)(const struct store_res *r, size_t i);
	const char *(*key)(const struct smsc_receivers *rc);
};

/* ---------------------------------------------- on the upstream thread */

struct receivers_delta {
	struct smsc_out *o;
	char account_id[ID_MAX], customer_id[ID_MAX];
	int delta;
};

static void receivers_apply(void *arg)
{
	struct receivers_delta *d = arg;
	struct smsc_receivers **pp = &d->o->receivers;

	while (*pp && strcmp((*pp)->account_id, d->account_id) != 0)
		pp = &(*pp)->next;
	if (!*pp && d->delta > 0 && (*pp = calloc(1, sizeof(**pp)))) {
		snprintf((*pp)->account_id, sizeof((*pp)->account_id), "%s", d->account_id);
		snprintf((*pp)->customer_id, sizeof((*pp)->customer_id), "%s", d->customer_id);
	}
	if (*pp && ((*pp)->count += d->delta) <= 0) {
		struct smsc_receivers *gone = *pp;
		*pp = gone->next;
		free(gone);
	}
	free(d);
}

/* From the session thread: account_id (of customer_id) has one receiver
 * more (or fewer). */
void smsc_receipts_receivers(struct smsc *s, const char *account_id, const char *customer_id,
			     int delta)
{
	struct receivers_delta *d = calloc(1, sizeof(*d));

	if (!d)
		return; /* the receipts then wait for the next bind */
	d->o = s->out;
	d->delta = delta;
	snprintf(d->account_id, sizeof(d->account_id), "%s", account_id);
	snprintf(d->customer_id, sizeof(d->customer_id), "%s", customer_id);
	if (loop_pool_call(s->pool, 1, receivers_apply, d) < 0)
		free(d);
}

/* Columns 0..7 both lease kinds return: id, then the receipt's account or
 * the MO's customer, then the addresses with TON and NPI. */
struct smsc_dlr *smsc_dlr_row(const struct store_res *r, size_t i, enum smsc_dlr_kind kind)
{
	struct smsc_dlr *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->kind = kind;
	snprintf(d->id, sizeof(d->id), "%s", store_res_text(r, i, 0));
	snprintf(kind == SMSC_DLR_MO ? d->customer_id : d->account_id, ID_MAX, "%s",
		 store_res_text(r, i, 1));
	snprintf(d->source, sizeof(d->source), "%s", store_res_text(r, i, 2));
	d->source_ton = (uint8_t)store_res_int(r, i, 3);
	d->source_npi = (uint8_t)store_res_int(r, i, 4);
	snprintf(d->dest, sizeof(d->dest), "%s", store_res_text(r, i, 5));
	d->dest_ton = (uint8_t)store_res_int(r, i, 6);
	d->dest_npi = (uint8_t)store_res_int(r, i, 7);
	return d;
}

static struct smsc_dlr *receipt_row(const struct store_res *r, size_t i)
{
	struct smsc_dlr *d = smsc_dlr_row(r, i, SMSC_DLR_RECEIPT);

	if (!d)
		return NULL;
	snprintf(d->state, sizeof(d->state), "%s", store_res_text(r, i, 8));
	snprintf(d->error, sizeof(d->error), "%s", store_res_text(r, i, 9));
	d->submitted_ms = store_res_int(r, i, 10);
	d->done_ms = store_res_int(r, i, 11);
	snprintf(d->receipted, sizeof(d->receipted), "%s", store_res_text(r, i, 12));
	return d;
}

static const char *receiver_account(const struct smsc_receivers *rc)
{
	return rc->account_id;
}

static const char *receiver_customer(const struct smsc_receivers *rc)
{
	return rc->customer_id;
}

static const struct lease_kind lease_kinds[] = {
    {"UPDATE messages SET receipt_lease_until = $1 WHERE id IN (SELECT id FROM messages WHERE "
     "receipt_due = 1 AND receipt_lease_until <= $2 AND smpp_account_id IN (",
     ") ORDER BY updated_at",
     " RETURNING id, smpp_account_id, source, source_ton, source_npi, destination, dest_ton, "
     "dest_npi, state, error, created_at, updated_at, " SMSC_RECEIPTED_SQL,
     receipt_row, receiver_account},
    {"UPDATE inbound_messages SET lease_until = $1 WHERE id IN (SELECT id FROM inbound_messages "
     "WHERE state = 'pending' AND lease_until <= $2 AND expires_at > $2 AND "
     "NOT " SMSC_MO_BY_WEBHOOK("inbound_messages.customer_id") " AND customer_id IN (",
     ") ORDER BY created_at",
     " RETURNING id, customer_id, source, source_ton, source_npi, destination, dest_ton, "
     "dest_npi, data_coding, body",
     smsc_mo_row, receiver_customer},
};

static void receipts_lease_sql(const struct lease_kind *k, struct buf *sql, size_t nkeys,
			       bool postgres)
{
	buf_append_cstr(sql, k->head);
	for (size_t i = 0; i < nkeys; i++)
		buf_printf(sql, "%s$%zu", i ? ", " : "", i + 3);
	buf_printf(sql, "%s LIMIT %d%s)%s", k->order, RECEIPT_BATCH,
		   postgres ? " FOR UPDATE SKIP LOCKED" : "", k->columns);
}

/* Leases what is due for up to RECEIPT_ACCOUNTS_MAX receivers from *from
 * on and hands it to the session thread. */
static size_t receipts_lease(struct smsc *s, const struct lease_kind *k,
			     struct smsc_receivers **from)
{
	struct store_param p[2 + RECEIPT_ACCOUNTS_MAX];
	struct store_res *r = NULL;
	struct store_conn *c = store_conn(s->o.store);
	struct buf sql;
	size_t n = 0;
	int64_t now = time_wall_ms();

	p[0] = store_p_int(now + RECEIPT_LEASE_MS);
	p[1] = store_p_int(now);
	for (; *from && n < RECEIPT_ACCOUNTS_MAX; *from = (*from)->next)
		p[2 + n++] = store_p_text(k->key(*from));
	buf_init(&sql);
	receipts_lease_sql(k, &sql, n, store_kind(s->o.store) == STORE_POSTGRES);
	if (c && sql.p && store_exec(c, sql.p, p, 2 + n, &r) == 0)
		for (size_t i = 0; i < store_res_rows(r); i++) {
			struct smsc_dlr *d = k->row(r, i);
			if (d) {
				d->s = s;
				d->lease_until = now + RECEIPT_LEASE_MS;
				if (loop_pool_call(s->pool, 0, smsc_receipts_deliver, d) < 0)
					smsc_dlr_free(d);
			}
		}
	n = store_res_rows(r);
	store_res_free(r);
	buf_fini(&sql);
	return n;
}

/* On the upstream thread's tick. */
void smsc_receipts_poll(struct smsc *s)
{
	int64_t now = time_mono_ms();
	struct smsc_receivers *from = s->out->receivers;

	/* A full lease means more are due: the next tick goes on at once
	 * instead of waiting out the poll interval (a burst of receipts would
	 * otherwise go out at RECEIPT_BATCH per RECEIPT_POLL_MS). */
	if (!from || (!s->out->receipts_more && now - s->out->receipts_polled_ms < RECEIPT_POLL_MS))
		return;
	s->out->receipts_polled_ms = now;
	s->out->receipts_more = false;
	for (size_t k = 0; k < sizeof(lease_kinds) / sizeof(lease_kinds[0]); k++)
		for (from = s->out->receivers; from;)
			if (receipts_lease(s, &lease_kinds[k], &from) >= RECEIPT_BATCH)
				s->out->receipts_more = true;
}

/* One UPDATE for the receipts the ESMEs took, through the batching writer.
 * The id list is padded (with its last id) to a power of two, so that
 * SQLite prepares a handful of statements, not one per length. */
void smsc_receipts_flush(struct smsc_out *o)
{
	struct store_param p[RECEIPT_CLEAR_PAD];
	struct buf sql;
	size_t n = o->nreceipts_cleared, padded = 1;

	if (n == 0)
		return;
	while (padded < n)
		padded *= 2;
	buf_init(&sql);
	buf_append_cstr(&sql, "UPDATE messages SET receipt_due = 0 WHERE id IN (");
	for (size_t i = 0; i < padded; i++) {
		p[i] = store_p_text(o->receipts_cleared[i < n ? i : n - 1]);
		buf_printf(&sql, "%s$%zu", i ? ", " : "", i + 1);
	}
	buf_append_char(&sql, ')');
	/* On a store error they stay due and go out again after their lease:
	 * at least once, as receipts are. */
	struct store_batch_stmt st = {sql.p, p, padded};
	if (sql.p)
		smsc_writes_add_by_key(o, 0, &st, 1, NULL);
	buf_fini(&sql);
	o->nreceipts_cleared = 0;
}

/* On the upstream thread: the ESME took d.  Its row is cleared with the
 * others of this tick (smsc_receipts_flush), one UPDATE for many, or at
 * once when the upstream side is gone (shutdown). */
static void receipt_sent(void *arg)
{
	struct smsc_dlr *d = arg;
	struct smsc_out *o = d->s->out;

	if (o && !o->receipts_cleared)
		o->receipts_cleared = calloc(RECEIPT_CLEAR_MAX, sizeof(*o->receipts_cleared));
	if (o && o->receipts_cleared) {
		snprintf(o->receipts_cleared[o->nreceipts_cleared++], ID_MAX, "%s", d->id);
		if (o->nreceipts_cleared == RECEIPT_CLEAR_MAX)
			smsc_receipts_flush(o);
	} else {
		struct store_param p[] = {store_p_text(d->id)};
		struct store_conn *c = store_conn(d->s->o.store);
		if (c)
			store_exec(c, "UPDATE messages SET receipt_due = 0 WHERE id = $1", p, 1,
				   NULL);
	}
	smsc_dlr_free(d);
}

void smsc_dlr_free(struct smsc_dlr *d)
{
	if (d)
		free(d->body);
	free(d);
}

/* ----------------------------------------------- on the session thread */

static const uint8_t message_state_of[] = {0, 2, 3, 5, 8};
static const char *const state_names[] = {"", "delivered", "expired", "undeliverable", "rejected"};
static const char *const stat_texts[] = {"UNKNOWN", "DELIVRD", "EXPIRED", "UNDELIV", "REJECTD"};

static size_t state_index(const char *state)
{
	for (size_t i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(state, state_names[i]) == 0)
			return i;
	return 0;
}

static void stamp(int64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, 16, "%02u%02u%02u%02u%02u", (unsigned)tm.tm_year % 100,
		 (unsigned)tm.tm_mon % 12 + 1, (unsigned)tm.tm_mday % 32, (unsigned)tm.tm_hour % 24,
		 (unsigned)tm.tm_min % 60);
}

/* Appendix B: "id:… sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:… stat:… err:… text:" */
static void receipt_text(const struct smsc_dlr *d, size_t st, char *out, size_t n)
{
	char sub[16], done[16];
	const char *err = strncmp(d->error, "err:", 4) == 0 ? d->error + 4 : "000";

	stamp(d->submitted_ms, sub);
	stamp(d->done_ms, done);
	struct str id = smsc_wire_id(d->receipted);
	snprintf(
	    out, n, "id:%.*s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%.3s text:",
	    STR_FMT(id), st == 1 ? "001" : "000", sub, done, stat_texts[st], err[0] ? err : "000");
}

/* A bound receiver or transceiver: of the receipt's account, or of any
 * account of the MO's customer. */
static struct smsc_session *receipt_session(struct smsc *s, const struct smsc_dlr *d)
{
	for (struct smsc_session *ss = s->sessions; ss; ss = ss->next)
		if (!ss->dead && (ss->state == SMSC_BOUND_RX || ss->state == SMSC_BOUND_TRX) &&
		    (d->kind == SMSC_DLR_MO ? strcmp(ss->customer_id, d->customer_id)
					    : strcmp(ss->account_id, d->account_id)) == 0)
			return ss;
	return NULL;
}

static void receipt_fill(const struct smsc_dlr *d, struct smpp_pdu *p, char *text, size_t n)
{
	size_t st = state_index(d->state);

	receipt_text(d, st, text, n);
	/* The receipt travels back: from the message's destination to its source. */
	p->source = (struct smpp_addr){d->dest_ton, d->dest_npi, str_from_cstr(d->dest)};
	p->dest = (struct smpp_addr){d->source_ton, d->source_npi, str_from_cstr(d->source)};
	p->esm_class = SMSC_ESM_RECEIPT;
	p->short_message = str_from_cstr(text);
	p->tlv.has = SMPP_HAS_RECEIPTED_MESSAGE_ID | SMPP_HAS_MESSAGE_STATE;
	p->tlv.receipted_message_id = smsc_wire_id(d->receipted);
	p->tlv.message_state = message_state_of[st];
}

static void receipts_send(struct smsc_session *ss, struct smsc_dlr *d)
{
	char text[200];
	struct smpp_pdu p;

	smpp_pdu_init(&p, SMPP_DELIVER_SM, ++ss->seq);
	p.service_type = STR_LIT("");
	p.schedule_delivery_time = STR_LIT("");
	p.validity_period = STR_LIT("");
	if (d->kind == SMSC_DLR_MO) {
		snprintf(d->account_id, sizeof(d->account_id), "%s", ss->account_id);
		smsc_mo_fill(d, &p);
	} else {
		receipt_fill(d, &p, text, sizeof(text));
	}
	d->seq = p.sequence_number;
	smsc_dlr_append(&ss->dlrs, &ss->dlrs_last, d);
	smsc_session_send(ss, &p);
}

void smsc_receipts_deliver(void *arg)
{
	struct smsc_dlr *d = arg;
	struct smsc_session *ss = receipt_session(d->s, d);

	if (!ss) {
		smsc_dlr_free(d); /* unbound meanwhile: sent again when the lease runs out */
		return;
	}
	if (smsc_dlr_window_take(ss, d)) /* else it waits for an answer (dlr_window.c) */
		receipts_send(ss, d);
}

/* A deliver_sm_resp from the ESME: ESME_ROK clears the receipt (or marks
 * the MO delivered) in the store; any other answer leaves it for the lease
 * to run out. */
void smsc_receipts_answered(struct smsc_session *ss, const struct smpp_pdu *p)
{
	struct smsc_dlr *prev = NULL;
	for (struct smsc_dlr **pp = &ss->dlrs; *pp; prev = *pp, pp = &(*pp)->next) {
		struct smsc_dlr *d = *pp;
		if (d->seq != p->sequence_number)
			continue;
		*pp = d->next;
		if (ss->dlrs_last == d)
			ss->dlrs_last = prev;
		if (p->command_status != SMPP_ESME_ROK ||
		    loop_pool_call(ss->s->pool, 1,
				   d->kind == SMSC_DLR_MO ? smsc_mo_sent : receipt_sent, d) < 0)
			smsc_dlr_free(d);
		smsc_dlr_window_answered(ss);
		while ((d = smsc_dlr_window_next(ss)))
			receipts_send(ss, d);
		return;
	}
}

void smsc_receipts_drop(struct smsc_session *ss)
{
	smsc_dlr_window_drop(ss);
	while (ss->dlrs) {
		struct smsc_dlr *d = ss->dlrs;
		ss->dlrs = d->next;
		smsc_dlr_free(d);
	}
	ss->dlrs_last = NULL;
}
