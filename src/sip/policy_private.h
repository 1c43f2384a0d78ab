/*
 * policy_private.h — private to the call-policy files of src/sip/ (policy.c,
 * snapshot.c, snapshot_find.c, limits.c, probe.c, digest.c, cdr.c,
 * journal.c): the snapshot's shape, the limit tables and the ban table.
 * The proxy core uses policy.h only.
 *
 * State that must outlive a snapshot rebuild (a gateway's up/down mark, CPS
 * buckets and channel counts) lives in tables owned by the policy; the
 * snapshot builder looks the entries up by id and keeps pointers to them, so
 * a provisioning change never resets a counter of a call in progress.
 */
#ifndef WARP_SIP_POLICY_PRIVATE_H
#define WARP_SIP_POLICY_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "sip/policy.h"

#define PSNAP_PREFIX_MAX 32 /* tech prefixes and route/blocked prefixes */
#define PSNAP_NAME_MAX 801  /* a name: 200 characters (openapi.yaml), UTF-8 */

/* ------------------------------------------------------------- limits.c */

/* CPS token bucket and channel count of one trunk, customer or carrier.
 * Entries are created at snapshot build and live as long as the table. */
struct sip_limit;
struct sip_limits;

enum sip_limit_kind { SIP_LIMIT_TRUNK, SIP_LIMIT_CUSTOMER, SIP_LIMIT_CARRIER };

/* Why a take failed. */
enum { SIP_LIMIT_E_CPS = -1, SIP_LIMIT_E_CHANNEL = -2 };

struct sip_limits *sip_limits_new(void);
void sip_limits_free(struct sip_limits *l);
/* The entry of (kind, id), created on first use; its limits set to these
 * (0 = unlimited).  NULL on allocation failure. */
struct sip_limit *sip_limits_entry(struct sip_limits *l, enum sip_limit_kind kind, const char *id,
				   int64_t cps_limit, int64_t channel_limit);
/* Takes, all or nothing, one channel of each of the n entries (NULL entries
 * are skipped) and, when cps is true, one CPS token of each.  0, or
 * SIP_LIMIT_E_CPS / SIP_LIMIT_E_CHANNEL with *failed the index refused. */
int sip_limits_take(struct sip_limits *l, struct sip_limit *const *e, size_t n, bool cps,
		    int64_t now_ms, size_t *failed);
/* A call moves to `to` (a carrier it is about to try): takes one channel of
 * `to` and, when cps is true, one CPS token, and gives back the channel of
 * `from` (the carrier it held; NULL: none).  When from == to only the token
 * is taken.  All or nothing: 0, or SIP_LIMIT_E_CPS / SIP_LIMIT_E_CHANNEL
 * with nothing changed (the call still holds from).  to NULL: 0, nothing
 * changed. */
int sip_limits_move(struct sip_limits *l, struct sip_limit *from, struct sip_limit *to, bool cps,
		    int64_t now_ms);
/* Gives back one channel of each entry. */
void sip_limits_release(struct sip_limits *l, struct sip_limit *const *e, size_t n);
/* Whether a take of e alone would succeed now (takes nothing). */
bool sip_limits_available(struct sip_limits *l, struct sip_limit *e, bool cps, int64_t now_ms);
/* Channels held now. */
int64_t sip_limit_channels(struct sip_limits *l, const struct sip_limit *e);

/* Cluster mode (decision 0046).  A node's share of a limit when it cannot
 * see the cluster: limit / nodes rounded down, at least 1 (0: unlimited). */
int64_t sip_limit_share(int64_t limit, int nodes);
/* Turns cluster mode on: entries are admitted on the views the sync thread
 * brings (sip_limits_view) while the backend is up, else on the share of
 * nodes; fallback (may be NULL) counts decisions made on the share. */
void sip_limits_cluster(struct sip_limits *l, int nodes, struct metric *fallback);
void sip_limits_backend_set(struct sip_limits *l, bool up);
/* Cluster mode with the backend down (or not reached yet). */
bool sip_limits_degraded(struct sip_limits *l);

/* One limited entry as the sync thread reports it: this node's channels,
 * the CPS tokens it used since the last report, the grant of the last round
 * (given back, less what was used), and whether a call asked for it.  e
 * stays valid as long as the table. */
struct sip_limit_report {
	struct sip_limit *e;
	enum sip_limit_kind kind;
	char id[ID_MAX];
	int64_t channels, channel_limit, cps_limit, used_milli, grant_milli;
	bool asked;
};
/* The round's answer (the script's reply): channels other nodes hold or
 * reserved and the channels reserved for this node; the bucket's
 * milli-tokens left and the milli-tokens granted to this node. */
struct sip_limit_answer {
	int64_t others, allow_channels, room_milli, grant_milli;
};
/* Fills out with every entry that has a limit and returns how many; each
 * reported entry forgets that a call asked and ends its reservation (until
 * sip_limits_view, only a credit call).  When they are more than max, fills
 * nothing and returns how many (call again with a larger array). */
size_t sip_limits_report(struct sip_limits *l, struct sip_limit_report *out, size_t max);
/* The cluster's answer to report r: what this node may admit until the next. */
void sip_limits_view(struct sip_limits *l, const struct sip_limit_report *r,
		     const struct sip_limit_answer *a);

/* limits_redis.c: the sync thread, one per policy. */
struct sip_limits_sync;
struct sip_limits_sync *sip_limits_sync_new(struct sip_limits *l,
					    const struct sip_limits_opts *o, char *err,
					    size_t errlen);
int sip_limits_sync_start(struct sip_limits_sync *s, char *err, size_t errlen);
/* Stops the thread after a last round that gives this node's channels back. */
void sip_limits_sync_free(struct sip_limits_sync *s);

/* What one round sends for r: the hash's key (its hash tag names the
 * entity) and the script's ARGV: node, channels, lease_ms, channel limit,
 * nodes, asked (0/1), cps limit, used and granted milli-tokens. */
#define SIP_LIMITS_KEY_MAX (ID_MAX + 32)
#define SIP_LIMITS_ARGS 9
#define SIP_LIMITS_ARG_MAX 72
int sip_limits_redis_args(const struct sip_limit_report *r, const char *node, int64_t lease_ms,
			  int nodes, char key[SIP_LIMITS_KEY_MAX],
			  char argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX]);

/* Flood and scanner bans, keyed by IP address (ports are ignored: scanners
 * change them).  A fixed-size table; lookups take no lock. */
struct sip_bans;

struct sip_bans *sip_bans_new(size_t size, int refusals, int window_ms, int ban_ms);
void sip_bans_free(struct sip_bans *b);
/* hot path: no allocation, no locks, no I/O */
bool sip_bans_check(struct sip_bans *b, const struct net_addr *src, int64_t now_ms);
/* A refusal of src.  Returns the end of the ban it started (the refusals
 * reached the threshold within the window), else 0. */
int64_t sip_bans_note(struct sip_bans *b, const struct net_addr *src, int64_t now_ms);
/* A challenge (401/407) sent to src: the first `refusals` of a window are
 * free (a real UA answers them), each further one is a refusal; the same
 * return.  A scanner sending REGISTERs without credentials gets only these. */
int64_t sip_bans_note_challenge(struct sip_bans *b, const struct net_addr *src, int64_t now_ms);
/* src authenticated: its unanswered challenges are forgotten. */
void sip_bans_note_authenticated(struct sip_bans *b, const struct net_addr *src);
/* Sources banned at now_ms (tests). */
size_t sip_bans_banned(struct sip_bans *b, int64_t now_ms);
/* Slots in use (tests: never above the size given). */
size_t sip_bans_used(struct sip_bans *b);

/* ----------------------------------------------------------- snapshot.c */

/* A gateway's health, kept across rebuilds; written by the prober. */
struct psnap_gw_state {
	char id[ID_MAX];
	atomic_bool down;
	atomic_int misses; /* consecutive unanswered probes */
	struct metric *up;   /* warp_sip_gateway_up{gateway} */
	struct metric *info; /* warp_sip_gateway_info{…} as last built */
	unsigned gen;	     /* the build that last saw the gateway (gw_lock) */
	struct psnap_gw_state *next;
};

struct psnap_gateway {
	char id[ID_MAX];
	size_t carrier; /* index into carriers */
	char host[SIP_HOST_MAX];
	uint16_t port;
	enum sip_transport_kind transport;
	struct net_addr addr;
	bool resolved; /* getaddrinfo found an address at build */
	bool probe;
	int64_t weight, priority;
	struct psnap_gw_state *state;
};

struct psnap_carrier {
	char id[ID_MAX];
	char name[PSNAP_NAME_MAX]; /* for warp_sip_gateway_info */
	bool enabled;
	char tech_prefix[PSNAP_PREFIX_MAX];
	uint16_t stop_codes[SIP_STOP_CODES_MAX];
	size_t nstop_codes;
	size_t gw_first, ngw; /* gateways, by priority */
	struct sip_limit *limit;
	struct metric *attempts, *answered, *duration_s;
};

/* One carrier of a route, or one destination of a trunk. */
struct psnap_choice {
	size_t idx; /* carrier index (routes) */
	int64_t priority, weight;
	bool has_buy_rate; /* lcr.c: the rate the carrier was ordered by */
	int64_t buy_rate;
};

struct psnap_route {
	char prefix[PSNAP_PREFIX_MAX]; /* digits */
	char customer_id[ID_MAX];      /* "" for a global route */
	size_t choice_first, nchoices; /* by priority */
	bool lcr;		       /* mode lcr: carriers by buy rate (decision 0038) */
	bool margin;		       /* min_margin_bps set */
	int64_t min_margin_bps;
};

struct psnap_dest {
	struct sip_target target; /* host, port, transport, addr, user, trunk_id */
	bool has_user;
	int64_t priority, weight;
};

struct psnap_trunk {
	char id[ID_MAX];
	char customer_id[ID_MAX];
	bool enabled, customer_active;
	char tech_prefix[PSNAP_PREFIX_MAX];
	int64_t max_duration_ms;
	bool media_relay;
	bool topology_hiding;
	size_t blocked_first, nblocked; /* into blocked[] */
	size_t dest_first, ndests;	/* into dests[], by priority */
	struct sip_limit *limit, *customer_limit;
	bool customer_margin; /* the customer's min_margin_bps is set (lcr.c) */
	int64_t customer_min_margin_bps;
};

struct psnap_acl {
	int family; /* AF_INET or AF_INET6 */
	uint8_t len;
	uint8_t addr[16]; /* network, host bits zero */
	uint16_t port;	  /* 0: any */
	size_t trunk;
};

struct psnap_number {
	char digits[SIP_NUMBER_MAX]; /* E.164 without '+' */
	size_t trunk;		     /* SIZE_MAX: no trunk */
	bool voice;
};

struct psnap_ip {
	int family;
	uint8_t addr[16];
};

/* A trunk's digest credentials (digest.c): the HA1s as the API stored
 * them, SHA-256's empty when unknown (a password set before migration
 * 0026: decision 0048). */
#define PSNAP_REALM_MAX 129
#define PSNAP_REALMS_MAX 4 /* realms offered in one challenge */
struct psnap_cred {
	char user[65];
	char realm[PSNAP_REALM_MAX];
	char ha1[33];	     /* lowercase hex MD5(username:realm:password) */
	char ha1_sha256[65]; /* lowercase hex SHA-256 of the same, or "" */
	size_t trunk;
};

struct psnap {
	struct psnap_env *env; /* a reference, dropped by psnap_free */
	struct psnap_trunk *trunks;
	size_t ntrunks;
	struct psnap_acl *acl; /* by family, length, address, port */
	size_t nacl;
	/* Prefix lengths present per family, longest first: the ACL lookup
	 * masks the source once per length and binary-searches. */
	uint8_t acl_lens[2][129];
	size_t nacl_lens[2];
	char (*blocked)[PSNAP_PREFIX_MAX];
	size_t nblocked;
	struct psnap_dest *dests;
	size_t ndests;
	struct psnap_carrier *carriers; /* by id */
	size_t ncarriers;
	struct psnap_gateway *gateways; /* by carrier, then priority */
	size_t ngateways;
	size_t *gw_by_id;	 /* indexes into gateways, by gateway id */
	struct psnap_ip *gw_ips; /* sorted, for origination and source_known */
	size_t ngw_ips;
	struct psnap_route *routes; /* by prefix, then customer id */
	size_t nroutes;
	size_t route_maxlen;
	struct psnap_choice *choices;
	size_t nchoices;
	struct psnap_number *numbers; /* by digits */
	size_t nnumbers;
	struct psnap_cred *creds; /* by (user, realm, trunk) */
	size_t ncreds;
	char realms[PSNAP_REALMS_MAX][PSNAP_REALM_MAX]; /* distinct, sorted */
	bool realm_sha256[PSNAP_REALMS_MAX]; /* some credentials of it have one */
	size_t nrealms;
};

/* What the builder needs from the policy (tables kept across builds).
 * Reference-counted: the policy holds one reference and every published
 * snapshot another, so a loader still running (or freeing its last
 * snapshot) after sip_policy_free never touches freed tables; once the
 * policy is gone (closed) builds fail and the old snapshot stays. */
struct psnap_env {
	atomic_int refs;
	atomic_bool closed;
	struct sip_limits *limits;
	pthread_mutex_t gw_lock; /* guards the gw_states list (builder, prober) */
	struct psnap_gw_state *gw_states;
	unsigned gw_gen; /* builds published to the gateway series (gw_lock) */
	/* warp_sip_gateway_up{gateway} and _info (gw_series.c); per carrier:
	 * attempts, answered, duration_seconds totals (ASR and ACD are ratios
	 * of these). */
	struct metric_family *gw_up, *gw_info, *car_attempts, *car_answered, *car_duration;
};

/* gw_series.c: the gateway's health entry, made on first sight (its up
 * series -1 until probed); after a build, the series of the gateways in s
 * shown and up to date, those of the others hidden. */
struct psnap_gw_state *psnap_gw_state_get(struct psnap_env *env, const char *id);
void psnap_gw_series_publish(struct psnap_env *env, const struct psnap *s);

struct psnap_env *psnap_env_new(void);
/* Drops one reference; the last frees the limit and gateway-state tables. */
void psnap_env_release(struct psnap_env *env);
void *psnap_build(struct store_conn *c, void *arg); /* arg: struct psnap_env */
void psnap_free(void *data);

/* Shared by building (snapshot.c) and looking up (snapshot_find.c): the
 * orders the snapshot's arrays are sorted in, and qsort/bsearch that accept
 * empty arrays (whose pointer may be NULL). */
void psnap_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
void *psnap_find(const void *key, const void *base, size_t n, size_t size,
		 int (*cmp)(const void *, const void *));
int psnap_cmp_id(const void *a, const void *b);
int psnap_cmp_acl(const void *pa, const void *pb);
int psnap_cmp_ip(const void *pa, const void *pb);
int psnap_cmp_route(const void *pa, const void *pb);
bool psnap_ip_of(const struct net_addr *a, struct psnap_ip *out);
void psnap_copy_cstr(char *dst, size_t n, const char *s);
/* Grows *arr (of elements of size, *cap of them allocated) to hold one
 * more; the new element is zeroed.  NULL on allocation failure. */
void *psnap_vec_push(void *arr, size_t *n, size_t *cap, size_t size);

/* The digest credentials while building (snapshot_creds.c; decision 0048):
 * one entry of trunk (an index into s->trunks), the trunk's enabled
 * devices, then the sort and the realms challenges name. */
int psnap_cred_push(struct psnap *s, size_t *cap, const char *user, const char *realm,
		    const char *ha1, const char *sha256, size_t trunk);
int psnap_creds_load_devices(struct psnap *s, size_t *cap, struct store_conn *c);
void psnap_creds_index(struct psnap *s);

/* Lookups, all hot path: no allocation, no locks, no I/O. */
/* The trunk whose ACL matches src best (longest prefix, then an entry naming
 * src's port over one for any port, then the longest tech prefix the user
 * starts with); SIZE_MAX when none. */
size_t psnap_trunk_find(const struct psnap *s, const struct net_addr *src, struct str user);
bool psnap_is_gateway_ip(const struct psnap *s, const struct net_addr *src);
/* The best route for digits: longest prefix over customer and global
 * routes, the customer's preferred on equal length; NULL when none. */
const struct psnap_route *psnap_route_find(const struct psnap *s, const char *customer_id,
					   const char *digits);
const struct psnap_number *psnap_number_find(const struct psnap *s, const char *digits);
const struct psnap_gateway *psnap_gateway_find(const struct psnap *s, const char *id);
const struct psnap_carrier *psnap_carrier_find(const struct psnap *s, const char *id);
int psnap_cmp_cred(const void *pa, const void *pb);
/* The first credentials entry of (user, realm) in s->creds, or SIZE_MAX;
 * equal entries follow it. */
size_t psnap_cred_find(const struct psnap *s, struct str user, struct str realm);

/* --------------------------------------------------------------- digest.c */

/* Responses already admitted, so that a captured Proxy-Authorization
 * cannot place calls again while its nonce lives (RFC 2617 §3.2.2's nc,
 * §4.5 replay).  A fixed table of (nonce, nc, cnonce, response) hashes with
 * their expiry, four ways per bucket; one mutex, held for one lookup. */
#define SIP_DIGEST_SEEN_SLOTS 65536 /* 1 MiB; calls admitted per nonce life */
struct sip_digest_seen;
struct sip_digest_seen *sip_digest_seen_new(size_t slots);
void sip_digest_seen_free(struct sip_digest_seen *t);

/* The trunk sip_policy_digest_admit admitted m from src on this thread, or
 * SIZE_MAX; taking it forgets it. */
size_t sip_digest_admitted_trunk(const struct psnap *s, struct sip_msg *m,
				 const struct net_addr *src);

/* ---------------------------------------------------------------- probe.c */

struct sip_prober;

/* tls_client (may be NULL) probes TLS gateways over TLS. */
struct sip_prober *sip_prober_new(struct snapshot *snap, int interval_ms,
				  struct ssl_ctx_st *tls_client);
int sip_prober_start(struct sip_prober *pr, char *err, size_t errlen);
void sip_prober_free(struct sip_prober *pr); /* stops the thread first */

/* ------------------------------------------------------------------ cdr.c */

struct sip_cdr_writer;
struct sip_journal;

/* The columns of a CDR row, in the order cdr.c binds them. */
#define SIP_CDR_COLUMNS 28
#define SIP_CDR_COLUMNS_SQL                                                                       \
	"id, call_id, direction, customer_id, trunk_id, carrier_id, gateway_id, caller, dialed, " \
	"normalized, source, start_ms, answer_ms, end_ms, duration_ms, billable_ms, "             \
	"final_code, final_reason, hangup, attempts, pdd_ms, rtp_packets_a, rtp_packets_b, "      \
	"rtp_lost_a, rtp_lost_b, rtp_jitter_us_a, rtp_jitter_us_b, created_at"
/* final_reason of a CDR the journal wrote for a call whose process stopped. */
#define SIP_CDR_RECOVERED_REASON "call state lost: billed to the last heartbeat"

struct sip_cdr_writer *sip_cdr_writer_new(struct store *s);
void sip_cdr_writer_free(struct sip_cdr_writer *w);
/* Answer to end (0 unanswered); and that rounded up to whole seconds, in ms. */
int64_t sip_cdr_duration_ms(const struct sip_cdr *c);
int64_t sip_cdr_billable_ms(const struct sip_cdr *c);
/* Per-carrier seizure/answer/duration counters for a finished call. */
void sip_cdr_count(const struct psnap *s, const struct sip_cdr *cdr);

/* -------------------------------------------------------------- journal.c */

/* Answered calls in open_calls, a heartbeat per process, and recovery of
 * the calls of a process that stopped (see journal.c).  interval_ms: the
 * heartbeat; the same on every replica. */
struct sip_journal *sip_journal_new(struct store *s, int interval_ms);
int sip_journal_start(struct sip_journal *j, char *err, size_t errlen);
/* Stops the thread (after a last heartbeat), then flushes the queued rows. */
void sip_journal_free(struct sip_journal *j);
const char *sip_journal_node(const struct sip_journal *j);
/* The statement that writes the open row of an answered call, for the CDR
 * writer to queue (cdr.c): cdr holds its SIP_CDR_COLUMNS, v receives the
 * statement's parameters. */
struct store_batch_stmt sip_journal_open_stmt(const struct sip_journal *j,
					     struct store_param v[SIP_CDR_COLUMNS + 1],
					     const struct store_param *cdr);
/* The statement that removes a call's open row, for the CDR writer to run
 * in the CDR's own transaction (cdr.c): the row goes exactly when the CDR
 * is durable, and a call costs the store one group commit less.  v holds
 * the statement's two parameters. */
struct store_batch_stmt sip_journal_close_stmt(struct store_param v[2], const char *call_id,
					      const char *direction);

/* ------------------------------------------------------------ ban_log.c */

/* Bans that start, written to sip_bans for the API's list (async). */
struct sip_ban_log;
struct sip_ban_log *sip_ban_log_new(struct store *s);
void sip_ban_log_free(struct sip_ban_log *l); /* flushes first */
void sip_ban_log_note(struct sip_ban_log *l, const struct net_addr *src, int64_t until,
		      int64_t now_ms);
/* ------------------------------------------------------------------ lcr.c */

/* A route in lcr mode (decision 0038), for a call on trunk t (whose
 * customer's minimum margin applies when the route sets none): ch[0..*n)
 * becomes the route's kept
 * carriers in least-cost order for plan->normalized at now, each with its
 * buy rate and its tie rank as priority (order_weighted then draws by
 * weight within a rank).  Returns 0, or when no carrier is kept the reason
 * of the most telling one left out (an enum billing_lcr_out: margin over
 * currency over no rate).  Reads the rating snapshot only. */
struct sip_policy;
int sip_lcr_choices(struct sip_policy *p, const struct psnap *s, const struct psnap_trunk *t,
		    const struct psnap_route *rt, const struct sip_call_plan *plan,
		    struct psnap_choice *ch, size_t *n);
/* The 503 reason for a call left without a carrier by LCR. */
const char *sip_lcr_reject_reason(int out);
/* Registers warp_sip_lcr_excluded_total{reason} on p. */
void sip_lcr_metrics(struct sip_policy *p);

/* --------------------------------------------------------------- policy.c */

struct sip_policy {
	struct sip_policy_opts o;
	struct psnap_env *env;
	struct snapshot *snap;
	struct sip_bans *bans;
	struct sip_ban_log *ban_log; /* NULL without a store (unit tests) */
	struct sip_prober *prober;
	struct sip_cdr_writer *cdr;
	struct sip_journal *journal; /* NULL when call_heartbeat is 0 */
	struct sip_digest_seen *digest_seen;
	struct sip_limits_sync *limits_sync; /* NULL: [limits] backend = memory */
	struct metric *cps_rejects, *channel_rejects;
	struct metric *bans_started, *banned_ignored;
	struct metric *lcr_excluded[4]; /* by enum billing_lcr_out (0 unused) */
};

#endif
