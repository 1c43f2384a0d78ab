/*
 * webhook_dispatch.h — private to the api module: the pieces of the webhook
 * dispatcher (webhook_dispatch.c) that are pure functions, exposed so that the unit
 * tests can check them against independent computations, the options the
 * dispatcher runs with (warp reads them from [webhooks]), and the steps of
 * its round kept in files of their own (fanout.c, retention.c).
 */
#ifndef WARP_API_DISPATCH_H
#define WARP_API_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"

struct api_webhook_dispatch_opts {
	struct store *store;
	int64_t poll_ms;	 /* how often new events and due retries are looked for */
	int64_t timeout_ms;	 /* one delivery, connect included */
	int64_t max_attempts;	 /* then the delivery is marked failed */
	int64_t backoff_base_ms; /* the delay after the first failed attempt */
	int64_t backoff_max_ms;	 /* the longest delay */
	int64_t concurrency;	 /* deliveries in flight at once, to different webhooks */
	bool allow_private;	 /* false: never connect to a non-public address */
	/* Message events this much older than now, and their deliveries, are
	 * deleted once no delivery of theirs is pending (retention.c). */
	int64_t message_retention_ms;
};

/* The defaults [webhooks] documents. */
void api_webhook_dispatch_opts_init(struct api_webhook_dispatch_opts *o);
/* Starts the dispatcher thread with these options. */
struct api_webhook_dispatch *api_webhook_dispatch_start_opts(const struct api_webhook_dispatch_opts *o, char *err,
					     size_t errlen);

/* "t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>" — the Warp-Signature
 * header value.  out needs API_DISPATCH_SIG_MAX bytes. */
#define API_DISPATCH_SIG_MAX 96
int api_webhook_dispatch_sign(struct str secret, int64_t ts, struct str body, char *out, size_t n);

/* The delay before the next attempt after the n-th failed one (n >= 1):
 * min(max, base * 2^(n-1)), less a jitter of up to a quarter taken from r,
 * so retries after an outage spread out but the schedule still grows. */
int64_t api_webhook_dispatch_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t n, uint32_t r);

/* True when type ("trunk.created") matches one of the patterns of a
 * webhook's event_types JSON list: "*" (all), "trunk.*" (a prefix up to the
 * dot) or the exact type.  Malformed lists match nothing. */
bool api_webhook_dispatch_type_matches(const char *event_types_json, const char *type);

/* --------------------------------------------- fan-out (fanout.c) */

/* The two streams of the outbox: provisioning events (events, seq = the
 * config version) and message events (message_events, seq given by the
 * fan-out). */
enum api_fanout_stream { API_STREAM_CONFIG, API_STREAM_MESSAGE };

#define API_FANOUT_BATCH 256

/* Fans one batch of a stream's new events out in one transaction: their
 * webhook_deliveries and, for a message.status event of a message sent with
 * a callback_url, its message_callbacks row.  Returns how many events were
 * read (API_FANOUT_BATCH: there may be more) or a negative store error. */
int api_fanout_run(struct store_conn *c, enum api_fanout_stream stream);

/* ---------------------------------------- retention (retention.c) */

#define API_RETENTION_BATCH 500

/* Deletes, in one transaction, up to batch message events created before
 * before_ms that were fanned out and have no pending delivery (to a webhook
 * or a callback URL), with all their deliveries.  Returns how many events
 * were deleted or a negative store error. */
int api_retention_prune(struct store_conn *c, int64_t before_ms, int batch);

/* ------------------------------- which hosts a webhook may reach */

struct sockaddr;

/* True when sa is not a public unicast internet address (loopback, private,
 * link-local, unique-local, multicast, unspecified, reserved, or an IPv4
 * one of these inside IPv6) — webhook_target.c lists the ranges. */
bool api_webhook_addr_private(const struct sockaddr *sa);

/* Parses url as curl will and, unless allow_private, refuses a host that is
 * a literal non-public address: 0, -EINVAL (not a URL with a host) or
 * -EACCES (non-public), with the reason in why. */
int api_webhook_url_check(const char *url, bool allow_private, char *why, size_t n);

#endif
