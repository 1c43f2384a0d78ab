/*
 * decide.h — private to src/sip/: what the proxy does with a request it
 * received, as rules over facts the proxy gathered (proxy.c gathers them and
 * carries the verdict out).  No tables, sockets or clock here, so
 * tests/unit/test_sip_decide.c states every case as facts and a verdict.
 *
 * Three steps, in the order proxy.c runs them: the request against the
 * transactions and RFC 3261 §16.3's checks; then, with a To tag, the
 * in-dialog rules (§16.4, §16.12); without one, once the source is
 * admitted, the out-of-dialog ones.
 */
#ifndef WARP_SIP_DECIDE_H
#define WARP_SIP_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/sip.h"

enum sip_req_action {
	SIP_REQ_ACK_TO_TX,     /* the ACK of our non-2xx final: its server transaction takes it */
	SIP_REQ_ABSORB,	       /* nothing to send (the ACK of a stateless final of ours, or an
				* ACK that would be refused: ACKs are never answered, §17) */
	SIP_REQ_RETRANSMIT,    /* its server transaction answers again (§17.2.1, §17.2.2) */
	SIP_REQ_CANCEL,	       /* to the INVITE it cancels (§9.2, §16.10) */
	SIP_REQ_REPLY,	       /* answer code statelessly, with tag and allow */
	SIP_REQ_IN_DIALOG,     /* on to the in-dialog rules */
	SIP_REQ_OUT_OF_DIALOG, /* on to admission and the out-of-dialog rules */
	SIP_REQ_FORWARD,       /* in dialog: forward along the route set */
	SIP_REQ_OPTIONS,       /* out of dialog: answer 200 with our Allow */
	SIP_REQ_INVITE,	       /* out of dialog: a new call */
	SIP_REQ_REGISTER,      /* out of dialog, for our domain: to the registrar */
};

struct sip_req_verdict {
	enum sip_req_action action;
	int code;	 /* SIP_REQ_REPLY */
	const char *tag; /* SIP_REQ_REPLY: the To tag naming the rule (ours) */
	bool allow;	 /* SIP_REQ_REPLY: with our Allow header */
};

/* Step 1. */
struct sip_req_facts {
	enum sip_method method;
	bool server_tx;	  /* a server transaction of ours matches (for an ACK: its INVITE's) */
	bool ack_ours;	  /* an ACK whose To tag is one of our stateless finals */
	bool loop;	  /* a Via of ours with a transaction still open: §16.3 step 4 */
	bool to_tag;	  /* the To header has a tag: in a dialog */
	int max_forwards; /* as received, 70 when absent */
};
void sip_decide_request(const struct sip_req_facts *f, struct sip_req_verdict *v);

/* Step 2, in a dialog. */
struct sip_dialog_facts {
	enum sip_method method;
	size_t routes_ours;   /* leading Route entries naming us */
	bool addressed_to_us; /* the Request-URI names us (asked only with no Route of ours) */
	bool next_hop;	      /* a next hop was found */
	bool call;	      /* we hold the dialog's call */
	bool stale_contact;   /* the next hop is our own hidden Contact of a call gone */
};
void sip_decide_in_dialog(const struct sip_dialog_facts *f, struct sip_req_verdict *v);

/* Step 3, out of a dialog: a REGISTER goes to the registrar before any
 * admission of its source (the registrar asks for its own digest, §22.2);
 * every other request once the source is admitted. */
struct sip_ood_facts {
	enum sip_method method;
	int max_forwards;
	bool addressed_to_us;
};
void sip_decide_out_of_dialog(const struct sip_ood_facts *f, struct sip_req_verdict *v);

/* The Allow header of our own answers (OPTIONS, 405). */
#define SIP_ALLOW_HEADER "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, REGISTER\r\n"

#endif
