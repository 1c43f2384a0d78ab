/*
 * smsc_private.h — what the smsc role's files share and nothing outside
 * src/smsc/ sees.
 */
#ifndef WARP_SMSC_PRIVATE_H
#define WARP_SMSC_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "smpp/smpp.h"
#include "smsc/route_filter.h"
#include "smsc/routes_private.h"
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
#define SMSC_RX_P_APPN 0x65   /* deliver_sm_resp: permanent failure, do not resend */

#define SMSC_TRIED_MAX 512 /* messages.carriers_tried read back, with a leading ',' */

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
	int parts;	      /* its group's part_total */
	unsigned carrier_pos; /* the route's carriers tried so far */
	char carrier_id[ID_MAX];
	int64_t send_by; /* epoch ms: not sent by then, back to the queue (a backlog's) */
	/* Carriers that answered a retryable negative receipt, ",a,b," ("" for
	 * none), and the last error, what it ends with when none is left
	 * (decision 0051). */
	char tried[SMSC_TRIED_MAX], error[32];
};

/* Messages leased ahead of a connector's window, oldest first, linked by
 * next (dispatch.c): a freed window slot takes the head at once. */
struct smsc_backlog {
	struct smsc_out_msg *head, *tail;
	unsigned n;
	unsigned sent, sent_last; /* submits written since the tick, in the last tick */
};

enum smsc_up_state { SMSC_UP_IDLE, SMSC_UP_CONNECTING, SMSC_UP_BINDING, SMSC_UP_BOUND };

struct smsc_upinflight {
	struct smsc_out_msg *msg; /* NULL: free slot */
	uint32_t seq;
	int64_t sent_ms;
};

struct smsc_out;
struct smsc_conn;

struct smsc_upbind {
	struct smsc_out *o;
	struct smsc_conn *conn; /* its connector, kept current by dispatch.c */
	struct smsc_connector_cfg cfg;
	unsigned index;
	enum smsc_up_state state;
	uint64_t gen; /* this bound connection's, unique in the process */
	struct bufferevent *bev;
	struct event *timer;
	uint32_t seq;
	int64_t backoff_ms, connect_ms, bind_sent_ms, last_rx_ms, enquire_sent_ms, paused_until_us;
	struct smsc_upinflight *inflight; /* cfg.window slots */
	unsigned ninflight;
	struct smsc_live bucket;
	uint8_t *out;		    /* SMPP_PDU_MAX_LEN: the PDU being written */
	struct ssl_ctx_st *tls_ctx; /* cfg.tls: made on the first connect */
	struct metric *m_tls_failed;
};

struct smsc_upbind *smsc_upbind_new(struct smsc_out *o, const struct smsc_connector_cfg *cfg,
				    unsigned index);
void smsc_upbind_free(struct smsc_upbind *b);
bool smsc_upbind_ready(struct smsc_upbind *b, int64_t now_us);
unsigned smsc_upbind_room(const struct smsc_upbind *b);
int smsc_upbind_submit(struct smsc_upbind *b, struct smsc_out_msg *m);
/* Answers the upstream's request (command_id, sequence_number). */
void smsc_upbind_respond(struct smsc_upbind *b, uint32_t command_id, uint32_t sequence_number,
			 uint32_t status);

/* A connector and its binds, as the upstream thread runs them. */
struct smsc_conn {
	struct smsc_connector_cfg cfg;
	struct smsc_upbind *binds[SMSC_CONNECTOR_BINDS_MAX];
	unsigned rr;			   /* the next bind to try */
	struct smsc_backlog backlog;	   /* leased, waiting for a window slot */
	struct metric *m_binds, *m_window; /* its series, looked up once */
	struct metric *m_backlog;
};

/* A bind as a later callback finds it again: by connector, index and
 * connection generation, since it may have dropped (or been replaced)
 * meanwhile (upstream.c). */
struct smsc_bind_ref {
	char conn_id[ID_MAX];
	unsigned index;
	uint64_t gen;
};

void smsc_bind_ref_set(struct smsc_bind_ref *r, const struct smsc_upbind *b);
/* The bind, still bound on the same connection; NULL when it is not. */
struct smsc_upbind *smsc_bind_ref_find(struct smsc_out *o, const struct smsc_bind_ref *r);

/* idtable.c: upstream ids by (carrier, id) on the upstream thread. */
enum smsc_id_kind {
	SMSC_ID_SENT, /* its submit_sm_resp came: id is our message */
	SMSC_ID_HELD, /* a receipt that found no SENT record yet */
};

struct smsc_idrec {
	struct smsc_idrec *chain, *prev, *next; /* its bucket; its kind's list */
	uint64_t hash;
	enum smsc_id_kind kind;
	int64_t until_ms; /* monotonic: dropped then */
	char carrier_id[ID_MAX], upstream_id[SMPP_MESSAGE_ID_MAX + 1];
	char id[ID_MAX];	   /* SENT */
	int parts;		   /* SENT: its group's part_total */
	char state[16], error[32]; /* HELD: what the receipt says */
	bool retry;		   /* HELD: its connector marks it retryable (decision 0051) */
	int64_t check_ms;	   /* HELD: its next look in the store */
	unsigned checks;
	uint64_t held_round; /* SENT: its "submitted" row is held (sent.c) in this round */
	size_t held_at;	     /* SENT: at this index of the round's held rows */
};

struct smsc_ids;
uint64_t smsc_ids_hash(const char *carrier_id, const char *upstream_id);
struct smsc_ids *smsc_ids_new(void);
void smsc_ids_free(struct smsc_ids *t);
struct smsc_idrec *smsc_ids_find(struct smsc_ids *t, enum smsc_id_kind kind, const char *carrier_id,
				 const char *upstream_id);
/* A new record at the end of its kind's list (its oldest evicted when the
 * kind is full); NULL when out of memory. */
struct smsc_idrec *smsc_ids_add(struct smsc_ids *t, enum smsc_id_kind kind, const char *carrier_id,
				const char *upstream_id, int64_t until_ms);
void smsc_ids_remove(struct smsc_ids *t, struct smsc_idrec *r);
struct smsc_idrec *smsc_ids_oldest(struct smsc_ids *t, enum smsc_id_kind kind);
size_t smsc_ids_count(const struct smsc_ids *t, enum smsc_id_kind kind);

#define SMSC_WRITE_LANES 2 /* PostgreSQL: writers (connections) side by side */

/* A write that reports back once committed (writes.c). */
struct smsc_settle {
	struct smsc_settle *next;
	struct smsc_out *o;
	int status;	  /* the writer's: 0 committed */
	char evt[ID_MAX]; /* a final: the event it may have written */
	char id[ID_MAX];  /* a final: its part */
	char state[16];
	int64_t now;
	bool outcome; /* a final counted in warp_smsc_upstream_outcomes_total once it took effect */
	bool answer;  /* a receipt's deliver_sm to answer on bind */
	struct smsc_bind_ref bind;
	uint32_t command_id, sequence_number;
};

/* Accounts with a receiver session bound in this process. */
struct smsc_receivers {
	struct smsc_receivers *next;
	char account_id[ID_MAX], customer_id[ID_MAX];
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
	struct smsc_ids *ids; /* upstream ids: receipts matched in memory */
	/* This thread's writes (writes.c): lanes, each one FIFO writer. */
	struct store_batch *writes[SMSC_WRITE_LANES];
	size_t nwrites;
	bool writes_own;	   /* not the session's insert batch */
	atomic_long writes_queued; /* queued, not yet committed */
	pthread_mutex_t settled_lock;
	struct smsc_settle *settled; /* committed, newest first; under the lock */
	struct smsc_receivers *receivers;
	int64_t receipts_polled_ms;
	bool receipts_more; /* a lease came back full: poll again at the next tick */
	/* Receipts the ESMEs took, cleared in the store together (receipts.c). */
	char (*receipts_cleared)[ID_MAX];
	size_t nreceipts_cleared;
	bool stopping;
	struct metric_family *m_outcomes;
	struct metric *m_receipts_matched, *m_receipts_unmatched, *m_binds_up;
	struct metric_family *m_status; /* message.status events written */
	struct metric_family *m_e2e;	/* accept to final status, by status */
	struct metric_family *m_queue, *m_conn_binds, *m_conn_window, *m_conn_backlog;
	struct metric *m_sends[2]; /* submit_sm written at a tick, at a submit_sm_resp */
	int64_t queue_counted_ms;
	uint64_t gens;		       /* the last connection generation given to a bind */
	struct store_batch *mo_insert; /* MO rows and parts (mo.c) */
	char *mo_hex;		       /* 2 * SMPP_PDU_MAX_LEN + 1 */
	int64_t mo_swept_ms;
	int64_t mo_webhook_polled_ms;
	struct metric *m_mo_received, *m_mo_refused, *m_mo_delivered, *m_mo_incomplete;
	struct metric *m_mo_expired;
	struct metric *m_mo_webhook;
	struct smsc_holds *holds; /* 10DLC throughput windows (holds.c) */
	/* "submitted" rows held until the tick (sent.c): the round's rows. */
	struct smsc_sent *held;
	size_t nheld;
	uint64_t held_round; /* the current round, from 1 */
};

struct smsc_out *smsc_out_new(struct smsc *s, struct event_base *base);
void smsc_out_free(struct smsc_out *o);

/* What the binds report to the dispatcher (dispatch.c). */
void smsc_out_submitted(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m,
			uint32_t status, struct str upstream_id);
void smsc_out_lost(struct smsc_out *o, struct smsc_upbind *b, struct smsc_out_msg *m);
/* backlog.c: a connector's backlog (decision 0042).  SMSC_BACKLOG_MAX
 * bounds what a lease sizes it to (about 100,000 msgs/s at a 20 ms tick),
 * SMSC_BACKLOG_HARD what a lease sized by other connectors' room may add. */
#define SMSC_BACKLOG_MAX 2048
#define SMSC_BACKLOG_HARD (2 * SMSC_BACKLOG_MAX)
void smsc_backlog_push(struct smsc_backlog *q, struct smsc_out_msg *m);
/* m back at the head (a send that did not take it). */
void smsc_backlog_unpop(struct smsc_backlog *q, struct smsc_out_msg *m);
struct smsc_out_msg *smsc_backlog_pop(struct smsc_backlog *q);
/* How many messages c's next lease should bring (0 while none of its binds
 * is bound), for a dispatcher ticking every tick_ms. */
unsigned smsc_backlog_want(const struct smsc_conn *c, int64_t tick_ms);
/* b has room again (a submit_sm_resp came, or it bound): it takes the
 * next messages of its connector's backlog now, from the read callback. */
void smsc_out_refill(struct smsc_out *o, struct smsc_upbind *b);
void smsc_out_receipt(struct smsc_out *o, struct smsc_upbind *b, const struct smpp_pdu *p);
void smsc_out_bind_changed(struct smsc_out *o);
/* writes.c: the writes of this thread through a batching writer. */
int smsc_writes_open(struct smsc_out *o);
void smsc_writes_close(struct smsc_out *o);
/* Queues st[0..n), writes of message id (NULL: of no one message) in a
 * group of parts part_total (0: not known), to commit together; t (may be
 * NULL) is settled once they have.  A full queue runs them here. */
int smsc_writes_add(struct smsc_out *o, const char *id, int parts,
		    const struct store_batch_stmt *st, size_t n, struct smsc_settle *t);
/* Whether the writers are so far behind that no more should be leased. */
bool smsc_writes_behind(struct smsc_out *o);
/* At the tick: answers and counts what was committed. */
void smsc_writes_settle(struct smsc_out *o);
/* st[0..n) in one transaction on c (each one's changes in changes[i] when
 * not NULL); a failure is logged. */
int smsc_writes_run(struct store_conn *c, const struct store_batch_stmt *st, size_t n,
		    int64_t *changes);
/* sent.c: a message's "submitted" row (decision 0055).  A message in one
 * part is held until the tick, so that a receipt matched meanwhile makes
 * one UPDATE of both, and the round's rows go in one statement a lane on
 * PostgreSQL; other messages' rows are queued at once. */
struct smsc_sent {
	char id[ID_MAX], carrier_id[ID_MAX], upstream_id[SMPP_MESSAGE_ID_MAX + 1];
	int64_t at;		   /* epoch ms: its submit_sm_resp */
	struct smsc_settle *final; /* a receipt matched since: its move, else NULL */
	char error[32];		   /* the final's error ("" for none) */
};
void smsc_sent_record(struct smsc_out *o, const char *carrier_id, const char *upstream_id,
		      const struct smsc_out_msg *m);
/* The held row a SENT record points at, NULL when it was written. */
struct smsc_sent *smsc_sent_find(struct smsc_out *o, const struct smsc_idrec *r);
/* The receipt's final state for a held row: written with its "submitted"
 * at the flush; p (on b) answered once committed. */
int smsc_sent_final(struct smsc_out *o, struct smsc_sent *h, const char *state, const char *error,
		    const struct smsc_upbind *b, const struct smpp_pdu *p);
/* Queues the held rows (the tick, a full round, the upstream side stopping). */
void smsc_sent_flush(struct smsc_out *o);
void smsc_sent_free(struct smsc_out *o);
/* The lane (index into o->writes) a message's writes take. */
size_t smsc_writes_lane(const struct smsc_out *o, const char *id, int parts);
/* smsc_writes_add on lane i; t may be a list (through next) of settles. */
int smsc_writes_add_lane(struct smsc_out *o, size_t i, const struct store_batch_stmt *st, size_t n,
			 struct smsc_settle *t);
/* The same for statements that find many rows by primary key (an id list,
 * an array): on PostgreSQL planned without sequential scans (writes.c). */
int smsc_writes_add_by_key(struct smsc_out *o, size_t lane, const struct store_batch_stmt *st,
			   size_t n, struct smsc_settle *t);
/* matching.c: receipts to their messages; held: m's "submitted" row as
 * sent.c holds it (NULL when it was queued). */
void smsc_match_submitted(struct smsc_out *o, const char *carrier_id, const char *upstream_id,
			  const struct smsc_out_msg *m, struct smsc_sent *held);
void smsc_match_tick(struct smsc_out *o);
/* The form upstream ids are stored and matched in (dispatch.c). */
void smsc_out_id_norm(struct str id, enum smsc_id_base base, char *out, size_t n);
/* store_exec on the upstream thread's connection; a failure is logged. */
int smsc_out_exec(struct smsc_out *o, const char *sql, const struct store_param *p, size_t n,
		  struct store_res **res);
/* hex (either case) as bytes in a new block *out of *len (+1 spare). */
int smsc_hex_decode(const char *hex, uint8_t **out, size_t *len);

/* ---------------------------------------------------- final states */

/* receipt_due for a row moving to state (an SQL expression): an SMPP
 * customer that asked for receipts (registered_delivery 1: any final state,
 * 2: failures only, SMPP 3.4 §5.2.17) gets one when the state is final. */
#define RECEIPT_DUE(state)                                                                         \
	"receipt_due = CASE WHEN origin = 'smpp' AND " state                                       \
	" IN ('delivered', 'undeliverable', 'expired', 'rejected') AND "                           \
	"(registered_delivery % 4 = 1 OR (registered_delivery % 4 = 2 AND " state                  \
	" <> 'delivered')) THEN 1 ELSE 0 END"

/* A row's "parts" as final.c and the writers' lanes (writes.c) read them:
 * its part_total when it is its group's first row, else 0 (not known).
 * 1 thus means the message's only row: a message in one part (id =
 * group_id, the only row with that group), whose final takes the one-row
 * path and whose writes may take any lane.  The other parts of a long
 * message and every destination of a submit_multi (whose rows all have ids
 * of their own, multi.c) read 0: their writes go to one lane and their
 * finals read the whole group. */
#define SMSC_PARTS_SQL "CASE WHEN id = group_id THEN part_total ELSE 0 END"

/* What must still hold for a part to move (final.c). */
enum smsc_final_guard {
	SMSC_FINAL_LEASED,    /* this process holds its lease (owner) */
	SMSC_FINAL_SUBMITTED, /* a receipt: it is waiting for one */
	SMSC_FINAL_EXPIRY,    /* its validity ended while queued and unleased */
	SMSC_FINAL_SENT,      /* LEASED, and its "submitted" row with it (sent.c) */
};

struct smsc_final {
	enum smsc_final_guard guard;
	const char *id, *state, *error;	      /* error may be NULL */
	const char *owner;		      /* SMSC_FINAL_LEASED */
	int64_t attempted;		      /* SMSC_FINAL_LEASED: 1 when it went upstream */
	int64_t now;			      /* epoch ms */
	int parts;			      /* SMSC_PARTS_SQL: 1 when its group's only row */
	const char *carrier_id, *upstream_id; /* SMSC_FINAL_SENT */
	int64_t submitted_at;		      /* SMSC_FINAL_SENT */
	/* SMSC_FINAL_SUBMITTED, a retryable negative receipt (decision 0051):
	 * while the part has failed over fewer times than this, it goes back
	 * to the queue for the route's next carrier instead (0: never). */
	int failover_max;
};

/* A final move as statements for the batching writer: [the group's lock
 * on PostgreSQL,] the part's UPDATE, the event's INSERT; evt is the id the
 * event gets if it is written.  Points into itself: keep it in place. */
struct smsc_final_stmts {
	struct store_batch_stmt st[4];
	size_t n;
	struct store_param lock[1], update[10], event[5], failover[4];
	char evt[ID_MAX];
};

int smsc_final_stmts(const struct smsc_final *f, bool postgres, struct smsc_final_stmts *out);
/* Queues f's move (writes.c); with b and p, p (a receipt's deliver_sm) is
 * answered on b once the move is committed. */
int smsc_final_queue(struct smsc_out *o, const struct smsc_final *f, const struct smsc_upbind *b,
		     const struct smpp_pdu *p);
/* The settle record of f's move (evt: its event's id), answering p on b
 * when given; NULL when out of memory. */
struct smsc_settle *smsc_final_settle_new(struct smsc_out *o, const struct smsc_final *f,
					  const char *evt, const struct smsc_upbind *b,
					  const struct smpp_pdu *p);
/* PostgreSQL: held rows' finals with their "submitted" in one statement —
 * $1..$8 arrays of id, state, error, carrier_id, upstream_id, event id,
 * submitted_at, done_at; $9 the lease owner — each its message's event. */
extern const char smsc_final_sent_many_pg[];

/* Finals settled per SELECT (final.c, writes.c). */
#define SMSC_SETTLE_CHUNK 64
/* On the upstream thread, after the commit of the finals t[0..n) (n <=
 * SMSC_SETTLE_CHUNK): counts the events they wrote and the moves that took
 * effect where the caller could not know it beforehand (expiries). */
void smsc_final_settle(struct smsc_out *o, struct smsc_settle **t, size_t n);

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
	char stat[16]; /* "stat:DELIVRD" … as the text or message_state says it */
};
/* Whether cfg's failover_errors name r's error or stat (decision 0051);
 * never for a delivered one. */
bool smsc_receipt_retryable(const struct smsc_connector_cfg *cfg, const struct smsc_receipt *r);

void smsc_receipt_parse(const struct smpp_pdu *p, struct smsc_receipt *r);

/* What goes to a customer's receiver as deliver_sm (receipts.c). */
enum smsc_dlr_kind { SMSC_DLR_RECEIPT, SMSC_DLR_MO };

struct smsc_dlr {
	struct smsc_dlr *next;
	struct smsc *s;
	enum smsc_dlr_kind kind;
	/* A receipt's account; an MO's customer, and the account it went to. */
	char id[ID_MAX], account_id[ID_MAX], customer_id[ID_MAX];
	char source[SMPP_ADDR_WIDE_MAX], dest[SMPP_ADDR_WIDE_MAX];
	uint8_t source_ton, source_npi, dest_ton, dest_npi;
	char state[16], error[32];
	char receipted[ID_MAX]; /* a receipt: the id its ESME knows (SMSC_RECEIPTED_SQL) */
	int64_t submitted_ms, done_ms;
	uint8_t data_coding; /* MO */
	uint8_t *body;	     /* MO: the user data */
	size_t body_len;
	uint32_t seq;	     /* of the deliver_sm that carries it */
	int64_t lease_until; /* epoch ms: its row's lease (then it is leased again) */
};

/* The id a receipt names its message by: the one the ESME was answered —
 * the row's for a submit_sm (a part of a long message included), the
 * group's for each destination of a submit_multi (SMPP 3.4 §4.5.2: one
 * message_id for all of them; the receipt's source_addr tells which). */
#define SMSC_RECEIPTED_SQL "CASE WHEN concat_key IS NULL THEN group_id ELSE id END"

void smsc_dlr_free(struct smsc_dlr *d);
/* A leased row's id, owner (a receipt's account, an MO's customer) and
 * addresses: columns 0..7 of either lease (receipts.c). */
struct smsc_dlr *smsc_dlr_row(const struct store_res *r, size_t i, enum smsc_dlr_kind kind);
void smsc_receipts_receivers(struct smsc *s, const char *account_id, const char *customer_id,
			     int delta);
void smsc_receipts_poll(struct smsc *s);
/* Clears the receipts the ESMEs took since the last flush, in one UPDATE. */
void smsc_receipts_flush(struct smsc_out *o);
void smsc_receipts_deliver(void *arg);
struct smsc_session;
void smsc_receipts_answered(struct smsc_session *ss, const struct smpp_pdu *p);
void smsc_receipts_drop(struct smsc_session *ss);
/* dlr_window.c: the session's deliver_sm window.  True when d may be sent
 * now (counted in ss->ndlrs); false when it waits (kept, or freed when its
 * lease ran out: the store has it again). */
bool smsc_dlr_window_take(struct smsc_session *ss, struct smsc_dlr *d);
/* One deliver_sm of ss->dlrs answered (already unlinked): the window has
 * room for one more. */
void smsc_dlr_window_answered(struct smsc_session *ss);
/* The next waiting one to send now (counted), or NULL. */
struct smsc_dlr *smsc_dlr_window_next(struct smsc_session *ss);
void smsc_dlr_window_drop(struct smsc_session *ss);
/* d at the end of the list head .. *last. */
void smsc_dlr_append(struct smsc_dlr **head, struct smsc_dlr **last, struct smsc_dlr *d);

/* ---------------------------------------------------------------- MO */

/* mo.c: on the upstream thread. */
int smsc_mo_prepare(struct smsc_out *o);
void smsc_mo_fini(struct smsc_out *o);
/* A deliver_sm or data_sm that is not a receipt; answers it (once its
 * row is durable). */
void smsc_mo_receive(struct smsc_out *o, struct smsc_upbind *b, const struct smpp_pdu *p);
void smsc_mo_tick(struct smsc_out *o);
/* mo_webhook.c: pending MO of customers whose webhooks take
 * message.received, as message_events rows. */
void smsc_mo_webhook_tick(struct smsc_out *o);
/* SQL: the customer (an SQL expression) gets its MO as the
 * message.received webhook — an enabled webhook of its whose event_types
 * (compact JSON of lower-case words, dots and stars) names the type,
 * "message.*" or "*", the patterns the dispatcher matches. */
#define SMSC_MO_BY_WEBHOOK(customer)                                                               \
	"EXISTS (SELECT 1 FROM webhooks w WHERE w.customer_id = " customer " AND w.enabled = 1 "   \
	"AND (w.event_types LIKE '%\"*\"%' OR w.event_types LIKE '%\"message.*\"%' OR "            \
	"w.event_types LIKE '%\"message.received\"%'))"
struct smsc_dlr *smsc_mo_row(const struct store_res *r, size_t i);
void smsc_mo_sent(void *arg);
/* On the session thread: p's addresses, coding and user data. */
void smsc_mo_fill(const struct smsc_dlr *d, struct smpp_pdu *p);

/* -------------------------------------------------------- message ids */

/* msgid.c: ids for the messages the session thread accepts, ordered by
 * their accept time; random bits from a pool only that thread uses. */
#define SMSC_ID_POOL 4000
struct smsc_idpool {
	uint8_t buf[SMSC_ID_POOL];
	size_t left;
};
int smsc_msgid_new(struct smsc_idpool *pool, int64_t now_ms, char *out, size_t n);

/* ------------------------------------------------------------ server */

enum smsc_bind_state {
	SMSC_OPEN,    /* connected, not bound */
	SMSC_BINDING, /* a bind's password is being checked */
	SMSC_BOUND_TX,
	SMSC_BOUND_RX,
	SMSC_BOUND_TRX,
	SMSC_CLOSING, /* unbound or failed: writes drain, then close */
};

/* warp_smsc_ops_total's labels (ops.c): the operation, and how it was
 * answered. */
#define SMSC_OPS 3	  /* query_sm, cancel_sm, replace_sm */
#define SMSC_OP_RESULTS 4 /* ok, failed, refused, error */

struct smsc {
	struct smsc_opts o;
	struct loop_pool *pool; /* one thread: every session */
	bool started;
	struct event_base *base;
	struct evconnlistener *listener, *tls_listener;
	int listen_fd;
	struct ssl_ctx_st *tls_ctx; /* o.tls: the server's certificate */
	struct event *tls_log_timer;
	unsigned tls_unlogged; /* handshakes failed since the last log line */
	int64_t tls_logged_ms;
	char tls_last[NET_ADDR_STRLEN + 272]; /* the last of them: peer and reason */
	struct metric *m_tls_failed;
	struct snapshot *accounts;
	struct snapshot *tendlc; /* 10DLC numbers, opt-outs, content rules */
	struct store_batch *insert;
	struct smsc_verify *verify;
	struct store_batch *insert_prepaid; /* prepaid parts with their reservations */
	struct smsc_prepaid *prepaid;	    /* their settler (prepaid.c) */
	struct smsc_out *out;		    /* on the pool's thread 1 */
	struct smsc_live *live;
	char *hex;		/* 2 * SMPP_PDU_MAX_LEN + 1: a body on its way to the store */
	uint8_t *send;		/* SMPP_PDU_MAX_LEN: a PDU on its way to an ESME */
	struct smsc_idpool ids; /* session thread: the ids of new messages */
	unsigned nsessions;
	struct smsc_session *sessions; /* every open session, for shutdown */
	struct metric *m_binds_ok, *m_binds_refused, *m_submits_ok, *m_submits_refused;
	struct metric *m_sessions;
	struct metric *m_resp_seconds;			 /* submit in to submit_sm_resp out */
	struct metric *m_ops[SMSC_OPS][SMSC_OP_RESULTS]; /* ops.c */
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
	bool holds_bind; /* counted in live->binds */
	bool receiver;	 /* counted in the upstream thread's receivers */
	uint32_t seq;	 /* of the PDUs we send */
	/* Receipts and MO sent, not yet answered, oldest first: ESMEs answer
	 * in order, so the answer is found at the head. */
	struct smsc_dlr *dlrs, *dlrs_last;
	unsigned ndlrs; /* in dlrs: at most window (dlr_window.c) */
	/* Leased for it while its window was full, oldest first. */
	struct smsc_dlr *dlr_wait, *dlr_wait_last;
	unsigned outstanding; /* submits and queries not yet answered */
	int refs;	      /* the connection, each pending submit or check */
	bool dead;	      /* the connection is gone */
	bool handshaking;     /* TLS: no PDU before the handshake is done */
};

/* session.c; tls: fd came to tls_listen */
void smsc_session_accept(struct smsc *s, int fd, const struct sockaddr *sa, int salen, bool tls);
void smsc_session_send(struct smsc_session *ss, const struct smpp_pdu *p);
void smsc_session_unref(struct smsc_session *ss);
void smsc_session_close(struct smsc_session *ss);
/* Stops reading; the session closes once what it wrote has gone out. */
void smsc_session_finish(struct smsc_session *ss);
void smsc_session_close_all(struct smsc *s);

/* bind.c */
void smsc_bind_start(struct smsc_session *ss, const struct smpp_pdu *p);
void smsc_bind_release(struct smsc_session *ss);

/* prepaid.c: prepaid customers' parts reserved at submit, settled when
 * final (decision 0038). */
struct smsc_prepaid;
struct smsc_submit_row;
struct smsc_prepaid *smsc_prepaid_new(struct smsc *s);
int smsc_prepaid_start(struct smsc_prepaid *pp);
void smsc_prepaid_free(struct smsc_prepaid *pp); /* stops the settler */
/* A part to dest of customer_id: *amount 0 when nothing is reserved (not
 * prepaid, or free), else its price; -ENOENT: prepaid without a price. */
int smsc_prepaid_price(struct smsc *s, const char *customer_id, struct str dest, int64_t *amount);
/* Queues the part's row (params of the insert batch's statement) after the
 * statements reserving amount, on the prepaid batch writer. */
int smsc_prepaid_queue(struct smsc *s, const char *customer_id, const struct smsc_submit_row *row,
		       int64_t amount, const struct store_param *params, size_t nparams,
		       store_batch_done_fn done, void *arg);
/* The status answered for a stored row that failed with store_status. */
uint32_t smsc_prepaid_status(struct smsc *s, int store_status);

/* submit.c */
struct str smsc_wire_id(const char *id);
int smsc_submit_prepare(struct smsc *s);
void smsc_submit_handle(struct smsc_session *ss, const struct smpp_pdu *p);
/* The steps of a submit that submit_multi shares: each answers 0
 * (ESME_ROK) or the command_status to refuse with. */
uint32_t smsc_submit_admit(const struct smsc_session *ss);
uint32_t smsc_submit_routed(const struct smsc_session *ss, struct str dest);
/* holds.c: true when m, just leased, is over a 10DLC throughput limit
 * and was held (written back and freed); false: route it (decision 0050). */
struct smsc_holds;
bool smsc_hold_take(struct smsc_out *o, struct smsc_out_msg *m);
/* tendlc_mt.c: the hold-for-review content rule m's text matches, or NULL. */
const char *smsc_tendlc_review(const struct tendlc_snap *t, const struct smsc_out_msg *m);
/* tendlc_mt.c: a leased message's text as UTF-8 into out (STR_NULL for
 * binary data), as the content rules read it. */
struct str smsc_tendlc_text(const struct smsc_out_msg *m, char *out, size_t cap);
/* failover.c (decision 0051): a leased row's carriers_tried and error
 * into m; whether m skips carrier_id; whether no carrier of ids[pos..n)
 * is left for m after a failover (counted: exhausted), and if not, counts
 * the failover about to be sent (rerouted). */
void smsc_failover_row(struct smsc_out_msg *m, const char *tried, const char *error);
bool smsc_failover_tried(const struct smsc_out_msg *m, const char *carrier_id);
bool smsc_failover_exhausted(struct smsc_out *o, struct smsc_out_msg *m,
			     const char *const *ids, size_t n);
/* route_pick.c: the route a leased message takes now, its filters read
 * against it (decision 0051); NULL: none. */
const struct smsc_route *smsc_out_route(struct smsc_out *o, const struct smsc_routes *snap,
					const struct smsc_out_msg *m);
void smsc_holds_free(struct smsc_holds *h);
/* tendlc_mt.c: the 10DLC checks of an MT from ss to dest (decision 0041):
 * ESME_ROK, or the status to refuse it with. */
/* tendlc_mo.c: an MO whose whole text is a 10DLC keyword, stored. */
struct smsc_mo_keyword {
	enum tendlc_keyword kw; /* TENDLC_KW_NONE: not one */
	char word[8];		/* tendlc_keyword_name */
	char id[ID_MAX], customer[ID_MAX];
	char number[SMPP_ADDR_WIDE_MAX + 1]; /* ours, E.164 with '+' */
	char source[SMPP_ADDR_WIDE_MAX];     /* the handset, as the upstream wrote it */
};
enum tendlc_keyword smsc_tendlc_keyword(uint8_t data_coding, struct str body);
/* On the upstream thread once k's inbound row is committed: records the
 * opt-out or opt-in with its event and queues the campaign's answer. */
void smsc_tendlc_mo(struct smsc_out *o, const struct smsc_mo_keyword *k);
#define SMSC_TENDLC_OPTED_OUT 0x0401 /* SMPP 3.4 §5.1.3: vendor-specific */
#define SMSC_TENDLC_CONTENT 0x0402
#define SMSC_TENDLC_TEXT_MAX 1120 /* octets of user data the content rules read */
uint32_t smsc_tendlc_check(const struct smsc_session *ss, const struct smpp_pdu *p,
			   struct str dest);
uint32_t smsc_tendlc_replace(struct smsc *s, struct store_conn *c, const char *id,
			     const char *customer, const char *source, const char *hex);
uint32_t smsc_submit_body(const struct smpp_pdu *p, struct str *body);
uint32_t smsc_submit_times(struct smsc *s, const struct smpp_pdu *p, int64_t now, int64_t *due,
			   int64_t *expires);
/* One messages row of p: its id, group, destination and hex body. */
struct smsc_submit_row {
	const char *id, *group_id;
	const struct smpp_addr *dest;
	const char *hex;
	int64_t due, expires;
	uint8_t esm_class; /* as stored: UDHI set when hex starts with a UDH */
};
/* The user data as a message is stored and queued: a part tied by sar_*
 * TLVs becomes the same part with a UDH (8-bit reference, or 16-bit for a
 * reference over 255), so that every stored part has one form and the
 * dispatcher writes it as each upstream prefers (upstream.c).  body is
 * rewritten into buf when so; returns the esm_class to store. */
uint8_t smsc_submit_udh_form(const struct smpp_pdu *p, struct str *body, uint8_t *buf, size_t cap);
#define SMSC_UDH_FORM_MAX (SMPP_SM_MAX + 8) /* buf for smsc_submit_udh_form */
int smsc_submit_queue(struct smsc_session *ss, const struct smpp_pdu *p,
		      const struct smsc_submit_row *row, store_batch_done_fn done, void *arg);

/* multi.c: submit_multi (§4.5). */
void smsc_multi_handle(struct smsc_session *ss, const struct smpp_pdu *p);

/* ops.c: query_sm, cancel_sm, replace_sm (§4.8-4.10), each answer counted
 * in warp_smsc_ops_total{op,result}, registered by smsc_ops_metrics_init. */
void smsc_ops_handle(struct smsc_session *ss, const struct smpp_pdu *p);
int smsc_ops_metrics_init(struct smsc *s);
/* §5.2.28 message_state of a row in state (with error), and the
 * error_code octet query_sm_resp carries for its error (0: none). */
uint8_t smsc_ops_message_state(const char *state, const char *error);
uint8_t smsc_ops_error_code(const char *error);

/* validity.c: an SMPP 3.4 §7.1.1 time as epoch ms; 0, 1 when t is empty,
 * -EINVAL when it is not such a time. */
int smsc_time_parse(struct str t, int64_t now_ms, int64_t *out);
/* ms as an absolute §7.1.1 time in UTC (16 characters and the NUL). */
void smsc_time_format(int64_t ms, char out[SMPP_TIME_MAX]);

/* tls.c: the listener's context and its failures, the connectors'. */
int smsc_tls_open(struct smsc *s, char *err, size_t errlen);
void smsc_tls_close(struct smsc *s);
/* A bufferevent accepting TLS on fd; NULL (fd not closed) on failure. */
struct bufferevent *smsc_tls_accept(struct smsc *s, int fd);
/* Counts and logs (aggregated) a handshake that failed or timed out. */
void smsc_tls_failed(struct smsc_session *ss, bool timed_out);
/* A bufferevent that will run TLS over the socket b connects; NULL with the
 * reason in why. */
struct bufferevent *smsc_tls_connect_bev(struct smsc_upbind *b, char *why, size_t n);
/* Why b's TLS connection failed before it was up (the reason in why). */
void smsc_tls_connect_failed(struct smsc_upbind *b, char *why, size_t n);
/* The series counting a TLS connector's failures. */
struct metric *smsc_tls_connector_metric(const struct smsc_connector_cfg *cfg);

/* The answer to p with command_status status and no body. */
void smsc_answer(struct smsc_session *ss, const struct smpp_pdu *p, uint32_t status);

#endif
