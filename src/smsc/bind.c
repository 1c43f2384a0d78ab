/*
 * bind.c — bind_transmitter, bind_receiver and bind_transceiver (SMPP 3.4
 * §4.1).  The cheap checks come first, on the session thread: the
 * system_id names an account (else ESME_RINVSYSID), the account is enabled
 * and its customer active, the peer's address is in its allowed networks
 * and it holds fewer than max_binds binds (else ESME_RBINDFAIL).  Only then
 * is the password checked, on the verify thread (ESME_RINVPASWD).
 *
 * A refused bind closes the session once its answer is written: a client
 * guessing passwords pays a TCP handshake per guess, and each guess costs
 * us a PBKDF2 check only after the address check passed.
 */
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define OUR_SYSTEM_ID "WARP"

static void bind_answer(struct smsc_session *ss, uint32_t status)
{
	struct smpp_pdu r;

	smpp_pdu_init(&r, ss->bind_cmd | SMPP_RESP_BIT, ss->bind_seq);
	r.command_status = status;
	r.system_id = STR_LIT(OUR_SYSTEM_ID);
	smsc_session_send(ss, &r);
	if (status == SMPP_ESME_ROK) {
		metric_inc(ss->s->m_binds_ok);
		return;
	}
	metric_inc(ss->s->m_binds_refused);
	smsc_session_finish(ss);
}

static enum smsc_bind_state bound_state(uint32_t cmd)
{
	return cmd == SMPP_BIND_TRANSMITTER ? SMSC_BOUND_TX
	       : cmd == SMPP_BIND_RECEIVER  ? SMSC_BOUND_RX
					    : SMSC_BOUND_TRX;
}

static void bind_checked(struct smsc_verify_job *j)
{
	struct smsc_session *ss = j->arg;
	int result = j->result;
	char where[NET_ADDR_STRLEN];

	free(j);
	if (ss->dead)
		goto out;
	net_addr_format(&ss->peer, where, sizeof(where));
	if (result < 0) {
		log_error("smsc", "bind %s from %s: the stored password hash is unreadable",
			  ss->system_id, where);
		bind_answer(ss, SMPP_ESME_RBINDFAIL);
	} else if (result == 0) {
		log_info("smsc", "bind %s from %s refused: wrong password", ss->system_id, where);
		bind_answer(ss, SMPP_ESME_RINVPASWD);
	} else if (ss->live->binds >= ss->max_binds) {
		log_info("smsc", "bind %s from %s refused: max_binds reached", ss->system_id,
			 where);
		bind_answer(ss, SMPP_ESME_RBINDFAIL);
	} else {
		ss->live->binds++;
		ss->holds_bind = true;
		ss->state = bound_state(ss->bind_cmd);
		if (ss->state != SMSC_BOUND_TX) {
			ss->receiver = true;
			smsc_receipts_receivers(ss->s, ss->account_id, ss->customer_id, 1);
		}
		log_info("smsc", "bound %s (%s) from %s", ss->system_id,
			 smpp_command_name(ss->bind_cmd), where);
		bind_answer(ss, SMPP_ESME_ROK);
	}
out:
	smsc_session_unref(ss);
}

/* The checks before the password; 0 when they pass, else the status. */
static uint32_t bind_precheck(struct smsc_session *ss, const struct smsc_account *a)
{
	char where[NET_ADDR_STRLEN];
	const char *why = NULL;

	if (!a)
		return SMPP_ESME_RINVSYSID;
	if (!a->enabled)
		why = "account disabled";
	else if (!a->customer_active)
		why = "customer suspended";
	else if (!smsc_account_allows(a, &ss->peer))
		why = "address not in allowed_cidrs";
	else if (!(ss->live = smsc_live_get(&ss->s->live, a->id)))
		why = "out of memory";
	else if (ss->live->binds >= a->max_binds)
		why = "max_binds reached";
	if (!why)
		return SMPP_ESME_ROK;
	net_addr_format(&ss->peer, where, sizeof(where));
	log_info("smsc", "bind %s from %s refused: %s", a->system_id, where, why);
	return SMPP_ESME_RBINDFAIL;
}

void smsc_bind_start(struct smsc_session *ss, const struct smpp_pdu *p)
{
	const struct smsc_accounts *snap = snapshot_acquire(ss->s->accounts);
	const struct smsc_account *a = smsc_accounts_find(snap, p->system_id);
	struct smsc_verify_job *j = NULL;
	uint32_t status;

	ss->bind_cmd = p->command_id;
	ss->bind_seq = p->sequence_number;
	str_copy(ss->system_id, sizeof(ss->system_id), p->system_id);
	status = bind_precheck(ss, a);
	if (status == SMPP_ESME_ROK && !(j = calloc(1, sizeof(*j))))
		status = SMPP_ESME_RSYSERR;
	if (status != SMPP_ESME_ROK)
		goto refuse;
	snprintf(ss->account_id, sizeof(ss->account_id), "%s", a->id);
	snprintf(ss->customer_id, sizeof(ss->customer_id), "%s", a->customer_id);
	ss->window = a->window;
	ss->max_binds = a->max_binds;
	ss->throughput = a->throughput;
	ss->burst = a->burst;
	str_copy(j->password, sizeof(j->password), p->password);
	snprintf(j->hash, sizeof(j->hash), "%s", a->password_hash);
	j->done = bind_checked;
	j->arg = ss;
	ss->refs++;
	ss->state = SMSC_BINDING;
	snapshot_release(ss->s->accounts, snap);
	smsc_verify_submit(ss->s->verify, j);
	return;
refuse:
	snapshot_release(ss->s->accounts, snap);
	if (!a)
		log_info("smsc", "bind refused: no account with system_id '%.*s'",
			 STR_FMT(p->system_id));
	bind_answer(ss, status);
}

void smsc_bind_release(struct smsc_session *ss)
{
	if (ss->holds_bind)
		ss->live->binds--;
	if (ss->receiver)
		smsc_receipts_receivers(ss->s, ss->account_id, ss->customer_id, -1);
	ss->holds_bind = ss->receiver = false;
}
