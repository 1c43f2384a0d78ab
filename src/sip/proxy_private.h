/*
 * proxy_private.h — private to src/sip/: the proxy core's shared types
 * (tables, transports, building messages, the workers and the proxy).
 *
 * The proxy runs N workers (one libevent loop each, from a loop_pool).
 * Every worker binds its own UDP socket and TCP listener to every listen
 * address with SO_REUSEPORT, and owns its transactions, calls and dialogs
 * in tables nobody else touches.  A message that reaches the wrong worker
 * is copied and handed to its owner with loop_pool_call (decision 0012):
 * the owner of a call is hash(Call-ID) % N, and a response names the worker
 * in the branch of the Via we added ("z9hG4bK-<worker>-<random>").
 */
#ifndef WARP_SIP_PROXY_PRIVATE_H
#define WARP_SIP_PROXY_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "sip/policy.h"
#include "sip/sip.h"
#include "sip/tm.h"

struct event;
struct event_base;
struct ng_client;
struct sip_call;

#define SIP_LISTEN_MAX 16 /* plain (UDP+TCP) addresses, then TLS ones */
#define SIP_KEY_MAX 400
#define SIP_TABLE_BUCKETS 4096
#define SIP_BRANCH_PREFIX "z9hG4bK-"

/* ---------------------------------------------------------------- table */

/* An intrusive chained hash table with string keys, owned by one worker. */
struct sip_entry {
	struct sip_entry *next;
	uint64_t hash;
	size_t klen;
	char *key; /* owned: allocated by sip_table_add, freed by sip_table_del */
};

struct sip_table {
	struct sip_entry *b[SIP_TABLE_BUCKETS];
	size_t n;
};

uint64_t sip_hash(struct str s);
/* Sets e's key (a copy at its length, cut to SIP_KEY_MAX) and links it;
 * duplicates are allowed.  0, or -ENOMEM (e not linked).  An entry added
 * must be deleted (sip_table_del frees the copy) before it is freed. */
int sip_table_add(struct sip_table *t, struct sip_entry *e, struct str key);
struct sip_entry *sip_table_find(struct sip_table *t, struct str key);
void sip_table_del(struct sip_table *t, struct sip_entry *e);
/* Calls fn on every entry; fn may delete the entry it is given. */
void sip_table_each(struct sip_table *t, void (*fn)(struct sip_entry *e, void *arg), void *arg);

#define sip_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ------------------------------------------------------------ transport */

/* One address we listen on, as we write it into Via and Record-Route.
 * The proxy's listen[] holds the plain (UDP and TCP) addresses first, then
 * the TLS ones.  tls is the TLS listener of the same family (itself for a
 * TLS one), or NULL: a hop over TLS names it in Via and Record-Route. */
struct sip_listen {
	struct net_addr addr;
	char host[NET_ADDR_STRLEN]; /* "127.0.0.1" or "[::1]" */
	uint16_t port;
	const struct sip_listen *tls;
};

/* Where a message came from, or where one goes, and over what. */
struct sip_peer {
	struct net_addr addr;
	enum sip_transport_kind transport;
	unsigned listen;      /* index into the proxy's listen addresses */
	unsigned conn_worker; /* TCP, TLS: the worker holding the connection */
	uint64_t conn_id;     /* TCP, TLS: 0 when none is known yet */
};

struct sip_conn;
struct sip_worker;
struct sip_txn_hooks;
struct sip_proxy;
struct sip_th_view;

/* Binds the worker's UDP sockets and TCP and TLS listeners; 0 or -errno. */
int sip_transport_open(struct sip_worker *w, char *err, size_t errlen);
void sip_transport_close(struct sip_worker *w);
/* Sends bytes to dst from worker w: UDP from w's socket on dst->listen's
 * family, TCP or TLS on dst's connection (handed to the worker holding
 * it) or a new one.  0 or -errno. */
int sip_transport_send(struct sip_worker *w, const struct sip_peer *dst, struct str bytes);
/* A TLS hop (dst with no connection yet) gets its connection now, its
 * certificate checked against host, the name the hop came from (RFC 5922
 * §4); dst then names it.  Other transports: nothing.  0 or -errno. */
int sip_transport_connect(struct sip_worker *w, struct sip_peer *dst, struct str host);
/* Bytes handed to another worker with loop_pool_call (decision 0012): a
 * received message going to the owner of its Call-ID (peer: where it came
 * from), or bytes to send on a connection another worker holds (peer: where
 * they go).  One allocation; run frees it. */
struct sip_handoff {
	struct sip_worker *w; /* the worker run runs on */
	struct sip_peer peer;
	size_t len;
	char bytes[];
};
/* A copy of bytes runs run(h) on worker to.  0 or -errno (nothing runs). */
int sip_handoff_post(struct sip_proxy *p, unsigned to, const struct sip_peer *peer,
		     struct str bytes, void (*run)(void *h));
/* A listen index whose family and transport suit dst (for Via and RR). */
unsigned sip_transport_listen_for(const struct sip_proxy *p, const struct net_addr *dst);

/* TLS contexts (tls.c, RFC 3261 §26.2): the server's from tls_cert and
 * tls_key (when there is a TLS listener), the client's verifying with
 * tls_ca (or not at all).  0, or -1 with err naming what failed. */
struct ssl_st;
int sip_tls_open(struct sip_proxy *p, char *err, size_t errlen);
void sip_tls_close(struct sip_proxy *p);
/* A new SSL for an accepted connection, or for one we open towards the
 * host the next hop came from (RFC 5922 §4: SNI when it is a name, and the
 * identity checked against the certificate).  NULL on failure. */
struct ssl_st *sip_tls_server(struct sip_proxy *p);
struct ssl_st *sip_tls_client(struct sip_proxy *p, struct str host);

/* ------------------------------------------------------------- building */

/* What a forwarded request needs changed (RFC 3261 §16.6). */
struct sip_fwd {
	struct str ruri;		 /* new Request-URI, or empty to keep */
	const struct sip_listen *via_at; /* our Via's sent-by */
	enum sip_transport_kind via_transport;
	struct str branch;			 /* our Via's branch */
	const struct sip_peer *src;		 /* for received/rport on the top Via (RFC 3581) */
	const struct sip_listen *rr_in, *rr_out; /* Record-Route: NULL none; out may equal in */
	enum sip_transport_kind rr_in_tp, rr_out_tp;
	size_t drop_routes; /* Route values of ours at the top, removed */
	int max_forwards;   /* the value to write */
	/* Topology hiding (th.c): NULL, or what the other side is shown; then
	 * no Via or Record-Route but ours goes out, and the Route header is
	 * th_route (the dialog's route set towards that side, or none). */
	struct sip_th_view *th;
	const char *th_route;
};

int sip_build_forward(struct buf *out, struct sip_msg *m, const struct sip_fwd *f);
/* The top Via line h of m given received/rport from src (RFC 3581 §4). */
int sip_build_top_via(struct buf *out, struct sip_msg *m, const struct sip_hdr *h,
		      const struct sip_peer *src);
/* "Record-Route: <sip:l;lr>" with the transport a hop over tp needs. */
int sip_build_rr(struct buf *out, const struct sip_listen *l, enum sip_transport_kind tp);
/* The listen address a hop over tp names us by (the TLS one for TLS). */
const struct sip_listen *sip_build_listen_at(const struct sip_listen *l,
					     enum sip_transport_kind tp);
/* A response to request m; to_tag added to To when m's To has none and
 * status > 100.  extra: whole header lines (CRLF-ended) or NULL.  The top
 * Via gets received/rport from src (RFC 3581 §4). */
int sip_build_response(struct buf *out, struct sip_msg *m, int status, const char *reason,
		       const char *to_tag, const struct sip_peer *src, const char *extra);
/* m is a response whose top Via is ours: the same bytes without it. */
int sip_build_strip_via(struct buf *out, struct sip_msg *m);
/* CANCEL (§9.1) or ACK for a non-2xx (§17.1.1.3) of the INVITE we sent;
 * resp gives the ACK its To (with tag). */
int sip_build_cancel(struct buf *out, struct sip_msg *invite);
int sip_build_ack(struct buf *out, struct sip_msg *invite, struct sip_msg *resp);
const char *sip_reason_phrase(int status);

#define SIP_ROUTE_MAX 16
#define SIP_ROUTE_LEN 1024

/* The route set for a request of our own inside a dialog we record-routed,
 * from the Record-Route of m (the 2xx): towards the callee (the entries
 * above ours, reversed, as the caller would use them) or towards the caller
 * (the entries below ours).  out gets "<uri>, <uri>" or "". */
int sip_build_route_set(char *out, size_t n, const struct sip_proxy *p, struct sip_msg *m,
			bool toward_callee);

/* A request of the proxy's own inside a dialog (ACK for a 2xx nobody
 * takes, BYE): every value given whole. */
struct sip_req {
	const char *method, *ruri, *route; /* route: "" or NULL for none */
	const char *from, *to, *call_id;
	uint32_t cseq;
	const struct sip_listen *via_at;
	enum sip_transport_kind transport;
	const char *branch;
	const char *extra; /* whole header lines, or NULL */
};
int sip_build_request(struct buf *out, const struct sip_req *r);
/* "sip:user@host:port" into out. */
int sip_build_uri(char *out, size_t n, const char *user, const char *host, uint16_t port,
		  enum sip_transport_kind tp);
/* True when uri names one of our listen addresses. */
bool sip_uri_is_ours(const struct sip_proxy *p, const struct sip_uri *uri);

/* --------------------------------------------------------------- proxy */

struct evconnlistener;
struct ssl_ctx_st;

struct sip_worker {
	struct sip_proxy *p;
	unsigned index;
	struct event_base *base;
	int udp_fd[SIP_LISTEN_MAX];
	struct event *udp_ev[SIP_LISTEN_MAX];
	struct evconnlistener *tcp_l[SIP_LISTEN_MAX]; /* by listen index: TCP, then TLS */
	struct sip_conn *conns;			      /* this worker's TCP and TLS connections */
	uint64_t next_conn_id;
	struct sip_table server_txs; /* server transactions */
	struct sip_table client_txs; /* client transactions, by our branch */
	struct sip_table calls;	     /* calls by Call-ID */
	struct sip_table th_calls;   /* hidden calls by the callee side's Call-ID */
	uint64_t seq;		     /* for branches and tags */
	/* Calls whose CDR is durable, handed back by the CDR writer's thread
	 * to be freed here (sip_call_reap); guarded by dead_lock. */
	pthread_mutex_t dead_lock;
	struct sip_call *dead;
	struct ng_client *ng;		/* media: NULL when no engine is configured */
	struct sip_call *media_waiting; /* calls with an ng request out */
	bool draining;			/* stopping: no ng reply will be read */
	char rx[SIP_MSG_MAX_SIZE + 1];
};

struct sip_proxy {
	struct sip_proxy_opts o;
	struct sip_policy *policy;
	struct sip_prepaid_engine *prepaid; /* prepaid authorization (prepaid.h); NULL: off */
	struct loop_pool *pool;
	unsigned nworkers;
	struct sip_worker *w;
	struct sip_listen listen[SIP_LISTEN_MAX];
	size_t nlisten; /* plain addresses: listen[0 .. nlisten) */
	size_t ntls;	/* TLS addresses: listen[nlisten .. nlisten + ntls) */
	struct ssl_ctx_st *tls_server, *tls_client;
	atomic_int tcp_conns; /* TCP and TLS */
	bool started;
	/* "sl" + 8 random hex digits, set once at start: the To tags of our
	 * stateless final responses begin with it, so the ACK for one of them
	 * is recognised and absorbed (§17.1.1.3) instead of being routed. */
	char sl_tag[16];
	unsigned char th_key[32]; /* drawn once: keys the hidden Call-IDs (th.c) */
	struct metric_family *m_requests, *m_responses, *m_calls;
	struct metric *m_parse_errors;
	struct sip_registrar *registrar; /* registrar.h */
	/* What the transactions tell the calls (txn.h): sip_call_txn_hooks. */
	const struct sip_txn_hooks *txn_hooks;
};

/* transport.c hands every received message here, on the worker that read it. */
void sip_proxy_receive(struct sip_worker *w, const char *buf, size_t len,
		       const struct sip_peer *src);
/* transport.c tells of a TCP or TLS connection of w that closed, failed or
 * was refused (a TLS handshake): what was waiting on it fails now. */
void sip_proxy_conn_lost(struct sip_worker *w, uint64_t conn_id);
/* The worker owning a Call-ID. */
unsigned sip_proxy_owner(const struct sip_proxy *p, struct str call_id);

/* Process-wide gauges, read at render time (txn.c, dialog.c). */
extern atomic_long sip_gauge_transactions;
extern atomic_long sip_gauge_dialogs;

#endif
