/*
 * core.h — the public face of WARP's core library.
 *
 * Everything every role needs and nothing role-specific: string views and
 * growable buffers, time, random ids, IPv4/IPv6 addresses and CIDR matching,
 * logging with a per-thread context id, INI configuration with environment
 * overrides, a metrics registry rendered as Prometheus text, per-thread
 * libevent loops, and the TLS contexts and bufferevents of TLS roles.
 * core/ depends on nothing else of ours.
 *
 * Conventions: functions return 0 on success and a negative errno-style code
 * on failure unless they say otherwise; `*_new` pairs with `*_free`,
 * `*_init` with `*_fini`.
 */
#ifndef WARP_CORE_H
#define WARP_CORE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct event_base;

/* ------------------------------------------------------------------ str */

/* A view into someone else's bytes: never owns, never NUL-terminated. */
struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })
#define STR_NULL ((struct str){ NULL, 0 })
/* printf("%.*s", STR_FMT(s)) */
#define STR_FMT(s) (int)(s).len, (s).p

struct str str_from_cstr(const char *s);
bool str_eq(struct str a, struct str b);
bool str_eq_cstr(struct str a, const char *b);
bool str_caseeq(struct str a, struct str b);
bool str_caseeq_cstr(struct str a, const char *b);
bool str_has_prefix(struct str s, struct str prefix);
/* Trims spaces and tabs (not CR/LF) from both ends. */
struct str str_trim(struct str s);
/* Index of the first c in s, or -1. */
ptrdiff_t str_index(struct str s, char c);
/* Decimal integer, optional leading '-', whole view, range-checked. */
int str_to_i64(struct str s, int64_t *out);
int str_to_u64(struct str s, uint64_t *out);
/* Room for any int64_t in decimal with its sign and a NUL. */
#define STR_I64_MAX 21
/* n in decimal, written into out (NUL-terminated) without snprintf; the
 * view points into out. */
struct str str_from_i64(int64_t n, char out[STR_I64_MAX]);
/* Heap copy with a terminating NUL; caller frees; NULL on allocation failure. */
char *str_dup(struct str s);
/* Bounded copy into dst of size n, always NUL-terminated; -ENOSPC if cut. */
int str_copy(char *dst, size_t n, struct str s);

/* Copies url (or a key=value conninfo string) into out of size n with its
 * secrets masked as "***": a userinfo password (scheme://user:***@host) and
 * every password= parameter.  Always NUL-terminated; returns out, so it can
 * be an argument of a log call.  Use it wherever a URL is logged or shown. */
#define URL_REDACT_MAX 4096
const char *url_redact(const char *url, char *out, size_t n);

/* ------------------------------------------------------------------ buf */

/* A growable byte buffer.  p is always NUL-terminated when cap > 0. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, struct str s);
int buf_append_cstr(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends s as the inside of a JSON string (quotes not included). */
int buf_append_json_escaped(struct buf *b, struct str s);
/* Hands the heap block to the caller (NUL-terminated, possibly NULL when
 * empty) and leaves b empty. */
char *buf_steal(struct buf *b);

/* ----------------------------------------------------------------- time */

/* Monotonic clock, for durations and timers. */
int64_t time_mono_ms(void);
int64_t time_mono_us(void);
/* Wall clock, UTC epoch milliseconds: what the store records. */
int64_t time_wall_ms(void);
/* RFC 3339 UTC with milliseconds, "2026-11-25T07:25:14.123Z"; out >= 25 bytes. */
int time_format_rfc3339(int64_t wall_ms, char *out, size_t n);

/* ----------------------------------------------------------------- stop */

/*
 * How a background thread that works in passes (the BigQuery exporter, the
 * NetSuite sender) is told to stop: it sleeps between passes in
 * stop_signal_sleep, which stop_signal_raise ends at once, and checks
 * stop_signal_raised between steps of a pass.  Caller-owned storage.
 */
struct stop_signal {
	pthread_mutex_t lock; /* with wake: only for the sleep */
	pthread_cond_t wake;
	atomic_bool stop;
};
void stop_signal_init(struct stop_signal *s);
void stop_signal_fini(struct stop_signal *s);
void stop_signal_raise(struct stop_signal *s);
bool stop_signal_raised(struct stop_signal *s);
/* Sleeps up to ms unless raised; false once raised. */
bool stop_signal_sleep(struct stop_signal *s, int64_t ms);

/* ------------------------------------------------------------------- id */

/* "<prefix>_" followed by 26 lowercase base32 characters (128 random bits).
 * Prefixes are short lowercase words: "cus", "trk", "car", "gw", ... */
#define ID_RANDOM_CHARS 26
#define ID_MAX 48

/* Fills buf with n random bytes from getrandom(2). */
int random_bytes(void *buf, size_t n);
/* out must hold at least ID_MAX bytes. */
int id_new(const char *prefix, char *out, size_t n);
/* True when s is a well-formed id with this prefix (any prefix when NULL). */
bool id_valid(struct str s, const char *prefix);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const void *data, size_t n, char *out);

/* ------------------------------------------------------------- passhash */

/* Slow password hashes for secrets a client sends in clear over its own
 * session (SMPP bind passwords): PBKDF2-HMAC-SHA256 with a random 16-byte
 * salt, stored as "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>".
 * Verification takes about as long as hashing (tens of milliseconds), so
 * callers keep it off event loops that serve other clients. */
#define PASSHASH_ITERATIONS 100000
#define PASSHASH_MAX 160

/* Hashes pw into out (PASSHASH_MAX bytes); iterations 0 means the default. */
int passhash_make(struct str pw, unsigned iterations, char *out, size_t n);
/* 1 when pw matches stored, 0 when not, -EINVAL for a stored text that is
 * not a hash this function writes. Compares in constant time. */
int passhash_verify(struct str pw, const char *stored);

/* ------------------------------------------------------------------ net */

/* A socket address of either family with its length. */
struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

#define NET_ADDR_STRLEN 64 /* "[v6]:port" with room to spare */

/* Parses "1.2.3.4", "1.2.3.4:5060", "::1", "[::1]:5060", "*:8080" (any v4).
 * default_port is used when none is given; a hostname is refused (-EINVAL). */
int net_addr_parse(struct str s, uint16_t default_port, struct net_addr *out);
/* "1.2.3.4:5060" or "[::1]:5060". */
int net_addr_format(const struct net_addr *a, char *out, size_t n);
/* Address only, without the port. */
int net_addr_format_ip(const struct net_addr *a, char *out, size_t n);
uint16_t net_addr_port(const struct net_addr *a);
int net_addr_family(const struct net_addr *a);
bool net_addr_equal(const struct net_addr *a, const struct net_addr *b);
int net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct net_addr *out);
/* Turns Nagle's algorithm off on a TCP socket: request/response protocols
 * (SMPP) write small PDUs, and with Nagle on the next one waits for the
 * peer's delayed ACK (~40 ms on Linux) whenever an earlier write is not yet
 * acknowledged.  0, or -errno. */
int net_tcp_nodelay(int fd);

/* An IPv4 or IPv6 network.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * matches IPv4 networks, since dual-stack sockets report IPv4 peers so. */
struct net_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix_len;
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
 * Host bits set below the prefix are refused (-EINVAL). */
int net_cidr_parse(struct str s, struct net_cidr *out);
int net_cidr_format(const struct net_cidr *c, char *out, size_t n);
bool net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa);
bool net_cidr_match_addr(const struct net_cidr *c, const struct net_addr *a);

/* A non-blocking listening (SOCK_STREAM) or bound (SOCK_DGRAM) socket with
 * SO_REUSEADDR (stream sockets only: on datagram sockets it would let two
 * sockets share a port silently), and SO_REUSEPORT when reuseport is true:
 * then the process first takes net_listen_lock for the address, so that
 * a second process asking for it gets -EADDRINUSE as without SO_REUSEPORT.
 * An IPv6 socket is dual-stack (IPV6_V6ONLY off).  Returns the fd or
 * a negative errno (-EADDRINUSE for a port in use). */
int net_socket_bind(const struct net_addr *a, int type, bool reuseport);
/* Takes this process's lock on a listen address (port 0 needs none):
 * 0 when held (now or before), -EADDRINUSE when another process holds it.
 * Held until the process exits. */
int net_listen_lock(const struct net_addr *a, int type);

/* ------------------------------------------------------------------ tls */

/* OpenSSL's SSL and SSL_CTX, and libevent's, without their headers. */
struct ssl_st;
struct ssl_ctx_st;
struct bufferevent;
struct event_base;

/* The oldest OpenSSL error queued, as text in buf; the queue is cleared. */
const char *tls_error(char *buf, size_t n);
/* A server or client context that speaks TLS 1.2 and later only; NULL when
 * OpenSSL cannot make one. */
struct ssl_ctx_st *tls_ctx_new(bool server);
/* Loads a PEM certificate chain and its private key into ctx; -1 with err
 * naming the configuration key and the file that failed ("tls_cert /x: ..."). */
int tls_ctx_use_pair(struct ssl_ctx_st *ctx, const char *cert_key, const char *cert,
		     const char *key_key, const char *key, char *err, size_t errlen);
/* The identity a client checks in the server's certificate: host is a DNS
 * name (also sent as SNI) or an address literal, "[v6]" allowed; empty
 * checks the chain alone.  0, or -1 when OpenSSL refuses it. */
int tls_identity_set(struct ssl_st *ssl, struct str host);
/* Why the handshake (or the TLS stream) of bev failed, as text in buf: the
 * OpenSSL error, with the verification result when the peer's certificate
 * was refused.  false when TLS reported nothing (the socket failed). */
bool tls_failure(struct bufferevent *bev, char *buf, size_t n);
/* A bufferevent running TLS over fd (accepting) or over a socket it will
 * connect (fd -1, connecting), freeing ssl and fd with it; the handshake
 * runs on base's loop and BEV_EVENT_CONNECTED says it completed.  NULL
 * (ssl freed, fd not closed) on failure. */
struct bufferevent *tls_bev_new(struct event_base *base, int fd, struct ssl_st *ssl);

/* ------------------------------------------------------------------ log */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Process-wide settings; call before threads start.  out defaults to stderr. */
void log_setup(enum log_level level, enum log_format format, FILE *out);
int log_level_parse(struct str s, enum log_level *out);
int log_format_parse(struct str s, enum log_format *out);
bool log_enabled(enum log_level level);

/* The calling thread's context id (request id, Call-ID, ...), printed on
 * every line it logs until changed; NULL clears it.  The string is copied. */
void log_context_set(const char *ctx);
const char *log_context_get(void);

/* One line: time, level, component, context, message.  In JSON format the
 * line is {"ts":"…","level":"info","component":"http","ctx":"…","msg":"…"}.
 * Lines from different threads never interleave. */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap);

#define log_debug(component, ...) log_msg(LOG_DEBUG, component, __VA_ARGS__)
#define log_info(component, ...) log_msg(LOG_INFO, component, __VA_ARGS__)
#define log_warn(component, ...) log_msg(LOG_WARN, component, __VA_ARGS__)
#define log_error(component, ...) log_msg(LOG_ERROR, component, __VA_ARGS__)

/* --------------------------------------------------------------- config */

/*
 * Configuration is an INI file checked against a schema: every section and
 * key the program knows is declared once with its type, default and a line
 * of documentation.  A key may be overridden by the environment variable
 * WARP_<SECTION>_<KEY> (upper case, '.' and '-' become '_').  Unknown keys,
 * unknown sections and bad values are errors that name file, line and key.
 *
 * A schema section ending in ".*" ("route.*") declares a family of named
 * sections ([route.billing], [route.crm]); config_sections() lists them.
 */
enum config_type {
	CONFIG_STR,
	CONFIG_INT,      /* int64, within [min, max] */
	CONFIG_BOOL,     /* true/false, yes/no, on/off, 1/0 */
	CONFIG_ENUM,     /* one of choices, "a|b|c" */
	CONFIG_ADDR,     /* host:port as net_addr_parse accepts */
	CONFIG_DURATION, /* "250ms", "5s", "2m", "1h"; stored as milliseconds */
};

struct config_key {
	const char *section;
	const char *key;
	enum config_type type;
	const char *def;     /* default as text; NULL means "required" */
	int64_t min, max;    /* CONFIG_INT and CONFIG_DURATION bounds (0,0 = none) */
	const char *choices; /* CONFIG_ENUM */
	const char *doc;
};

struct config;

#define CONFIG_ERR_MAX 512

/* Loads path (NULL: defaults and environment only).  On failure returns
 * NULL and writes "FILE:LINE: [section] key: reason" into err. */
struct config *config_load(const char *path, const struct config_key *schema, size_t nkeys,
			   char *err, size_t errlen);
void config_free(struct config *c);

/* Typed getters.  Asking for a key the schema does not declare aborts: it is
 * a programming error, not a user's. */
const char *config_str(const struct config *c, const char *section, const char *key);
int64_t config_int(const struct config *c, const char *section, const char *key);
bool config_bool(const struct config *c, const char *section, const char *key);
int64_t config_duration_ms(const struct config *c, const char *section, const char *key);
const struct net_addr *config_addr(const struct config *c, const char *section, const char *key);
/* Where the value came from: "default", "FILE:LINE" or "env WARP_X_Y". */
const char *config_origin(const struct config *c, const char *section, const char *key);
/* Names of the instances of a ".*" family, e.g. "billing" for [route.billing]. */
size_t config_sections(const struct config *c, const char *family, const char **names, size_t max);
/* Writes the schema as an annotated INI file (what etc/warp.ini documents). */
int config_schema_write(const struct config_key *schema, size_t nkeys, FILE *out);

/* -------------------------------------------------------------- metrics */

/*
 * A registry of metric families, each with fixed label names; a child per
 * combination of label values is created on first use and kept.  Updating a
 * child is a relaxed atomic operation: safe on hot paths once the child
 * pointer is held.  Rendering follows the Prometheus text format 0.0.4.
 */
enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric_family;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* The process-wide registry /metrics renders. */
struct metrics *metrics_default(void);

/* labels: comma-separated label names ("method,code") or NULL.  Registering
 * the same name twice returns the existing family when type and labels agree,
 * NULL otherwise. */
struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
				      const char *labels);
struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
				    const char *labels);
/* bounds: ascending upper bounds, +Inf implied. */
struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
					const char *labels, const double *bounds, size_t nbounds);
/* A gauge read at render time, for values another module already keeps. */
int metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
		     int64_t (*read)(void *arg), void *arg);

/* The child for these label values (exactly as many as the family has
 * labels).  Values are copied.  NULL only on allocation failure. */
struct metric *metric_get(struct metric_family *f, ...);
struct metric *metric_getv(struct metric_family *f, const char *const *values, size_t n);

void metric_inc(struct metric *m);
void metric_add(struct metric *m, int64_t delta); /* counters: delta >= 0 */
void metric_set(struct metric *m, int64_t value); /* gauges */
void metric_observe(struct metric *m, double value); /* histograms */
int64_t metric_value(const struct metric *m);     /* counters and gauges */
/* A child of an object that is gone (a deleted gateway) leaves /metrics:
 * hidden, it is not rendered but stays allocated, so a pointer another
 * thread still holds stays valid and its updates are harmless.  Shown
 * again by metric_hide(m, false); a new child starts shown. */
void metric_hide(struct metric *m, bool hidden);
/* Hides every child of f whose label values keep refuses (the objects gone
 * from the store), as metric_hide does; keep runs under the registry lock. */
void metrics_family_hide_unless(struct metric_family *f,
				bool (*keep)(const char *const *values, void *arg), void *arg);

int metrics_render(struct metrics *m, struct buf *out);

/* ---------------------------------------------------------------- redis */

/* Where a Redis is, from redis://[:password@]host[:port][/db], and a
 * blocking hiredis connection to it with timeouts (redis.c).  Shared by the
 * gateway's rate limits (auth) and the sip role's cluster limits. */
#define REDIS_HOST_MAX 256
struct redisContext;
struct redis_target {
	char host[REDIS_HOST_MAX];
	int port, db;
	char *password; /* owned; NULL: none */
};

/* 0, or -EINVAL (t then holds nothing to free beyond redis_target_fini). */
int redis_target_parse(struct redis_target *t, const char *url);
void redis_target_fini(struct redis_target *t);
/* Connects within timeout_ms, with that timeout on every later read and
 * write, then AUTH and SELECT as the URL says.  NULL when any step fails. */
struct redisContext *redis_target_connect(const struct redis_target *t, int timeout_ms);

/* ----------------------------------------------------------------- loop */

/*
 * Event loops.  Each worker thread owns one libevent base and everything
 * registered on it; other threads talk to it only through loop_pool_call.
 * The main thread runs a base of its own that handles signals: SIGTERM and
 * SIGINT stop the process cleanly, SIGHUP asks for a reload.
 */
struct loop_pool;

/* Makes libevent thread-aware; call once before creating any base. */
int loop_global_init(void);

struct loop_pool *loop_pool_new(unsigned nthreads, const char *name);
unsigned loop_pool_size(const struct loop_pool *p);
struct event_base *loop_pool_base(struct loop_pool *p, unsigned i);
/* Starts the threads; each runs its base until loop_pool_stop. */
int loop_pool_start(struct loop_pool *p);
/* Runs fn(arg) on thread i's loop, from any thread. */
int loop_pool_call(struct loop_pool *p, unsigned i, void (*fn)(void *arg), void *arg);
/* A call handed to a loop in storage the caller owns, so that handing it
 * over cannot fail (loop_pool_call allocates): set fn and arg, post it, and
 * leave it alone until fn runs; fn may free it. */
struct loop_task {
	struct loop_task *next; /* the loop's */
	void (*fn)(void *arg);
	void *arg;
};
/* Runs t->fn(t->arg) on thread i's loop, from any thread; i must be below
 * loop_pool_size. */
void loop_pool_post(struct loop_pool *p, unsigned i, struct loop_task *t);
/* After loop_pool_stop: runs the calls and tasks handed to the loops since
 * they stopped, on the calling thread (the workers are gone), until none
 * is left; so work finishing during shutdown (a commit whose answer is
 * handed back to an HTTP worker) is not lost.  Call before anything of the
 * loops' bases is freed. */
void loop_pool_drain(struct loop_pool *p);
/* Runs fn(arg) on thread i's loop and waits until it has returned; calls
 * queued before it run first.  Never from thread i itself. */
int loop_pool_call_wait(struct loop_pool *p, unsigned i, void (*fn)(void *arg), void *arg);
/* Asks every loop to exit and joins the threads. */
void loop_pool_stop(struct loop_pool *p);
void loop_pool_free(struct loop_pool *p);

/* The number of worker threads to use when configuration says 0: online CPUs. */
unsigned loop_default_threads(void);

struct loop_main_hooks {
	void (*on_reload)(void *arg); /* SIGHUP */
	void (*on_stop)(void *arg);   /* SIGTERM/SIGINT, before the loop exits */
	void *arg;
};

/* Holds SIGTERM, SIGINT and SIGHUP on the calling thread (and threads it
 * creates after) until loop_main_run installs its handlers; call first
 * thing in main so that a signal during start-up is not fatal. */
int loop_main_block_signals(void);
/* Runs base on the calling thread until SIGTERM or SIGINT.  Returns 0 after a
 * clean stop. */
int loop_main_run(struct event_base *base, const struct loop_main_hooks *hooks);
/* Makes loop_main_run return, from any thread. */
void loop_main_stop(struct event_base *base);

#endif
