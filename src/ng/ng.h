/*
 * ng.h — the public face of WARP's ng module: rtpengine's "ng" control
 * protocol as it travels on the wire.
 *
 * An ng message is one UDP datagram "<cookie> <bencoded dictionary>"; the
 * reply carries the same cookie.  This header offers:
 *
 *   - ng_msg_split: cut a datagram into cookie and body;
 *   - a bencode decoder that never copies and never allocates: it indexes the
 *     datagram into a node arena the caller provides (struct bencode_node
 *     nodes[BENCODE_NODES_DEFAULT] on the stack is typical), strings being
 *     views into the datagram, so the datagram must outlive the nodes;
 *   - lookup helpers for dictionaries ("call-id", "sdp") and lists ("flags");
 *   - an encoder that appends bencode to a struct buf, for replies.
 *
 * The decoder is strict about the grammar (lengths, integers, nesting,
 * trailing bytes) but, like rtpengine, does not insist that dictionary keys
 * be sorted: Kamailio's rtpengine module sends them in insertion order.
 */
#ifndef WARP_NG_H
#define WARP_NG_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------- bencode */

/* Deepest nesting of lists and dictionaries accepted.  ng messages nest at
 * most three or four levels ("codec" → "strip" → list); 32 is generous and
 * keeps the decoder's recursion bounded. */
#define BENCODE_DEPTH_MAX 32
/* A comfortable arena for one ng request: an offer with a few flags, codec
 * options and an SDP uses well under a hundred nodes. */
#define BENCODE_NODES_DEFAULT 512

enum bencode_type {
	BENCODE_STR,
	BENCODE_INT,
	BENCODE_LIST,
	BENCODE_DICT,
};

/* Error codes (negative) returned by bencode_decode and ng_msg_split. */
enum bencode_err {
	BENCODE_ERR_EMPTY = -1,	    /* no input */
	BENCODE_ERR_TRUNCATED = -2, /* input ended inside an item */
	BENCODE_ERR_SYNTAX = -3,    /* a byte that cannot start or continue an item */
	BENCODE_ERR_LENGTH = -4,    /* bad string length prefix */
	BENCODE_ERR_INT = -5,	    /* bad integer: empty, leading zero, "-0", overflow */
	BENCODE_ERR_KEY = -6,	    /* dictionary key is not a string */
	BENCODE_ERR_DEPTH = -7,	    /* nested deeper than BENCODE_DEPTH_MAX */
	BENCODE_ERR_NODES = -8,	    /* node arena exhausted */
	BENCODE_ERR_TRAILING = -9,  /* bytes after the top-level item */
	BENCODE_ERR_COOKIE = -10,   /* ng datagram without "cookie SP body" */
};

/*
 * One decoded item.  Children of a list or dictionary form a chain through
 * `next`; in a dictionary they alternate key, value, key, value.  Iterate
 *
 *	for (k = dict->child; k; k = k->next->next)  // k->next is the value
 *	for (it = list->child; it; it = it->next)
 */
struct bencode_node {
	enum bencode_type type;
	struct str raw;			  /* the item's whole encoding, e.g. "4:spam", "li1ee" */
	struct str str;			  /* BENCODE_STR: the bytes (a view, not NUL-terminated) */
	int64_t num;			  /* BENCODE_INT */
	size_t count;			  /* LIST: items; DICT: key/value pairs */
	const struct bencode_node *child; /* first item or key, NULL when empty */
	const struct bencode_node *next;  /* next sibling, NULL at the end */
};

/* A decode session over caller-owned storage. */
struct bencode_doc {
	struct bencode_node *nodes;
	size_t cap;
	size_t used;
	size_t err_off; /* byte offset of the first error in the input */
};

void bencode_doc_init(struct bencode_doc *d, struct bencode_node *nodes, size_t cap);
/* Decodes exactly one item filling all of in.  On success *root points into
 * d->nodes and returns 0; otherwise returns a bencode_err and sets
 * d->err_off.  The nodes hold views into in. */
int bencode_decode(struct bencode_doc *d, struct str in, const struct bencode_node **root);
/* A short reason for a bencode_err ("leading zero in integer", ...). */
const char *bencode_strerror(int err);

/* The value stored under key, or NULL (also when dict is NULL or not a
 * dictionary).  With duplicate keys the first one wins. */
const struct bencode_node *bencode_dict_get(const struct bencode_node *dict, const char *key);
/* 0 and *out set; -ENOENT when absent; -EINVAL when of another type. */
int bencode_dict_get_str(const struct bencode_node *dict, const char *key, struct str *out);
/* Accepts an integer, or a string holding a decimal integer (some ng
 * clients send numbers as strings). 0, -ENOENT or -EINVAL. */
int bencode_dict_get_int(const struct bencode_node *dict, const char *key, int64_t *out);
/* True when list is a list holding the string s (flags are matched
 * exactly; ng's "spaces may be hyphens" folding is the caller's policy). */
bool bencode_list_contains_str(const struct bencode_node *list, const char *s);

/* Encoder: each call appends to b and returns 0 or -ENOMEM.  Keys are
 * emitted in the order the caller writes them: ng peers do not require the
 * sorted order plain bencode asks for, so replies are written in the order
 * that reads best ("result" first).  Callers that need canonical bencode
 * must write keys in sorted (raw byte) order themselves. */
int bencode_put_dict_begin(struct buf *b);
int bencode_put_list_begin(struct buf *b);
int bencode_put_end(struct buf *b);
int bencode_put_str(struct buf *b, struct str s);
int bencode_put_cstr(struct buf *b, const char *s);
int bencode_put_int(struct buf *b, int64_t v);
/* Key and value in one call, for dictionaries. */
int bencode_put_kv_str(struct buf *b, const char *key, struct str value);
int bencode_put_kv_int(struct buf *b, const char *key, int64_t value);
/* Re-encodes a decoded tree (keys in their decoded order). */
int bencode_put_node(struct buf *b, const struct bencode_node *n);

/* ------------------------------------------------------------------ ng */

/* Splits "<cookie> <body>" at the first space.  The cookie must be
 * non-empty and the body non-empty; BENCODE_ERR_COOKIE otherwise. */
int ng_msg_split(struct str datagram, struct str *cookie, struct str *body);
/* Appends "<cookie> d6:result5:error12:error-reason<n>:<reason>e": the
 * only keys an error reply may carry. */
int ng_reply_error(struct buf *b, struct str cookie, const char *reason);

/*
 * A cache of recent replies by cookie (rtpengine's retransmission rule: a
 * message repeated with the same cookie gets the same reply and is not
 * acted on twice).  Bounded: the oldest entry goes when max is reached, and
 * entries expire after ttl_ms.  Not thread-safe: one control thread owns it.
 */
struct ng_cookie_cache;

struct ng_cookie_cache *ng_cookie_cache_new(size_t max, int64_t ttl_ms);
void ng_cookie_cache_free(struct ng_cookie_cache *c);
/* The cached reply (a view valid until the next put) or -ENOENT. */
int ng_cookie_cache_get(struct ng_cookie_cache *c, struct str cookie, int64_t now_ms,
			struct str *reply);
/* Copies cookie and reply; 0 or -ENOMEM. */
int ng_cookie_cache_put(struct ng_cookie_cache *c, struct str cookie, struct str reply,
			int64_t now_ms);
size_t ng_cookie_cache_size(const struct ng_cookie_cache *c);

/* ------------------------------------------------------------- engines */

/*
 * A set of ng engines (WARP media roles or rtpengines) shared by all SIP
 * workers.  Configured as Kamailio's rtpengine_sock is:
 *
 *	"udp:127.0.0.1:2223=1 udp:10.0.0.5:2223=2"
 *
 * entries separated by spaces, commas or semicolons; each "udp:" or "udp6:"
 * then an address net_addr_parse accepts ("[::1]:2223" for IPv6), then an
 * optional "=weight" (1..NG_ENGINE_WEIGHT_MAX, default 1).
 *
 * A call sticks to its engine: the first request of a call-id picks an
 * engine and the pick is remembered in a bounded, lock-guarded table.  The
 * pick itself is weighted rendezvous hashing of the call-id over the
 * engines that are up, so calls spread by weight, and a call whose table
 * entry was evicted (or that another proxy replica handles) still lands on
 * the same engine as long as that engine is up.
 *
 * Health is one atomic state per engine: UP; SUSPECT after a request timed
 * out (skipped for new calls while an UP engine exists); DOWN after
 * miss_max pings went unanswered (never picked for new calls).  The first
 * pong makes it UP again.  Calls already placed keep their engine whatever
 * its state: their media is there.
 */
#define NG_ENGINES_MAX 16
#define NG_ENGINE_WEIGHT_MAX 1000
/* Sticky table size when the caller passes 0. */
#define NG_STICKY_DEFAULT 65536

enum ng_engine_state {
	NG_ENGINE_UP,
	NG_ENGINE_SUSPECT,
	NG_ENGINE_DOWN,
};

struct ng_engine_set;

/* Parses spec; sticky_max bounds the call → engine table (0: default).
 * NULL with a reason in err on a bad spec or allocation failure. */
struct ng_engine_set *ng_engine_set_new(const char *spec, size_t sticky_max, char *err,
					size_t errlen);
void ng_engine_set_free(struct ng_engine_set *s);
size_t ng_engine_set_count(const struct ng_engine_set *s);
const struct net_addr *ng_engine_addr(const struct ng_engine_set *s, size_t i);
unsigned ng_engine_weight(const struct ng_engine_set *s, size_t i);
/* "udp:127.0.0.1:2223" as configured (without the weight). */
const char *ng_engine_name(const struct ng_engine_set *s, size_t i);
/* Thread-safe (atomic). */
enum ng_engine_state ng_engine_state_get(const struct ng_engine_set *s, size_t i);
void ng_engine_state_set(struct ng_engine_set *s, size_t i, enum ng_engine_state st);
/* The engine of call_id: the remembered one, else a new pick that is
 * remembered.  An empty call_id (ping) picks without remembering.
 * -EHOSTUNREACH when no engine is UP or SUSPECT. Thread-safe. */
int ng_engine_set_pick(struct ng_engine_set *s, struct str call_id, size_t *idx);
/* Drops call_id's mapping (after the final delete). Thread-safe. */
void ng_engine_set_forget(struct ng_engine_set *s, struct str call_id);
/* Number of calls remembered (for metrics and tests). */
size_t ng_engine_set_sticky_count(struct ng_engine_set *s);

/*
 * The pinger: every interval_ms it sends "ping" to each engine from its
 * own UDP socket registered on base (the main loop, or a thread of its
 * own); an engine whose last miss_max pings went unanswered becomes DOWN,
 * and the first pong makes it UP.  Runs on base's thread only.
 */
struct ng_pinger;

struct ng_pinger *ng_pinger_new(struct ng_engine_set *s, struct event_base *base,
				int64_t interval_ms, unsigned miss_max);
void ng_pinger_free(struct ng_pinger *p);

/* -------------------------------------------------------------- client */

/*
 * The asynchronous ng client: one per SIP worker thread, on that worker's
 * event base, all sharing one engine set.  A request is the bencoded
 * dictionary (built with ng_build_* below); the client prefixes a cookie
 * unique in the process, sends it to the call's engine, retransmits the
 * same datagram every retransmit_ms up to retransmits times (ng engines
 * answer a repeated cookie with the cached reply and do not act twice),
 * and calls back exactly once, on the same thread, unless cancelled:
 *
 *	status 0             reply with result "ok" or "pong";
 *	NG_CLIENT_ERR_REPLY  reply with result "error" (read "error-reason");
 *	-ETIMEDOUT           no reply; the engine is marked SUSPECT;
 *	-EBADMSG             a reply that does not decode.
 *
 * reply (the decoded dictionary, NULL unless a reply decoded) and raw (its
 * bencoded text) are views into the client's receive buffer, valid only
 * during the callback: copy what must outlive it (the SDP).
 *
 * Memory: the in-flight table (inflight_max records, each with its
 * datagram buffer reused) is allocated once; nothing is allocated per
 * packet.  Not thread-safe: the worker owning base uses it.
 */
#define NG_CLIENT_ERR_REPLY (-1000)
/* Larger requests are refused (-EMSGSIZE): one UDP datagram. */
#define NG_CLIENT_DATAGRAM_MAX 65000

struct ng_client_opts {
	int64_t retransmit_ms; /* default 500 */
	unsigned retransmits;  /* default 2: three sends, timeout after 3 x retransmit_ms */
	size_t inflight_max;   /* default 1024 */
};

typedef void ng_client_cb(void *arg, int status, const struct bencode_node *reply, struct str raw);

struct ng_client;

/* opts NULL: defaults.  NULL on failure (socket, allocation). */
struct ng_client *ng_client_new(struct ng_engine_set *s, struct event_base *base,
				const struct ng_client_opts *opts);
/* Pending requests are dropped without callbacks. */
void ng_client_free(struct ng_client *c);
/* Sends body (a bencoded dictionary, copied) for call_id (empty: any
 * engine, not remembered).  *id (may be NULL) names the request for
 * ng_client_cancel.  Returns 0, or -EHOSTUNREACH (no engine), -ENOBUFS
 * (inflight_max requests pending), -EMSGSIZE, -EINVAL: then cb is never
 * called. */
int ng_client_request(struct ng_client *c, struct str call_id, struct str body, ng_client_cb *cb,
		      void *arg, uint64_t *id);
/* As ng_client_request, to engine idx of the set regardless of stickiness. */
int ng_client_request_engine(struct ng_client *c, size_t idx, struct str body, ng_client_cb *cb,
			     void *arg, uint64_t *id);
/* The callback of request id will not be called; unknown ids are ignored. */
void ng_client_cancel(struct ng_client *c, uint64_t id);
size_t ng_client_inflight(const struct ng_client *c);
/* Error text for a status. */
const char *ng_client_strerror(int status);

/* ------------------------------------------------------------ commands */

/*
 * Builders for the commands the proxy sends (rtpengine's
 * docs/ng_control_protocol.md): offer on an INVITE with SDP, answer on the
 * reliable response with SDP, delete on BYE, CANCEL and failure, query for
 * CDR statistics.  Empty views and NULL lists are left out.
 */
struct ng_params {
	struct str call_id, from_tag, to_tag, via_branch;
	struct str sdp;
	const char *const *flags; /* "trust-address", "symmetric", ... */
	size_t nflags;
	const char *const *replace; /* "origin", "session-connection" */
	size_t nreplace;
	const char *ice;	  /* "remove", "force", ... or NULL */
	const char *direction[2]; /* interface names, or NULLs */
	struct str received_from; /* the signalling source address, "192.0.2.1" */
};

int ng_build_offer(struct buf *b, const struct ng_params *c);
/* -EINVAL without to_tag. */
int ng_build_answer(struct buf *b, const struct ng_params *c);
int ng_build_delete(struct buf *b, const struct ng_params *c);
int ng_build_query(struct buf *b, const struct ng_params *c);
int ng_build_ping(struct buf *b);

/* --------------------------------------------------------------- stats */

/*
 * Media statistics from a query or delete reply, for CDRs.  Both shapes
 * are read: rtpengine's ("totals" → "RTP"/"RTCP"; "tags" → tag → "medias"
 * → "streams" → "stats"; loss and jitter under the top-level "SSRC"
 * dictionary when it reports them) and WARP's, which adds "rtcp" with the
 * last RTCP report block to each RTCP stream.  A leg's counters are what
 * the relay received from that tag's party.
 */
#define NG_STATS_LEGS_MAX 4

struct ng_leg_stats {
	struct str tag;			   /* a view into the reply */
	uint64_t packets, bytes, errors;   /* RTP */
	uint64_t rtcp_packets, rtcp_bytes; /* RTCP */
	int64_t lost;			   /* packets lost as reported by RTCP, -1 when unknown */
	int64_t jitter;			   /* interarrival jitter (RTP timestamp units for WARP,
					      milliseconds for rtpengine), -1 when unknown */
};

struct ng_call_stats {
	int64_t created; /* epoch seconds, 0 when absent */
	uint64_t rtp_packets, rtp_bytes, rtp_errors;
	uint64_t rtcp_packets, rtcp_bytes, rtcp_errors;
	struct ng_leg_stats leg[NG_STATS_LEGS_MAX];
	size_t nlegs;
};

/* 0, or -EINVAL when reply is not a dictionary with result "ok".  Missing
 * pieces read as zero (or -1 for lost/jitter); legs past NG_STATS_LEGS_MAX
 * are left out. */
int ng_stats_parse(const struct bencode_node *reply, struct ng_call_stats *out);
/* The leg of tag, or NULL. */
const struct ng_leg_stats *ng_stats_leg(const struct ng_call_stats *s, struct str tag);

#endif
