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

#endif
