/*
 * txn.h — private to src/sip/: the proxy's server and client transactions
 * (RFC 3261 §17) as the worker keeps them: tm.c's state machine wired to
 * the worker's timers and sockets, the request a server transaction
 * answers, the peer it forwards for, and our own responses (§8.2.6).
 *
 * Transactions sit below the call: they never call call.c, dialog.c or
 * media*.c.  What a call must hear from them (one of its transactions went
 * away, an attempt timed out) comes up through the proxy's txn hooks,
 * which call.c provides (sip_call_txn_hooks).  Runs on the worker owning
 * the transaction; nothing here locks.
 */
#ifndef WARP_SIP_TXN_H
#define WARP_SIP_TXN_H

#include "sip/proxy_private.h"

/* A server transaction and the request it answers. */
struct sip_server_tx {
	struct sip_tx tx;
	struct sip_entry e;
	struct sip_worker *w;
	struct sip_peer src;
	struct event *ev;
	struct sip_call *call;
	struct sip_client_tx *peer;
	struct buf req;		  /* the request, to build our own responses later */
	struct sip_call *reoffer; /* the call whose in-dialog offer this carries */
	/* Whoever answers later from another thread (the registrar) points
	 * this at its pointer to s, which is set to NULL when s goes. */
	struct sip_server_tx **watch;
};

/* A client transaction of ours. */
struct sip_client_tx {
	struct sip_tx tx;
	struct sip_entry e;
	struct sip_worker *w;
	struct sip_peer dst;
	struct event *ev;
	struct sip_call *call;	    /* an attempt of this call's setup */
	struct sip_server_tx *peer; /* the server transaction it forwards for */
	bool cancel_pending;	    /* CANCEL once a provisional comes (§9.1) */
};

/* What the layer above hears from its transactions (set in struct
 * sip_proxy; every hook is called on the transaction's worker). */
struct sip_txn_hooks {
	/* s is terminated and freed on return: whoever points at it lets go. */
	void (*server_gone)(struct sip_server_tx *s);
	/* x is terminated and freed on return. */
	void (*client_gone)(struct sip_client_tx *x);
	/* x has no final answer and never will: code 408 (timer B or F) or
	 * 503 (its connection failed); its peer got that code. */
	void (*client_failed)(struct sip_client_tx *x, int code);
};

int64_t sip_now(void);
void sip_count_response(struct sip_proxy *p, int code);
/* A new branch of ours naming worker w (proxy_private.h, decision 0012). */
void sip_proxy_branch(struct sip_worker *w, char *out, size_t n);

struct sip_server_tx *sip_server_tx_find(struct sip_worker *w, struct sip_msg *m,
					 enum sip_method method);
struct sip_server_tx *sip_server_tx_new(struct sip_worker *w, struct sip_msg *m,
					const struct sip_peer *src);
/* A client transaction for bytes to dst, keyed by our branch and method. */
struct sip_client_tx *sip_client_tx_new(struct sip_worker *w, struct str bytes,
					const struct sip_peer *dst, struct str branch,
					enum sip_method method);
/* Bytes of our own (a request with branch in its top Via) go out to dst
 * through a new client transaction.  0 or -ENOMEM. */
int sip_proxy_send_new(struct sip_worker *w, struct str bytes, const struct sip_peer *dst,
		       struct str branch, enum sip_method method);
/* A response of our own to m: through s when given, else stateless. */
void sip_reply(struct sip_worker *w, struct sip_server_tx *s, struct sip_msg *m,
	       const struct sip_peer *src, int code, const char *tag, const char *extra);
/* Our own response to the request s holds: m is that request while its
 * receive buffer lives, or NULL (then s->req is parsed again). */
void sip_server_tx_reply(struct sip_server_tx *s, struct sip_msg *m, int code, const char *tag,
			 const char *extra);
/* bytes, a response of status, go up s unless s has answered finally. */
void sip_server_tx_respond(struct sip_server_tx *s, int status, struct str bytes);
/* The connection conn_id of w failed (closed, reset, a TLS handshake
 * refused): its client transactions without a final answer fail now
 * (client_failed with 503), so a call fails over at once. */
void sip_client_txs_transport_failed(struct sip_worker *w, uint64_t conn_id);
/* Stopping: every transaction of w is freed (no hook told of calls). */
void sip_txn_drain(struct sip_worker *w);

#endif
