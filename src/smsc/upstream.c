/*
 * upstream.c — one bind to a carrier's SMSC (WARP as the ESME): connect,
 * bind, keep it up with enquire_link, submit within the connector's window
 * and throughput, and hand what comes back (submit_sm_resp, receipts) to
 * the dispatcher and mobile-originated messages to mo.c.  Runs on the
 * upstream thread only.
 *
 * A bind that drops, fails to bind or stops answering reconnects after a
 * backoff that doubles from reconnect_min to reconnect_max and resets once
 * bound.  Submits still unanswered when a bind drops, or unanswered after
 * response_timeout, are handed back as lost: the dispatcher requeues them
 * (the upstream may have taken them, so a duplicate is possible there; a
 * loss is not).  A submit_sm_resp frees its window slot and the
 * dispatcher fills it at once from the connector's backlog
 * (smsc_out_refill), from this read callback.  ESME_RTHROTTLED pauses the
 * bind for a second (it takes nothing from the backlog meanwhile).  A
 * connector with tls on connects through TLS (tls.c): the bind goes out
 * once the handshake has verified the server, and a handshake that fails
 * is a failed connect, retried after the same backoff.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define THROTTLE_PAUSE_US 1000000
#define TICK_MS 250

static void up_schedule(struct smsc_upbind *b, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(b->timer, &tv);
}

static void up_send(struct smsc_upbind *b, const struct smpp_pdu *p)
{
	int n = smpp_pdu_encode(p, b->out, SMPP_PDU_MAX_LEN);

	if (n < 0) {
		log_error("smsc", "connector %s: cannot encode %s: %s", b->cfg.id,
			  smpp_command_name(p->command_id), smpp_strerror(n));
		return;
	}
	bufferevent_write(b->bev, b->out, (size_t)n);
}

/* Every submit in flight goes back to the dispatcher as lost. */
static void up_fail_inflight(struct smsc_upbind *b)
{
	for (unsigned i = 0; i < b->cfg.window; i++) {
		if (!b->inflight[i].msg)
			continue;
		struct smsc_out_msg *m = b->inflight[i].msg;
		b->inflight[i].msg = NULL;
		b->ninflight--;
		smsc_out_lost(b->o, b, m);
	}
}

static void up_drop(struct smsc_upbind *b, const char *why)
{
	if (b->state == SMSC_UP_BOUND)
		log_warn("smsc", "connector %s bind %u down: %s", b->cfg.id, b->index, why);
	else
		log_info("smsc", "connector %s bind %u: %s", b->cfg.id, b->index, why);
	if (b->bev)
		bufferevent_free(b->bev);
	b->bev = NULL;
	b->state = SMSC_UP_IDLE;
	smsc_out_bind_changed(b->o);
	up_fail_inflight(b);
	up_schedule(b, b->backoff_ms);
	b->backoff_ms = b->backoff_ms * 2 > b->cfg.reconnect_max_ms ? b->cfg.reconnect_max_ms
								    : b->backoff_ms * 2;
}

static struct smsc_upinflight *up_find(struct smsc_upbind *b, uint32_t seq)
{
	for (unsigned i = 0; i < b->cfg.window; i++)
		if (b->inflight[i].msg && b->inflight[i].seq == seq)
			return &b->inflight[i];
	return NULL;
}

static void up_bound(struct smsc_upbind *b, const struct smpp_pdu *p)
{
	if (p->command_status != SMPP_ESME_ROK) {
		char why[64];
		snprintf(why, sizeof(why), "bind refused with status 0x%08x", p->command_status);
		up_drop(b, why);
		return;
	}
	b->state = SMSC_UP_BOUND;
	b->gen = ++b->o->gens; /* what an MO's late answer checks (mo.c) */
	b->backoff_ms = b->cfg.reconnect_min_ms;
	b->last_rx_ms = time_mono_ms();
	log_info("smsc", "connector %s bind %u up", b->cfg.id, b->index);
	smsc_out_bind_changed(b->o);
	smsc_out_refill(b->o, b);
}

static void up_submit_resp(struct smsc_upbind *b, const struct smpp_pdu *p)
{
	struct smsc_upinflight *f = up_find(b, p->sequence_number);

	if (!f)
		return; /* answered after its timeout: the message was requeued */
	struct smsc_out_msg *m = f->msg;
	f->msg = NULL;
	b->ninflight--;
	if (p->command_status == SMPP_ESME_RTHROTTLED)
		b->paused_until_us = time_mono_us() + THROTTLE_PAUSE_US;
	smsc_out_submitted(b->o, b, m, p->command_status, p->message_id);
	/* The freed slot takes the next message now, not at the dispatcher's
	 * next tick (a paused or rate-limited bind takes none). */
	smsc_out_refill(b->o, b);
}

void smsc_upbind_respond(struct smsc_upbind *b, uint32_t command_id, uint32_t sequence_number,
			 uint32_t status)
{
	struct smpp_pdu r;

	smpp_pdu_init(&r, command_id | SMPP_RESP_BIT, sequence_number);
	r.command_status = status;
	if (command_id == SMPP_DATA_SM)
		r.message_id = STR_LIT("");
	up_send(b, &r);
}

static void up_deliver(struct smsc_upbind *b, const struct smpp_pdu *p)
{
	if (!(p->esm_class & SMSC_ESM_RECEIPT)) {
		smsc_mo_receive(b->o, b, p); /* answered once it is stored */
		return;
	}
	smsc_out_receipt(b->o, b, p); /* answered once its state is durable */
}

static void up_pdu(struct smsc_upbind *b, const struct smpp_pdu *p)
{
	struct smpp_pdu r;

	b->last_rx_ms = time_mono_ms();
	switch (p->command_id) {
	case SMPP_BIND_TRANSCEIVER_RESP:
	case SMPP_BIND_TRANSMITTER_RESP:
		if (b->state == SMSC_UP_BINDING)
			up_bound(b, p);
		return;
	case SMPP_SUBMIT_SM_RESP:
		up_submit_resp(b, p);
		return;
	case SMPP_DELIVER_SM:
	case SMPP_DATA_SM:
		up_deliver(b, p);
		return;
	case SMPP_ENQUIRE_LINK:
		smpp_pdu_init(&r, SMPP_ENQUIRE_LINK_RESP, p->sequence_number);
		up_send(b, &r);
		return;
	case SMPP_UNBIND:
		smpp_pdu_init(&r, SMPP_UNBIND_RESP, p->sequence_number);
		up_send(b, &r);
		up_drop(b, "the upstream unbound");
		return;
	default:
		return; /* enquire_link_resp, generic_nack and the like */
	}
}

static void up_read(struct bufferevent *bev, void *arg)
{
	struct smsc_upbind *b = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t head[4];
	uint32_t len;

	while (b->bev && evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, head, sizeof(head));
		if (smpp_frame_len(head, sizeof(head), &len) < 0) {
			up_drop(b, "the upstream's framing is lost");
			return;
		}
		if (evbuffer_get_length(in) < len)
			return;
		struct smpp_pdu p;
		const uint8_t *buf = evbuffer_pullup(in, len);
		if (buf && smpp_pdu_decode(buf, len, &p) == 0)
			up_pdu(b, &p);
		else
			log_warn("smsc", "connector %s: undecodable PDU from the upstream",
				 b->cfg.id);
		if (b->bev)
			evbuffer_drain(in, len);
	}
}

static void up_send_bind(struct smsc_upbind *b)
{
	struct smpp_pdu p;

	smpp_pdu_init(&p, b->cfg.transmitter_only ? SMPP_BIND_TRANSMITTER : SMPP_BIND_TRANSCEIVER,
		      ++b->seq);
	p.system_id = str_from_cstr(b->cfg.system_id);
	p.password = str_from_cstr(b->cfg.password);
	p.system_type = str_from_cstr(b->cfg.system_type);
	p.address_range.addr = STR_LIT("");
	b->state = SMSC_UP_BINDING;
	b->bind_sent_ms = time_mono_ms();
	up_send(b, &p);
}

static void up_event(struct bufferevent *bev, short what, void *arg)
{
	struct smsc_upbind *b = arg;
	char why[320];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		up_send_bind(b);
		return;
	}
	if (b->cfg.tls && b->state == SMSC_UP_CONNECTING)
		smsc_tls_connect_failed(b, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s",
			 what & BEV_EVENT_EOF ? "the upstream closed the connection"
					      : "connection failed");
	up_drop(b, why);
}

static void up_connect(struct smsc_upbind *b)
{
	char port[8], why[320] = "out of memory";
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;

	snprintf(port, sizeof(port), "%u", (unsigned)b->cfg.port);
	if (getaddrinfo(b->cfg.host, port, &hints, &ai) != 0 || !ai) {
		up_drop(b, "cannot resolve the host");
		return;
	}
	b->bev = b->cfg.tls ? smsc_tls_connect_bev(b, why, sizeof(why))
			    : bufferevent_socket_new(b->o->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!b->bev) {
		freeaddrinfo(ai);
		up_drop(b, why);
		return;
	}
	bufferevent_setcb(b->bev, up_read, NULL, up_event, b);
	bufferevent_enable(b->bev, EV_READ | EV_WRITE);
	b->state = SMSC_UP_CONNECTING;
	b->connect_ms = time_mono_ms();
	int rc = bufferevent_socket_connect(b->bev, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc == 0) /* the socket exists now; a failure costs latency only */
		(void)net_tcp_nodelay(bufferevent_getfd(b->bev));
	if (rc < 0)
		up_drop(b, "connect failed");
	else
		up_schedule(b, TICK_MS);
}

/* Expired submits, enquire_link when quiet, a bind that never answers, a
 * connect (and its TLS handshake) that never completes. */
static void up_tick(struct smsc_upbind *b)
{
	int64_t now = time_mono_ms();

	if (b->state == SMSC_UP_BINDING && now - b->bind_sent_ms > b->cfg.response_timeout_ms) {
		up_drop(b, "no bind_resp");
		return;
	}
	if (b->state == SMSC_UP_CONNECTING && now - b->connect_ms > b->cfg.response_timeout_ms) {
		up_drop(b, b->cfg.tls ? "connect or TLS handshake timed out" : "connect timed out");
		return;
	}
	for (unsigned i = 0; b->state == SMSC_UP_BOUND && i < b->cfg.window; i++) {
		struct smsc_upinflight *f = &b->inflight[i];
		if (f->msg && now - f->sent_ms > b->cfg.response_timeout_ms) {
			struct smsc_out_msg *m = f->msg;
			f->msg = NULL;
			b->ninflight--;
			log_info("smsc", "connector %s: no submit_sm_resp for %s: requeued",
				 b->cfg.id, m->id);
			smsc_out_lost(b->o, b, m);
		}
	}
	if (b->state == SMSC_UP_BOUND && now - b->last_rx_ms > b->cfg.enquire_link_ms) {
		if (now - b->last_rx_ms > b->cfg.enquire_link_ms + b->cfg.response_timeout_ms) {
			up_drop(b, "no answer to enquire_link");
			return;
		}
		if (now - b->enquire_sent_ms > b->cfg.enquire_link_ms) {
			struct smpp_pdu p;
			smpp_pdu_init(&p, SMPP_ENQUIRE_LINK, ++b->seq);
			b->enquire_sent_ms = now;
			up_send(b, &p);
		}
	}
	up_schedule(b, TICK_MS);
}

void smsc_bind_ref_set(struct smsc_bind_ref *r, const struct smsc_upbind *b)
{
	snprintf(r->conn_id, sizeof(r->conn_id), "%s", b->cfg.id);
	r->index = b->index;
	r->gen = b->gen;
}

struct smsc_upbind *smsc_bind_ref_find(struct smsc_out *o, const struct smsc_bind_ref *r)
{
	for (size_t i = 0; i < o->nconns && r->index < SMSC_CONNECTOR_BINDS_MAX; i++) {
		struct smsc_upbind *b = o->conns[i].binds[r->index];
		if (strcmp(o->conns[i].cfg.id, r->conn_id) == 0 && b && b->gen == r->gen &&
		    b->state == SMSC_UP_BOUND)
			return b;
	}
	return NULL;
}

static void up_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smsc_upbind *b = arg;

	(void)fd;
	(void)what;
	if (b->state == SMSC_UP_IDLE)
		up_connect(b);
	else
		up_tick(b);
}

struct smsc_upbind *smsc_upbind_new(struct smsc_out *o, const struct smsc_connector_cfg *cfg,
				    unsigned index)
{
	struct smsc_upbind *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->o = o;
	b->cfg = *cfg;
	if (b->cfg.window == 0)
		b->cfg.window = 1;
	b->index = index;
	b->backoff_ms = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 1000;
	b->bucket.tokens_milli = -1;
	b->inflight = calloc(b->cfg.window, sizeof(*b->inflight));
	b->out = malloc(SMPP_PDU_MAX_LEN);
	b->timer = evtimer_new(o->base, up_timer, b);
	if (cfg->tls)
		b->m_tls_failed = smsc_tls_connector_metric(cfg);
	if (!b->inflight || !b->out || !b->timer) {
		smsc_upbind_free(b);
		return NULL;
	}
	up_schedule(b, 0);
	return b;
}

void smsc_upbind_free(struct smsc_upbind *b)
{
	if (!b)
		return;
	if (b->bev)
		bufferevent_free(b->bev);
	b->bev = NULL;
	if (b->inflight)
		up_fail_inflight(b);
	if (b->timer)
		event_free(b->timer);
	SSL_CTX_free(b->tls_ctx);
	free(b->inflight);
	free(b->out);
	free(b);
}

bool smsc_upbind_ready(struct smsc_upbind *b, int64_t now_us)
{
	return b->state == SMSC_UP_BOUND && b->ninflight < b->cfg.window &&
	       now_us >= b->paused_until_us;
}

unsigned smsc_upbind_room(const struct smsc_upbind *b)
{
	return b->state == SMSC_UP_BOUND ? b->cfg.window - b->ninflight : 0;
}

/* Parts are stored with a UDH (submit.c, HTTP send); to an upstream that
 * takes sar_* TLVs the UDH comes off and its reference, total and number
 * go as the TLVs (§5.3.2.22-24), UDHI cleared.  A UDH with no
 * concatenation in it (ports only) stays as it is. */
static void up_fill_sar(const struct smsc_upbind *b, struct smpp_pdu *p)
{
	struct smpp_concat c;
	struct str data;

	if (!b->cfg.sar || !(p->esm_class & SMPP_ESM_UDHI) || p->short_message.len == 0 ||
	    smpp_concat_read(p, &c, &data) != 0 || c.total < 2)
		return;
	p->esm_class &= (uint8_t)~SMPP_ESM_UDHI;
	smpp_segment_fill(p, SMPP_CONCAT_SAR, &c, data, NULL, 0);
}

static void up_fill_submit(struct smsc_upbind *b, const struct smsc_out_msg *m, struct smpp_pdu *p)
{
	smpp_pdu_init(p, SMPP_SUBMIT_SM, ++b->seq);
	p->service_type = STR_LIT("");
	p->source = (struct smpp_addr){m->source_ton, m->source_npi, str_from_cstr(m->source)};
	p->dest = (struct smpp_addr){m->dest_ton, m->dest_npi, str_from_cstr(m->dest)};
	p->esm_class = m->esm_class & 0x40; /* UDHI kept; the mode is ours */
	p->registered_delivery = 1;	    /* a receipt is how we learn the final state */
	p->data_coding = m->data_coding;
	p->schedule_delivery_time = STR_LIT("");
	p->validity_period = STR_LIT("");
	struct str body = {(const char *)m->body, m->body_len};
	if (body.len <= SMPP_SM_MAX) {
		p->short_message = body;
	} else {
		p->short_message = STR_LIT("");
		p->tlv.has |= SMPP_HAS_MESSAGE_PAYLOAD;
		p->tlv.message_payload = body;
	}
	up_fill_sar(b, p);
}

/* Hands m to this bind (the caller checked smsc_upbind_ready). */
int smsc_upbind_submit(struct smsc_upbind *b, struct smsc_out_msg *m)
{
	struct smpp_pdu p;

	if (b->cfg.throughput > 0 &&
	    !smsc_live_take(&b->bucket, b->cfg.throughput, 0, time_mono_us()))
		return -EAGAIN;
	for (unsigned i = 0; i < b->cfg.window; i++) {
		struct smsc_upinflight *f = &b->inflight[i];
		if (f->msg)
			continue;
		up_fill_submit(b, m, &p);
		f->msg = m;
		f->seq = p.sequence_number;
		f->sent_ms = time_mono_ms();
		b->ninflight++;
		up_send(b, &p);
		return 0;
	}
	return -EAGAIN;
}
