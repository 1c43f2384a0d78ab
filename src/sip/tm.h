/*
 * tm.h — private to src/sip/: RFC 3261 §17 transaction state machines.
 *
 * A transaction is a caller-owned struct driven by events (start, a
 * response, a retransmitted request, an ACK, the clock).  It never reads a
 * clock nor touches a socket: every call takes `now` (monotonic ms) and the
 * machine acts through its ops (send bytes, report a timeout, say it is
 * finished, tell when it next wants the clock).  That keeps tm.c testable
 * with an injected clock and keeps the worker's event wiring in proxy.c.
 *
 * Timers and their names follow RFC 3261 §17 and Table 4 of its Appendix A:
 *   INVITE client     A (retransmit, T1 doubling), B (64*T1 fail), D (32 s wait)
 *   non-INVITE client E (T1 doubling up to T2), F (64*T1 fail), K (T4 wait)
 *   INVITE server     G (T1 doubling up to T2), H (64*T1 wait for ACK), I (T4)
 *   non-INVITE server J (64*T1 wait)
 * Retransmission timers (A, E, G) run only over unreliable transports and
 * the waits D, I, J, K are zero over reliable ones.
 */
#ifndef WARP_SIP_TM_H
#define WARP_SIP_TM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

#define SIP_T1_MS 500
#define SIP_T2_MS 4000
#define SIP_T4_MS 5000
#define SIP_TIMER_B_MS (64 * SIP_T1_MS)
#define SIP_TIMER_D_MS 32000

enum sip_tx_kind {
	SIP_TX_INVITE_CLIENT,
	SIP_TX_NONINVITE_CLIENT,
	SIP_TX_INVITE_SERVER,
	SIP_TX_NONINVITE_SERVER,
};

enum sip_tx_state {
	SIP_TX_CALLING,	   /* INVITE client: request sent, nothing heard */
	SIP_TX_TRYING,	   /* non-INVITE client and server */
	SIP_TX_PROCEEDING, /* a provisional response went by */
	SIP_TX_COMPLETED,  /* a final response went by: absorbing retransmissions */
	SIP_TX_CONFIRMED,  /* INVITE server: the ACK came */
	SIP_TX_TERMINATED,
};

/* Why a transaction gives up (ops->timeout): a timer fired, or the
 * transport under a client transaction failed (§17.1.4). */
enum sip_tx_timer {
	SIP_TIMER_B = 'B',
	SIP_TIMER_F = 'F',
	SIP_TIMER_H = 'H',
	SIP_TX_TRANSPORT = 'T',
};

struct sip_tx;

struct sip_tx_ops {
	/* Put bytes on the wire towards the transaction's peer. */
	void (*send)(struct sip_tx *t, struct str bytes);
	/* No answer (B, F), no ACK (H) or a transport failure: the
	 * transaction is now terminated. */
	void (*timeout)(struct sip_tx *t, enum sip_tx_timer which);
	/* The transaction reached Terminated: its owner may free it on return. */
	void (*terminated)(struct sip_tx *t);
	/* The earliest deadline changed: call sip_tx_timer at at_ms (-1: none). */
	void (*arm)(struct sip_tx *t, int64_t at_ms);
};

struct sip_tx {
	enum sip_tx_kind kind;
	enum sip_tx_state state;
	bool reliable;
	const struct sip_tx_ops *ops;
	void *arg;		  /* the owner's */
	struct buf out;		  /* client: the request; server: the last response sent */
	struct buf ack;		  /* INVITE client: the ACK for a non-2xx final (§17.1.1.3) */
	int status;		  /* last response status sent or received; 0 none */
	int64_t retx_at, retx_ms; /* A, E, G: next retransmission and interval */
	int64_t fail_at;	  /* B, F, H */
	int64_t end_at;		  /* D, I, J, K */
};

void sip_tx_init(struct sip_tx *t, enum sip_tx_kind kind, bool reliable,
		 const struct sip_tx_ops *ops, void *arg);
/* Frees the buffers; does not call any op. */
void sip_tx_fini(struct sip_tx *t);
const char *sip_tx_state_name(enum sip_tx_state s);

/* Client: t->out holds the request; sends it and arms A/E and B/F. */
void sip_tx_client_start(struct sip_tx *t, int64_t now);
/* Client: a response matched the transaction.  For an INVITE's non-2xx
 * final, t->ack must hold the ACK first (the caller builds it from the
 * response's To tag).  True when the response goes up to the proxy core;
 * false when it is a retransmission absorbed here. */
bool sip_tx_client_response(struct sip_tx *t, int status, int64_t now);

/* Client: the connection the request went on failed (§17.1.4; a TLS
 * handshake refused, a reset).  Before a final response the transaction
 * gives up at once, as at its timer B or F, with SIP_TX_TRANSPORT: the core
 * treats it as a 503 (§8.1.3.1) and fails over now, not at the timer.
 * After one, nothing is lost: it just waits out its D or K timer. */
void sip_tx_client_transport_error(struct sip_tx *t);

/* Server: the request arrived (t enters Proceeding or Trying). */
void sip_tx_server_start(struct sip_tx *t, int64_t now);
/* Server: the request came again: the last response goes out again. */
void sip_tx_server_retransmit(struct sip_tx *t);
/* Server: the core answers with status; bytes are copied into t->out. */
int sip_tx_server_respond(struct sip_tx *t, int status, struct str bytes, int64_t now);
/* INVITE server: an ACK for a non-2xx final arrived. */
void sip_tx_server_ack(struct sip_tx *t, int64_t now);

/* Runs every timer due at or before now. */
void sip_tx_timer(struct sip_tx *t, int64_t now);
/* The earliest pending deadline, or -1. */
int64_t sip_tx_deadline(const struct sip_tx *t);

#endif
