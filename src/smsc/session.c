/*
 * session.c — one ESME's TCP connection: framing by command_length,
 * decoding, and the dispatch of each PDU by the session's bind state
 * (SMPP 3.4 §2.3, table 2-1: what each state may send).
 *
 * A PDU that does not decode is answered (generic_nack for a bad header,
 * its own _resp otherwise) and the session goes on: one bad PDU must not
 * lose the other messages in flight.  Only a command_length outside the
 * limits ends the session, since the stream's framing is then lost.
 *
 * Over TLS (tls_listen) the bufferevent runs the handshake first (tls.c),
 * bounded by tls_handshake_timeout instead of idle_timeout; the PDUs that
 * follow are handled exactly as on a plain connection.
 *
 * Lifetime: a session is freed when its connection is gone and nothing
 * still holds it (refs): every submit waiting for its store commit and a
 * bind waiting for its password check holds one, so their answers find the
 * session (and drop the answer when it is dead) instead of a freed pointer.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smsc/smsc_private.h"

static void session_free(struct smsc_session *ss)
{
	struct smsc *s = ss->s;

	if (ss->prev)
		ss->prev->next = ss->next;
	else
		s->sessions = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	s->nsessions--;
	metric_set(s->m_sessions, s->nsessions);
	free(ss);
}

void smsc_session_unref(struct smsc_session *ss)
{
	if (--ss->refs == 0)
		session_free(ss);
}

void smsc_session_close(struct smsc_session *ss)
{
	if (ss->dead)
		return;
	ss->dead = true;
	smsc_bind_release(ss);
	smsc_receipts_drop(ss);
	ss->state = SMSC_CLOSING;
	bufferevent_free(ss->bev);
	ss->bev = NULL;
	smsc_session_unref(ss);
}

void smsc_session_close_all(struct smsc *s)
{
	struct smsc_session *ss = s->sessions;
	while (ss) {
		struct smsc_session *next = ss->next;
		smsc_session_close(ss);
		ss = next;
	}
}

void smsc_session_send(struct smsc_session *ss, const struct smpp_pdu *p)
{
	uint8_t *out = ss->s->send; /* a deliver_sm may carry a long MO */
	int n;

	if (ss->dead)
		return;
	n = smpp_pdu_encode(p, out, SMPP_PDU_MAX_LEN);
	if (n < 0) {
		log_error("smsc", "cannot encode %s: %s", smpp_command_name(p->command_id),
			  smpp_strerror(n));
		return;
	}
	bufferevent_write(ss->bev, out, (size_t)n);
}

void smsc_answer(struct smsc_session *ss, const struct smpp_pdu *p, uint32_t status)
{
	struct smpp_pdu r;

	smpp_pdu_init(&r, p->command_id | SMPP_RESP_BIT, p->sequence_number);
	r.command_status = status;
	if (!smpp_command_has_resp(p->command_id)) {
		r.command_id = SMPP_GENERIC_NACK;
	} else if (status != SMPP_ESME_ROK &&
		   (p->command_id == SMPP_SUBMIT_SM || p->command_id == SMPP_DATA_SM)) {
		r.message_id = STR_LIT(""); /* §4.4.2: a refused submit has no id */
	}
	smsc_session_send(ss, &r);
}

/* After unbind_resp or a refused bind: stop reading, close once the
 * answer is written. */
void smsc_session_finish(struct smsc_session *ss)
{
	ss->state = SMSC_CLOSING;
	bufferevent_disable(ss->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(ss->bev)) == 0)
		smsc_session_close(ss);
}

static bool is_bind(uint32_t id)
{
	return id == SMPP_BIND_TRANSMITTER || id == SMPP_BIND_RECEIVER ||
	       id == SMPP_BIND_TRANSCEIVER;
}

static void session_dispatch(struct smsc_session *ss, const struct smpp_pdu *p)
{
	bool bound =
	    ss->state == SMSC_BOUND_TX || ss->state == SMSC_BOUND_RX || ss->state == SMSC_BOUND_TRX;

	switch (p->command_id) {
	case SMPP_ENQUIRE_LINK:
		smsc_answer(ss, p, SMPP_ESME_ROK);
		return;
	case SMPP_UNBIND:
		smsc_answer(ss, p, bound ? SMPP_ESME_ROK : SMPP_ESME_RINVBNDSTS);
		if (bound)
			smsc_session_finish(ss);
		return;
	case SMPP_SUBMIT_SM:
	case SMPP_DATA_SM:
		smsc_submit_handle(ss, p);
		return;
	case SMPP_SUBMIT_MULTI:
		smsc_multi_handle(ss, p);
		return;
	case SMPP_QUERY_SM:
	case SMPP_CANCEL_SM:
	case SMPP_REPLACE_SM:
		smsc_ops_handle(ss, p);
		return;
	case SMPP_DELIVER_SM_RESP:
		smsc_receipts_answered(ss, p);
		return;
	case SMPP_GENERIC_NACK:
	case SMPP_ENQUIRE_LINK_RESP:
	case SMPP_UNBIND_RESP:
		return; /* nothing waits on these */
	default:
		break;
	}
	if (is_bind(p->command_id)) {
		if (ss->state != SMSC_OPEN)
			smsc_answer(ss, p, SMPP_ESME_RALYBND);
		else
			smsc_bind_start(ss, p);
		return;
	}
	if (p->command_id & SMPP_RESP_BIT)
		return; /* §2.3: an unexpected response is never answered */
	if (!bound) {
		smsc_answer(ss, p, SMPP_ESME_RINVBNDSTS);
		return;
	}
	/* A request an ESME may not send to an SMSC (deliver_sm, outbind, ...). */
	struct smpp_pdu r;
	smpp_pdu_init(&r, SMPP_GENERIC_NACK, p->sequence_number);
	r.command_status = SMPP_ESME_RINVCMDID;
	smsc_session_send(ss, &r);
}

static void session_bad_pdu(struct smsc_session *ss, const struct smpp_pdu *p, int err)
{
	struct smpp_pdu r;

	log_info("smsc", "%s from %s: %s (answered)",
		 smpp_command_name(p->command_id) ? smpp_command_name(p->command_id)
						  : "unknown command",
		 ss->system_id[0] ? ss->system_id : "unbound session", smpp_strerror(err));
	if (smpp_pdu_reply_error(p, err, &r) == 0)
		smsc_session_send(ss, &r);
}

/* Reads every whole PDU in the input; false when the session ended.  The
 * caller holds a reference. */
static bool session_read_pdus(struct smsc_session *ss)
{
	struct evbuffer *in = bufferevent_get_input(ss->bev);
	uint8_t head[4];
	uint32_t len;

	while (!ss->dead && ss->state != SMSC_CLOSING && evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, head, sizeof(head));
		if (smpp_frame_len(head, sizeof(head), &len) < 0) {
			struct smpp_pdu r;
			smpp_pdu_init(&r, SMPP_GENERIC_NACK, 0);
			r.command_status = SMPP_ESME_RINVCMDLEN;
			smsc_session_send(ss, &r);
			log_info("smsc", "framing lost from %s: closing", ss->system_id);
			smsc_session_finish(ss);
			return false;
		}
		if (evbuffer_get_length(in) < len)
			break;
		const uint8_t *buf = evbuffer_pullup(in, len);
		struct smpp_pdu p;
		int rc = buf ? smpp_pdu_decode(buf, len, &p) : -ENOMEM;
		if (rc < 0)
			session_bad_pdu(ss, &p, rc);
		else
			session_dispatch(ss, &p);
		if (!ss->dead)
			evbuffer_drain(in, len);
	}
	return !ss->dead;
}

static void session_read(struct bufferevent *bev, void *arg)
{
	struct smsc_session *ss = arg;

	(void)bev;
	ss->refs++; /* a PDU may close the session: keep it until we return */
	session_read_pdus(ss);
	smsc_session_unref(ss);
}

static void session_written(struct bufferevent *bev, void *arg)
{
	struct smsc_session *ss = arg;
	(void)bev;
	if (ss->state == SMSC_CLOSING)
		smsc_session_close(ss);
}

static void timeout_set(struct bufferevent *bev, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	bufferevent_set_timeouts(bev, &tv, NULL);
}

static void session_event(struct bufferevent *bev, short what, void *arg)
{
	struct smsc_session *ss = arg;
	(void)bev;
	if ((what & BEV_EVENT_CONNECTED) && ss->handshaking) {
		ss->handshaking = false; /* TLS is up: the idle clock starts */
		timeout_set(ss->bev, ss->s->o.idle_ms);
		return;
	}
	if (ss->handshaking)
		smsc_tls_failed(ss, what & BEV_EVENT_TIMEOUT);
	else if (what & BEV_EVENT_TIMEOUT)
		log_info("smsc", "session %s idle: closing",
			 ss->system_id[0] ? ss->system_id : "unbound");
	smsc_session_close(ss);
}

void smsc_session_accept(struct smsc *s, int fd, const struct sockaddr *sa, int salen, bool tls)
{
	struct smsc_session *ss = NULL;

	if (s->nsessions >= s->o.max_sessions) {
		log_warn("smsc", "max_sessions (%u) reached: connection refused",
			 s->o.max_sessions);
		goto refuse;
	}
	ss = calloc(1, sizeof(*ss));
	if (!ss || net_addr_from_sockaddr(sa, (socklen_t)salen, &ss->peer) < 0)
		goto refuse;
	(void)net_tcp_nodelay(fd); /* a failure costs latency, not correctness */
	ss->bev = tls ? smsc_tls_accept(s, fd)
		      : bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!ss->bev)
		goto refuse;
	ss->s = s;
	ss->refs = 1;
	ss->handshaking = tls;
	ss->next = s->sessions;
	if (s->sessions)
		s->sessions->prev = ss;
	s->sessions = ss;
	s->nsessions++;
	metric_set(s->m_sessions, s->nsessions);
	bufferevent_setcb(ss->bev, session_read, session_written, session_event, ss);
	bufferevent_setwatermark(ss->bev, EV_READ, 0, SMPP_PDU_MAX_LEN * 2);
	timeout_set(ss->bev, tls ? s->o.tls_handshake_ms : s->o.idle_ms);
	bufferevent_enable(ss->bev, EV_READ | EV_WRITE);
	return;
refuse:
	free(ss);
	close(fd);
}
