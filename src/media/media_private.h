/*
 * media_private.h — the relay's internals, shared by the files of src/media/
 * and nobody else.
 *
 * Threads and ownership:
 *   - the ng control thread owns the call table, the port allocators, the
 *     cookie cache and every call's signalling state (tags, SDP choices);
 *   - each relay worker owns the sockets, events and stream state of the
 *     calls assigned to it (a call lives on exactly one worker).  The
 *     control thread changes a call's streams only by running a function on
 *     that worker and waiting for it (media_worker_sync), so the packet path
 *     needs no locks;
 *   - counters other threads read without syncing (last packet time, relay
 *     totals) are relaxed atomics.
 */
#ifndef WARP_MEDIA_PRIVATE_H
#define WARP_MEDIA_PRIVATE_H

#include "media/media.h"
#include "ng/ng.h"

#include <event2/util.h>
#include <pthread.h>
#include <stdatomic.h>

#define MEDIA_TAG_MAX 128
#define MEDIA_CALLID_MAX 256
#define MEDIA_ENDED_MAX 64 /* recently ended calls remembered for `list` */

enum media_transcode { MEDIA_TC_NONE, MEDIA_TC_U2A, MEDIA_TC_A2U };

struct media_iface {
	struct media_iface_opts o;
	struct media_ports *ports;
	char adv_ip[NET_ADDR_STRLEN];
	const char *addrtype; /* "IP4" / "IP6" */
};

struct media_call;
struct media_rec;

/* ------------------------------------------------------------- learning
 * learn.c: which source a stream accepts.  Ranks compare a packet's source
 * with the address the party's SDP named; higher is better. */
enum media_rank { MEDIA_RANK_NONE, MEDIA_RANK_ANY, MEDIA_RANK_ADDR, MEDIA_RANK_EXACT };

enum media_learn_verdict {
	MEDIA_LEARN_DROP,   /* a foreign source: not relayed */
	MEDIA_LEARN_ACCEPT, /* the source held */
	MEDIA_LEARN_MOVED,  /* accepted, and the source held is now src */
};

/* One stream's learning state; zero (media_learn_reset) is "nothing seen". */
struct media_learn {
	struct net_addr src; /* the source held: best so far, or locked */
	enum media_rank rank;
	bool locked;
	int64_t until_ms; /* the window closes (monotonic); set by the first packet */
};

struct media_learn_in {
	const struct net_addr *sdp; /* where the party's SDP says it is */
	bool sdp_known;
	enum media_learn_mode mode;
	int64_t window_ms;
};

enum media_rank media_learn_rank(const struct net_addr *sdp, bool sdp_known,
				 const struct net_addr *src);
/* hot path: no allocation, no locks, no I/O
 * One packet from src at now_ms (monotonic): relay it or not. */
enum media_learn_verdict media_learn_packet(struct media_learn *l, const struct media_learn_in *in,
					    const struct net_addr *src, int64_t now_ms);
void media_learn_reset(struct media_learn *l);

/* One socket: what one party sends to.  ep is where we send to that party
 * (from its SDP, then latched to where its packets really come from). */
struct media_stream {
	struct media_call *call;
	struct media_stream *peer_rtp;	/* the other side's RTP stream */
	struct media_stream *peer_rtcp; /* the other side's RTCP stream */
	struct media_iface *iface;
	struct event *ev;
	int fd;
	uint16_t local_port;
	bool is_rtcp;
	bool mux;		  /* this party multiplexes RTCP on the RTP port */
	bool ep_known;		  /* ep is usable */
	bool latched;		  /* ep was learnt from a packet */
	bool sdp_known;		  /* sdp_ep is an address to send to (not a hold, not port 0) */
	struct net_addr sdp_ep;	  /* as the party's SDP said */
	struct media_learn learn; /* the source accepted (learn.c) */
	struct net_addr ep;
	struct net_addr local;	 /* our address and port, for recordings */
	enum media_transcode tc; /* applied to packets received here */
	uint8_t tc_from_pt, tc_to_pt;
	uint64_t packets, bytes, errors;
	_Atomic int64_t last_mono_ms; /* 0: never */
	int64_t last_wall_s;
	uint64_t rtcp_reports;
	struct rtcp_report rr; /* the last report block received here */
};

/* One m= section as seen by one party. */
struct media_side {
	struct media_stream rtp, rtcp;
};

struct media_sect {
	char type[16];
	char proto[32];
	struct media_side side[2]; /* [0] the party of mono[0] */
	bool ports[2];		   /* side[i] holds allocated ports */
	/* Transcoding offered: the offerer spoke only tc_orig, and tc_added
	 * was put in the offer for the other side. */
	int tc_orig, tc_added;
};

struct media_mono {
	char tag[MEDIA_TAG_MAX];
	bool known;
	int64_t created_s;
	struct media_iface *iface;
};

enum media_call_state { MEDIA_CALL_OFFERED, MEDIA_CALL_ANSWERED };

/* One answerer of the call's offer (a fork: several to-tags answering one
 * offer).  The call has one pair of port sets, so only the newest answerer
 * (mono[1]) gets media; the others' endpoints are kept so that deleting
 * the active dialogue hands the media back to the one answered before. */
struct media_branch {
	char tag[MEDIA_TAG_MAX];
	char via[MEDIA_TAG_MAX];	      /* via-branch of its answer; empty: none given */
	struct net_addr ep[SDP_MEDIA_MAX][2]; /* [section][RTP, RTCP] as its SDP said */
	bool known[SDP_MEDIA_MAX][2];
};

struct media_call {
	struct media *m;
	struct media_call *next; /* table chain */
	char callid[MEDIA_CALLID_MAX];
	enum media_call_state state;
	unsigned worker;
	struct media_mono mono[2]; /* [0] the first offerer */
	struct media_sect sect[SDP_MEDIA_MAX];
	size_t nsect;
	int64_t created_s, last_signal_s, created_mono_ms, last_signal_mono_ms;
	bool asymmetric;		/* media goes to the SDP's address, learnt or not */
	enum media_learn_mode learning; /* written on the worker (offer_apply) */
	struct media_rec *rec;		/* recording; fed by the worker, see record_writer.c */
	char rec_base[512];		/* spool path without extension; empty: no recording */
	struct media_branch *branch;	/* answerers, oldest first; owned */
	size_t nbranch;
	int64_t delete_at_mono_ms; /* delete-delay pending; 0: none */
};

struct media_ended {
	char callid[MEDIA_CALLID_MAX];
	const char *reason; /* "timeout", "final-timeout", "deleted" */
	int64_t ended_s;
};

#define MEDIA_BATCH 32
#define MEDIA_PKT_MAX 2048

/* ------------------------------------------------------------ recording
 * The packet path never touches a file: a relay worker copies each packet
 * it records (with the IP and UDP headers it synthesises) into a slot of
 * its own ring, and the recording writer thread (record_writer.c) drains
 * every ring into the calls' pcap files.  A full ring drops the record,
 * never the packet, and counts it. */
#define MEDIA_PCAP_HDR_MAX 48 /* IPv6 + UDP */
#define MEDIA_REC_SLOTS 1024u /* per worker: ~2 MB, 20 ms of 50k packets/s */

struct media_rec_slot {
	struct media_rec *rec;
	int64_t wall_us;
	uint32_t len;
	uint8_t pkt[MEDIA_PCAP_HDR_MAX + MEDIA_PKT_MAX];
};

/* Single producer (one relay worker), single consumer (the writer): the
 * producer alone moves head, the consumer alone moves tail. */
struct media_recq {
	struct media_rec_slot *slot; /* cap slots, allocated once by init */
	uint32_t cap;		     /* a power of two */
	_Atomic uint64_t head, tail;
	_Atomic uint64_t dropped; /* records refused because the ring was full */
};

/* A relay thread's scratch space: preallocated so that no packet allocates. */
struct media_worker {
	struct media *m;
	unsigned index;
	struct mmsghdr in[MEDIA_BATCH];
	struct iovec in_iov[MEDIA_BATCH];
	struct sockaddr_storage in_src[MEDIA_BATCH];
	uint8_t buf[MEDIA_BATCH][MEDIA_PKT_MAX];
	struct mmsghdr out[MEDIA_BATCH];
	struct iovec out_iov[MEDIA_BATCH];
	int out_fd[MEDIA_BATCH];
	struct media_recq recq; /* recordings of this worker's calls */
};

struct media_stats {
	_Atomic uint64_t relayed, relay_errors, dropped;
	uint64_t managed, timeouts, final_timeouts, deleted;
};

struct media {
	struct media_opts o;
	char spool[512];
	struct media_iface ifaces[MEDIA_IFACES_MAX];
	size_t nifaces;
	struct loop_pool *ctl;	 /* one thread: the ng server */
	struct loop_pool *relay; /* the relay workers */
	struct media_worker *workers;
	unsigned nworkers, next_worker;
	int ng_fd;
	struct event *ng_ev, *tick;
	struct ng_cookie_cache *cookies;
	struct media_call **table;
	size_t nbuckets, ncalls;
	struct media_ended ended[MEDIA_ENDED_MAX];
	size_t nended;
	struct media_stats stats;
	bool started;
	/* control thread scratch */
	struct sdp_session *sdp;
	struct buf reply, sdp_out;
	/* metrics */
	struct metric *m_calls, *m_pkts_in, *m_pkts_out, *m_timeouts;
	struct metric *m_drop_foreign, *m_drop_nodest, *m_drop_send; /* by reason */
	struct metric_family *m_cmds;
	struct media_rec_writer *writer;
};

/* engine.c */
int media_worker_sync(struct media *m, unsigned worker, void (*fn)(void *), void *arg);

/* ngserver.c */
/* One whole ng datagram ("<cookie> <bencode>") in, its reply out: from the
 * cookie cache for a retransmission, else executed and cached.  *reply
 * stays valid until the next call.  -EINVAL: no cookie (nothing to answer).
 * No socket is touched here: the fuzzer drives this directly. */
int media_ng_process(struct media *m, struct str dgram, int64_t now_ms, struct str *reply);
int media_ng_open(struct media *m, char *err, size_t errlen);
int media_ng_start(struct media *m);
void media_ng_stop(struct media *m);

/* call.c: the call table and a call's sockets (control thread) */
struct media_call *media_call_find(struct media *m, struct str callid);
struct media_call *media_call_new(struct media *m, struct str callid);
/* Allocates and binds the two port pairs of side i of section s. */
int media_call_side_open(struct media_call *c, size_t s, int i, struct media_iface *iface);
/* Registers sockets not yet registered with the call's worker's loop; runs
 * on that worker. */
int media_call_streams_add(struct media_call *c);
/* Ends the call: worker state torn down, ports released, metadata written. */
void media_call_end(struct media_call *c, const char *reason);
/* call_record.c: record-call opens <spool>/<call>.pcap; the JSON metadata
 * beside it is written by the writer thread once the pcap is complete. */
int media_call_record_start(struct media_call *c);
void media_call_record_meta(struct media_call *c, const char *reason);
size_t media_call_list(struct media *m, struct media_call **out, size_t max);

/* dialogue.c: forked answers and deleting one dialogue of a call */
/* After a successful answer: remembers its to-tag, via-branch and endpoints. */
int media_dialogue_answered(struct media_call *c, struct str to_tag, struct str via);
/* What a delete's tags name: MEDIA_DEL_CALL the whole call,
 * MEDIA_DEL_DIALOGUE one answerer's dialogue (*b; the call stays),
 * -ENOENT tags that match nothing in the call. */
enum { MEDIA_DEL_CALL = 0, MEDIA_DEL_DIALOGUE = 1 };
int media_dialogue_match(struct media_call *c, struct str from, struct str to, struct str via,
			 struct media_branch **b);
/* Ends answerer b's dialogue; the newest remaining answerer gets the media. */
void media_dialogue_end(struct media_call *c, struct media_branch *b);

/* record.c: the pieces of a pcap record the writer thread needs */
int media_pcap_headers(uint8_t *h, const struct net_addr *src, const struct net_addr *dst,
		       const uint8_t *payload, size_t len);
/* One record: pkt is a whole IP packet (headers included). */
int media_pcap_write_packet(struct media_pcap *pc, const uint8_t *pkt, size_t len, int64_t wall_us);

/* record_writer.c: the ring (any thread pair) */
/* cap rounded up to a power of two; every slot is allocated here, none later. */
int media_recq_init(struct media_recq *q, uint32_t cap);
void media_recq_fini(struct media_recq *q);
/* Producer: the next free slot, or NULL when full (counted in q->dropped). */
struct media_rec_slot *media_recq_reserve(struct media_recq *q);
/* Producer: publishes the slot reserve returned. */
void media_recq_commit(struct media_recq *q);
/* Consumer: the oldest published slot, or NULL; pop releases it. */
struct media_rec_slot *media_recq_peek(struct media_recq *q);
void media_recq_pop(struct media_recq *q);

/* record_writer.c: recordings and the writer thread */
int media_rec_writer_init(struct media *m);
int media_rec_writer_start(struct media *m);
/* Writes everything queued and finished, then joins the thread. */
void media_rec_writer_stop(struct media *m);
void media_rec_writer_fini(struct media *m);
/* Control thread: opens base.pcap (base: spool path without extension);
 * the writer thread keeps waking while any recording is open. */
struct media_rec *media_rec_open(struct media *m, const char *base, int *err);
/* hot path: no allocation, no locks, no I/O
 * Worker of the call: queues one received datagram for the recording. */
void media_rec_packet(struct media_worker *w, struct media_rec *r, const struct net_addr *src,
		      const struct net_addr *dst, const uint8_t *payload, size_t len,
		      int64_t wall_us);
/* Control thread, once the worker no longer feeds r: the writer writes r's
 * remaining records, closes the pcap, then writes meta (a JSON object
 * without its closing brace, taken over) plus the record counts to
 * base.json.  r is freed by the writer. */
void media_rec_finish(struct media *m, struct media_rec *r, struct buf *meta);

/* relay.c */
void media_relay_readable(evutil_socket_t fd, short what, void *arg);

/* offer.c */
int media_offer(struct media *m, const struct bencode_node *req, bool answer, struct buf *out,
		const char **why);

/* query.c */
int media_query_put(struct media_call *c, struct buf *out);

/* flags.c: ng's spelling rules (spaces and hyphens alike, any case) */
bool media_flag_eq(struct str a, const char *b);
bool media_flags_has(const struct bencode_node *list, const char *flag);
/* The first flag starting with prefix: true and *rest the remainder. */
bool media_flags_prefixed(const struct bencode_node *list, const char *prefix, struct str *rest);
const struct bencode_node *media_dict_get(const struct bencode_node *d, const char *key);
int media_dict_str(const struct bencode_node *d, const char *key, struct str *out);
/* A list, or a single string treated as a list of one. */
bool media_list_has(const struct bencode_node *v, const char *s);

#endif
