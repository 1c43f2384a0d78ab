/*
 * message.h — what the files of the HTTP send API share: a send request
 * (POST /api/v1/messages) as checked and encoded by message_input.c, ready
 * to be stored by messages_send.c as the rows of its parts, and the
 * readers of messages.c (decision 0027).
 */
#ifndef WARP_API_MESSAGE_H
#define WARP_API_MESSAGE_H

#include <stdint.h>

#include "api/api_private.h"
#include "smpp/smpp.h"

#define API_MSG_PARTS_MAX 10	/* more is 422 too_long */
#define API_MSG_TEXT_MAX 4096	/* UTF-8 octets of "text" */
#define API_MSG_BINARY_MAX 1400 /* octets of "binary", decoded (10 parts of 140) */
#define API_MSG_REF_MAX 64	/* client_ref */
#define API_MSG_URL_MAX 2048	/* callback_url */
#define API_MSG_ADDR_MAX 15	/* stored digits of E.164, or 11 alphanumerics */

/* One part as it goes upstream: the UDH (when the message has several
 * parts) and the user data, GSM text as one septet per octet. */
struct api_msg_part {
	uint8_t body[SMPP_SM_MAX];
	size_t len;
};

struct api_msg_in {
	char from[API_MSG_ADDR_MAX + 1], to[API_MSG_ADDR_MAX + 1]; /* as stored: no '+' */
	uint8_t from_ton, from_npi;
	uint8_t data_coding, esm_class;
	const char *encoding;		       /* "gsm7" | "latin1" | "ucs2" | "binary" (static) */
	int64_t expires_at;		       /* epoch ms */
	const char *client_ref, *callback_url; /* borrowed from the body; NULL when absent */
	struct api_msg_part parts[API_MSG_PARTS_MAX];
	size_t nparts;
};

/* Checks every member of a send request's body but customer_id (which needs
 * the store) and encodes it into m: the cheapest alphabet that carries the
 * text (GSM 03.38, else UCS-2: never a '?'), cut into parts with an 8-bit
 * reference UDH; expires_at from validity (seconds or RFC 3339), the
 * default or at most the maximum of [smsc].  0, or e filled and negative. */
int api_msg_parse(struct api_ctx *ctx, const json_t *body, int64_t now_ms, struct api_msg_in *m,
		  struct api_verr *e);

/* RFC 4648 §4 base64 with its padding, nothing else (no spaces, no URL
 * alphabet); -EINVAL when s is not that, -ENOSPC past cap. */
int api_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len);
/* An RFC 3339 §5.6 date-time as epoch ms; -EINVAL when s is not one. */
int api_rfc3339_parse(const char *s, int64_t *out);

/* The name of a data_coding as the API shows it: gsm7 (0), ia5 (1), latin1
 * (3), ucs2 (8), else binary. */
const char *api_msg_encoding(int64_t data_coding);

/* POST /api/v1/messages (messages_send.c).  The handler suspends the
 * request while its entry waits for the group commit (http_req_suspend)
 * and answers from the writer's done callback on its own thread. */
void api_messages_send(struct http_req *req, void *arg);
/* Starts the batching writer of sent messages and registers
 * warp_api_messages_total, and with a loader the send gate's snapshot;
 * 0 or a negative code.  Stop flushes and frees the writer: the answers of
 * what it commits then are handed to the HTTP loops (api_stop). */
int api_messages_start(struct api *a, struct snapshot_loader *loader);
void api_messages_stop(struct api *a);

/* send_prepaid.c: a prepaid customer's parts reserved in their own batch
 * group (decision 0038).  Appends to stmts (from *n) the statements that
 * reserve each part ids[i] at its price; pre holds what they point to and
 * pre->on says whether any were added.  0, -ENOENT (prepaid without a
 * price for m->to), -EINVAL. */
struct api_send_prepaid {
	bool on;
	struct billing_reserve_batch rb[API_MSG_PARTS_MAX];
};
#define API_SEND_PREPAID_STMTS (API_MSG_PARTS_MAX * BILLING_RESERVE_BATCH_STMTS)
int api_send_prepaid(struct api_ctx *ctx, const char *customer, const struct api_msg_in *m,
		     char (*ids)[ID_MAX], int64_t now, struct api_send_prepaid *pre,
		     struct store_batch_stmt *stmts, size_t *n);
/* Answers a refused prepaid send (422 no_rate, 402 insufficient_funds)
 * and says so; false for any other failure. */
bool api_send_prepaid_refused(struct api_ctx *ctx, int rc, bool prepaid);

/* send_tendlc.c: registers the 10DLC snapshot with loader (none without
 * one); 0 or -1 when its first build failed. */
int api_messages_start_tendlc(struct api *a, struct snapshot_loader *loader);
/* The 10DLC checks of a send by customer (decision 0041): 0, or e filled
 * (422 naming the rule) and negative. */
int api_send_tendlc_check(struct api *a, const char *customer, const json_t *body,
			  const struct api_msg_in *m, struct api_verr *e);

/* send_gate.c: the checks of a send against the customer statuses and
 * message routes as of the last config version, the store asked only for
 * what those do not know (its answers kept until their next version). */
#define API_SEND_MEMO_SLOTS 1024
/* Registers the snapshots (with a loader) and the lookups metric. */
int api_send_gate_register(struct api *a, struct snapshot_loader *l);
void api_send_gate_fini(struct api *a);
/* The snapshots one send's checks read, held while it checks. */
struct api_send_gate;
struct api_send_view {
	struct api *api;
	const struct api_send_gate *gate; /* customers; NULL: none */
	const void *routes;		  /* the smsc's message routes; NULL: none */
	int64_t gate_version, routes_version;
};
void api_send_view_acquire(struct api *a, struct api_send_view *v);
void api_send_view_release(struct api_send_view *v);
/* Whether the snapshot knows customer (active or not): no query needed. */
bool api_send_view_knows(const struct api_send_view *v, const char *customer);
/* *active: the customer exists and is active; <0 a store error. */
int api_send_view_customer(const struct api_send_view *v, struct store_conn *c,
			   const char *customer, bool *active);
/* *routed: a route of the customer or a global one serves to (digits). */
int api_send_view_routed(const struct api_send_view *v, struct store_conn *c, const char *customer,
			 const char *to, bool *routed);

#endif
