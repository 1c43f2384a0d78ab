/*
 * core.h — private to src/sip/: the proxy core's shared types.
 *
 * The proxy runs N workers (one libevent loop each, from a loop_pool).
 * Every worker binds its own UDP socket and TCP listener to every listen
 * address with SO_REUSEPORT, and owns its transactions, calls and dialogs
 * in tables nobody else touches.  A message that reaches the wrong worker
 * is copied and handed to its owner with loop_pool_call (decision 0012):
 * the owner of a call is hash(Call-ID) % N, and a response names the worker
 * in the branch of the Via we added ("z9hG4bK-<worker>-<random>").
 */
#ifndef WARP_SIP_CORE_H
#define WARP_SIP_CORE_H

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
	struct sip_table stx;	   /* server transactions */
	struct sip_table ctx;	   /* client transactions, by our branch */
	struct sip_table calls;	   /* calls by Call-ID */
	struct sip_table th_calls; /* hidden calls by the callee side's Call-ID */
	uint64_t seq;		   /* for branches and tags */
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
	/* What the transactions tell the calls (txn.h): sip_call_txn_hooks. */
	const struct sip_txn_hooks *txn_hooks;
};

/* transport.c hands every received message here, on the worker that read it. */
void sip_proxy_receive(struct sip_worker *w, const char *buf, size_t len,
		       const struct sip_peer *src);
/* The worker owning a Call-ID. */
unsigned sip_proxy_owner(const struct sip_proxy *p, struct str call_id);

/* Process-wide gauges, read at render time (txn.c, dialog.c). */
extern atomic_long sip_gauge_transactions;
extern atomic_long sip_gauge_dialogs;

/* ---------------------------------------------------------------- calls */

struct sip_stx;
struct sip_ctx;

enum sip_call_state { SIP_CALL_SETUP, SIP_CALL_UP, SIP_CALL_ENDING };

enum sip_media_wait {
	SIP_MEDIA_IDLE,
	SIP_MEDIA_OFFER,
	SIP_MEDIA_ANSWER,
	SIP_MEDIA_DELETE,
	SIP_MEDIA_REOFFER,     /* an in-dialog request's SDP */
	SIP_MEDIA_LATE_OFFER,  /* a late offer: the 2xx's SDP (RFC 3261 §13.2.1) */
	SIP_MEDIA_LATE_ANSWER, /* its answer, in the caller's ACK (or PRACK: RFC 3262) */
};

struct sip_media_tags {
	char from[128], to[128];
};

/* A call's media leg through an ng engine (media.c). */
struct sip_media {
	bool on;		      /* an offer went to the engine: delete at the end */
	enum sip_media_wait wait;     /* the ng request out, if any */
	uint64_t req;		      /* its id, for ng_client_cancel */
	struct sip_call *prev, *next; /* on w->media_waiting while wait != IDLE */
	/* The dialog's tags as the engine knows them; allocated with the
	 * offer (a call bypassing the relay has none). */
	struct sip_media_tags *tags;
	uint64_t answered, held_key; /* To tag and SDP answered, and the one held */
	struct buf answer;	     /* the callee's SDP as the engine rewrote it */
	struct buf held;	     /* a response (our Via on) awaiting its answer */
	struct sip_media_re *re;     /* a re-offer (or a late ACK) in progress, or NULL */
	bool late;		     /* INVITE without SDP: offer in the 2xx (or a reliable 1xx) */
	bool ack_callee;	     /* that ACK is the callee's (its re-INVITE had no SDP) */
	uint64_t acked;	    /* a late offer: the ACK's (PRACK's) From tag and SDP answered */
	struct buf ack_sdp; /* its SDP as the engine rewrote it, for retransmissions */
};

/* What an established dialog keeps to send BYEs of its own: the From and
 * To values with their tags, both Contacts, and the route sets towards
 * each side (from the 2xx's Record-Route, ours left out).  One allocation
 * holding the strings at their real lengths after the struct (dialog.c);
 * every field is "" when the answer had none. */
#define SIP_DIALOG_VALUE_MAX 512
struct sip_dialog_strs {
	const char *from, *to;
	const char *caller_contact, *callee_contact;
	const char *callee_route, *caller_route;
};

/* One INVITE-initiated call from the first INVITE to its CDR (proxy.c
 * runs the setup, dialog.c the established dialog). */
struct sip_call {
	struct sip_entry e; /* in w->calls by Call-ID */
	struct sip_worker *w;
	enum sip_call_state state;
	struct sip_call_plan plan;
	struct sip_cdr cdr;
	struct sip_stx *stx; /* the caller's INVITE, while unanswered */
	struct sip_ctx *ctx; /* the attempt in progress */
	size_t next_target;
	int attempts;
	int best_code;	      /* best final so far (§16.7 step 6) */
	struct buf best;      /* its bytes without our Via, to forward */
	bool cancelled;	      /* the caller cancelled */
	bool provisional;     /* the attempt saw a 1xx */
	struct event *timer;  /* setup (timer C), then maximum duration */
	struct event *reaper; /* dialog ceiling */
	struct sip_peer caller, callee;
	struct sip_dialog_strs *dlg; /* from the answer on; NULL before */
	uint32_t caller_cseq, callee_cseq;
	char to_tag[24]; /* ours, for responses we make */
	struct sip_media media;
	struct sip_th *th;	    /* topology hiding, or NULL (th_call.c) */
	struct sip_call *dead_next; /* on w->dead once the CDR is durable */
};

/* dialog.c */
void sip_dialog_answered(struct sip_call *c, struct sip_msg *resp);
/* An in-dialog request (To tag present) from src: 0 handled, or -ENOENT. */
void sip_dialog_request(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src);
/* §12.2.1.2, §12.2.2: a target refresh (re-INVITE, UPDATE, or the 2xx to
 * one) with a Contact gives its sender (the caller, or not) a new remote
 * target.  A hidden call routes requests to that side by it (th_call.c),
 * so it is kept; an unhidden one keeps the first as before (only the
 * proxy's own BYEs use it). */
void sip_dialog_retarget(struct sip_call *c, struct sip_msg *m, bool caller);
/* Ends the call: CDR submitted, policy told, state freed after the CDR is durable. */
void sip_call_end(struct sip_call *c, int code, enum sip_hangup_side side);
/* Submits the CDR of a call that has ended (frees it once durable). */
void sip_call_cdr_write(struct sip_call *c);
/* The proxy's own BYE to both sides (maximum duration, reaper). */
void sip_dialog_bye_both(struct sip_call *c);

/* call.c: a call's setup, for proxy.c */
void sip_request_invite(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src);
void sip_request_cancel(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src);
/* A response matched our client transaction x. */
void sip_response_to_ctx(struct sip_worker *w, struct sip_ctx *x, struct sip_msg *resp);
/* Tries the plan's next target (or answers the caller the best failure). */
void sip_call_try_next(struct sip_call *c);
/* The attempt in progress failed with code (timer B: 408): the next target. */
void sip_call_attempt_failed(struct sip_call *c, int code);
/* Lets go of the attempt in progress (CANCEL now or at its first provisional). */
void sip_call_abandon(struct sip_call *c);
/* Answers the caller code (the best response kept, or our own) and ends the call. */
void sip_call_finish_setup(struct sip_call *c, int code, enum sip_hangup_side side);

/* route.c: where a request goes, and forwarding it (RFC 3261 §16.4-§16.6) */
/* How many Route values at the top name us (§16.4). */
size_t sip_routes_ours(const struct sip_proxy *p, struct sip_msg *m);
/* The next hop of m once its drop Route values of ours are gone: its next
 * Route, else its Request-URI; 0, or -errno (names are not resolved). */
int sip_route_next_hop(struct sip_proxy *p, struct sip_msg *m, size_t drop, struct sip_peer *dst);
/* Forwards m statefully (through a client transaction peered with s) or,
 * s NULL, statelessly (an ACK) to dst; ruri: a new Request-URI or empty. */
int sip_proxy_send_request(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			   const struct sip_peer *dst, struct str ruri, size_t drop_routes,
			   struct sip_stx *stx);
/* Where a request of our own goes (§8.1.2): the first URI of route (a
 * "<uri>, <uri>" list) when there is one, else ruri; 0, or -errno when
 * neither names an address (names are not resolved on the packet path). */
int sip_proxy_next_hop(const struct sip_proxy *p, const char *route, const char *ruri,
		       struct sip_peer *out);
/* Forwards a response (our Via removed, rewritten for a hidden call) through s. */
void sip_stx_forward(struct sip_stx *s, struct sip_msg *resp);
/* The hooks through which the transactions reach the calls (txn.h). */
extern const struct sip_txn_hooks sip_call_txn_hooks;
void sip_call_free(struct sip_call *c);
/* Frees the calls on w->dead (on w's thread, or anywhere once the pool has stopped). */
void sip_call_reap(struct sip_worker *w);

/* media.c: the relay's ng requests at the call's hook points */
/* The INVITE m opens c: 1 when media.c took the call over (an offer is out,
 * then sip_call_try_next; or the caller was refused), 0 to go on (bypass). */
int sip_media_invite(struct sip_call *c, struct sip_msg *m);
/* A 1xx or 2xx of the callee for c, to forward to the caller (an answer
 * first when it carries SDP the engine has not seen; to an INVITE without
 * SDP, the 2xx's SDP is an offer instead). */
void sip_media_response(struct sip_call *c, struct sip_msg *resp);
/* sip_build_strip_via for a 2xx retransmission of c: the rewritten SDP in
 * place of the callee's; -EAGAIN while the answer (or a late offer) is out
 * (drop it: the held one goes up with the engine's SDP). */
int sip_media_strip_via(struct sip_call *c, struct buf *out, struct sip_msg *m);
/* c has ended: 1 when a delete is out (its callback writes the CDR), 0
 * when the CDR is to be written now. */
int sip_media_end(struct sip_call *c);
/* Stopping: the calls waiting on the engine finish without it. */
void sip_media_drain(struct sip_worker *w);
int sip_media_open(struct sip_worker *w);
void sip_media_close(struct sip_worker *w);
void sip_media_fini(struct sip_call *c);
/* An in-dialog request m of c from src, bound for dst (drop: our Route
 * values): 1 when media.c took it (a re-offer through the engine, or an
 * ACK carrying a late offer's answer), 0 to forward it as it is. */
int sip_media_in_dialog(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
			const struct sip_peer *dst, size_t drop);
/* A response for server transaction s: true when media.c forwards it (s
 * carries a re-offer: the answer goes through the engine first). */
bool sip_media_in_dialog_response(struct sip_stx *s, struct sip_msg *resp);
/* s, carrying a re-offer, is going away. */
void sip_media_stx_gone(struct sip_stx *s);

/* ------------------------------------------------- topology hiding */

/* th.c (pure) and th_call.c (the call glue): decision 0028. */
enum sip_th_side { SIP_TH_CALLER = 0, SIP_TH_CALLEE = 1 };
#define SIP_TH_VALUE_MAX 256
#define SIP_TH_KEY_LEN 32

/* What a side's request carried that only that side sees again, for the
 * responses going back to it: its Via lines (the top one given
 * received/rport) and its Record-Route lines. */
struct sip_th_up {
	struct buf vias, rrs;
};

/* A hidden call: the values each side knows, by side. */
struct sip_th {
	struct sip_entry e; /* in w->th_calls by call_id[SIP_TH_CALLEE] */
	struct sip_call *call;
	char call_id[2][SIP_TH_VALUE_MAX];
	char from[2][SIP_TH_VALUE_MAX]; /* the first INVITE's From URI */
	char to[2][SIP_TH_VALUE_MAX];	/* and its To URI */
	char token[20];			/* our Contact's user part: "th-<token>" */
	/* Each side's Contact URI from its INVITE or 1xx: the Request-URI of
	 * requests to it in the early dialog (PRACK, UPDATE), before the
	 * dialog's own (dialog.c) exists. */
	char contact[2][SIP_TH_VALUE_MAX];
	uint32_t invite_cseq;
	struct sip_th_up caller_up; /* of the first INVITE */
	/* The last 2xx to an INVITE sent to each side, for its retransmissions
	 * (§13.3.1.4) once the transaction is gone; CSeq number in sent_cseq. */
	struct buf sent_2xx[2];
	uint32_t sent_cseq[2];
};

/* One message going to side toward: the Contact we show it (NULL: none),
 * and for a response our listen address facing it (its Record-Route). */
struct sip_th_view {
	const struct sip_th *th;
	enum sip_th_side toward;
	const char *contact;
	bool contact_done;
	const struct sip_listen *at;
	enum sip_transport_kind tp;
};

/* "wth<owner>-<hex>": HMAC-SHA256(key, cid) cut to 16 bytes. */
int sip_th_call_id(char *out, size_t n, const unsigned char key[SIP_TH_KEY_LEN], unsigned owner,
		   struct str cid);
/* True, with the worker it names, when cid has the shape of one of ours. */
bool sip_th_call_id_owner(struct str cid, unsigned *owner);
/* uri with host (and port) replaced by host, user kept; a tel: URI as it is. */
int sip_th_uri_mask(char *out, size_t n, struct str uri, const char *host);
/* "<sip:th-<token>@host:port>" for listen address l over tp. */
int sip_th_contact(char *out, size_t n, const struct sip_th *th, const struct sip_listen *l,
		   enum sip_transport_kind tp);
/* h as side v->toward sees it: 1 when written (From, To, Call-ID,
 * Contact), 0 when h is none of those, -ENOMEM. */
int sip_th_header(struct buf *out, const struct sip_hdr *h, struct sip_th_view *v);
int sip_th_up_init(struct sip_th_up *up, struct sip_msg *req, const struct sip_peer *src);
void sip_th_up_fini(struct sip_th_up *up);
/* resp (our Via on top, the only one) as the side it returns to sees it:
 * that side's Via lines from up; when resp has Record-Route, our entry
 * facing it (v->at) then its own from up. */
int sip_th_build_response(struct buf *out, struct sip_msg *resp, struct sip_th_view *v,
			  const struct sip_th_up *up);
/* m (a request of our own) with From, To, Call-ID and Contact rewritten. */
int sip_th_build_copy(struct buf *out, struct sip_msg *m, struct sip_th_view *v);
/* The Contact URI of m into out (n bytes), or "" when it has none. */
void sip_th_contact_of(char *out, size_t n, struct sip_msg *m);
/* From the caller's first INVITE (src: where it came from); owner: the
 * worker owning its Call-ID.  0, or -EINVAL (no From, To, Call-ID). */
int sip_th_init(struct sip_th *th, struct sip_msg *invite, const struct sip_peer *src,
		const unsigned char key[SIP_TH_KEY_LEN], unsigned owner);
/* The callee side's From and To URIs, with host (our address facing it). */
int sip_th_target(struct sip_th *th, const char *host);
void sip_th_fini(struct sip_th *th);

/* th_call.c */
/* The call a Call-ID names, either side's; *side says whose it is. */
struct sip_call *sip_call_find(struct sip_worker *w, struct str cid, enum sip_th_side *side);
/* c's trunk hides topology: the state for it, from the caller's INVITE. */
int sip_call_hide(struct sip_call *c, struct sip_msg *invite);
/* Out of the worker's table (the call is ending), then freed. */
void sip_call_unhide(struct sip_call *c);
void sip_call_th_free(struct sip_call *c);
/* A forwarded request m to dst: f->th and f->ruri set when its call hides
 * topology (view and contact: caller storage that outlives f).  0, or
 * -ENOSPC when it cannot be hidden (then it must not go). */
int sip_call_th_forward(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *dst,
			struct sip_fwd *f, struct sip_th_view *view, char *contact, size_t n);
/* Where an in-dialog request of a hidden call goes to side toward: its
 * Contact through its route set, over the connection it came in on. */
void sip_call_th_next_hop(struct sip_call *c, enum sip_th_side toward, struct sip_peer *dst);
/* sip_build_strip_via for a response of call c (NULL: none) going up
 * through s (NULL: the first INVITE's, gone). */
int sip_call_strip_via(struct sip_call *c, struct sip_stx *s, struct buf *out,
		       struct sip_msg *resp);
/* A 2xx to INVITE without a transaction, from side: the copy last sent
 * to the other side again when it is the same CSeq. */
void sip_call_th_resend_2xx(struct sip_call *c, enum sip_th_side side, struct sip_msg *resp);
/* A request of our own (bytes, built as the caller sees the dialog) for
 * side toward of c, rewritten when c hides topology, sent to dst. */
void sip_call_send_own(struct sip_call *c, enum sip_th_side toward, struct str bytes,
		       struct str branch, const struct sip_peer *dst);

/* ------------------------------------ media, private to media*.c */

struct bencode_node;
struct ng_params;

/* An in-dialog offer/answer in progress (media_reoffer.c), or a late
 * offer's ACK (media_late.c: stx NULL) or PRACK waiting on the engine. */
struct sip_media_re {
	struct sip_stx *stx;	  /* the request; its reoffer names the call (NULL: an ACK) */
	struct sip_peer src, dst; /* where it came from, where it goes once rewritten */
	size_t drop;		  /* Route values of ours at its top */
	char from[128], to[128];  /* the sender's tag, the other party's */
	bool late;		  /* a re-INVITE without SDP: its 2xx offers, the ACK answers */
};

/* media.c: what the offers and answers share */
bool sip_media_has_sdp(struct sip_msg *m);
/* m's bytes into out with body in place of its own, Content-Length to match. */
int sip_media_rebody(struct buf *out, const struct sip_msg *m, struct str body);
/* The key under which a rewritten SDP is kept: a To (or From) tag and the SDP. */
uint64_t sip_media_key(struct str tag, struct str sdp);
/* c's ng request has come back (or is abandoned): off the worker's list. */
void sip_media_unwait(struct sip_call *c);
/* An offer or answer (build) of q's SDP from the party at from, for c; the
 * reply comes to cb, c waiting as what.  0 or -errno. */
int sip_media_sdp_send(struct sip_call *c, struct ng_params *q, const struct net_addr *from,
		       int (*build)(struct buf *, const struct ng_params *),
		       void (*cb)(void *, int, const struct bencode_node *, struct str),
		       enum sip_media_wait what);
/* The engine's SDP from an offer's or answer's reply; else -1, why in why. */
int sip_media_reply_sdp(int status, const struct bencode_node *reply, struct str *sdp, char *why,
			size_t n);
/* The request kept in s takes sdp as its body (what is forwarded). */
int sip_media_rebody_stx(struct sip_stx *s, struct str sdp);
/* bytes (a response, our Via on top) go up s; when s is over, a 2xx goes
 * statelessly to up, if given. */
void sip_media_forward_bytes(struct sip_call *c, struct sip_stx *s, const struct sip_peer *up,
			     struct str bytes);
/* resp goes up (as above) with sdp in place of its own. */
void sip_media_forward_sdp(struct sip_call *c, struct sip_stx *s, const struct sip_peer *up,
			   struct sip_msg *resp, struct str sdp);
/* resp goes up (as above) with media.answer in place of its SDP. */
void sip_media_forward_rewritten(struct sip_call *c, struct sip_stx *s, const struct sip_peer *up,
				 struct sip_msg *resp);
/* An answer with resp's SDP from the party at from (tag to_tag) to the
 * offerer (from_tag); resp is held until the reply.  0 or -errno. */
int sip_media_answer_send(struct sip_call *c, struct sip_msg *resp, struct str from_tag,
			  struct str to_tag, const struct net_addr *from);

/* media_late.c: an INVITE without SDP */
/* The first 2xx with SDP (To tag to_tag) to it: the offer goes out. */
void sip_media_late_offer(struct sip_call *c, struct sip_msg *resp, struct str to_tag);
/* A late offer of the 2xx resp's SDP (To tag to_tag; tags and flags in q)
 * from the party at from: resp is held until the reply, or goes up
 * unchanged when the offer cannot be sent (a re-INVITE's: media.re). */
void sip_media_late_offer_send(struct sip_call *c, struct sip_msg *resp, struct str to_tag,
			       struct ng_params *q, const struct net_addr *from);
/* The reply to a late offer, the first one or a re-INVITE's (media.re). */
void sip_media_late_offer_done(void *arg, int status, const struct bencode_node *reply,
			       struct str raw);
/* An ACK m from src to dst: 1 when it carries the late offer's answer
 * (then forwarded from here), else 0. */
int sip_media_late_ack(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
		       const struct sip_peer *dst, size_t drop);
/* The answer in m (an ACK, or a PRACK waiting in s) to the late offer goes
 * to the engine; m is held and forwarded once it replies.  0 or -errno
 * (then nothing is held: forward m as it is). */
int sip_media_late_answer_send(struct sip_call *c, struct sip_msg *m, struct sip_stx *s,
			       const struct sip_peer *src, const struct sip_peer *dst, size_t drop);
void sip_media_late_answer_done(void *arg, int status, const struct bencode_node *reply,
				struct str raw);

/* media_early.c: offer/answer in the early dialog (RFC 3262, RFC 3311) */
/* A provisional response sent reliably (Require: 100rel, RSeq). */
bool sip_media_reliable(const struct sip_msg *m);
/* The PRACK m answering a reliable 1xx's late offer: 1 when taken (the
 * answer at the engine, m waiting in a server transaction), else 0. */
int sip_media_early_prack(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
			  const struct sip_peer *dst, size_t drop);
/* m may carry an offer in c's dialog: confirmed, or an UPDATE in the early one. */
bool sip_media_dialog_open(const struct sip_call *c, const struct sip_msg *m);
/* The first offer/answer is complete (always, once the call is up). */
bool sip_media_early_settled(const struct sip_call *c);

/* media_reoffer.c: offer/answer inside the dialog */
/* The exchange in progress is over: media.re freed, its transaction let go. */
void sip_media_re_free(struct sip_call *c);
/* c ends with an exchange in progress, its ng request (if any) cancelled. */
void sip_media_re_end(struct sip_call *c);
void sip_media_reoffer_done(void *arg, int status, const struct bencode_node *reply,
			    struct str raw);

#endif
