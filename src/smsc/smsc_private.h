/*
 * smsc_private.h — what the smsc role's files share and nothing outside
 * src/smsc/ sees.
 */
#ifndef WARP_SMSC_PRIVATE_H
#define WARP_SMSC_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "smpp/smpp.h"
#include "smsc/smsc.h"

struct bufferevent;
struct evconnlistener;
struct event_base;

/* ------------------------------------------------------------ accounts */

/* One SMPP account as the last snapshot saw it (accounts.c). */
struct smsc_account {
	char id[ID_MAX];
	char customer_id[ID_MAX];
	char system_id[SMPP_SYSTEM_ID_MAX];
	char password_hash[PASSHASH_MAX];
	bool enabled, customer_active;
	struct net_cidr *cidrs;
	size_t ncidrs;
	unsigned max_binds, window;
	int64_t throughput, burst;
};

struct smsc_accounts {
	struct smsc_account *a; /* sorted by system_id */
	size_t n;
};

void *smsc_accounts_build(struct store_conn *c, void *arg);
void smsc_accounts_free(void *data);
const struct smsc_account *smsc_accounts_find(const struct smsc_accounts *s, struct str system_id);
bool smsc_account_allows(const struct smsc_account *a, const struct net_addr *peer);

/* ------------------------------------------------------------- routes */

#define SMSC_PREFIX_MAX 15
#define SMSC_ROUTE_CARRIERS_MAX 20
#define SMSC_CONNECTOR_BINDS_MAX 16

struct smsc_route_carrier {
	char carrier_id[ID_MAX];
	int priority, weight;
};

struct smsc_route {
	char id[ID_MAX];
	char prefix[SMSC_PREFIX_MAX + 1];
	char customer_id[ID_MAX];				     /* "" for a global route */
	struct smsc_route_carrier carriers[SMSC_ROUTE_CARRIERS_MAX]; /* by priority */
	size_t ncarriers;
};

/* How an upstream writes its message ids (Kannel's msg-id-type). */
enum smsc_id_base { SMSC_ID_TEXT, SMSC_ID_HEX, SMSC_ID_DEC };

struct smsc_connector_cfg {
	char id[ID_MAX], carrier_id[ID_MAX];
	char host[256];
	uint16_t port;
	char system_id[SMPP_SYSTEM_ID_MAX], password[SMPP_PASSWORD_MAX];
	char system_type[SMPP_SYSTEM_TYPE_MAX];
	bool transmitter_only;
	unsigned binds, window;
	int64_t throughput, enquire_link_ms, response_timeout_ms;
	int64_t reconnect_min_ms, reconnect_max_ms;
	enum smsc_id_base submit_id_base, receipt_id_base;
	uint8_t default_ton, default_npi;
	int64_t updated_at; /* a changed connector is rebound */
};

struct smsc_routes {
	struct smsc_route *routes; /* by (prefix, customer_id) */
	size_t nroutes, maxlen;
	struct smsc_connector_cfg *connectors; /* enabled ones, by id */
	size_t nconnectors;
};

void *smsc_routes_build(struct store_conn *c, void *arg);
void smsc_routes_free(void *data);
const struct smsc_route *smsc_route_find(const struct smsc_routes *s, struct str dest,
					 const char *customer_id);

/* ------------------------------------------------------------- limits */

/* An account's live state, kept while the server runs (limits.c); only the
 * session thread touches it. */
struct smsc_live {
	struct smsc_live *next;
	char account_id[ID_MAX];
	unsigned binds;
	int64_t tokens_milli; /* token bucket, thousandths of a message */
	int64_t refilled_us;
};

struct smsc_live *smsc_live_get(struct smsc_live **list, const char *account_id);
void smsc_live_free_all(struct smsc_live **list);
/* Takes one message from the bucket; false when it is empty. */
bool smsc_live_take(struct smsc_live *l, int64_t rate, int64_t burst, int64_t now_us);

/* ------------------------------------------------------------- verify */

/* A password check run off the session thread (verify.c). */
struct smsc_verify;
struct smsc_verify_job {
	struct smsc_verify_job *next;
	char password[SMPP_PASSWORD_MAX];
	char hash[PASSHASH_MAX];
	int result; /* passhash_verify's */
	void (*done)(struct smsc_verify_job *j);
	void *arg;
};

struct smsc_verify *smsc_verify_new(struct loop_pool *back);
/* Queues j; j->done runs on thread 0 of the pool given to smsc_verify_new. */
int smsc_verify_submit(struct smsc_verify *v, struct smsc_verify_job *j);
void smsc_verify_free(struct smsc_verify *v);

/* ----------------------------------------------------------- upstream */

#define SMSC_ESM_RECEIPT 0x04 /* esm_class: an SMSC delivery receipt (§5.2.12) */
#define SMSC_RX_T_APPN 0x64   /* deliver_sm_resp: temporary failure, resend later */

/* A message on its way upstream, as leased from the store (dispatch.c). */
struct smsc_out_msg {
	struct smsc_out_msg *next;
	char id[ID_MAX], customer_id[ID_MAX];
	char source[SMPP_ADDR_WIDE_MAX], dest[SMPP_ADDR_WIDE_MAX];
	uint8_t source_ton, source_npi, dest_ton, dest_npi;
	uint8_t data_coding, esm_class, registered_delivery;
	uint8_t *body;
	size_t body_len;
	int64_t expires_at;
	int attempts;
	unsigned carrier_pos; /* the route's carriers tried so far */
	char carrier_id[ID_MAX];
};

enum smsc_up_state { SMSC_UP_IDLE, SMSC_UP_CONNECTING, SMSC_UP_BINDING, SMSC_UP_BOUND };

struct smsc_upinflight {
	struct smsc_out_msg *msg; /* NULL: free slot */
	uint32_t seq;
	int64_t sent_ms;
};

struct smsc_out;

struct smsc_upbind {
	struct smsc_out *o;
	struct smsc_connector_cfg cfg;
	unsigned index;
	enum smsc_up_state state;
	struct bufferevent *bev;
	struct event *timer;
	uint32_t seq;
	int64_t backoff_ms, bind_sent_ms, last_rx_ms, enquire_sent_ms, paused_until_us;
	struct smsc_upinflight *inflight; /* cfg.window slots */
	unsigned ninflight;
	struct smsc_live bucket;
	uint8_t *out; /* SMPP_PDU_MAX_LEN: the PDU being written */
};

struct smsc_upbind *smsc_upbind_new(struct smsc_out *o, const struct smsc_connector_cfg *cfg,
				    unsigned index);
void smsc_upbind_free(struct smsc_upbind *b);
bool smsc_upbind_ready(struct smsc_upbind *b, int64_t now_us);
unsigned smsc_upbind_room(const struct smsc_upbind *b);
int smsc_upbind_submit(struct smsc_upbind *b, struct smsc_out_msg *m);

/* A connector and its binds, as the upstream thread runs them. */
struct smsc_conn {
	struct smsc_connector_cfg cfg;
	struct smsc_upbind *binds[SMSC_CONNECTOR_BINDS_MAX];
	unsigned rr; /* the next bind to try */
	struct metric *m_binds, *m_window; /* its series, looked up once */
};

/* A receipt that came before its submit_sm_resp was recorded. */
struct smsc_pending {
	struct smsc_pending *next;
	char carrier_id[ID_MAX], upstream_id[SMPP_MESSAGE_ID_MAX + 1];
	char state[16], error[32];
	int64_t until_ms;
};

/* Accounts with a receiver session bound in this process. */
struct smsc_receivers {
	struct smsc_receivers *next;
	char account_id[ID_MAX];
	int count;
};

struct smsc_out {
	struct smsc *s;
	struct event_base *base; /* the upstream thread's */
	struct store *store;
	struct snapshot *routes;
	int64_t routes_version;
	struct smsc_conn *conns;
	size_t nconns;
	struct event *timer;
	char owner[ID_MAX]; /* lease_owner of the messages this process holds */
	int64_t expired_at;
	struct smsc_pending *pending;
	struct smsc_receivers *receivers;
	int64_t receipts_polled_ms;
	bool stopping;
	struct metric_family *m_outcomes;
	struct metric *m_receipts_matched, *m_receipts_unmatched, *m_binds_up;
	struct metric_family *m_status; /* message.status events written */
	struct metric_family *m_queue, *m_conn_binds, *m_conn_window;
	int64_t queue_counted_ms;
};

struct smsc_out *smsc_out_new(struct smsc *s, struct event_base *base);
void smsc_out_free(struct smsc_out *o);

/* What the binds report to the dispatcher (dispatch.c). */
void smsc_out_submitted(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m,
			uint32_t status, struct str upstream_id);
void smsc_out_lost(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m);
void smsc_out_receipt(struct smsc_out *o, struct smsc_upbind *b, const struct smpp_pdu *p);
void smsc_out_bind_changed(struct smsc_out *o);

/* ---------------------------------------------------- final states */

/* receipt_due for a row moving to state (an SQL expression): an SMPP
 * customer that asked for receipts (registered_delivery 1: any final state,
 * 2: failures only, SMPP 3.4 §5.2.17) gets one when the state is final. */
#define RECEIPT_DUE(state)                                                                         \
	"receipt_due = CASE WHEN origin = 'smpp' AND " state                                       \
	" IN ('delivered', 'undeliverable', 'expired', 'rejected') AND "                           \
	"(registered_delivery % 4 = 1 OR (registered_delivery % 4 = 2 AND " state                  \
	" <> 'delivered')) THEN 1 ELSE 0 END"

/* What must still hold for a part to move (final.c). */
enum smsc_final_guard {
	SMSC_FINAL_LEASED,    /* this process holds its lease (owner) */
	SMSC_FINAL_SUBMITTED, /* a receipt: it is waiting for one */
	SMSC_FINAL_EXPIRY,    /* its validity ended while queued and unleased */
};

struct smsc_final {
	enum smsc_final_guard guard;
	const char *id, *state, *error; /* error may be NULL */
	const char *owner;		/* SMSC_FINAL_LEASED */
	int64_t attempted;		/* SMSC_FINAL_LEASED: 1 when it went upstream */
	int64_t now;			/* epoch ms */
};

/* Moves one part to f->state and, when that makes its group final, writes
 * the group's message.status event in the same transaction.  2 when the
 * part moved and the event was written (its status is f->state), 1 when
 * only the part moved, 0 when its guard no longer held, <0 on a store error
 * (logged here). */
int smsc_final_apply(struct store *s, const struct smsc_final *f);

/* ----------------------------------------------------------- receipts */

/* What a receipt from an upstream says (receipt_parse.c); views into p. */
struct smsc_receipt {
	struct str id;
	const char *state; /* our final state, NULL for one that is not final */
	char error[32];
};

void smsc_receipt_parse(const struct smpp_pdu *p, struct smsc_receipt *r);

/* A receipt on its way to the customer (receipts.c). */
struct smsc_dlr {
	struct smsc_dlr *next;
	struct smsc *s;
	char id[ID_MAX], account_id[ID_MAX];
	char source[SMPP_ADDR_WIDE_MAX], dest[SMPP_ADDR_WIDE_MAX];
	uint8_t source_ton, source_npi, dest_ton, dest_npi;
	char state[16], error[32];
	int64_t submitted_ms, done_ms;
	uint32_t seq; /* of the deliver_sm that carries it */
};

void smsc_receipts_receivers(struct smsc *s, const char *account_id, int delta);
void smsc_receipts_poll(struct smsc *s);
void smsc_receipts_deliver(void *arg);
struct smsc_session;
void smsc_receipts_answered(struct smsc_session *ss, const struct smpp_pdu *p);
void smsc_receipts_drop(struct smsc_session *ss);

/* ------------------------------------------------------------ server */

enum smsc_bind_state {
	SMSC_OPEN,    /* connected, not bound */
	SMSC_BINDING, /* a bind's password is being checked */
	SMSC_BOUND_TX,
	SMSC_BOUND_RX,
	SMSC_BOUND_TRX,
	SMSC_CLOSING, /* unbound or failed: writes drain, then close */
};

struct smsc {
	struct smsc_opts o;
	struct loop_pool *pool; /* one thread: every session */
	bool started;
	struct event_base *base;
	struct evconnlistener *listener;
	int listen_fd;
	struct snapshot *accounts;
	struct store_batch *insert;
	struct smsc_verify *verify;
	struct smsc_out *out; /* on the pool's thread 1 */
	struct smsc_live *live;
	char *hex; /* 2 * SMPP_PDU_MAX_LEN + 1: a body on its way to the store */
	unsigned nsessions;
	struct smsc_session *sessions; /* every open session, for shutdown */
	struct metric *m_binds_ok, *m_binds_refused, *m_submits_ok, *m_submits_refused;
	struct metric *m_sessions;
	struct metric *m_resp_seconds; /* submit in to submit_sm_resp out */
};

struct smsc_session {
	struct smsc *s;
	struct smsc_session *prev, *next;
	struct bufferevent *bev;
	struct net_addr peer;
	enum smsc_bind_state state;
	uint32_t bind_cmd, bind_seq; /* the bind being checked */
	char system_id[SMPP_SYSTEM_ID_MAX];
	const struct smsc_account *acct; /* valid only while binding */
	char account_id[ID_MAX], customer_id[ID_MAX];
	unsigned window, max_binds;
	int64_t throughput, burst;
	struct smsc_live *live;
	bool holds_bind;       /* counted in live->binds */
	bool receiver;	       /* counted in the upstream thread's receivers */
	uint32_t seq;	       /* of the PDUs we send */
	struct smsc_dlr *dlrs; /* receipts sent, not yet answered */
	unsigned outstanding;  /* submits not yet answered */
	int refs;	       /* the connection, each pending submit or check */
	bool dead;	       /* the connection is gone */
};

/* session.c */
void smsc_session_accept(struct smsc *s, int fd, const struct sockaddr *sa, int salen);
void smsc_session_send(struct smsc_session *ss, const struct smpp_pdu *p);
void smsc_session_unref(struct smsc_session *ss);
void smsc_session_close(struct smsc_session *ss);
/* Stops reading; the session closes once what it wrote has gone out. */
void smsc_session_finish(struct smsc_session *ss);
void smsc_session_close_all(struct smsc *s);

/* bind.c */
void smsc_bind_start(struct smsc_session *ss, const struct smpp_pdu *p);
void smsc_bind_release(struct smsc_session *ss);

/* submit.c */
struct str smsc_wire_id(const char *id);
int smsc_submit_prepare(struct smsc *s);
void smsc_submit_handle(struct smsc_session *ss, const struct smpp_pdu *p);

/* validity.c: an SMPP 3.4 §7.1.1 time as epoch ms; 0, 1 when t is empty,
 * -EINVAL when it is not such a time. */
int smsc_time_parse(struct str t, int64_t now_ms, int64_t *out);

/* The answer to p with command_status status and no body. */
void smsc_answer(struct smsc_session *ss, const struct smpp_pdu *p, uint32_t status);

#endif
