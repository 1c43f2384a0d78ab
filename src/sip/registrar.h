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
	unsigned conn_worker; /* TCP, TLS: the REGISTER's connection */
	uint64_t conn_id;
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

/* registrar.c: the policy's hook (sip_policy_opts.registered, arg the
 * proxy): the live registered contacts of trunk_id as call targets, at most
 * max, higher q first; the Request-URI is the contact, the address the
 * binding's received one (and its connection, when this node holds it). */
size_t sip_registrar_targets(void *arg, const char *trunk_id, struct sip_target *out, size_t max);

/* ------------------------------------------------ reg_table.c: bindings */

/* One live binding as calls need it. */
struct sip_reg_binding {
	char contact[SIP_REG_URI_MAX];
	struct net_addr addr; /* received: where its REGISTER came from */
	enum sip_transport_kind transport;
	unsigned conn_worker; /* TCP, TLS: its connection on this node, */
	uint64_t conn_id;     /* 0 when this node holds none */
	int q;		      /* × 1000 */
	int64_t live_until;   /* wall ms: expires_at + expires_s / 2 */
	/* Keep-alive (RFC 5626 §3.5): a binding whose REGISTER this node took
	 * is pinged; pinged while its last ping is unanswered counts a miss. */
	bool local;
	bool pinged;
	int misses;
	uint64_t token; /* of the last ping, in its branch */
};

/* One keep-alive ping to send, or one binding found dead. */
struct sip_reg_ping {
	char trunk_id[ID_MAX];
	char aor[SIP_REG_AOR_MAX];
	char contact[SIP_REG_URI_MAX];
	struct net_addr addr;
	uint64_t token;
};

struct sip_reg_table;
struct sip_reg_table *sip_reg_table_new(void);
void sip_reg_table_free(struct sip_reg_table *t);
/* The AOR's bindings are now b[0 .. n) (copied; n 0: none); a binding with
 * the same contact and source as before keeps the connection it had. */
int sip_reg_table_put(struct sip_reg_table *t, const char *trunk_id, const char *aor,
		      struct sip_reg_binding *b, size_t n);
/* Every live binding of the store, in place of what the table had. */
int sip_reg_table_reload(struct sip_reg_table *t, struct store_conn *c, int64_t now_ms);
/* Copies the live bindings of trunk_id (all its AORs) into out, higher q
 * first; how many. */
size_t sip_reg_table_find(struct sip_reg_table *t, const char *trunk_id, int64_t now_ms,
			  struct sip_reg_binding *out, size_t max);
/* One keep-alive round over the local UDP bindings: each one whose last
 * ping went unanswered counts a miss; at misses it is taken out of the
 * table and into *dead (malloc'd, *ndead), else it gets a new token and a
 * ping in the returned array (malloc'd, *n).  NULL with *n 0 when none. */
struct sip_reg_ping *sip_reg_table_ping_round(struct sip_reg_table *t, int misses, size_t *n,
					      struct sip_reg_ping **dead, size_t *ndead);
/* The TCP/TLS connection conn_id of worker closed: the bindings whose
 * REGISTER came on it are taken out of the table and returned (malloc'd,
 * *n; NULL when none) for the store.  Each AOR's others stay. */
struct sip_reg_ping *sip_reg_table_conn_lost(struct sip_reg_table *t, unsigned worker,
					     uint64_t conn_id, size_t *n);
/* reg_store.c, on a worker: its connection conn_id closed; the registrar's
 * thread removes the bindings that came on it, from the table and the
 * store (RFC 5626 §5.3: a request is never sent on a flow that failed). */
void sip_registrar_conn_lost(struct sip_registrar *r, unsigned worker, uint64_t conn_id);
/* The answer to the ping of trunk_id with token came: the binding lives. */
void sip_reg_table_pong(struct sip_reg_table *t, const char *trunk_id, uint64_t token);
/* A binding from a registrations row's values; -EINVAL when unusable. */
int sip_reg_binding_from_row(struct sip_reg_binding *b, const char *contact, const char *received,
			     const char *transport, int64_t q, int64_t expires_at,
			     int64_t expires_s);
/* FNV-1a of a NUL-terminated key (the table's and the throttle's slots). */
uint32_t sip_reg_hash(const char *key);
/* registrar.c, on worker 0: an OPTIONS to each binding (RFC 5626 §3.5's
 * keep-alive kept to RFC 3261's request; any answer is alive), its branch
 * SIP_REG_PING_BRANCH "<trunk>.<token>". */
#define SIP_REG_PING_BRANCH "z9hG4bKka."
void sip_registrar_pings_send(struct sip_proxy *p, const struct sip_reg_ping *v, size_t n);
/* reg_table.c: a ping's branch (from a response: outside input) into its
 * trunk id and token; -EINVAL when it is not one of ours. */
int sip_reg_ping_branch_parse(struct str branch, char *trunk, size_t n, uint64_t *token);
/* proxy.c: a response whose branch is a ping's (no transaction has it). */
void sip_registrar_pong(struct sip_proxy *p, struct str branch);

/* reg_store.c: the table the registrar's thread keeps (never NULL once new). */
struct sip_reg_table *sip_registrar_table(struct sip_registrar *r);

/* ---------------------------------------------- reg_throttle.c: floods */

struct sip_reg_throttle;
struct sip_reg_throttle *sip_reg_throttle_new(int rate_per_s, int burst);
void sip_reg_throttle_free(struct sip_reg_throttle *t);
/* One token of aor's bucket: 0 when taken, else the whole seconds until
 * one is back (a Retry-After). */
int sip_reg_throttle_take(struct sip_reg_throttle *t, const char *aor, int64_t now_ms);
/* reg_store.c: the same against the registrar's buckets, a refusal counted
 * in warp_sip_register_throttled_total. */
int sip_registrar_throttle(struct sip_registrar *r, const char *aor);

#endif
