/*
 * sip.h — the public face of WARP's SIP module: its message parser and the
 * proxy of the sip role (options, start and stop; at the end of the file).
 *
 * The parser is zero-copy and lazy, in the manner of Kamailio's: sip_msg_parse
 * reads the start line, indexes every header once (id, raw name, raw value,
 * and the line span so a proxy can drop or rewrite a header by splicing bytes)
 * and frames the body by Content-Length.  Nothing else is parsed until asked
 * for: sip_msg_via(), sip_msg_from(), sip_msg_cseq() ... parse one header on
 * demand and cache the result in the message.  Every result is a struct str
 * view into the caller's receive buffer, which must outlive the message.
 *
 * The parse path allocates nothing, never recurses on input and is bounded by
 * SIP_MSG_MAX_SIZE and SIP_MSG_MAX_HDRS.  Functions return 0 or a negative
 * enum sip_err; the first error met on a message is kept so that a 400 can
 * carry its phrase (sip_msg_error) and sip_err_status() names the status to
 * answer with.  A view that is "absent" has p == NULL; a parameter present
 * without a value ("rport", "lr") has p != NULL and len == 0.
 */
#ifndef WARP_SIP_H
#define WARP_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Limits checked where data enters (413/513 and 400 are the answers). */
#define SIP_MSG_MAX_SIZE 65535 /* bytes in one message: RFC 3261 §18.1.1 UDP bound */
#define SIP_MSG_MAX_HDRS 128   /* header lines in one message */

/* ---------------------------------------------------------------- errors */

enum sip_err {
	SIP_OK = 0,
	SIP_E_TOO_BIG = -1,	   /* message larger than SIP_MSG_MAX_SIZE (513) */
	SIP_E_INCOMPLETE = -2,	   /* no empty line ending the headers */
	SIP_E_START_LINE = -3,	   /* malformed Request-Line or Status-Line */
	SIP_E_VERSION = -4,	   /* SIP-Version other than SIP/2.0 (505) */
	SIP_E_STATUS = -5,	   /* status code outside 100..699 */
	SIP_E_HDR_LINE = -6,	   /* a header line without a valid name and colon */
	SIP_E_TOO_MANY_HDRS = -7,  /* more than SIP_MSG_MAX_HDRS headers */
	SIP_E_CONTENT_LENGTH = -8, /* Content-Length not a number, or several */
	SIP_E_BODY_SHORT = -9,	   /* body shorter than Content-Length says */
	SIP_E_MISSING = -10,	   /* a mandatory header is absent */
	SIP_E_MULTIPLE = -11,	   /* several values in a single-value header */
	SIP_E_VIA = -12,
	SIP_E_FROM = -13,
	SIP_E_TO = -14,
	SIP_E_CALL_ID = -15,
	SIP_E_CSEQ = -16,
	SIP_E_CSEQ_METHOD = -17, /* CSeq method differs from the request's */
	SIP_E_MAX_FORWARDS = -18,
	SIP_E_CONTACT = -19,
	SIP_E_ADDR = -20, /* Route, Record-Route or another address header */
	SIP_E_URI = -21,
	SIP_E_RURI = -22,
	SIP_E_URI_SCHEME = -23, /* Request-URI scheme we do not serve (416) */
	SIP_E_DATE = -24,
	SIP_E_EXPIRES = -25,
	SIP_E_CONTENT_TYPE = -26,
	SIP_E_NOT_FOUND = -27, /* no such header / value / parameter: not a fault */
	SIP_E_NO_SPACE = -28,  /* caller's buffer too small */
	SIP_E_METHOD = -29,    /* method not a token */
};

/* Short phrase for a code: "bad Via", "Content-Length mismatch", ... */
const char *sip_strerror(int err);
/* The status a server answers a request failing with err: 400, 416, 505, 513. */
int sip_err_status(int err);

/* --------------------------------------------------------------- methods */

enum sip_method {
	SIP_METHOD_OTHER = 0, /* a valid token we do not know: see sip_msg_method_name */
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_REGISTER,
	SIP_METHOD_PRACK,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_PUBLISH,
	SIP_METHOD_INFO,
	SIP_METHOD_REFER,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_UPDATE,
};

/* Method names are case-sensitive (RFC 3261 §7.1). */
enum sip_method sip_method_from_str(struct str name);

/* ---------------------------------------------------------------- headers */

enum sip_hdr_id {
	SIP_HDR_OTHER = 0, /* not known: compare sip_hdr.name */
	SIP_HDR_ACCEPT,
	SIP_HDR_ACCEPT_CONTACT, /* a */
	SIP_HDR_ACCEPT_ENCODING,
	SIP_HDR_ACCEPT_LANGUAGE,
	SIP_HDR_ALERT_INFO,
	SIP_HDR_ALLOW,
	SIP_HDR_ALLOW_EVENTS, /* u */
	SIP_HDR_AUTHENTICATION_INFO,
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_CALL_ID, /* i */
	SIP_HDR_CALL_INFO,
	SIP_HDR_CONTACT, /* m */
	SIP_HDR_CONTENT_DISPOSITION,
	SIP_HDR_CONTENT_ENCODING, /* e */
	SIP_HDR_CONTENT_LANGUAGE,
	SIP_HDR_CONTENT_LENGTH, /* l */
	SIP_HDR_CONTENT_TYPE,	/* c */
	SIP_HDR_CSEQ,
	SIP_HDR_DATE,
	SIP_HDR_DIVERSION,
	SIP_HDR_ERROR_INFO,
	SIP_HDR_EVENT, /* o */
	SIP_HDR_EXPIRES,
	SIP_HDR_FROM,	  /* f */
	SIP_HDR_IDENTITY, /* y */
	SIP_HDR_IN_REPLY_TO,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_MIME_VERSION,
	SIP_HDR_MIN_EXPIRES,
	SIP_HDR_MIN_SE,
	SIP_HDR_ORGANIZATION,
	SIP_HDR_P_ASSERTED_IDENTITY,
	SIP_HDR_P_PREFERRED_IDENTITY,
	SIP_HDR_PATH,
	SIP_HDR_PRIORITY,
	SIP_HDR_PRIVACY,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_RACK,
	SIP_HDR_REASON,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REFER_TO,	/* r */
	SIP_HDR_REFERRED_BY,	/* b */
	SIP_HDR_REJECT_CONTACT, /* j */
	SIP_HDR_REPLACES,
	SIP_HDR_REPLY_TO,
	SIP_HDR_REQUEST_DISPOSITION, /* d */
	SIP_HDR_REQUIRE,
	SIP_HDR_RETRY_AFTER,
	SIP_HDR_ROUTE,
	SIP_HDR_RSEQ,
	SIP_HDR_SERVER,
	SIP_HDR_SERVICE_ROUTE,
	SIP_HDR_SESSION_EXPIRES, /* x */
	SIP_HDR_SUBJECT,	 /* s */
	SIP_HDR_SUBSCRIPTION_STATE,
	SIP_HDR_SUPPORTED, /* k */
	SIP_HDR_TIMESTAMP,
	SIP_HDR_TO, /* t */
	SIP_HDR_UNSUPPORTED,
	SIP_HDR_USER_AGENT,
	SIP_HDR_VIA, /* v */
	SIP_HDR_WARNING,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR_ID_COUNT
};

/* Full or compact name, case-insensitive; SIP_HDR_OTHER when unknown. */
enum sip_hdr_id sip_hdr_id_from_name(struct str name);
/* The canonical full name ("Call-ID"), or NULL for SIP_HDR_OTHER. */
const char *sip_hdr_name(enum sip_hdr_id id);

#define SIP_HDR_NONE UINT16_MAX

/* One header line as indexed by sip_msg_parse. */
struct sip_hdr {
	enum sip_hdr_id id;
	uint16_t next;	  /* index of the next header with the same id, or SIP_HDR_NONE */
	struct str name;  /* as written: "v", "Via", "VIA" */
	struct str value; /* trimmed; may hold folded line breaks (CRLF SP), which are LWS */
	struct str line;  /* first byte of the name through the CRLF ending the last
			   * continuation line: splice it out to remove the header */
};

/* ------------------------------------------------------------------ URIs */

enum sip_uri_scheme { SIP_URI_SIP, SIP_URI_SIPS, SIP_URI_TEL, SIP_URI_OTHER };

struct sip_uri {
	struct str raw;
	enum sip_uri_scheme scheme;
	struct str scheme_name; /* as written, without ':' */
	struct str user;	/* escaped as written; tel: the number */
	struct str password;
	struct str host; /* an IPv6 reference without its brackets */
	bool host_ipv6;
	uint16_t port;	    /* 0 when absent */
	struct str params;  /* ";lr;transport=udp" raw, or empty */
	struct str headers; /* after '?', raw, or empty */
	struct str opaque;  /* SIP_URI_OTHER: everything after "scheme:" */
};

/* Parses a sip:, sips: or tel: URI; any other absoluteURI is accepted as
 * SIP_URI_OTHER with only scheme and opaque set.  SIP_E_URI on bad syntax. */
int sip_uri_parse(struct str s, struct sip_uri *out);
/* Looks up a URI parameter by name (case-insensitive).  0 and *value (len 0
 * when the parameter has no value) or SIP_E_NOT_FOUND.  value may be NULL. */
int sip_uri_param(const struct sip_uri *uri, const char *name, struct str *value);
/* Decodes %HH escapes of in into out (not NUL-terminated; %00 gives a NUL
 * byte).  *outlen gets the decoded length.  SIP_E_URI for a bad escape,
 * SIP_E_NO_SPACE when out is too small. */
int sip_uri_unescape(struct str in, char *out, size_t n, size_t *outlen);

/* ------------------------------------------------------------ parameters */

/* Finds a generic-param in a header's ";name=value;..." list, tolerating LWS
 * around ';' and '=' (RFC 3261 §25.1).  The value keeps its quotes if quoted.
 * 0, SIP_E_NOT_FOUND, or SIP_E_URI for a malformed list. */
int sip_params_find(struct str params, const char *name, struct str *value);

/* ------------------------------------------------------------------- Via */

struct sip_via {
	struct str raw;	      /* the whole via-parm */
	struct str protocol;  /* "SIP" */
	struct str version;   /* "2.0" */
	struct str transport; /* "UDP", "TCP", "TLS", "SCTP", "WS", or any token */
	struct str host;      /* sent-by host; an IPv6 reference without brackets */
	bool host_ipv6;
	uint16_t port;	   /* 0 when absent */
	struct str params; /* ";branch=...;rport" raw (may hold LWS), or empty */
	struct str branch;
	struct str received;
	struct str rport; /* p != NULL and len 0: "rport" without a value (RFC 3581) */
	struct str maddr;
	uint16_t rport_port; /* rport's value when it has one */
	int ttl;	     /* 0..255, or -1 when absent */
};

/* Parses one via-parm (one comma-separated Via value). */
int sip_via_parse(struct str value, struct sip_via *out);
/* True when the branch carries RFC 3261's magic cookie "z9hG4bK" (§8.1.1.7);
 * an RFC 2543 peer's transactions are matched the old way otherwise. */
bool sip_via_branch_is_rfc3261(const struct sip_via *via);

/* ---------------------------------------------- From, To, Contact, Route */

struct sip_addr {
	struct str raw;
	struct str display; /* without the quotes of a quoted-string (escapes kept) */
	bool display_quoted;
	bool name_addr; /* the URI was in <>; otherwise a bare addr-spec whose
			 * ';' parameters belong to the header (RFC 3261 §20.10) */
	bool wildcard;	/* Contact: * */
	struct sip_uri uri;
	struct str params; /* header parameters, raw (";tag=1;expires=60"), or empty */
	struct str tag;	   /* absent: p == NULL */
};

/* Parses one name-addr / addr-spec value with its header parameters. */
int sip_addr_parse(struct str value, struct sip_addr *out);

/* ------------------------------------------------------------------ CSeq */

struct sip_cseq {
	uint32_t number; /* < 2^31 (RFC 3261 §8.1.1.5) */
	enum sip_method method;
	struct str method_name;
};

/* CSeq = 1*DIGIT LWS Method.  SIP_E_CSEQ on bad syntax or a number >= 2^31. */
int sip_cseq_parse(struct str value, struct sip_cseq *out);

/* ------------------------------------------------------------- messages */

/* Lazily parsed values cached in the message; private to the parser. */
enum sip_cache_slot {
	SIP_CACHE_RURI,
	SIP_CACHE_VIA,
	SIP_CACHE_FROM,
	SIP_CACHE_TO,
	SIP_CACHE_CSEQ,
	SIP_CACHE_CALL_ID,
	SIP_CACHE_MAX_FORWARDS,
	SIP_CACHE_SLOTS
};

struct sip_msg_cache {
	int8_t rc[SIP_CACHE_SLOTS]; /* 1: not parsed yet; else the parse's result */
	struct sip_uri ruri;
	struct sip_via via; /* the topmost Via value */
	struct sip_addr from, to;
	struct sip_cseq cseq;
	struct str call_id;
	int max_forwards;
};

/* Caller-owned storage; sip_msg_parse initialises all of it.  Treat the
 * fields as read-only and prefer the accessors. */
struct sip_msg {
	struct str raw;	       /* the message: start line through the end of the body */
	struct str start_line; /* without its CRLF */
	bool is_request;
	bool headers_done; /* the header index reached the empty line */
	enum sip_method method;
	struct str method_name;
	struct str ruri;    /* Request-URI as written */
	struct str version; /* "SIP/2.0" */
	int status;	    /* responses */
	struct str reason;  /* responses: any UTF-8, may be empty */
	struct sip_hdr hdrs[SIP_MSG_MAX_HDRS];
	uint16_t nhdrs;
	uint16_t first[SIP_HDR_ID_COUNT];
	uint16_t last[SIP_HDR_ID_COUNT];
	struct str body;
	int64_t content_length; /* -1 when the header is absent */
	struct str trailing;	/* datagram bytes after the body, ignored (RFC 3261 §18.3) */
	int err;		/* first error met: by the parse or by any accessor */
	int parse_err;		/* sip_msg_parse's own result */
	const char *err_text;
	struct sip_msg_cache cache;
};

/* hot path: no allocation, no locks, no I/O.
 * Parses one datagram's worth of bytes (or one framed stream message).  On
 * failure the message keeps whatever was indexed before the fault, so that
 * sip_msg_can_reply() can tell whether a 400 can be built. */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len);

/* The first error met on m ("bad Via", "Content-Length mismatch", "missing
 * Call-ID"), or NULL when none; and its code (0 when none). */
const char *sip_msg_error(const struct sip_msg *m);
int sip_msg_error_code(const struct sip_msg *m);

/* True for a request other than ACK whose top Via parses and whose From, To,
 * Call-ID and CSeq headers are present: the bytes a response copies
 * (RFC 3261 §8.2.6.2).  Works after a failed parse too. */
bool sip_msg_can_reply(struct sip_msg *m);

/* Checks what every proxy needs before acting (RFC 3261 §16.3 item 1): top
 * Via, From, To, Call-ID, CSeq (and its method), Max-Forwards when present. */
int sip_msg_validate(struct sip_msg *m);

static inline bool sip_msg_is_request(const struct sip_msg *m)
{
	return m->is_request;
}

static inline struct str sip_msg_body(const struct sip_msg *m)
{
	return m->body;
}

/* Header index: the first header with id, the next one after h with the same
 * id (NULL at the end); and lookup by name for unknown headers. */
const struct sip_hdr *sip_msg_hdr_first(const struct sip_msg *m, enum sip_hdr_id id);
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h);
const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, struct str name);
size_t sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id);

/* Iterates the comma-separated values of every header with one id, in order,
 * respecting quoted strings and <...> (RFC 3261 §7.3.1). */
struct sip_value_iter {
	const struct sip_msg *m;
	uint16_t hdr;
	size_t off;
};

void sip_value_iter_init(struct sip_value_iter *it, const struct sip_msg *m, enum sip_hdr_id id);
/* 0 with *value (and *hdr when not NULL), SIP_E_NOT_FOUND at the end. */
int sip_value_iter_next(struct sip_value_iter *it, struct str *value, const struct sip_hdr **hdr);

/* Lazy accessors: parse on first call, cache in m, return the cached result
 * after.  SIP_E_MISSING when the header is absent; errors are recorded in m. */
int sip_msg_ruri(struct sip_msg *m, struct sip_uri *out);
/* idx counts Via values across all Via headers, topmost first. */
int sip_msg_via(struct sip_msg *m, size_t idx, struct sip_via *out);
int sip_msg_from(struct sip_msg *m, struct sip_addr *out);
int sip_msg_to(struct sip_msg *m, struct sip_addr *out);
/* Contact, Route, Record-Route, Path ...: the idx-th value of id. */
int sip_msg_addr(struct sip_msg *m, enum sip_hdr_id id, size_t idx, struct sip_addr *out);
int sip_msg_cseq(struct sip_msg *m, struct sip_cseq *out);
int sip_msg_call_id(struct sip_msg *m, struct str *out);
/* 0..255 (RFC 3261 §20.22). */
int sip_msg_max_forwards(struct sip_msg *m, int *out);
/* Seconds, 0..2^32-1 (RFC 3261 §20.19). */
int sip_msg_expires(struct sip_msg *m, uint32_t *out);
/* type/subtype view, parameters left out. */
int sip_msg_content_type(struct sip_msg *m, struct str *type, struct str *params);
/* rfc1123-date in GMT (RFC 3261 §20.17) as UTC epoch milliseconds. */
int sip_msg_date(struct sip_msg *m, int64_t *wall_ms);


/* ----------------------------------------------------------------- proxy */

/*
 * The sip role: a stateful, record-routing proxy (RFC 3261 §16, §17) over
 * UDP, TCP and TLS with one worker thread per core (decision 0012).  Call policy
 * (who may call, where to, limits, CDRs) lives behind src/sip/policy.h.
 */
struct store;
struct ng_engine_set;
struct snapshot_loader;
struct snapshot;

#define SIP_PROXY_LISTEN_MAX 8

/* What a hop runs over (RFC 3261 §18): a received message's, a next hop's
 * (the Via's transport, a URI's transport parameter or sips:), a gateway's. */
enum sip_transport_kind { SIP_TRANSPORT_UDP, SIP_TRANSPORT_TCP, SIP_TRANSPORT_TLS };

/* Call limits shared by sip processes through Redis (decision 0046). */
struct sip_limits_opts {
	bool redis;		/* false: each process counts alone */
	const char *redis_url;	/* redis://[:password@]host[:port][/db] */
	int timeout_ms;		/* a round trip longer than this: fallback */
	int sync_ms;		/* how often the cluster view is refreshed */
	int64_t lease_ms;	/* a silent node's channels expire after this */
	int nodes;		/* expected sip processes: the fallback share */
};

/* How the call policy is configured: the proxy hands it over whole (one
 * struct, no field-by-field copies to keep in step). */
struct sip_policy_config {
	int setup_timeout_ms;	   /* per attempt default (the policy may override; 0: 8 s) */
	int max_attempts;	   /* per call default (0: 5) */
	int64_t dialog_ceiling_ms; /* a dialog never seeing a BYE is reaped (0: 4 h) */
	/* Flood and scanner protection: a source refused this many times within
	 * the window is ignored for ban_ms.  Memory is bounded. */
	int flood_refusals, flood_window_ms, flood_ban_ms;
	size_t flood_table_size;
	int probe_interval_ms; /* OPTIONS to gateways with probe on; 0: off */
	/* Digest nonces are accepted this long after they were issued; older
	 * ones get a new challenge with stale=true.  0: 5 minutes. */
	int64_t digest_nonce_ttl_ms;
	/* Challenges of realms with a SHA-256 HA1 also offer SHA-256 (RFC
	 * 8760) when digest_sha256, after MD5 unless digest_sha256_first;
	 * false: MD5 alone, as shipped (some clients fail on any SHA-256
	 * challenge, baresip 1.0; many answer only the first, SIPp 3.6).
	 * Either answer is verified (decisions 0048, 0053). */
	bool digest_sha256;
	bool digest_sha256_first;
	/* Heartbeat of the call journal (journal.c): answered calls of a
	 * process that stops are billed to its last one.  0: no journal. */
	int call_heartbeat_ms;
	/* [limits]: memory (per process) or redis (cluster-wide, decision 0046). */
	struct sip_limits_opts limits;
};

struct sip_proxy_opts {
	struct net_addr listen[SIP_PROXY_LISTEN_MAX]; /* each served on UDP and TCP */
	size_t nlisten;
	bool tcp;		/* also listen on TCP */
	unsigned threads;	/* workers; 0: one per CPU */
	int tcp_max_conns;	/* accepted and opened TCP connections, all workers */
	int tcp_idle_ms;	/* a TCP connection silent this long is closed */
	int udp_receive_buffer; /* SO_RCVBUF of each UDP socket, bytes; 0: the kernel's */
	struct sip_policy_config policy; /* handed to the call policy whole */
	/* The process's rating snapshot (billing_rating_build; NULL: none):
	 * prepaid authorization prices calls by it (decision 0037) and routes
	 * in lcr mode order their carriers by it (decision 0038). */
	struct snapshot *rating;
	/* Prepaid authorization: the talk time one reservation buys, how long
	 * the store may take to answer (then 503), its threads, how often
	 * expired reservations are swept, and the ledger's options. */
	int64_t prepaid_quantum_s;
	int64_t prepaid_timeout_ms;
	unsigned prepaid_threads;
	int64_t prepaid_sweep_ms;
	int64_t low_balance_threshold;
	struct store *store;
	struct snapshot_loader *loader;
	/* Media relay for trunks in media_mode relay: the ng engines (owned by
	 * the caller, outliving the proxy; NULL: every call in bypass), and
	 * how long an ng request may go unanswered (0: 1.5 s). */
	struct ng_engine_set *media_engines;
	int64_t media_timeout_ms;
	/* SIP over TLS (RFC 3261 §26.2), framed and limited like TCP: the
	 * listen addresses (none: no TLS listener), the server's certificate
	 * chain and key (PEM files, needed with a listener), the CA bundle
	 * gateways' certificates are verified with ("" or NULL: not verified),
	 * and whether clients must present a certificate that verifies. */
	struct net_addr tls_listen[SIP_PROXY_LISTEN_MAX];
	size_t ntls_listen;
	const char *tls_cert, *tls_key, *tls_ca;
	bool tls_verify_clients;
	/* The registrar (RFC 3261 §10.3): expiry bounds and the default for a
	 * contact that names none, in seconds (0: 60, 3600, 3600), and how
	 * many contacts one address of record may have (0: 10). */
	int64_t register_min_expires_s, register_max_expires_s, register_default_expires_s;
	int register_max_contacts;
	/* Keep-alive OPTIONS to the UDP bindings this node took, this often
	 * (0: none); a binding missing this many in a row is removed. */
	int64_t register_keepalive_ms;
	int register_keepalive_misses;
};

struct sip_proxy;

/* Binds every listen address (errors name it in err).  NULL on failure. */
struct sip_proxy *sip_proxy_new(const struct sip_proxy_opts *o, char *err, size_t errlen);
/* Starts the workers and the policy's prober. */
int sip_proxy_start(struct sip_proxy *p);
/* Stops the workers; calls still up are ended (CDRs written) first. */
void sip_proxy_stop(struct sip_proxy *p);
void sip_proxy_free(struct sip_proxy *p);
/* True while [limits] backend = redis cannot reach Redis: limits hold per
 * node's share only (for /readyz's "degraded"). */
bool sip_proxy_limits_degraded(struct sip_proxy *p);

#endif
