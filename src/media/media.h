/*
 * media.h — the public face of WARP's media module (the RTP relay).
 *
 * For now it holds the SDP layer the relay is built on:
 *
 *   - sdp_parse indexes an SDP body (RFC 8866, which obsoletes RFC 4566)
 *     into views: nothing is copied, so the body must outlive the session
 *     struct.  Limits are fixed (SDP_MEDIA_MAX, SDP_ATTR_MAX, ...) and going
 *     past them is an error, not a truncation.
 *   - sdp_rewrite produces a new body into a struct buf from a list of edits
 *     (addresses, ports, rtcp, rtcp-mux, ICE, codecs, extra attributes)
 *     applied in one pass over the original lines; every line no edit
 *     touches is copied byte for byte, in order, with its own line ending.
 *
 * struct sdp_session is large (about 40 KB): keep one per worker or
 * allocate it, rather than putting it on a small thread stack.
 */
#ifndef WARP_MEDIA_H
#define WARP_MEDIA_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ sdp */

#define SDP_MEDIA_MAX 16       /* m= sections */
#define SDP_ATTR_MAX 64	       /* a= lines in one section (session or media) */
#define SDP_ATTR_TOTAL_MAX 256 /* a= lines in the whole body */
#define SDP_FMT_MAX 32	       /* formats on one m= line */
#define SDP_BW_MAX 4	       /* b= lines in one section */

enum sdp_err {
	SDP_ERR_EMPTY = -1,   /* no body */
	SDP_ERR_LINE = -2,    /* a line that is not "<letter>=<value>", or bad bytes */
	SDP_ERR_VERSION = -3, /* first line is not "v=0" */
	SDP_ERR_ORIGIN = -4,  /* o= missing, repeated or not six fields */
	SDP_ERR_SESSION = -5, /* s= missing or repeated, or a session line among media */
	SDP_ERR_CONN = -6,    /* c= not "nettype addrtype address", or repeated */
	SDP_ERR_MEDIA = -7,   /* m= malformed (fields, proto, no formats) */
	SDP_ERR_PORT = -8,    /* m= or a=rtcp port not a number in 0..65535 */
	SDP_ERR_ATTR = -9,    /* a known attribute with a malformed value */
	SDP_ERR_LIMIT = -10,  /* more media, attributes, formats or b= than allowed */
	SDP_ERR_EDIT = -11,   /* an edit with bad arguments */
	SDP_ERR_CODEC = -12,  /* codec edits would leave an m= line without formats */
	SDP_ERR_NOMEM = -13,  /* output buffer could not grow */
};

enum sdp_attr_kind {
	SDP_ATTR_OTHER,	   /* kept raw: name and value only */
	SDP_ATTR_RTPMAP,   /* RFC 8866 §6.6 */
	SDP_ATTR_FMTP,	   /* RFC 8866 §6.15 */
	SDP_ATTR_RTCP,	   /* RFC 3605 */
	SDP_ATTR_RTCP_MUX, /* RFC 5761 §5.1.1 */
	SDP_ATTR_RTCP_FB,  /* RFC 4585 §4.2; pt is -1 for "*" */
	SDP_ATTR_SENDRECV, /* RFC 8866 §6.7 */
	SDP_ATTR_SENDONLY,
	SDP_ATTR_RECVONLY,
	SDP_ATTR_INACTIVE,
	SDP_ATTR_PTIME,	    /* RFC 8866 §6.4 */
	SDP_ATTR_CANDIDATE, /* RFC 8839 §5.1; parse with sdp_candidate_parse */
	SDP_ATTR_ICE_UFRAG, /* RFC 8839 §5.4 */
	SDP_ATTR_ICE_PWD,
	SDP_ATTR_ICE_OPTIONS,	    /* RFC 8839 §5.6 */
	SDP_ATTR_ICE_LITE,	    /* RFC 8839 §5.3 */
	SDP_ATTR_ICE_MISMATCH,	    /* RFC 8839 §5.5 */
	SDP_ATTR_REMOTE_CANDIDATES, /* RFC 8839 §5.2 */
	SDP_ATTR_END_OF_CANDIDATES, /* RFC 8840 §8.2 */
};

enum sdp_dir { SDP_DIR_SENDRECV, SDP_DIR_SENDONLY, SDP_DIR_RECVONLY, SDP_DIR_INACTIVE };

/* "IN IP4 192.0.2.1"; address may carry "/ttl" for multicast, kept as is.
 * Absent when address.len == 0. */
struct sdp_conn {
	struct str nettype;
	struct str addrtype;
	struct str address;
};

struct sdp_attr {
	enum sdp_attr_kind kind;
	struct str line;  /* "a=rtpmap:0 PCMU/8000", without the line ending */
	struct str name;  /* "rtpmap" */
	struct str value; /* "0 PCMU/8000"; empty for flags like "rtcp-mux" */
	int pt;		  /* RTPMAP, FMTP, RTCP_FB: the payload type; else -1 */
	union {
		struct {
			struct str encoding; /* "PCMU", "telephone-event" */
			uint32_t rate;
			uint32_t channels; /* 0 when not given */
		} rtpmap;
		struct str fmtp_params; /* "0-16" */
		struct {
			uint16_t port;
			struct sdp_conn conn; /* optional */
		} rtcp;
		uint32_t ptime; /* milliseconds; 0 when the value is not an integer */
	} u;
};

struct sdp_media {
	struct str line;       /* the m= line */
	struct str type;       /* "audio", "video", "image", ... */
	struct str port_token; /* "49170" or "49170/2" as written */
	uint16_t port;
	uint16_t port_count; /* 1 unless "/n" given */
	struct str proto;    /* "RTP/AVP", "UDP/TLS/RTP/SAVPF", "udptl" */
	struct str fmts[SDP_FMT_MAX];
	size_t nfmts;
	bool rtp; /* every format is a payload type 0..127 */
	struct sdp_conn conn;
	struct str bw[SDP_BW_MAX]; /* b= values, "AS:64" */
	size_t nbw;
	size_t attr_first; /* this section's a= lines: attrs[attr_first ..] */
	size_t nattrs;
	enum sdp_dir dir; /* own attribute, else the session's, else sendrecv */
	bool rtcp_mux;
};

struct sdp_session {
	struct str body;
	struct str version; /* "0" */
	struct {
		struct str username, sess_id, sess_version;
		struct sdp_conn conn; /* nettype addrtype unicast-address */
	} origin;
	struct str name;   /* s= */
	struct str timing; /* first t= value, "0 0"; empty when absent */
	struct sdp_conn conn;
	struct str bw[SDP_BW_MAX];
	size_t nbw;
	size_t attr_first; /* always 0: session attributes come first */
	size_t nattrs;
	enum sdp_dir dir; /* SENDRECV unless a session attribute says otherwise */
	struct sdp_media media[SDP_MEDIA_MAX];
	size_t nmedia;
	struct sdp_attr attrs[SDP_ATTR_TOTAL_MAX]; /* all a= lines, in body order */
	size_t nattrs_total;
	unsigned err_line; /* 1-based line number of the first error */
};

/* Parses body into s.  Lines end in CRLF as RFC 8866 §5 requires, but a
 * bare LF is accepted too (many SIP stacks send it) and empty lines are
 * skipped.  RFC 8866 makes v=, o=, s= and t= mandatory; we require v= (first,
 * "0"), o= and s=, and accept a missing t= (it does not matter to a relay).
 * Returns 0 or an sdp_err, with s->err_line set. */
int sdp_parse(struct sdp_session *s, struct str body);
/* A short reason for an sdp_err. */
const char *sdp_strerror(int err);

/* The first attribute of this kind in media m, or in the session part when
 * m is NULL; NULL when there is none. */
const struct sdp_attr *sdp_attr_find(const struct sdp_session *s, const struct sdp_media *m,
				     enum sdp_attr_kind kind);
/* The a=rtpmap for payload type pt in m, or NULL (static payload types such
 * as 0 and 8 often have none: RFC 3551 §6 defines them). */
const struct sdp_attr *sdp_rtpmap_find(const struct sdp_session *s, const struct sdp_media *m,
				       int pt);

/* An ICE candidate line, parsed on demand (RFC 8839 §5.1). */
struct sdp_candidate {
	struct str foundation;
	uint32_t component;
	struct str transport; /* "UDP" */
	uint32_t priority;
	struct str address;
	uint16_t port;
	struct str type;     /* "host", "srflx", "prflx", "relay" */
	struct str rel_addr; /* raddr, empty when absent */
	uint16_t rel_port;
};

int sdp_candidate_parse(const struct sdp_attr *a, struct sdp_candidate *out);

/* ------------------------------------------------------------- rewrite */

enum sdp_edit_op {
	SDP_EDIT_ORIGIN_ADDR, /* o= addrtype and address */
	SDP_EDIT_CONN,	      /* c= of the session (media = SDP_SESSION) or of media
				 sections; a section without c= gets one */
	SDP_EDIT_PORT,	      /* m= port ("/count" kept) */
	SDP_EDIT_RTCP_SET,    /* a=rtcp:port [IN addrtype addr]: replaced, or added */
	SDP_EDIT_RTCP_REMOVE,
	SDP_EDIT_RTCP_MUX_ADD, /* added when absent */
	SDP_EDIT_RTCP_MUX_REMOVE,
	SDP_EDIT_ICE_REMOVE,  /* candidate, ice-ufrag, ice-pwd, ice-options, ice-lite,
				 ice-mismatch, remote-candidates, end-of-candidates */
	SDP_EDIT_CODEC_STRIP, /* drop these payload types with their rtpmap, fmtp and
				 rtcp-fb lines (rtpengine's "strip" and, at the SDP
				 level, "mask") */
	SDP_EDIT_CODEC_KEEP,  /* keep only these payload types, in this order */
	SDP_EDIT_ATTR_APPEND, /* add "a=<text>" at the end of the section */
	SDP_EDIT_CODEC_ADD,   /* append these payload types to the m= line (their
				 rtpmap lines are ATTR_APPEND edits) */
	SDP_EDIT_PROTO,	      /* m= transport protocol becomes text */
};

/* media: a media index, SDP_ALL_MEDIA, or SDP_SESSION (CONN, ATTR_APPEND,
 * RTCP/ICE removal of session-level lines). */
#define SDP_ALL_MEDIA (-1)
#define SDP_SESSION (-2)

struct sdp_edit {
	enum sdp_edit_op op;
	int media;
	struct str addrtype; /* "IP4" / "IP6" (ORIGIN_ADDR, CONN, RTCP_SET optional) */
	struct str addr;
	uint16_t port;	    /* PORT, RTCP_SET */
	struct str text;    /* ATTR_APPEND: "rtpengine:abc", no "a=", no line end;
			       PROTO: "RTP/AVP" */
	const uint8_t *pts; /* CODEC_STRIP, CODEC_KEEP, CODEC_ADD */
	size_t npts;
};

/* Appends the rewritten body of s (which sdp_parse filled) to out.  Edits
 * are applied in the order given when they add lines; the last of two
 * conflicting edits wins.  Codec edits apply only to RTP media sections.
 * New lines end in CRLF; a last line that had no line ending gets one.
 * Returns 0 or an sdp_err; on error out holds a partial body. */
int sdp_rewrite(const struct sdp_session *s, const struct sdp_edit *edits, size_t nedits,
		struct buf *out);

/* --------------------------------------------------------------- G.711 */

/* ITU-T G.711 companding, computed from the standard's segment formulas
 * (no tables to initialise).  Linear samples are 16-bit; µ-law uses the
 * 14-bit range and A-law the 13-bit range, shifted up as usual. */
int16_t g711_ulaw_decode(uint8_t u);
int16_t g711_alaw_decode(uint8_t a);
uint8_t g711_ulaw_encode(int16_t pcm);
uint8_t g711_alaw_encode(int16_t pcm);
/* Converts n codes in place, frame for frame (same length). */
void g711_ulaw_to_alaw(uint8_t *p, size_t n);
void g711_alaw_to_ulaw(uint8_t *p, size_t n);

/* --------------------------------------------------------------- ports */

/*
 * A port allocator for one interface: RTP on an even port, RTCP on the next
 * odd one (RFC 3550 §11).  A released pair rests for quiet_ms before it is
 * handed out again, so late packets of an old call never reach a new one.
 * Not thread-safe: the ng control thread owns it.
 */
struct media_ports;

struct media_ports *media_ports_new(uint16_t min, uint16_t max, int64_t quiet_ms);
void media_ports_free(struct media_ports *p);
/* The even RTP port of a free pair in *rtp; -ENOSPC when none is free. */
int media_ports_alloc(struct media_ports *p, int64_t now_ms, uint16_t *rtp);
/* Returns the pair whose RTP port is rtp; it rests from now_ms. */
void media_ports_release(struct media_ports *p, uint16_t rtp, int64_t now_ms);
/* Pairs free right now (allocated ones and resting ones excluded). */
size_t media_ports_free_count(const struct media_ports *p, int64_t now_ms);

/* ---------------------------------------------------------------- RTCP */

/* The first report block of an SR or RR in a compound RTCP packet
 * (RFC 3550 §6.4.1-6.4.2). */
struct rtcp_report {
	uint32_t sender_ssrc;
	uint32_t ssrc;		 /* the source this block reports on */
	uint8_t fraction_lost;	 /* fixed point, lost/expected * 256 */
	int32_t cumulative_lost; /* 24-bit signed */
	uint32_t highest_seq;
	uint32_t jitter; /* timestamp units */
};

/* True when an RTP/RTCP packet on a muxed port is RTCP (RFC 5761 §4:
 * payload type octet 192..223). */
bool rtcp_is_rtcp(const uint8_t *p, size_t len);
/* Walks the compound packet; 1 and *out filled when a report block was
 * found, 0 when the packet is valid RTCP without one, -EINVAL when it is
 * not RTCP (version, lengths). */
int rtcp_parse(const uint8_t *p, size_t len, struct rtcp_report *out);

/* ------------------------------------------------------------ recording */

/* A pcap file (libpcap format, LINKTYPE_RAW: each record an IPv4 or IPv6
 * packet with a UDP header) of one call. */
struct media_pcap;

struct media_pcap *media_pcap_open(const char *path, int *err);
/* Appends one UDP datagram from src to dst captured at wall_us (epoch µs).
 * src and dst must be of the same family. */
int media_pcap_write(struct media_pcap *pc, const struct net_addr *src, const struct net_addr *dst,
		     const uint8_t *payload, size_t len, int64_t wall_us);
uint64_t media_pcap_packets(const struct media_pcap *pc);
/* Flushes and closes; returns 0 or the first write error. */
int media_pcap_close(struct media_pcap *pc);

/* --------------------------------------------------------------- relay */

#define MEDIA_IFACES_MAX 8
#define MEDIA_IFACE_NAME_MAX 32

struct media_iface_opts {
	char name[MEDIA_IFACE_NAME_MAX];
	struct net_addr local;	    /* port unused */
	struct net_addr advertised; /* what SDP carries (1:1 NAT); = local if none */
	uint16_t port_min, port_max;
};

/* How a stream learns the source it accepts (learn.c, decision 0019). */
enum media_learn_mode {
	MEDIA_LEARN_HEURISTIC, /* rank sources during a window, then lock (default) */
	MEDIA_LEARN_IMMEDIATE, /* lock the first source at once */
	MEDIA_LEARN_OFF,       /* accept only the SDP's address and port */
	MEDIA_LEARN_LOOSE,     /* the old latch-anything behaviour; only an offer asks for it */
};

/* "heuristic", "delayed" (read as heuristic), "immediate", "off": ng's
 * spellings, case and hyphens ignored; -1 for anything else. */
int media_learn_mode_parse(struct str s, enum media_learn_mode *out);

struct media_opts {
	struct net_addr ng_listen;
	struct media_iface_opts ifaces[MEDIA_IFACES_MAX];
	size_t nifaces;
	int64_t timeout_ms;		/* no media for this long ends a call */
	int64_t final_timeout_ms;	/* a call ends this long after it began (0: never) */
	int64_t port_quiet_ms;		/* a released port pair rests this long */
	int64_t cookie_ttl_ms;		/* how long a reply is kept for retransmissions */
	unsigned workers;		/* relay threads; 0 = one per CPU */
	const char *spool_dir;		/* recordings (pcap + JSON metadata) */
	int64_t learning_window_ms;	/* a stream's learning window, from its first packet */
	enum media_learn_mode learning; /* what a call uses unless its offer says otherwise */
};

/* Parses rtpengine-style interface definitions separated by ';' or ',':
 * "NAME/LOCAL[!ADVERTISED][@MIN-MAX]", MIN-MAX defaulting to the given
 * range.  Fills o->ifaces and o->nifaces; -EINVAL with a reason in err. */
int media_ifaces_parse(struct media_opts *o, const char *spec, uint16_t port_min, uint16_t port_max,
		       char *err, size_t errlen);

struct media;

/* Binds the ng socket and prepares the workers; NULL with err filled. */
struct media *media_new(const struct media_opts *o, char *err, size_t errlen);
/* Starts the relay workers and the ng control thread. */
int media_start(struct media *m);
/* Ends every call (recordings closed) and stops the threads. */
void media_stop(struct media *m);
void media_free(struct media *m);

#endif
