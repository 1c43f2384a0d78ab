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
	struct smsc_live *live;
	char *hex; /* 2 * SMPP_PDU_MAX_LEN + 1: a body on its way to the store */
	unsigned nsessions;
	struct smsc_session *sessions; /* every open session, for shutdown */
	struct metric *m_binds_ok, *m_binds_refused, *m_submits_ok, *m_submits_refused;
	struct metric *m_sessions;
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
	bool holds_bind;      /* counted in live->binds */
	unsigned outstanding; /* submits not yet answered */
	int refs;	      /* the connection, each pending submit or check */
	bool dead;	      /* the connection is gone */
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
int smsc_submit_prepare(struct smsc *s);
void smsc_submit_handle(struct smsc_session *ss, const struct smpp_pdu *p);

/* validity.c: an SMPP 3.4 §7.1.1 time as epoch ms; 0, 1 when t is empty,
 * -EINVAL when it is not such a time. */
int smsc_time_parse(struct str t, int64_t now_ms, int64_t *out);

/* The answer to p with command_status status and no body. */
void smsc_answer(struct smsc_session *ss, const struct smpp_pdu *p, uint32_t status);

#endif
