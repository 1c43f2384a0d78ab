/*
 * multi.c — submit_multi from a bound ESME (SMPP 3.4 §4.5): one message to
 * up to 254 destinations, stored as one messages row per destination
 * through submit.c's batching writer and answered once every row's fate is
 * known, so an ESME_ROK means each accepted destination is on disk, as for
 * submit_sm.
 *
 * The rows share a group_id, which is the message_id answered, and each
 * has an id of its own: no row bears the group's id, so that the upstream
 * side tells a destination of a multi from a message alone by its row
 * (SMSC_PARTS_SQL) and makes the message final when every destination is
 * (final.c, decision 0043).  query_sm answers for all the destinations,
 * cancel_sm and replace_sm reach every one still waiting (ops.c, by
 * group_id), and each destination's receipt to the ESME carries the
 * group's id (receipts.c).  Each destination is checked as a submit_sm's
 * is: an address, a route, then a token of the account's throughput (a
 * multi to 50 numbers is 50 messages).  One that fails is listed in
 * unsuccess_sme with its status and the others still go; distribution
 * lists, which WARP does not keep, get ESME_RINVDLNAME.  When no
 * destination is accepted the answer carries the first one's status and
 * no message_id.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

struct multi_wait;

struct multi_dest {
	struct multi_wait *w;
	uint32_t status; /* ESME_ROK: stored, or being stored */
	uint8_t ton, npi;
	char addr[SMPP_ADDR_MAX];
};

struct multi_wait {
	struct smsc_session *ss;
	uint32_t seq;
	int64_t arrived_us;
	char id[ID_MAX];
	/* Rows not yet done, plus one the session thread holds while it
	 * queues them: whoever drops it to 0 has the answer sent. */
	atomic_uint pending;
	unsigned n;
	struct multi_dest dest[SMPP_MULTI_DESTS_MAX];
	struct smpp_unsuccess bad[SMPP_MULTI_DESTS_MAX];
};

/* On the session thread: every row's fate is known. */
static void multi_answer(void *arg)
{
	struct multi_wait *w = arg;
	struct smsc_session *ss = w->ss;
	unsigned ok = 0, nbad = 0;
	struct smpp_pdu r;

	for (unsigned i = 0; i < w->n; i++) {
		struct multi_dest *d = &w->dest[i];
		if (d->status == SMPP_ESME_ROK) {
			ok++;
			continue;
		}
		w->bad[nbad].addr = (struct smpp_addr){d->ton, d->npi, str_from_cstr(d->addr)};
		w->bad[nbad++].error_status_code = d->status;
	}
	metric_add(ss->s->m_submits_ok, ok);
	metric_add(ss->s->m_submits_refused, nbad);
	smpp_pdu_init(&r, SMPP_SUBMIT_MULTI_RESP, w->seq);
	r.command_status = ok > 0     ? SMPP_ESME_ROK
			   : nbad > 0 ? w->bad[0].error_status_code
				      : SMPP_ESME_RINVNUMDESTS;
	r.message_id = ok > 0 ? smsc_wire_id(w->id) : STR_LIT("");
	r.nunsuccess = (uint8_t)nbad;
	r.unsuccess_list = w->bad;
	ss->outstanding--;
	smsc_session_send(ss, &r);
	metric_observe(ss->s->m_resp_seconds, (double)(time_mono_us() - w->arrived_us) / 1e6);
	smsc_session_unref(ss);
	free(w);
}

static void multi_done_one(struct multi_wait *w)
{
	if (atomic_fetch_sub(&w->pending, 1) != 1)
		return;
	if (loop_pool_call(w->ss->s->pool, 0, multi_answer, w) < 0)
		log_error("smsc", "submit_multi %s stored but its answer is lost (out of memory)",
			  w->id);
}

/* On the store writer's thread. */
static void multi_stored(void *arg, int status)
{
	struct multi_dest *d = arg;

	if (status != 0) {
		d->status = smsc_prepaid_status(d->w->ss->s, status); /* or not covered */
		if (d->status == SMPP_ESME_RSYSERR)
			log_error("smsc", "submit_multi %s to %s not stored: %s", d->w->id,
				  d->addr, store_strerror(status));
	}
	multi_done_one(d->w);
}

static uint32_t multi_dest_check(struct smsc_session *ss, const struct smpp_dest *sd,
				 struct multi_dest *d)
{
	struct str addr = sd->flag == SMPP_DEST_DL ? sd->dl_name : sd->sme.addr;
	size_t k = addr.len < sizeof(d->addr) ? addr.len : sizeof(d->addr) - 1;

	if (k)
		memcpy(d->addr, addr.p, k);
	d->addr[k] = '\0';
	if (sd->flag == SMPP_DEST_DL)
		return SMPP_ESME_RINVDLNAME;
	d->ton = sd->sme.ton;
	d->npi = sd->sme.npi;
	uint32_t status = smsc_submit_routed(ss, sd->sme.addr);
	if (status == SMPP_ESME_ROK &&
	    !smsc_live_take(ss->live, ss->throughput, ss->burst, time_mono_us()))
		status = SMPP_ESME_RTHROTTLED;
	return status;
}

/* Queues destination d's row, under an id of its own in the group. */
static uint32_t multi_dest_queue(struct smsc_session *ss, const struct smpp_pdu *p,
				 struct multi_wait *w, struct multi_dest *d,
				 const struct smsc_submit_row *proto)
{
	char id[ID_MAX];
	struct smpp_addr dest = {d->ton, d->npi, str_from_cstr(d->addr)};
	struct smsc_submit_row row = *proto;

	row.id = id;
	row.dest = &dest;
	if (smsc_msgid_new(&ss->s->ids, time_wall_ms(), id, sizeof(id)) < 0)
		return SMPP_ESME_RSYSERR;
	atomic_fetch_add(&w->pending, 1);
	int rc = smsc_submit_queue(ss, p, &row, multi_stored, d);
	if (rc == 0)
		return SMPP_ESME_ROK;
	atomic_fetch_sub(&w->pending, 1);
	return rc == -EAGAIN	 ? SMPP_ESME_RMSGQFUL
	       : rc == -ENOENT ? SMPP_ESME_RINVDSTADR /* prepaid: no price for it */
			       : SMPP_ESME_RSYSERR;
}

static void multi_queue_all(struct smsc_session *ss, const struct smpp_pdu *p, struct multi_wait *w,
			    const struct smsc_submit_row *proto)
{
	struct str raw = p->dests;
	struct smpp_dest sd;

	while (w->n < SMPP_MULTI_DESTS_MAX && smpp_dest_next(&raw, &sd) == 0) {
		struct multi_dest *d = &w->dest[w->n++];
		d->w = w;
		d->status = multi_dest_check(ss, &sd, d);
		if (d->status == SMPP_ESME_ROK) /* decision 0041 */
			d->status = smsc_tendlc_check(ss, p, sd.sme.addr);
		if (d->status == SMPP_ESME_ROK)
			d->status = multi_dest_queue(ss, p, w, d, proto);
	}
}

void smsc_multi_handle(struct smsc_session *ss, const struct smpp_pdu *p)
{
	struct multi_wait *w = NULL;
	struct str body;
	int64_t due, expires;
	uint32_t status = smsc_submit_admit(ss);

	if (status == SMPP_ESME_ROK)
		status = smsc_submit_body(p, &body);
	if (status == SMPP_ESME_ROK)
		status = smsc_submit_times(ss->s, p, time_wall_ms(), &due, &expires);
	if (status == SMPP_ESME_ROK &&
	    (!(w = calloc(1, sizeof(*w))) ||
	     smsc_msgid_new(&ss->s->ids, time_wall_ms(), w->id, sizeof(w->id)) < 0))
		status = SMPP_ESME_RSYSERR;
	if (status != SMPP_ESME_ROK) {
		free(w);
		metric_inc(ss->s->m_submits_refused);
		smsc_answer(ss, p, status);
		return;
	}
	w->ss = ss;
	w->seq = p->sequence_number;
	w->arrived_us = time_mono_us();
	atomic_init(&w->pending, 1);
	ss->refs++;
	ss->outstanding++;
	uint8_t form[SMSC_UDH_FORM_MAX];
	uint8_t esm_class = smsc_submit_udh_form(p, &body, form, sizeof(form));
	hex_encode(body.p, body.len, ss->s->hex);
	struct smsc_submit_row proto = {NULL, w->id, NULL, ss->s->hex, due, expires, esm_class};
	multi_queue_all(ss, p, w, &proto);
	multi_done_one(w); /* the session thread's hold */
}
