/*
 * registrar.h — private to src/sip/: the registrar (RFC 3261 §10.3).  The
 * worker that receives a REGISTER checks it and its digest (registrar.c),
 * then hands the bindings to the registrar's thread, which applies them to
 * the store in one transaction and hands the answer back (reg_store.c):
 * the event loop never waits on the store.
 */
#ifndef WARP_SIP_REGISTRAR_H
#define WARP_SIP_REGISTRAR_H

#include "sip/txn.h"

#define SIP_REG_CONTACTS_MAX 10 /* contacts one REGISTER may carry */
#define SIP_REG_URI_MAX 512
#define SIP_REG_AOR_MAX 256

struct sip_reg_contact {
	char uri[SIP_REG_URI_MAX];
	char instance[128]; /* +sip.instance (RFC 5626 §4.1), "" when none */
	int64_t reg_id;	    /* reg-id, 0 when none */
	int q;		    /* q × 1000, 1000 when none */
	int64_t expires_s;  /* granted; 0 removes the binding */
};

/* One REGISTER on its way through the registrar's thread and back. */
struct sip_reg_job {
	struct loop_task task;		 /* the answer, posted back to the worker */
	struct sip_reg_job *prev, *next; /* the registrar's jobs not yet done */
	struct sip_reg_job *qnext;	 /* its queue */
	struct sip_registrar *r;
	struct sip_worker *w;
	struct sip_server_tx *s; /* NULL once the transaction went (txn.c clears it) */
	char trunk_id[ID_MAX];
	char aor[SIP_REG_AOR_MAX]; /* user@host, the host lowercased */
	char call_id[256];
	int64_t cseq;
	char received[NET_ADDR_STRLEN + 8]; /* ip:port the REGISTER came from */
	char transport[8];
	bool wildcard; /* Contact: * with Expires: 0: every binding goes */
	size_t ncontacts;
	struct sip_reg_contact contacts[SIP_REG_CONTACTS_MAX];
	/* the answer */
	int code;
	const char *tag;
	char extra[2048]; /* Contact lines of the bindings, or the refusal's */
};

struct sip_registrar;
struct sip_registrar *sip_registrar_new(struct sip_proxy *p);
int sip_registrar_start(struct sip_registrar *r);
/* Refuses new jobs and stops the thread once the queued ones are answered
 * (their answers posted to the workers). */
void sip_registrar_close(struct sip_registrar *r);
/* After the workers' loops stopped: frees what was never answered. */
void sip_registrar_free(struct sip_registrar *r);
/* Queues j (the thread owns it until it posts the answer); -EAGAIN when the
 * queue is full. */
int sip_registrar_submit(struct sip_registrar *r, struct sip_reg_job *j);

/* The answer of j has run on its worker (or never will: stopping): j is
 * freed. */
void sip_registrar_done(struct sip_reg_job *j);

/* registrar.c: a REGISTER addressed to us, on the worker that owns it. */
void sip_request_register(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src);

#endif
