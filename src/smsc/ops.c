/*
 * ops.c — query_sm, cancel_sm and replace_sm from a bound ESME on the
 * messages it submitted (SMPP 3.4 §4.8-4.10).
 *
 * The ESME names a message by the id its submit_sm_resp carried (the
 * store's id without "msg_", smsc_wire_id) and by its source_addr.  A row
 * is looked for only among the session's customer's messages and with that
 * source, so the id of another customer's message reads as an unknown one
 * (ESME_RQUERYFAIL, ...) and nothing about it is revealed.
 *
 * cancel_sm and replace_sm change a row only while it still waits (state
 * accepted or queued) and nobody holds its lease: the dispatcher takes a
 * row by moving lease_until into the future, so one UPDATE conditioned on
 * both cannot touch a row that is being sent upstream at this moment, by
 * this process or another on the same store.  A cancelled row becomes
 * 'rejected' with error 'cancelled' (0009's CHECK has no state for it;
 * decision 0024) and gets no receipt: the ESME asked for the cancel and
 * has its answer.  query_sm reports such a row as DELETED.
 *
 * The store work runs on the upstream thread (pool thread 1), which does
 * its store work synchronously already, so no session waits on it; the
 * answer comes back to the session thread.  Each request holds a session
 * reference and a window slot until it is answered.  Every answer is
 * counted in warp_smsc_ops_total{op,result}: ok; failed (the operation's
 * own ESME_RQUERYFAIL, _RCANCELFAIL or _RREPLACEFAIL: no such message of
 * this customer and source, or no longer waiting); refused (any other
 * refusal: not bound, throttled, window full, a bad time); error (the
 * store failed, ESME_RSYSERR).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

/* §5.2.28 message_state values. */
enum {
	STATE_ENROUTE = 1,
	STATE_DELIVERED = 2,
	STATE_EXPIRED = 3,
	STATE_DELETED = 4,
	STATE_UNDELIVERABLE = 5,
	STATE_UNKNOWN = 7,
	STATE_REJECTED = 8,
};

#define CANCELLED "cancelled" /* the error of a row cancel_sm took */

/* A row still waiting and not leased; $1 is now. */
#define WAITING                                                                                    \
	" WHERE state IN ('accepted', 'queued') AND lease_until <= $1 AND customer_id = $2 AND "   \
	"source = $3 AND "
#define CANCEL_SQL                                                                                 \
	"UPDATE messages SET state = 'rejected', error = '" CANCELLED "', receipt_due = 0, "       \
	"lease_owner = NULL, updated_at = $1" WAITING
/* A message of one part only: one short_message cannot replace several. */
#define REPLACE_SQL                                                                                \
	"UPDATE messages SET body = $5, registered_delivery = $6, next_attempt_at = "              \
	"COALESCE($7, next_attempt_at), expires_at = COALESCE($8, expires_at), updated_at = "      \
	"$1" WAITING "group_id = $4 AND part_total = 1"

struct op_job {
	struct smsc *s;
	struct smsc_session *ss; /* touched on the session thread only */
	uint32_t command_id, seq;
	char id[ID_MAX]; /* the store's id; "" for a cancel by addresses */
	char customer_id[ID_MAX], account_id[ID_MAX];
	char source[SMPP_ADDR_MAX], dest[SMPP_ADDR_MAX];
	char wire_id[SMPP_MESSAGE_ID_MAX];
	/* replace_sm */
	uint8_t registered_delivery;
	bool has_due, has_expires;
	int64_t due, expires;
	char hex[2 * SMPP_SM_MAX + 1];
	/* the answer */
	uint32_t status;
	char final_date[SMPP_TIME_MAX];
	uint8_t message_state, error_code;
};

uint8_t smsc_ops_message_state(const char *state, const char *error)
{
	static const struct {
		const char *state;
		uint8_t value;
	} map[] = {
	    {"accepted", STATE_ENROUTE},  {"queued", STATE_ENROUTE},
	    {"submitted", STATE_ENROUTE}, {"delivered", STATE_DELIVERED},
	    {"expired", STATE_EXPIRED},	  {"undeliverable", STATE_UNDELIVERABLE},
	    {"rejected", STATE_REJECTED},
	};

	if (strcmp(state, "rejected") == 0 && error && strcmp(error, CANCELLED) == 0)
		return STATE_DELETED;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(state, map[i].state) == 0)
			return map[i].value;
	return STATE_UNKNOWN;
}

/* The upstream's error as receipt_parse.c stored it: "network:T:C" from
 * network_error_code (the code, capped to the octet), "err:NNN" from the
 * receipt text (NNN when it is a decimal up to 255); anything else is ours
 * (no_route, cancelled, ...) and no network error. */
uint8_t smsc_ops_error_code(const char *error)
{
	unsigned type, code;
	char *end;

	if (!error)
		return 0;
	if (sscanf(error, "network:%u:%u", &type, &code) == 2)
		return (uint8_t)(code > 255 ? 255 : code);
	if (strncmp(error, "err:", 4) != 0 || error[4] < '0' || error[4] > '9')
		return 0;
	unsigned long v = strtoul(error + 4, &end, 10);
	return *end == '\0' && v <= 255 ? (uint8_t)v : 0;
}

/* The ops' indices in s->m_ops, by command_id. */
static int op_index(uint32_t command_id)
{
	return command_id == SMPP_QUERY_SM ? 0 : command_id == SMPP_CANCEL_SM ? 1 : 2;
}

int smsc_ops_metrics_init(struct smsc *s)
{
	static const char *const ops[SMSC_OPS] = {"query_sm", "cancel_sm", "replace_sm"};
	static const char *const results[SMSC_OP_RESULTS] = {"ok", "failed", "refused", "error"};
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_smsc_ops_total",
	    "query_sm, cancel_sm and replace_sm from ESMEs, by how they were answered: ok, failed "
	    "(no such message, or no longer waiting), refused (before the store), error.",
	    "op,result");
	for (int i = 0; f && i < SMSC_OPS; i++)
		for (int k = 0; k < SMSC_OP_RESULTS; k++)
			if (!(s->m_ops[i][k] = metric_get(f, ops[i], results[k])))
				return -ENOMEM;
	return f ? 0 : -EINVAL;
}

static void op_count(struct smsc *s, uint32_t command_id, uint32_t status)
{
	int result = status == SMPP_ESME_ROK ? 0
		     : status == SMPP_ESME_RQUERYFAIL || status == SMPP_ESME_RCANCELFAIL ||
			     status == SMPP_ESME_RREPLACEFAIL
			 ? 1
		     : status == SMPP_ESME_RSYSERR ? 3
						   : 2;
	metric_inc(s->m_ops[op_index(command_id)][result]);
}

static uint32_t op_fail(uint32_t command_id)
{
	if (command_id == SMPP_QUERY_SM)
		return SMPP_ESME_RQUERYFAIL;
	return command_id == SMPP_CANCEL_SM ? SMPP_ESME_RCANCELFAIL : SMPP_ESME_RREPLACEFAIL;
}

static void op_copy(char *out, size_t n, struct str s)
{
	size_t k = s.p ? (s.len < n ? s.len : n - 1) : 0;
	if (k)
		memcpy(out, s.p, k);
	out[k] = '\0';
}

/* The store's id of an id as the ESME writes it (with or without "msg_"). */
static bool op_store_id(struct str wire, char *out, size_t n)
{
	bool bare = !str_has_prefix(wire, STR_LIT("msg_"));
	if (!wire.p || wire.len + (bare ? 4 : 0) >= n)
		return false;
	snprintf(out, n, "%s%.*s", bare ? "msg_" : "", STR_FMT(wire));
	return id_valid(str_from_cstr(out), "msg");
}

/* ------------------------------------------ on the upstream thread */

/* A message by the id its submit answered: that row, or every destination
 * of a submit_multi (whose id is the group's); a part of a long message
 * alone, though its group bears the first part's id (decision 0026). */
#define BY_ID(n) "(id = " n " OR (group_id = " n " AND concat_key IS NULL))"

/* Which row speaks for a message of several (the destinations of a
 * submit_multi), as GET /api/v1/messages/{id} derives its status: a failed
 * one (rejected, undeliverable, expired, in that order), else the least
 * advanced, else a delivered one.  Lower is stronger. */
static int op_state_rank(const char *state)
{
	static const char *const order[] = {"rejected", "undeliverable", "expired",  "accepted",
					    "queued",	"submitted",	 "delivered"};
	for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
		if (strcmp(state, order[i]) == 0)
			return i;
	return 0;
}

/* §4.8: the message's state; for a submit_multi the state of all its
 * destinations as one (op_state_rank), final_date the last one's end. */
static void op_query(struct op_job *j, struct store_conn *c)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(j->id), store_p_text(j->customer_id),
				  store_p_text(j->source)};
	int rc = store_exec(c,
			    "SELECT state, error, updated_at FROM messages WHERE " BY_ID(
				"$1") " AND customer_id = $2 AND source = $3",
			    p, 3, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0, pick = 0;
	int64_t last = 0;

	j->status = rc < 0 ? SMPP_ESME_RSYSERR : SMPP_ESME_RQUERYFAIL;
	for (size_t i = 0; i < n; i++) {
		if (op_state_rank(store_res_text(r, i, 0)) <
		    op_state_rank(store_res_text(r, pick, 0)))
			pick = i;
		if (store_res_int(r, i, 2) > last)
			last = store_res_int(r, i, 2);
	}
	if (n > 0) {
		j->message_state =
		    smsc_ops_message_state(store_res_text(r, pick, 0), store_res_text(r, pick, 1));
		j->error_code = smsc_ops_error_code(store_res_text(r, pick, 1));
		if (j->message_state != STATE_ENROUTE && j->message_state != STATE_UNKNOWN)
			smsc_time_format(last, j->final_date);
		j->status = SMPP_ESME_ROK;
	}
	store_res_free(r);
}

/* §4.9: by message_id (every destination of a submit_multi; destination_addr,
 * when given, must match too), or every waiting message of this account
 * from source to destination.  service_type is not stored, so it is not
 * compared. */
static void op_cancel(struct op_job *j, struct store_conn *c)
{
	struct store_res *r = NULL;
	bool by_id = j->id[0] != '\0';
	struct store_param p[] = {
	    store_p_int(time_wall_ms()), store_p_text(j->customer_id), store_p_text(j->source),
	    store_p_text(by_id ? j->id : j->account_id), store_p_text(j->dest)};
	const char *sql = !by_id       ? CANCEL_SQL "smpp_account_id = $4 AND destination = $5"
			  : j->dest[0] ? CANCEL_SQL BY_ID("$4") " AND destination = $5"
				       : CANCEL_SQL BY_ID("$4");
	int rc = store_exec(c, sql, p, by_id && !j->dest[0] ? 4 : 5, &r);

	j->status = rc < 0		       ? SMPP_ESME_RSYSERR
		    : store_res_changes(r) > 0 ? SMPP_ESME_ROK
					       : SMPP_ESME_RCANCELFAIL;
	if (rc == 0 && store_res_changes(r) > 0)
		log_info("smsc", "%s: %lld message(s) cancelled", j->account_id,
			 (long long)store_res_changes(r));
	store_res_free(r);
}

static void op_replace(struct op_job *j, struct store_conn *c)
{
	struct store_res *r = NULL;
	struct store_param p[] = {
	    store_p_int(time_wall_ms()),
	    store_p_text(j->customer_id),
	    store_p_text(j->source),
	    store_p_text(j->id),
	    store_p_text(j->hex),
	    store_p_int(j->registered_delivery),
	    j->has_due ? store_p_int(j->due) : store_p_null(),
	    j->has_expires ? store_p_int(j->expires) : store_p_null(),
	};
	/* decision 0041: the new text meets the message's content rules */
	j->status = smsc_tendlc_replace(j->s, c, j->id, j->customer_id, j->source, j->hex);
	if (j->status != SMPP_ESME_ROK)
		return;
	int rc = store_exec(c, REPLACE_SQL, p, 8, &r);

	j->status = rc < 0		       ? SMPP_ESME_RSYSERR
		    : store_res_changes(r) > 0 ? SMPP_ESME_ROK
					       : SMPP_ESME_RREPLACEFAIL;
	store_res_free(r);
}

static void op_answer(void *arg);

static void op_run(void *arg)
{
	struct op_job *j = arg;
	struct store_conn *c = store_conn(j->s->o.store);

	if (!c)
		j->status = SMPP_ESME_RSYSERR;
	else if (j->command_id == SMPP_QUERY_SM)
		op_query(j, c);
	else if (j->command_id == SMPP_CANCEL_SM)
		op_cancel(j, c);
	else
		op_replace(j, c);
	if (loop_pool_call(j->s->pool, 0, op_answer, j) < 0)
		log_error("smsc", "%s done but its answer is lost (out of memory)",
			  smpp_command_name(j->command_id));
}

/* ------------------------------------------- on the session thread */

static void op_answer(void *arg)
{
	struct op_job *j = arg;
	struct smsc_session *ss = j->ss;
	struct smpp_pdu r;

	ss->outstanding--;
	op_count(ss->s, j->command_id, j->status);
	smpp_pdu_init(&r, j->command_id | SMPP_RESP_BIT, j->seq);
	r.command_status = j->status;
	if (j->command_id == SMPP_QUERY_SM && j->status == SMPP_ESME_ROK) {
		r.message_id = str_from_cstr(j->wire_id);
		r.final_date = str_from_cstr(j->final_date);
		r.message_state = j->message_state;
		r.error_code = j->error_code;
	}
	smsc_session_send(ss, &r);
	smsc_session_unref(ss);
	free(j);
}

/* replace_sm's new values: an empty schedule_delivery_time or
 * validity_period keeps the message's own (§4.10.1). */
static uint32_t op_replacement(struct smsc *s, const struct smpp_pdu *p, struct op_job *j)
{
	uint32_t status = smsc_submit_times(s, p, time_wall_ms(), &j->due, &j->expires);

	j->has_due = p->schedule_delivery_time.len > 0;
	j->has_expires = p->validity_period.len > 0;
	j->registered_delivery = p->registered_delivery;
	hex_encode(p->short_message.p, p->short_message.len, j->hex);
	return status;
}

static uint32_t op_prepare(struct smsc_session *ss, const struct smpp_pdu *p, struct op_job *j)
{
	bool by_addr = p->command_id == SMPP_CANCEL_SM && p->message_id.len == 0;

	j->s = ss->s;
	j->ss = ss;
	j->command_id = p->command_id;
	j->seq = p->sequence_number;
	snprintf(j->customer_id, sizeof(j->customer_id), "%s", ss->customer_id);
	snprintf(j->account_id, sizeof(j->account_id), "%s", ss->account_id);
	op_copy(j->source, sizeof(j->source), p->source.addr);
	op_copy(j->dest, sizeof(j->dest), p->dest.addr);
	op_copy(j->wire_id, sizeof(j->wire_id), p->message_id);
	if (by_addr ? j->dest[0] == '\0' : !op_store_id(p->message_id, j->id, sizeof(j->id)))
		return op_fail(p->command_id);
	return p->command_id == SMPP_REPLACE_SM ? op_replacement(ss->s, p, j) : SMPP_ESME_ROK;
}

void smsc_ops_handle(struct smsc_session *ss, const struct smpp_pdu *p)
{
	struct op_job *j = NULL;
	uint32_t status = smsc_submit_admit(ss);

	if (status == SMPP_ESME_ROK && !(j = calloc(1, sizeof(*j))))
		status = SMPP_ESME_RSYSERR;
	if (status == SMPP_ESME_ROK)
		status = op_prepare(ss, p, j);
	if (status != SMPP_ESME_ROK)
		goto refuse;
	ss->refs++;
	ss->outstanding++;
	if (loop_pool_call(ss->s->pool, 1, op_run, j) == 0)
		return;
	ss->refs--;
	ss->outstanding--;
	status = SMPP_ESME_RSYSERR;
refuse:
	free(j);
	op_count(ss->s, p->command_id, status);
	smsc_answer(ss, p, status);
}
