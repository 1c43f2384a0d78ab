/*
 * tm.c — RFC 3261 §17 client and server transactions (see tm.h).
 *
 * Each machine is a switch on the state per event.  Deadlines are absolute
 * monotonic milliseconds kept in the struct; after every event the earliest
 * one is handed to ops->arm so the owner keeps one timer per transaction.
 * A transaction that reaches Terminated calls ops->terminated last and is
 * not touched again: the owner may free it there.
 */
#include "sip/tm.h"

#include <errno.h>

void sip_tx_init(struct sip_tx *t, enum sip_tx_kind kind, bool reliable,
		 const struct sip_tx_ops *ops, void *arg)
{
	*t = (struct sip_tx){.kind = kind, .reliable = reliable, .ops = ops, .arg = arg};
	buf_init(&t->out);
	buf_init(&t->ack);
	t->retx_at = t->fail_at = t->end_at = -1;
	t->state = kind == SIP_TX_INVITE_CLIENT	  ? SIP_TX_CALLING
		   : kind == SIP_TX_INVITE_SERVER ? SIP_TX_PROCEEDING
						  : SIP_TX_TRYING;
}

void sip_tx_fini(struct sip_tx *t)
{
	buf_fini(&t->out);
	buf_fini(&t->ack);
}

const char *sip_tx_state_name(enum sip_tx_state s)
{
	static const char *const names[] = {"calling",	 "trying",    "proceeding",
					    "completed", "confirmed", "terminated"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int64_t sip_tx_deadline(const struct sip_tx *t)
{
	int64_t d = -1;
	const int64_t all[] = {t->retx_at, t->fail_at, t->end_at};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] >= 0 && (d < 0 || all[i] < d))
			d = all[i];
	return d;
}

static void sip_tx_rearm(struct sip_tx *t)
{
	if (t->ops->arm)
		t->ops->arm(t, sip_tx_deadline(t));
}

static void sip_tx_send(struct sip_tx *t, const struct buf *b)
{
	if (b->len > 0)
		t->ops->send(t, (struct str){b->p, b->len});
}

/* Enters Terminated and tells the owner, who may free t: nothing after. */
static void sip_tx_terminate(struct sip_tx *t)
{
	t->state = SIP_TX_TERMINATED;
	t->retx_at = t->fail_at = t->end_at = -1;
	if (t->ops->arm)
		t->ops->arm(t, -1);
	t->ops->terminated(t);
}

/* A wait of ms, zero over reliable transports, then Terminated. */
static void sip_tx_wait(struct sip_tx *t, int64_t ms, int64_t now)
{
	t->retx_at = t->fail_at = -1;
	if (t->reliable || ms == 0) {
		sip_tx_terminate(t);
		return;
	}
	t->end_at = now + ms;
	sip_tx_rearm(t);
}

/* ------------------------------------------------------------- client */

void sip_tx_client_start(struct sip_tx *t, int64_t now)
{
	sip_tx_send(t, &t->out);
	/* §17.1.1.2 timer A, §17.1.2.2 timer E: only over unreliable transports. */
	if (!t->reliable) {
		t->retx_ms = SIP_T1_MS;
		t->retx_at = now + SIP_T1_MS;
	}
	t->fail_at = now + SIP_TIMER_B_MS; /* B and F are both 64*T1 */
	sip_tx_rearm(t);
}

static bool sip_tx_invite_client_response(struct sip_tx *t, int status, int64_t now)
{
	switch (t->state) {
	case SIP_TX_CALLING:
	case SIP_TX_PROCEEDING:
		t->status = status;
		if (status < 200) {
			/* §17.1.1.2: a provisional stops retransmissions, and
			 * RFC 3261 leaves B running only in Calling. */
			t->state = SIP_TX_PROCEEDING;
			t->retx_at = t->fail_at = -1;
			sip_tx_rearm(t);
			return true;
		}
		if (status < 300) {
			/* 2xx: the TU (the proxy) forwards it; the UAC acks end to end. */
			sip_tx_terminate(t);
			return true;
		}
		t->state = SIP_TX_COMPLETED;
		sip_tx_send(t, &t->ack);
		sip_tx_wait(t, SIP_TIMER_D_MS, now);
		return true;
	case SIP_TX_COMPLETED:
		/* A retransmitted final: ACK again, never pass it up (§17.1.1.2). */
		if (status >= 300)
			sip_tx_send(t, &t->ack);
		return false;
	default:
		return false;
	}
}

static bool sip_tx_noninvite_client_response(struct sip_tx *t, int status, int64_t now)
{
	if (t->state != SIP_TX_TRYING && t->state != SIP_TX_PROCEEDING)
		return false;
	t->status = status;
	if (status < 200) {
		/* §17.1.2.2: in Proceeding, E fires every T2. */
		t->state = SIP_TX_PROCEEDING;
		if (!t->reliable)
			t->retx_ms = SIP_T2_MS;
		sip_tx_rearm(t);
		return true;
	}
	t->state = SIP_TX_COMPLETED;
	sip_tx_wait(t, SIP_T4_MS, now); /* timer K */
	return true;
}

bool sip_tx_client_response(struct sip_tx *t, int status, int64_t now)
{
	if (t->kind == SIP_TX_INVITE_CLIENT)
		return sip_tx_invite_client_response(t, status, now);
	if (t->kind == SIP_TX_NONINVITE_CLIENT)
		return sip_tx_noninvite_client_response(t, status, now);
	return false;
}

/* ------------------------------------------------------------- server */

void sip_tx_server_start(struct sip_tx *t, int64_t now)
{
	(void)now;
	t->state = t->kind == SIP_TX_INVITE_SERVER ? SIP_TX_PROCEEDING : SIP_TX_TRYING;
}

void sip_tx_server_retransmit(struct sip_tx *t)
{
	/* §17.2.1 and §17.2.2: the last response answers a retransmission;
	 * in non-INVITE Trying there is none yet and the request is absorbed. */
	if (t->state == SIP_TX_PROCEEDING || t->state == SIP_TX_COMPLETED)
		sip_tx_send(t, &t->out);
}

static void sip_tx_invite_server_final(struct sip_tx *t, int status, int64_t now)
{
	if (status < 300) {
		/* §17.2.1: a 2xx ends the transaction; the TU retransmits it. */
		sip_tx_terminate(t);
		return;
	}
	t->state = SIP_TX_COMPLETED;
	if (!t->reliable) {
		t->retx_ms = SIP_T1_MS; /* timer G */
		t->retx_at = now + SIP_T1_MS;
	}
	t->fail_at = now + SIP_TIMER_B_MS; /* timer H */
	sip_tx_rearm(t);
}

int sip_tx_server_respond(struct sip_tx *t, int status, struct str bytes, int64_t now)
{
	bool proceeding = t->state == SIP_TX_PROCEEDING;
	if (t->state != SIP_TX_TRYING && !proceeding)
		return -EINVAL;
	buf_reset(&t->out);
	if (buf_append_str(&t->out, bytes) < 0)
		return -ENOMEM;
	t->status = status;
	sip_tx_send(t, &t->out);
	if (status < 200) {
		t->state = SIP_TX_PROCEEDING;
		return 0;
	}
	if (t->kind == SIP_TX_INVITE_SERVER) {
		sip_tx_invite_server_final(t, status, now);
		return 0;
	}
	t->state = SIP_TX_COMPLETED;
	sip_tx_wait(t, SIP_TIMER_B_MS, now); /* timer J */
	return 0;
}

void sip_tx_server_ack(struct sip_tx *t, int64_t now)
{
	if (t->kind != SIP_TX_INVITE_SERVER || t->state != SIP_TX_COMPLETED)
		return;
	t->state = SIP_TX_CONFIRMED;
	sip_tx_wait(t, SIP_T4_MS, now); /* timer I */
}

/* --------------------------------------------------------------- clock */

static void sip_tx_retransmit_due(struct sip_tx *t, int64_t now)
{
	sip_tx_send(t, &t->out);
	t->retx_ms *= 2;
	/* Timer A doubles without bound until B; E and G stop at T2. */
	if (t->kind != SIP_TX_INVITE_CLIENT && t->retx_ms > SIP_T2_MS)
		t->retx_ms = SIP_T2_MS;
	/* Non-INVITE Proceeding retransmits every T2 (§17.1.2.2). */
	if (t->kind == SIP_TX_NONINVITE_CLIENT && t->state == SIP_TX_PROCEEDING)
		t->retx_ms = SIP_T2_MS;
	t->retx_at = now + t->retx_ms;
}

static enum sip_tx_timer sip_tx_fail_timer(const struct sip_tx *t)
{
	if (t->kind == SIP_TX_INVITE_CLIENT)
		return SIP_TIMER_B;
	return t->kind == SIP_TX_NONINVITE_CLIENT ? SIP_TIMER_F : SIP_TIMER_H;
}

/* Terminated for `which`: the owner hears ops->timeout, then terminated. */
static void sip_tx_give_up(struct sip_tx *t, enum sip_tx_timer which)
{
	t->state = SIP_TX_TERMINATED;
	t->retx_at = t->fail_at = t->end_at = -1;
	t->ops->timeout(t, which);
	sip_tx_terminate(t);
}

void sip_tx_client_transport_error(struct sip_tx *t)
{
	bool client = t->kind == SIP_TX_INVITE_CLIENT || t->kind == SIP_TX_NONINVITE_CLIENT;

	if (client && t->state < SIP_TX_COMPLETED)
		sip_tx_give_up(t, SIP_TX_TRANSPORT);
}

void sip_tx_timer(struct sip_tx *t, int64_t now)
{
	if (t->state == SIP_TX_TERMINATED)
		return;
	if (t->end_at >= 0 && now >= t->end_at) {
		sip_tx_terminate(t);
		return;
	}
	if (t->fail_at >= 0 && now >= t->fail_at) {
		sip_tx_give_up(t, sip_tx_fail_timer(t));
		return;
	}
	if (t->retx_at >= 0 && now >= t->retx_at)
		sip_tx_retransmit_due(t, now);
	sip_tx_rearm(t);
}
