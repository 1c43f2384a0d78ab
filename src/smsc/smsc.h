/*
 * smsc.h — the public face of the smsc role: WARP's SMPP 3.4 server for
 * customers' ESMEs.
 *
 * An ESME binds with the system_id and password of one of its customer's
 * SMPP accounts (/api/v1/smpp-accounts); the bind is checked against the
 * account's allowed networks, its max_binds and the customer's status, and
 * the password against its PBKDF2 hash on a thread of its own (a hash costs
 * tens of milliseconds, which would stall every other session's loop).
 * A bound transmitter or transceiver submits; each submit_sm is written to
 * the store's messages queue through the batching writer and answered only
 * once its row is committed (principle 2 of docs/ARCHITECTURE.md), so an
 * acknowledged message survives kill -9.  Over the account's window of
 * unanswered submits the answer is ESME_RMSGQFUL; over its throughput
 * (a token bucket of rate throughput and depth burst) ESME_RTHROTTLED.
 *
 * Mobile-originated messages from upstreams to customers' numbers are
 * stored before the upstream is answered and delivered to a receiver the
 * customer has bound (mo.c, decision 0025).
 *
 * All sessions live on one event-loop thread, so the per-account state
 * (binds, bucket) needs no locks; the store writer and the password thread
 * hand their results back to it with loop_pool_call.
 */
#ifndef WARP_SMSC_H
#define WARP_SMSC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "store/store.h"
#include "tendlc/tendlc.h"

struct smsc_opts {
	struct net_addr listen;
	bool tls;		    /* tls_listen was given: ESMEs may connect over TLS too */
	struct net_addr tls_listen; /* SMPP over TLS, TLS 1.2 and later */
	const char *tls_certificate, *tls_key; /* PEM files, required with tls */
	int64_t tls_handshake_ms;	       /* a TLS handshake not done by then is dropped */
	struct store *store;
	struct snapshot_loader *loader;
	/* The process's rating snapshot (NULL: none): message routes in lcr
	 * mode order their carriers by SMS buy rate (decision 0038). */
	struct snapshot *rating;
	/* Prepaid messages (prepaid.c): [billing] low_balance_threshold for
	 * the charges posted, and whether undelivered parts are given back
	 * ([billing] sms_refund_undelivered). */
	int64_t low_balance_threshold;
	bool sms_refund_undelivered;
	int64_t idle_ms;	     /* a session silent this long is closed */
	int64_t default_validity_ms; /* a submit without validity_period keeps this long */
	int64_t max_validity_ms;     /* and none may ask for longer */
	int64_t lease_ms;	     /* a taken message is this process's this long */
	int64_t mo_reassembly_ms;    /* an incomplete multi-part MO waits this long */
	/* Most carriers a message goes through on retryable negative receipts
	 * (decision 0051); 0 or 1: none after the first. */
	int receipt_failover_attempts;
	unsigned max_sessions;
	struct tendlc_opts tendlc; /* [tendlc] (decision 0041) */
};

struct smsc;

/* The message-routing snapshot (message routes with their carriers, and the
 * enabled SMPP connectors): one per loader, whoever registers it — the
 * upstream side and the HTTP send checks (api/send_gate.c) read one build. */
#define SMSC_ROUTES_SNAPSHOT "message_routes"
struct snapshot *smsc_routes_register(struct snapshot_loader *l);
/* A new message id ("msg_" and 26 characters, as id_new's) whose first 10
 * characters are now_ms, so that ids sort by accept time and new rows of
 * the messages table land on its B-trees' last pages (msgid.c, decision
 * 0030).  Any thread.  0, or -ENOSPC when n is too small. */
int smsc_message_id_new(int64_t now_ms, char *out, size_t n);
/* Whether a message route, customer_id's own or a global one, serves the
 * destination to (digits), in the snapshot's data routes (NULL: none). */
bool smsc_routes_serve(const void *routes, const char *to, const char *customer_id);

/* Whether filters (a message route's "filters" JSON object; NULL: none)
 * compile as the routing snapshot would compile them (decision 0051): 0,
 * or -EINVAL with the member at fault as a JSON pointer in ptr and why in
 * why (the API answers 422 with both). */
struct json_t;
/* Most failover_errors a connector lists (the API's bound). */
#define SMSC_FAILOVER_ERRORS_MAX 16
int smsc_route_filters_check(const struct json_t *filters, char *ptr, size_t ptrlen, char *why,
			     size_t whylen);

/* Builds the server and its account snapshot and binds the listeners;
 * NULL with a reason in err (a port in use, a certificate or key that does
 * not load, says so). */
struct smsc *smsc_new(const struct smsc_opts *o, char *err, size_t errlen);
/* Starts the session thread. */
int smsc_start(struct smsc *s);
/* Closes every session (their acknowledged messages are already durable),
 * stops the threads and frees.  NULL is a no-op. */
void smsc_free(struct smsc *s);

#endif
