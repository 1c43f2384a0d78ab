/*
 * bencode.c — bencode decoding into a node arena, lookups, and encoding.
 *
 * The ng control protocol carries its dictionaries in bencode (BitTorrent
 * BEP 3 §"bencoding"): strings "<len>:<bytes>", integers "i<n>e", lists
 * "l…e" and dictionaries "d…e".  The decoder indexes a datagram without
 * copying it: every node is a view into the input, nodes come from an arena
 * the caller sized, and running out of arena, nesting deeper than
 * BENCODE_DEPTH_MAX or leaving bytes after the top-level item are errors
 * with a defined code.  Recursion depth equals nesting depth, so it is
 * bounded by the same limit.
 *
 * hot path: no allocation, no locks, no I/O (decoding and lookups).
 */
#include "ng/ng.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct bencode_cursor {
	const char *p;
	const char *end;
	const char *start;
};

static int bencode_item_parse(struct bencode_doc *d, struct bencode_cursor *c, unsigned depth,
			      struct bencode_node **out);

void bencode_doc_init(struct bencode_doc *d, struct bencode_node *nodes, size_t cap)
{
	d->nodes = nodes;
	d->cap = cap;
	d->used = 0;
	d->err_off = 0;
}

static int bencode_fail(struct bencode_doc *d, const struct bencode_cursor *c, int err)
{
	d->err_off = (size_t)(c->p - c->start);
	return err;
}

static struct bencode_node *bencode_node_alloc(struct bencode_doc *d, enum bencode_type type)
{
	struct bencode_node *n;

	if (d->used >= d->cap)
		return NULL;
	n = &d->nodes[d->used++];
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

/* Digits up to the terminator; "0" alone, no leading zeros, no "-0"
 * (BEP 3: "i-0e is invalid ... i03e is invalid").  Leaves c->p on term. */
static int bencode_digits_parse(struct bencode_cursor *c, char term, bool allow_sign, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, limit = INT64_MAX;
	const char *first;

	if (allow_sign && c->p < c->end && *c->p == '-') {
		neg = true;
		limit = (uint64_t)INT64_MAX + 1;
		c->p++;
	}
	first = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned digit = (unsigned)(*c->p - '0');

		if (v > (limit - digit) / 10)
			return BENCODE_ERR_INT;
		v = v * 10 + digit;
		c->p++;
	}
	if (c->p == c->end)
		return BENCODE_ERR_TRUNCATED;
	if (*c->p != term || c->p == first)
		return BENCODE_ERR_SYNTAX;
	if (*first == '0' && (c->p - first > 1 || neg))
		return BENCODE_ERR_INT;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int bencode_int_parse(struct bencode_doc *d, struct bencode_cursor *c,
			     struct bencode_node *n)
{
	int rc;

	c->p++; /* 'i' */
	rc = bencode_digits_parse(c, 'e', true, &n->num);
	if (rc == BENCODE_ERR_SYNTAX)
		rc = BENCODE_ERR_INT;
	if (rc < 0)
		return bencode_fail(d, c, rc);
	c->p++;
	return 0;
}

static int bencode_str_parse(struct bencode_doc *d, struct bencode_cursor *c,
			     struct bencode_node *n)
{
	int64_t len;
	int rc = bencode_digits_parse(c, ':', false, &len);

	if (rc == BENCODE_ERR_SYNTAX || rc == BENCODE_ERR_INT)
		rc = BENCODE_ERR_LENGTH;
	if (rc < 0)
		return bencode_fail(d, c, rc);
	c->p++;
	if ((uint64_t)len > (uint64_t)(c->end - c->p))
		return bencode_fail(d, c, BENCODE_ERR_TRUNCATED);
	n->str = (struct str){c->p, (size_t)len};
	c->p += len;
	return 0;
}

/* Lists and dictionaries: children until 'e'; in a dictionary every even
 * child is a key and must be a string. */
static int bencode_container_parse(struct bencode_doc *d, struct bencode_cursor *c, unsigned depth,
				   struct bencode_node *n)
{
	const struct bencode_node **link = &n->child;
	bool is_dict = n->type == BENCODE_DICT;
	size_t items = 0;
	int rc;

	if (depth >= BENCODE_DEPTH_MAX)
		return bencode_fail(d, c, BENCODE_ERR_DEPTH);
	c->p++; /* 'l' or 'd' */
	while (c->p < c->end && *c->p != 'e') {
		struct bencode_node *child;

		if (is_dict && items % 2 == 0 && (*c->p < '0' || *c->p > '9'))
			return bencode_fail(d, c, BENCODE_ERR_KEY);
		rc = bencode_item_parse(d, c, depth + 1, &child);
		if (rc < 0)
			return rc;
		*link = child;
		link = &child->next;
		items++;
	}
	if (c->p == c->end)
		return bencode_fail(d, c, BENCODE_ERR_TRUNCATED);
	if (is_dict && items % 2)
		return bencode_fail(d, c, BENCODE_ERR_SYNTAX); /* key without value */
	c->p++;
	n->count = is_dict ? items / 2 : items;
	return 0;
}

static int bencode_item_parse(struct bencode_doc *d, struct bencode_cursor *c, unsigned depth,
			      struct bencode_node **out)
{
	const char *begin = c->p;
	struct bencode_node *n;
	enum bencode_type type;
	int rc;

	if (c->p == c->end)
		return bencode_fail(d, c, BENCODE_ERR_TRUNCATED);
	if (*c->p == 'i')
		type = BENCODE_INT;
	else if (*c->p == 'l')
		type = BENCODE_LIST;
	else if (*c->p == 'd')
		type = BENCODE_DICT;
	else if (*c->p >= '0' && *c->p <= '9')
		type = BENCODE_STR;
	else
		return bencode_fail(d, c, BENCODE_ERR_SYNTAX);
	n = bencode_node_alloc(d, type);
	if (!n)
		return bencode_fail(d, c, BENCODE_ERR_NODES);
	if (type == BENCODE_INT)
		rc = bencode_int_parse(d, c, n);
	else if (type == BENCODE_STR)
		rc = bencode_str_parse(d, c, n);
	else
		rc = bencode_container_parse(d, c, depth, n);
	if (rc < 0)
		return rc;
	n->raw = (struct str){begin, (size_t)(c->p - begin)};
	*out = n;
	return 0;
}

int bencode_decode(struct bencode_doc *d, struct str in, const struct bencode_node **root)
{
	struct bencode_cursor c = {in.p, in.p + in.len, in.p};
	struct bencode_node *n;
	int rc;

	d->used = 0;
	d->err_off = 0;
	if (in.len == 0 || !in.p)
		return BENCODE_ERR_EMPTY;
	rc = bencode_item_parse(d, &c, 0, &n);
	if (rc < 0)
		return rc;
	if (c.p != c.end)
		return bencode_fail(d, &c, BENCODE_ERR_TRAILING);
	*root = n;
	return 0;
}

const char *bencode_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case BENCODE_ERR_EMPTY:
		return "empty input";
	case BENCODE_ERR_TRUNCATED:
		return "input ends inside an item";
	case BENCODE_ERR_SYNTAX:
		return "unexpected byte";
	case BENCODE_ERR_LENGTH:
		return "bad string length";
	case BENCODE_ERR_INT:
		return "bad integer";
	case BENCODE_ERR_KEY:
		return "dictionary key is not a string";
	case BENCODE_ERR_DEPTH:
		return "nested too deep";
	case BENCODE_ERR_NODES:
		return "too many items";
	case BENCODE_ERR_TRAILING:
		return "trailing bytes after the dictionary";
	case BENCODE_ERR_COOKIE:
		return "no cookie";
	default:
		return "unknown error";
	}
}

/* ------------------------------------------------------------- lookups */

const struct bencode_node *bencode_dict_get(const struct bencode_node *dict, const char *key)
{
	const struct bencode_node *k;

	if (!dict || dict->type != BENCODE_DICT)
		return NULL;
	for (k = dict->child; k; k = k->next->next)
		if (str_eq_cstr(k->str, key))
			return k->next;
	return NULL;
}

int bencode_dict_get_str(const struct bencode_node *dict, const char *key, struct str *out)
{
	const struct bencode_node *v = bencode_dict_get(dict, key);

	if (!v)
		return -ENOENT;
	if (v->type != BENCODE_STR)
		return -EINVAL;
	*out = v->str;
	return 0;
}

int bencode_dict_get_int(const struct bencode_node *dict, const char *key, int64_t *out)
{
	const struct bencode_node *v = bencode_dict_get(dict, key);

	if (!v)
		return -ENOENT;
	if (v->type == BENCODE_INT) {
		*out = v->num;
		return 0;
	}
	if (v->type == BENCODE_STR && str_to_i64(v->str, out) == 0)
		return 0;
	return -EINVAL;
}

bool bencode_list_contains_str(const struct bencode_node *list, const char *s)
{
	const struct bencode_node *it;

	if (!list || list->type != BENCODE_LIST)
		return false;
	for (it = list->child; it; it = it->next)
		if (it->type == BENCODE_STR && str_eq_cstr(it->str, s))
			return true;
	return false;
}

/* ------------------------------------------------------------- encoder */

int bencode_put_dict_begin(struct buf *b)
{
	return buf_append_char(b, 'd');
}

int bencode_put_list_begin(struct buf *b)
{
	return buf_append_char(b, 'l');
}

int bencode_put_end(struct buf *b)
{
	return buf_append_char(b, 'e');
}

int bencode_put_str(struct buf *b, struct str s)
{
	int rc = buf_printf(b, "%zu:", s.len);

	return rc < 0 ? rc : buf_append_str(b, s);
}

int bencode_put_cstr(struct buf *b, const char *s)
{
	return bencode_put_str(b, str_from_cstr(s));
}

int bencode_put_int(struct buf *b, int64_t v)
{
	return buf_printf(b, "i%" PRId64 "e", v);
}

int bencode_put_kv_str(struct buf *b, const char *key, struct str value)
{
	int rc = bencode_put_cstr(b, key);

	return rc < 0 ? rc : bencode_put_str(b, value);
}

int bencode_put_kv_int(struct buf *b, const char *key, int64_t value)
{
	int rc = bencode_put_cstr(b, key);

	return rc < 0 ? rc : bencode_put_int(b, value);
}

/* Recursion follows the decoded tree, whose depth the decoder bounded. */
int bencode_put_node(struct buf *b, const struct bencode_node *n)
{
	const struct bencode_node *it;
	int rc;

	switch (n->type) {
	case BENCODE_STR:
		return bencode_put_str(b, n->str);
	case BENCODE_INT:
		return bencode_put_int(b, n->num);
	case BENCODE_LIST:
		rc = bencode_put_list_begin(b);
		break;
	case BENCODE_DICT:
		rc = bencode_put_dict_begin(b);
		break;
	default:
		return -EINVAL;
	}
	for (it = n->child; rc == 0 && it; it = it->next)
		rc = bencode_put_node(b, it);
	return rc < 0 ? rc : bencode_put_end(b);
}
