/*
 * call_private.h — private to src/sip/: a call and the files that carry it
 * (call.c the setup, dialog.c the established dialog, route.c forwarding,
 * th_call.c topology hiding, media*.c the relay's ng requests).  They sit
 * above the transactions (txn.h) and below proxy.c, which hands them
 * messages; see docs/ARCHITECTURE.md, "The SIP proxy core".
 */
#ifndef WARP_SIP_CALL_PRIVATE_H
#define WARP_SIP_CALL_PRIVATE_H

#include "sip/attempt.h"
#include "sip/th.h"
#include "sip/txn.h"

/* ---------------------------------------------------------------- calls */

struct sip_server_tx;
struct sip_client_tx;

enum sip_call_state { SIP_CALL_SETUP, SIP_CALL_UP, SIP_CALL_ENDING };

enum sip_media_wait {
	SIP_MEDIA_IDLE,
	SIP_MEDIA_OFFER,
	SIP_MEDIA_ANSWER,
	SIP_MEDIA_DELETE,
	SIP_MEDIA_REOFFER,     /* an in-dialog request's SDP */
	SIP_MEDIA_LATE_OFFER,  /* a late offer: the 2xx's SDP (RFC 3261 §13.2.1) */
	SIP_MEDIA_LATE_ANSWER, /* its answer, in the caller's ACK (or PRACK: RFC 3262) */
};

struct sip_media_tags {
	char from[128], to[128];
};

/* A call's media leg through an ng engine (media.c). */
struct sip_media {
	bool on;		      /* an offer went to the engine: delete at the end */
	enum sip_media_wait wait;     /* the ng request out, if any */
	uint64_t req;		      /* its id, for ng_client_cancel */
	struct sip_call *prev, *next; /* on w->media_waiting while wait != IDLE */
	/* The dialog's tags as the engine knows them; allocated with the
	 * offer (a call bypassing the relay has none). */
	struct sip_media_tags *tags;
	uint64_t answered, held_key; /* To tag and SDP answered, and the one held */
	struct buf answer;	     /* the callee's SDP as the engine rewrote it */
	struct buf held;	     /* a response (our Via on) awaiting its answer */
	struct sip_media_re *re;     /* a re-offer (or a late ACK) in progress, or NULL */
	bool late;		     /* INVITE without SDP: offer in the 2xx (or a reliable 1xx) */
	bool ack_callee;	     /* that ACK is the callee's (its re-INVITE had no SDP) */
	uint64_t acked;	    /* a late offer: the ACK's (PRACK's) From tag and SDP answered */
	struct buf ack_sdp; /* its SDP as the engine rewrote it, for retransmissions */
};

/* What an established dialog keeps to send BYEs of its own: the From and
 * To values with their tags, both Contacts, and the route sets towards
 * each side (from the 2xx's Record-Route, ours left out).  One allocation
 * holding the strings at their real lengths after the struct (dialog.c);
 * every field is "" when the answer had none. */
#define SIP_DIALOG_VALUE_MAX 512
struct sip_dialog_strs {
	const char *from, *to;
	const char *caller_contact, *callee_contact;
	const char *callee_route, *caller_route;
};

/* One INVITE-initiated call from the first INVITE to its CDR (proxy.c
 * runs the setup, dialog.c the established dialog). */
struct sip_call {
	struct sip_entry e; /* in w->calls by Call-ID */
	struct sip_worker *w;
	enum sip_call_state state;
	struct sip_call_plan plan;
	struct sip_cdr cdr;
	struct sip_server_tx *server_tx; /* the caller's INVITE, while unanswered */
	struct sip_client_tx *client_tx; /* the attempt in progress */
	struct sip_attempt_walk walk;	 /* targets tried, the best failure (attempt.h) */
	struct buf best;		 /* its bytes without our Via, to forward */
	bool cancelled;			 /* the caller cancelled */
	bool provisional;		 /* the attempt saw a 1xx */
	struct event *timer;		 /* setup (timer C), then maximum duration */
	struct event *reaper;		 /* dialog ceiling */
	struct sip_peer caller, callee;
	struct sip_dialog_strs *dlg; /* from the answer on; NULL before */
	uint32_t caller_cseq, callee_cseq;
	char to_tag[24]; /* ours, for responses we make */
	struct sip_media media;
	struct sip_th *th;	     /* topology hiding, or NULL (th_call.c) */
	struct sip_prepaid *prepaid; /* a prepaid customer's call, or NULL (prepaid.c) */
	struct sip_call *dead_next;  /* on w->dead once the CDR is durable */
	/* A forked setup's attempts (fork.c), or NULL. */
	struct sip_call_branch *branches;
	size_t nbranches;
};

/* One branch of a forked setup: its transaction and its CDR attempt. */
struct sip_call_branch {
	struct sip_client_tx *x;
	size_t attempt; /* index into cdr.attempts, SIZE_MAX: none */
};

/* fork.c: a setup forked to every target at once (plan.fork, §16.7) */
/* Sends the INVITE to every target; 0 when at least one branch is out. */
int sip_call_fork(struct sip_call *c, struct sip_msg *invite);
bool sip_call_is_branch(const struct sip_call *c, const struct sip_client_tx *x);
/* A final answer on x: true when x was a branch of c (then handled). */
bool sip_call_branch_final(struct sip_call *c, struct sip_client_tx *x, struct sip_msg *resp);
/* x will never answer (code 408 or 503): true when it was a branch of c. */
bool sip_call_branch_failed(struct sip_call *c, struct sip_client_tx *x, int code);
/* x is being freed. */
void sip_call_branch_gone(struct sip_call *c, struct sip_client_tx *x);
/* CANCEL every branch (or once it sends a provisional), their attempts
 * recorded as code (0: left as they are). */
void sip_call_branches_abandon(struct sip_call *c, int code);
/* The call ends: its branches let go without a CANCEL. */
void sip_call_branches_drop(struct sip_call *c);

/* call.c, for fork.c: one attempt's pieces */
void sip_call_arm(struct sip_call *c, int64_t ms);
void sip_client_tx_cancel(struct sip_client_tx *x);
void sip_client_tx_detach_peer(struct sip_client_tx *x);
int sip_call_forward(struct sip_call *c, const struct sip_target *t, struct sip_msg *m);
void sip_call_attempt_add(struct sip_call *c, const struct sip_target *t);
bool sip_call_target_limited(void *arg, size_t target);
/* After a failed attempt recorded as code: give up if cancelled, else on. */
void sip_call_attempt_next(struct sip_call *c, int code);
/* A 2xx answered the call (the attempt already let go of). */
void sip_call_answered(struct sip_call *c, struct sip_msg *resp);

/* dialog.c */
void sip_dialog_answered(struct sip_call *c, struct sip_msg *resp);
/* An in-dialog request (To tag present) from src: 0 handled, or -ENOENT. */
void sip_dialog_request(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src);
/* §12.2.1.2, §12.2.2: a target refresh (re-INVITE, UPDATE, or the 2xx to
 * one) with a Contact gives its sender (the caller, or not) a new remote
 * target.  A hidden call routes requests to that side by it (th_call.c),
 * so it is kept; an unhidden one keeps the first as before (only the
 * proxy's own BYEs use it). */
void sip_dialog_retarget(struct sip_call *c, struct sip_msg *m, bool caller);
/* Ends the call: CDR submitted, policy told, state freed after the CDR is durable. */
void sip_call_end(struct sip_call *c, int code, enum sip_hangup_side side);
/* Submits the CDR of a call that has ended (frees it once durable). */
void sip_call_cdr_write(struct sip_call *c);
/* The proxy's own BYE to both sides (maximum duration, reaper). */
void sip_dialog_bye_both(struct sip_call *c);

/* call.c: a call's setup, for proxy.c */
void sip_request_invite(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src);
void sip_request_cancel(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src);
/* The planned call goes on to its targets (hiding, media, first attempt);
 * invite: the caller's INVITE while its receive buffer lives, else NULL
 * (the kept bytes are indexed again). */
void sip_call_route(struct sip_call *c, struct sip_msg *invite);
/* Refuses the call in setup with code and a Reason of text, and ends it
 * (a CDR with that reason). */
void sip_call_refuse(struct sip_call *c, int code, const char *text);
/* A response matched our client transaction x. */
void sip_response_to_client_tx(struct sip_worker *w, struct sip_client_tx *x, struct sip_msg *resp);
/* Tries the plan's next target (or answers the caller the best failure);
 * invite: the caller's INVITE while its receive buffer lives, else NULL. */
void sip_call_try_next(struct sip_call *c, struct sip_msg *invite);
/* The attempt in progress failed with code (timer B: 408): the next target. */
void sip_call_attempt_failed(struct sip_call *c, int code);
/* Lets go of the attempt in progress (CANCEL now or at its first provisional). */
void sip_call_abandon(struct sip_call *c);
/* Answers the caller code (the best response kept, or our own) and ends the call. */
void sip_call_finish_setup(struct sip_call *c, int code, enum sip_hangup_side side);

/* route.c: where a request goes, and forwarding it (RFC 3261 §16.4-§16.6) */
/* How many Route values at the top name us (§16.4). */
size_t sip_route_count_ours(const struct sip_proxy *p, struct sip_msg *m);
/* The next hop of m once its drop Route values of ours are gone: its next
 * Route, else its Request-URI; 0, or -errno (names are not resolved). */
int sip_route_next_hop(struct sip_proxy *p, struct sip_msg *m, size_t drop, struct sip_peer *dst);
/* Forwards m statefully (through a client transaction peered with s) or,
 * s NULL, statelessly (an ACK) to dst; ruri: a new Request-URI or empty. */
int sip_proxy_send_request(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *src,
			   const struct sip_peer *dst, struct str ruri, size_t drop_routes,
			   struct sip_server_tx *server_tx);
/* Where a request of our own goes (§8.1.2): the first URI of route (a
 * "<uri>, <uri>" list) when there is one, else ruri; 0, or -errno when
 * neither names an address (names are not resolved on the packet path). */
int sip_proxy_next_hop(const struct sip_proxy *p, const char *route, const char *ruri,
		       struct sip_peer *out);
/* Forwards a response (our Via removed, rewritten for a hidden call) through s. */
void sip_response_forward(struct sip_server_tx *s, struct sip_msg *resp);
/* The hooks through which the transactions reach the calls (txn.h). */
extern const struct sip_txn_hooks sip_call_txn_hooks;
void sip_call_free(struct sip_call *c);
/* Frees the calls on w->dead (on w's thread, or anywhere once the pool has stopped). */
void sip_call_reap(struct sip_worker *w);

/* media.c: the relay's ng requests at the call's hook points */
/* The INVITE m opens c: 1 when media.c took the call over (an offer is out,
 * then sip_call_try_next; or the caller was refused), 0 to go on (bypass). */
int sip_media_invite(struct sip_call *c, struct sip_msg *m);
/* A 1xx or 2xx of the callee for c, to forward to the caller (an answer
 * first when it carries SDP the engine has not seen; to an INVITE without
 * SDP, the 2xx's SDP is an offer instead). */
void sip_media_response(struct sip_call *c, struct sip_msg *resp);
/* sip_build_strip_via for a 2xx retransmission of c: the rewritten SDP in
 * place of the callee's; -EAGAIN while the answer (or a late offer) is out
 * (drop it: the held one goes up with the engine's SDP). */
int sip_media_strip_via(struct sip_call *c, struct buf *out, struct sip_msg *m);
/* Teardown, widest first; each name says what goes and when:
 *   sip_media_worker_drain    the worker stops: calls waiting on the engine
 *                             finish as if it had not answered
 *   sip_media_worker_close    the worker's ng client freed (after the drain)
 *   sip_media_call_end        the call has ended: the relay's delete sent
 *   sip_media_call_free       the call's media buffers freed, with the call
 *   sip_media_re_end          the call ends during an in-dialog exchange:
 *                             the exchange's sender is answered
 *   sip_media_re_free         an in-dialog exchange is over: its state freed
 *   sip_media_waiting_remove  an ng reply came back (or was given up): the
 *                             call leaves the worker's waiting list
 * The worker's ng client, or none without an engine; 0 or -ENOMEM. */
int sip_media_worker_open(struct sip_worker *w);
void sip_media_worker_close(struct sip_worker *w);
/* Stopping: the calls waiting on the engine finish without it. */
void sip_media_worker_drain(struct sip_worker *w);
/* c has ended: 1 when a delete is out (its callback writes the CDR), 0
 * when the CDR is to be written now. */
int sip_media_call_end(struct sip_call *c);
/* The media state c owns (buffers, tags) freed; c itself is not. */
void sip_media_call_free(struct sip_call *c);
/* An in-dialog request m of c from src, bound for dst (drop: our Route
 * values): 1 when media.c took it (a re-offer through the engine, or an
 * ACK carrying a late offer's answer), 0 to forward it as it is. */
int sip_media_in_dialog(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
			const struct sip_peer *dst, size_t drop);
/* A response for server transaction s: true when media.c forwards it (s
 * carries a re-offer: the answer goes through the engine first). */
bool sip_media_in_dialog_response(struct sip_server_tx *s, struct sip_msg *resp);
/* s, carrying a re-offer, is going away. */
void sip_media_server_tx_gone(struct sip_server_tx *s);

/* ------------------------------------------------- topology hiding */

/* th_call.c */
/* The call a Call-ID names, either side's; *side says whose it is. */
struct sip_call *sip_call_find(struct sip_worker *w, struct str cid, enum sip_th_side *side);
/* c's trunk hides topology: the state for it, from the caller's INVITE. */
int sip_call_hide(struct sip_call *c, struct sip_msg *invite);
/* Out of the worker's table (the call is ending), then freed. */
void sip_call_unhide(struct sip_call *c);
void sip_call_th_free(struct sip_call *c);
/* A forwarded request m to dst: f->th and f->ruri set when its call hides
 * topology (view and contact: caller storage that outlives f).  0, or
 * -ENOSPC when it cannot be hidden (then it must not go). */
int sip_call_th_forward(struct sip_worker *w, struct sip_msg *m, const struct sip_peer *dst,
			struct sip_fwd *f, struct sip_th_view *view, char *contact, size_t n);
/* Where an in-dialog request of a hidden call goes to side toward: its
 * Contact through its route set, over the connection it came in on. */
void sip_call_th_next_hop(struct sip_call *c, enum sip_th_side toward, struct sip_peer *dst);
/* sip_build_strip_via for a response of call c (NULL: none) going up
 * through s (NULL: the first INVITE's, gone). */
int sip_call_strip_via(struct sip_call *c, struct sip_server_tx *s, struct buf *out,
		       struct sip_msg *resp);
/* A 2xx to INVITE without a transaction, from side: the copy last sent
 * to the other side again when it is the same CSeq. */
/* An ACK from side passes: the copies kept for the 2xx it acknowledges go. */
void sip_call_th_acked(struct sip_call *c, enum sip_th_side side, struct sip_msg *ack);
void sip_call_th_resend_2xx(struct sip_call *c, enum sip_th_side side, struct sip_msg *resp);
/* A request of our own (bytes, built as the caller sees the dialog) for
 * side toward of c, rewritten when c hides topology, sent to dst. */
void sip_call_send_own(struct sip_call *c, enum sip_th_side toward, struct str bytes,
		       struct str branch, const struct sip_peer *dst);

/* ------------------------------------ media, private to media*.c */

struct bencode_node;
struct ng_params;

/* An in-dialog offer/answer in progress (media_reoffer.c), or a late
 * offer's ACK (media_late.c: server_tx NULL) or PRACK waiting on the engine. */
struct sip_media_re {
	struct sip_server_tx
	    *server_tx;		  /* the request; its reoffer names the call (NULL: an ACK) */
	struct sip_peer src, dst; /* where it came from, where it goes once rewritten */
	size_t drop;		  /* Route values of ours at its top */
	char from[128], to[128];  /* the sender's tag, the other party's */
	bool late;		  /* a re-INVITE without SDP: its 2xx offers, the ACK answers */
};

/* media.c: what the offers and answers share */
bool sip_media_has_sdp(struct sip_msg *m);
/* m's bytes into out with body in place of its own, Content-Length to match. */
int sip_media_rebody(struct buf *out, const struct sip_msg *m, struct str body);
/* The key under which a rewritten SDP is kept: a To (or From) tag and the SDP. */
uint64_t sip_media_key(struct str tag, struct str sdp);
/* c's ng request has come back (or is abandoned): off the worker's list. */
void sip_media_waiting_remove(struct sip_call *c);
/* An offer or answer (build) of q's SDP from the party at from, for c; the
 * reply comes to cb, c waiting as what.  0 or -errno. */
int sip_media_sdp_send(struct sip_call *c, struct ng_params *q, const struct net_addr *from,
		       int (*build)(struct buf *, const struct ng_params *),
		       void (*cb)(void *, int, const struct bencode_node *, struct str),
		       enum sip_media_wait what);
/* The engine's SDP from an offer's or answer's reply; else -1, why in why. */
int sip_media_reply_sdp(int status, const struct bencode_node *reply, struct str *sdp, char *why,
			size_t n);
/* The request kept in s takes sdp as its body (what is forwarded). */
int sip_media_rebody_server_tx(struct sip_server_tx *s, struct str sdp);
/* bytes (a response, our Via on top) go up s; when s is over, a 2xx goes
 * statelessly to up, if given. */
void sip_media_forward_bytes(struct sip_call *c, struct sip_server_tx *s, const struct sip_peer *up,
			     struct str bytes);
/* resp goes up (as above) with sdp in place of its own. */
void sip_media_forward_sdp(struct sip_call *c, struct sip_server_tx *s, const struct sip_peer *up,
			   struct sip_msg *resp, struct str sdp);
/* resp goes up (as above) with media.answer in place of its SDP. */
void sip_media_forward_rewritten(struct sip_call *c, struct sip_server_tx *s,
				 const struct sip_peer *up, struct sip_msg *resp);
/* An answer with resp's SDP from the party at from (tag to_tag) to the
 * offerer (from_tag); resp is held until the reply.  0 or -errno. */
int sip_media_answer_send(struct sip_call *c, struct sip_msg *resp, struct str from_tag,
			  struct str to_tag, const struct net_addr *from);

/* media_late.c: an INVITE without SDP */
/* The first 2xx with SDP (To tag to_tag) to it: the offer goes out. */
void sip_media_late_offer(struct sip_call *c, struct sip_msg *resp, struct str to_tag);
/* A late offer of the 2xx resp's SDP (To tag to_tag; tags and flags in q)
 * from the party at from: resp is held until the reply, or goes up
 * unchanged when the offer cannot be sent (a re-INVITE's: media.re). */
void sip_media_late_offer_send(struct sip_call *c, struct sip_msg *resp, struct str to_tag,
			       struct ng_params *q, const struct net_addr *from);
/* The reply to a late offer, the first one or a re-INVITE's (media.re). */
void sip_media_late_offer_done(void *arg, int status, const struct bencode_node *reply,
			       struct str raw);
/* An ACK m from src to dst: 1 when it carries the late offer's answer
 * (then forwarded from here), else 0. */
int sip_media_late_ack(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
		       const struct sip_peer *dst, size_t drop);
/* The answer in m (an ACK, or a PRACK waiting in s) to the late offer goes
 * to the engine; m is held and forwarded once it replies.  0 or -errno
 * (then nothing is held: forward m as it is). */
int sip_media_late_answer_send(struct sip_call *c, struct sip_msg *m, struct sip_server_tx *s,
			       const struct sip_peer *src, const struct sip_peer *dst, size_t drop);
void sip_media_late_answer_done(void *arg, int status, const struct bencode_node *reply,
				struct str raw);

/* media_early.c: offer/answer in the early dialog (RFC 3262, RFC 3311) */
/* A provisional response sent reliably (Require: 100rel, RSeq). */
bool sip_media_reliable(const struct sip_msg *m);
/* The PRACK m answering a reliable 1xx's late offer: 1 when taken (the
 * answer at the engine, m waiting in a server transaction), else 0. */
int sip_media_early_prack(struct sip_call *c, struct sip_msg *m, const struct sip_peer *src,
			  const struct sip_peer *dst, size_t drop);
/* m may carry an offer in c's dialog: confirmed, or an UPDATE in the early one. */
bool sip_media_dialog_open(const struct sip_call *c, const struct sip_msg *m);
/* The first offer/answer is complete (always, once the call is up). */
bool sip_media_early_settled(const struct sip_call *c);

/* media_reoffer.c: offer/answer inside the dialog */
/* The exchange in progress is over: media.re freed, its transaction let go. */
void sip_media_re_free(struct sip_call *c);
/* c ends with an exchange in progress, its ng request (if any) cancelled. */
void sip_media_re_end(struct sip_call *c);
void sip_media_reoffer_done(void *arg, int status, const struct bencode_node *reply,
			    struct str raw);

#endif
