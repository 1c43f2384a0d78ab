/*
 * policy.h — private to src/sip/: the contract between the proxy core
 * (transport.c, tm.c, proxy.c, dialog.c: how SIP moves) and call policy
 * (policy.c, snapshot.c, limits.c, probe.c, cdr.c: who may call where).
 *
 * The core parses, runs transactions and forwards; for each initial INVITE
 * it asks the policy for a plan (reject with a code, or an ordered list of
 * targets to try), tells the policy when the call is answered and when it
 * ends, and hands over one CDR per call.  The policy reads only immutable
 * snapshots on these paths; its counters are atomics or behind one
 * documented lock.  Every function here may be called from any SIP worker
 * thread at once.
 */
#ifndef WARP_SIP_POLICY_H
#define WARP_SIP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "sip/sip.h"
#include "store/store.h"

#define SIP_TARGETS_MAX 16
#define SIP_STOP_CODES_MAX 20
#define SIP_NUMBER_MAX 32
#define SIP_HOST_MAX 256
#define SIP_REASON_MAX 96

enum sip_call_dir {
	SIP_DIR_TERMINATION, /* customer trunk -> carrier gateway */
	SIP_DIR_ORIGINATION, /* carrier gateway -> customer's number/trunk */
};

/* One place to send the INVITE; tried in order by the core. */
struct sip_target {
	struct net_addr addr; /* resolved address to send to */
	enum sip_transport_kind transport;
	char host[SIP_HOST_MAX];   /* host for the Request-URI (name or address) */
	uint16_t port;             /* port for the Request-URI (0: none) */
	char user[SIP_NUMBER_MAX + 16]; /* Request-URI user: number with tech prefix */
	char carrier_id[ID_MAX];   /* termination: the carrier; "" otherwise (an
				    * origination CDR finds its inbound gateway
				    * in cdr.c, by source address) */
	char gateway_id[ID_MAX];   /* termination: the gateway; "" otherwise */
	char trunk_id[ID_MAX];     /* origination: the customer's trunk */
	/* Final codes that end the call instead of failing over (RFC 3261 does
	 * not say; carriers do: 404, 486, 600, 603 by default). */
	uint16_t stop_codes[SIP_STOP_CODES_MAX];
	size_t nstop_codes;
	/* A route in lcr mode: the buy rate (micro-units per minute) the
	 * carrier was chosen at, for the CDR's attempt (decision 0038). */
	bool has_buy_rate;
	int64_t buy_rate;
	/* A registered contact (registrar.h) over TCP or TLS: the connection
	 * its REGISTER came on, when this node holds it (conn_id 0: none). */
	unsigned conn_worker;
	uint64_t conn_id;
};

/* What the policy decided for an initial INVITE. */
struct sip_call_plan {
	int reject_code; /* 0: forward to targets; else answer this code */
	char reject_reason[SIP_REASON_MAX]; /* goes into a Reason header */
	enum sip_call_dir dir;
	char customer_id[ID_MAX];
	char trunk_id[ID_MAX];
	char caller[SIP_NUMBER_MAX * 2];  /* From user as received */
	char dialed[SIP_NUMBER_MAX * 2];  /* R-URI user as received */
	char normalized[SIP_NUMBER_MAX];  /* E.164 without '+', after tech prefix */
	int64_t max_duration_ms;          /* 0: no limit */
	bool media_relay;                 /* trunk media_mode = relay */
	bool topology_hiding;             /* the trunk's topology_hiding (decision 0028) */
	int setup_timeout_ms;             /* per attempt: no final answer -> next */
	int max_attempts;                 /* over all targets */
	bool fork; /* every target at once, first 2xx wins (registered contacts, fork.c) */
	/* ntargets entries (at most SIP_TARGETS_MAX) in their own allocation,
	 * NULL when none: only the setup needs them, so the core lets them go
	 * with sip_policy_plan_targets_free once the call is answered, and
	 * sip_policy_call_end frees what is left. */
	struct sip_target *targets;
	size_t ntargets;
	/* Opaque: limits held for this call (trunk and customer channels,
	 * the channel of the carrier it is on), released by
	 * sip_policy_call_end.  Owned by the policy. */
	void *hold;
};

struct sip_policy;

struct sip_policy_opts {
	struct store *store;
	struct snapshot_loader *loader; /* the policy registers its snapshots here */
	struct snapshot *rating;        /* buy and sell rates for lcr routes (NULL: none) */
	/* The proxy's TLS client context (tls.c), shared: TLS gateways are
	 * probed over TLS with their certificates checked as calls check
	 * them.  NULL: TLS gateways are not probed. */
	struct ssl_ctx_st *tls_client;
	struct sip_policy_config cfg; /* sip.h */
	/* Origination: a trunk's live registered contacts as targets, tried
	 * before (and instead of) its destinations (decision 0047); NULL: none
	 * are asked for.  Called on a worker: reads memory, never the store. */
	size_t (*registered)(void *arg, const char *trunk_id, struct sip_target *out, size_t max);
	void *registered_arg;
};

struct sip_policy *sip_policy_new(const struct sip_policy_opts *o, char *err, size_t errlen);
/* Starts the gateway prober (its own thread and socket). */
int sip_policy_start(struct sip_policy *p);
void sip_policy_stop(struct sip_policy *p);
void sip_policy_free(struct sip_policy *p);

/* [limits] backend = redis with Redis unreachable: each node admits on its
 * share of every limit (/readyz says degraded). */
bool sip_policy_limits_degraded(struct sip_policy *p);

/* hot path: no allocation, no locks, no I/O
 * Cheap check before parsing: true while src is banned. */
bool sip_policy_source_banned(struct sip_policy *p, const struct net_addr *src, int64_t now_ms);
/* The core refused a request from src (403 and the like): counts towards a ban. */
void sip_policy_note_refused(struct sip_policy *p, const struct net_addr *src, int64_t now_ms);
/* The core challenged a request from src (401/407): a stranger that got
 * more than [sip] flood_refusals challenges within flood_window without
 * authenticating (a REGISTER scanner) has each further one counted as a
 * refusal (decision 0044). */
void sip_policy_note_challenged(struct sip_policy *p, const struct net_addr *src, int64_t now_ms);
/* src proved a trunk's credentials: its unanswered challenges are forgotten. */
void sip_policy_note_authenticated(struct sip_policy *p, const struct net_addr *src);

/* Whether src is a known peer at all (a trunk ACL or a gateway): the core
 * answers 403 to out-of-dialog requests from strangers, OPTIONS included. */
bool sip_policy_source_known(struct sip_policy *p, const struct net_addr *src);

/* For an initial INVITE from src: fills plan.  Termination when src matches
 * a trunk's ACL (customer active, trunk enabled, tech prefix stripped,
 * number normalised to E.164 (484 otherwise), blocked prefixes (403), CPS
 * and channel limits per trunk and per customer (503 with a Reason), routes
 * by longest prefix with the customer's first, carriers enabled and not
 * over a limit now (503 "carrier CPS limit" / "carrier channel limit" when
 * that leaves none; carriers are charged per attempt, see
 * sip_policy_attempt_start), gateways
 * by priority then weight, gateways marked down skipped, carrier tech
 * prefix prepended); origination when src is a gateway and the R-URI user
 * is one of the numbers (404 when unknown); 403 otherwise.  Returns 0
 * (plan filled, possibly a reject) or a negative code on internal failure
 * (the core answers 500). */
int sip_policy_plan_invite(struct sip_policy *p, struct sip_msg *m, const struct net_addr *src,
			   int64_t now_ms, struct sip_call_plan *plan);
/* Frees plan's targets (idempotent); the rest of the plan stays valid. */
void sip_policy_plan_targets_free(struct sip_call_plan *plan);
/* hot path: no allocation, no I/O, one short lock
 * Before the core sends the INVITE to plan->targets[i]: takes a CPS token
 * of the target's carrier and a channel of it (unless the call holds that
 * carrier's channel already, from an attempt at another of its gateways),
 * and gives back the channel of the carrier the call leaves.  0: send it;
 * -EBUSY: the carrier is over its CPS or channel limit now, skip the target
 * (it is not an attempt: no INVITE, not in the CDR's attempts).  Targets
 * without a carrier (origination) always 0. */
int sip_policy_attempt_start(struct sip_policy *p, struct sip_call_plan *plan, size_t i,
			     int64_t now_ms);
/* No target is left (after failures and skips): when a carrier limit
 * skipped a target, the answer is the policy's: plan's reject_code and
 * reject_reason are set (503, "carrier CPS limit" / "carrier channel
 * limit") and 503 is returned; else 0 and the core answers the best
 * failure it has.  An answer of a gateway that stops failover (486, 6xx)
 * never gets here. */
int sip_policy_attempts_exhausted(struct sip_policy *p, struct sip_call_plan *plan);
/* The call was answered (2xx): channel counts (the carrier's included)
 * stay held until the end. */
void sip_policy_call_answered(struct sip_policy *p, struct sip_call_plan *plan);
/* The call ended (BYE, failure, CANCEL, timeout): releases what it held,
 * targets included.  Safe to call again on the same plan (a no-op then). */
void sip_policy_call_end(struct sip_policy *p, struct sip_call_plan *plan);

/* ---------------------------------------------------- digest (digest.c)
 *
 * Proxy-to-user authentication (RFC 3261 §22.3) of strangers against the
 * trunks' digest credentials: RFC 7616 SHA-256 (RFC 8760) or RFC 2617 MD5,
 * with qop=auth.  Nonces are stateless: base64 of the issue time and an
 * HMAC-SHA256 of it under a per-process random secret, so any worker
 * verifies any nonce and a restart invalidates them all (the client is
 * challenged again). */

#define SIP_DIGEST_HEX 65 /* up to 64 hex digits (SHA-256) and NUL */
#define SIP_DIGEST_NONCE_MAX 64
enum { SIP_DIGEST_E_STALE = -1, SIP_DIGEST_E_BAD = -2 };

/* The algorithms verified (RFC 8760 §2.1); the -sess variants are not. */
enum sip_digest_alg { SIP_DIGEST_MD5, SIP_DIGEST_SHA256 };
/* Hex digits of alg's hashes: 32 or 64. */
size_t sip_digest_hex_len(enum sip_digest_alg alg);

/* HA1 = H(user:realm:password) (RFC 7616 §3.4.2), lowercase hex. */
void sip_digest_ha1(enum sip_digest_alg alg, struct str user, struct str realm,
		    struct str password, char out[SIP_DIGEST_HEX]);
/* response with qop=auth (RFC 7616 §3.4.1):
 * H(HA1:nonce:nc:cnonce:qop:H(method:uri)), lowercase hex; ha1 is alg's. */
void sip_digest_response(enum sip_digest_alg alg, const char *ha1, struct str nonce,
			 struct str nc, struct str cnonce, struct str qop, struct str method,
			 struct str uri, char out[SIP_DIGEST_HEX]);
/* A nonce issued at now_ms into out (SIP_DIGEST_NONCE_MAX bytes). */
void sip_digest_nonce_make(int64_t now_ms, char *out, size_t n);
/* 0 when nonce is ours and issued within ttl_ms before now_ms;
 * SIP_DIGEST_E_STALE when ours but older; SIP_DIGEST_E_BAD otherwise. */
int sip_digest_nonce_check(struct str nonce, int64_t now_ms, int64_t ttl_ms);

/* The parameters of one Digest credentials value (RFC 2617 §3.2.2), views
 * into it; a parameter not given is an empty view. */
struct sip_digest_cred {
	struct str user, realm, nonce, uri, response, algorithm, cnonce, qop, nc;
};
/* Parses a Proxy-Authorization value ("Digest name=value, ..."): 0, or
 * -EINVAL when it is not Digest or a parameter is malformed. */
int sip_digest_cred_parse(struct str value, struct sip_digest_cred *c);

/* The admission of an out-of-dialog request from a source that is neither
 * a trunk ACL nor a gateway. */
struct sip_digest_admit {
	int code;		 /* 0: admitted; else answer 407 or 403 */
	const char *tag;	 /* the answer's To tag */
	bool stateful;		 /* an INVITE's challenge or digest refusal:
				  * answer through a server transaction */
	char extra[1280];	 /* the answer's header lines (CRLF-ended) */
	struct sip_msg msg;	 /* admitted: the request without the
				  * Proxy-Authorization it used (ours, §22.3),
				  * valid until the next admission on this thread */
};

/* No credentials anywhere: 403 "unknown source", as before digest.  No
 * Proxy-Authorization for our realms: 407 with a challenge per realm and
 * algorithm (SHA-256 first where known, decision 0048).  A
 * nonce past its time: 407, stale=true.  Unknown username, wrong response,
 * a nonce not ours: 403 (the core counts
 * it towards a ban; a 407 is not counted: every good call gets one).
 * Admitted: sip_policy_plan_invite takes the trunk whose credentials
 * matched for this request (same thread, same Call-ID and source). */
int sip_policy_digest_admit(struct sip_policy *p, struct sip_msg *m, const struct net_addr *src,
			    int64_t now_ms, struct sip_digest_admit *a);
/* Who a REGISTER proved to be: the trunk whose credentials it used. */
struct sip_registrant {
	char trunk_id[ID_MAX];
	char user[65]; /* the digest username: the AOR's user it may register */
};
/* The registrar's digest (RFC 3261 §22.2, §10.3 step 3): no Authorization
 * for our realms is 401 with a WWW-Authenticate per realm; bad credentials
 * 403; no credentials anywhere 403.  Admitted: 0 and *who filled.  Nonces
 * and replays as sip_policy_digest_admit. */
int sip_policy_digest_register(struct sip_policy *p, struct sip_msg *m, const struct net_addr *src,
			       int64_t now_ms, struct sip_digest_admit *a,
			       struct sip_registrant *who);

/* ------------------------------------------------------------------ CDRs */

#define SIP_ATTEMPTS_MAX 16

struct sip_cdr_attempt {
	/* The gateway tried (termination) or the customer's trunk the call
	 * went to (origination); stored as "gateway_id" or "trunk_id". */
	char target_id[ID_MAX];
	int code;                /* final SIP code, 408 for no answer */
	int64_t start_ms;
	bool has_buy_rate;       /* the target's, for "buy_rate" */
	int64_t buy_rate;
};

enum sip_hangup_side { SIP_HANGUP_NONE, SIP_HANGUP_CALLER, SIP_HANGUP_CALLEE, SIP_HANGUP_PROXY };

/* One call, as the core saw it; the policy's writer stores it exactly once
 * (Call-ID + direction unique). */
struct sip_cdr {
	char call_id[256];
	/* The row's id when the call named it first (a prepaid call: its
	 * reservation and charge reference it); NULL: a new one. */
	const char *id;
	const struct sip_call_plan *plan;   /* borrowed for the call */
	char source[NET_ADDR_STRLEN];
	char carrier_id[ID_MAX], gateway_id[ID_MAX]; /* the answering or last one */
	int64_t start_ms, answer_ms, end_ms;         /* wall clock; answer 0 if never */
	int final_code;
	char final_reason[SIP_REASON_MAX];
	enum sip_hangup_side hangup;
	int64_t pdd_ms; /* post-dial delay: INVITE to first 18x or final */
	/* Owned by the call (one allocation grown per attempt, at most
	 * SIP_ATTEMPTS_MAX): most calls make one, and a held call keeps it. */
	struct sip_cdr_attempt *attempts;
	size_t nattempts;
	/* Media statistics (from the relay's query), per direction; -1 unknown. */
	int64_t rtp_packets[2], rtp_lost[2], rtp_jitter_us[2];
};

/* Answer to end (0 for an unanswered call), in milliseconds. */
int64_t sip_cdr_duration_ms(const struct sip_cdr *c);
/* Queues the CDR for the batching writer; done(arg, status) runs on the
 * writer thread once the row is durable (status 0) or failed.  The core
 * frees the call's state only after done. */
int sip_cdr_submit(struct sip_policy *p, const struct sip_cdr *cdr,
		   void (*done)(void *arg, int status), void *arg);
/* At answer: records the call as open, so that it is billed even if this
 * process stops before it ends (a no-op without a journal). */
int sip_cdr_open(struct sip_policy *p, const struct sip_cdr *cdr);

#endif
