/*
 * th.h — private to src/sip/: topology hiding's pure half (th.c, decision
 * 0028): the state a hidden call keeps and the rewriting of the messages
 * each side sees.  No I/O and no worker state; th_call.c is the call glue
 * (call_private.h).
 */
#ifndef WARP_SIP_TH_H
#define WARP_SIP_TH_H

#include "sip/proxy_private.h"

/* th.c (pure) and th_call.c (the call glue): decision 0028. */
enum sip_th_side { SIP_TH_CALLER = 0, SIP_TH_CALLEE = 1 };
#define SIP_TH_VALUE_MAX 256
#define SIP_TH_KEY_LEN 32

/* What a side's request carried that only that side sees again, for the
 * responses going back to it: its Via lines (the top one given
 * received/rport) and its Record-Route lines. */
struct sip_th_up {
	struct buf vias, rrs;
};

/* A hidden call: the values each side knows, by side.  The eight strings
 * live at their real lengths (each < SIP_TH_VALUE_MAX) in one allocation,
 * vals, made again when one changes (sip_th_target, sip_th_set_contact):
 * a held call keeps a few hundred bytes, not eight fixed buffers. */
struct sip_th {
	struct sip_entry e; /* in w->th_calls by call_id[SIP_TH_CALLEE] */
	struct sip_call *call;
	const char *call_id[2];
	const char *from[2]; /* the first INVITE's From URI */
	const char *to[2];   /* and its To URI */
	/* Each side's Contact URI from its INVITE or 1xx ("" none): the
	 * Request-URI of requests to it in the early dialog (PRACK, UPDATE),
	 * before the dialog's own (dialog.c) exists. */
	const char *contact[2];
	char *vals;	/* owned: the eight strings above */
	char token[20]; /* our Contact's user part: "th-<token>" */
	uint32_t invite_cseq;
	/* The first INVITE's lines, for its responses; freed at its ACK. */
	struct sip_th_up caller_up;
	/* The last 2xx to an INVITE sent to each side, for its retransmissions
	 * (§13.3.1.4) once the transaction is gone, until that side's ACK for
	 * it passes (sip_th_acked); CSeq number in sent_cseq. */
	struct buf sent_2xx[2];
	uint32_t sent_cseq[2];
};

/* One message going to side toward: the Contact we show it (NULL: none),
 * and for a response our listen address facing it (its Record-Route). */
struct sip_th_view {
	const struct sip_th *th;
	enum sip_th_side toward;
	const char *contact;
	bool contact_done;
	const struct sip_listen *at;
	enum sip_transport_kind tp;
};

/* "wth<owner>-<hex>": HMAC-SHA256(key, cid) cut to 16 bytes. */
int sip_th_call_id(char *out, size_t n, const unsigned char key[SIP_TH_KEY_LEN], unsigned owner,
		   struct str cid);
/* True, with the worker it names, when cid has the shape of one of ours. */
bool sip_th_call_id_owner(struct str cid, unsigned *owner);
/* uri with host (and port) replaced by host, user kept; a tel: URI as it is. */
int sip_th_uri_mask(char *out, size_t n, struct str uri, const char *host);
/* "<sip:th-<token>@host:port>" for listen address l over tp. */
int sip_th_contact(char *out, size_t n, const struct sip_th *th, const struct sip_listen *l,
		   enum sip_transport_kind tp);
/* h as side v->toward sees it: 1 when written (From, To, Call-ID,
 * Contact), 0 when h is none of those, -ENOMEM. */
int sip_th_header(struct buf *out, const struct sip_hdr *h, struct sip_th_view *v);
int sip_th_up_init(struct sip_th_up *up, struct sip_msg *req, const struct sip_peer *src);
void sip_th_up_fini(struct sip_th_up *up);
/* resp (our Via on top, the only one) as the side it returns to sees it:
 * that side's Via lines from up; when resp has Record-Route, our entry
 * facing it (v->at) then its own from up. */
int sip_th_build_response(struct buf *out, struct sip_msg *resp, struct sip_th_view *v,
			  const struct sip_th_up *up);
/* m (a request of our own) with From, To, Call-ID and Contact rewritten. */
int sip_th_build_copy(struct buf *out, struct sip_msg *m, struct sip_th_view *v);
/* The Contact URI of m into out (n bytes), or "" when it has none. */
void sip_th_contact_of(char *out, size_t n, struct sip_msg *m);
/* From the caller's first INVITE (src: where it came from); owner: the
 * worker owning its Call-ID.  0, or -EINVAL (no From, To, Call-ID). */
int sip_th_init(struct sip_th *th, struct sip_msg *invite, const struct sip_peer *src,
		const unsigned char key[SIP_TH_KEY_LEN], unsigned owner);
/* The callee side's From and To URIs, with host (our address facing it). */
int sip_th_target(struct sip_th *th, const char *host);
/* Side's Contact URI is now contact.  0, or -ENOSPC / -ENOMEM (kept as it was). */
int sip_th_set_contact(struct sip_th *th, enum sip_th_side side, const char *contact);
/* An ACK from side with CSeq number cseq: the 2xx it acknowledges is no
 * longer resent, and the caller's first INVITE lines are let go. */
void sip_th_acked(struct sip_th *th, enum sip_th_side side, uint32_t cseq);
void sip_th_fini(struct sip_th *th);

#endif
