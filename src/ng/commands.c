/*
 * commands.c — the ng requests a SIP proxy sends, as bencoded
 * dictionaries ready for ng_client_request.
 *
 * Keys follow rtpengine's docs/ng_control_protocol.md and are written in
 * sorted order, so the body is canonical bencode for peers that insist.
 * offer goes out on an INVITE with SDP, answer on the reliable response
 * with SDP (it needs the to-tag), delete on BYE, CANCEL and failure, query
 * for the statistics a CDR keeps.
 */
#include "ng/ng.h"

#include <errno.h>

static int ng_build_put_list(struct buf *b, const char *key, const char *const *v, size_t n)
{
	int rc;

	if (!v || n == 0)
		return 0;
	rc = bencode_put_cstr(b, key);
	rc = rc ? rc : bencode_put_list_begin(b);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = bencode_put_cstr(b, v[i]);
	return rc ? rc : bencode_put_end(b);
}

static int ng_build_put_opt(struct buf *b, const char *key, struct str v)
{
	return v.len ? bencode_put_kv_str(b, key, v) : 0;
}

/* "received-from": ["IP4"|"IP6", address], as Kamailio sends it. */
static int ng_build_put_received(struct buf *b, struct str addr)
{
	int rc;

	if (addr.len == 0)
		return 0;
	rc = bencode_put_cstr(b, "received-from");
	rc = rc ? rc : bencode_put_list_begin(b);
	rc = rc ? rc : bencode_put_cstr(b, str_index(addr, ':') >= 0 ? "IP6" : "IP4");
	rc = rc ? rc : bencode_put_str(b, addr);
	return rc ? rc : bencode_put_end(b);
}

static int ng_build_put_direction(struct buf *b, const struct ng_params *c)
{
	if (!c->direction[0] || !c->direction[1])
		return 0;
	return ng_build_put_list(b, "direction", c->direction, 2);
}

/* The keys of offer and answer, in sorted order ("ICE" sorts first:
 * capitals come before lowercase). */
static int ng_build_sdp(struct buf *b, const char *command, const struct ng_params *c)
{
	int rc;

	if (c->call_id.len == 0 || c->from_tag.len == 0 || c->sdp.len == 0)
		return -EINVAL;
	rc = bencode_put_dict_begin(b);
	rc = rc || !c->ice ? rc : bencode_put_kv_str(b, "ICE", str_from_cstr(c->ice));
	rc = rc ? rc : bencode_put_kv_str(b, "call-id", c->call_id);
	rc = rc ? rc : bencode_put_kv_str(b, "command", str_from_cstr(command));
	rc = rc ? rc : ng_build_put_direction(b, c);
	rc = rc ? rc : ng_build_put_list(b, "flags", c->flags, c->nflags);
	rc = rc ? rc : bencode_put_kv_str(b, "from-tag", c->from_tag);
	rc = rc ? rc : ng_build_put_received(b, c->received_from);
	rc = rc ? rc : ng_build_put_list(b, "replace", c->replace, c->nreplace);
	rc = rc ? rc : bencode_put_kv_str(b, "sdp", c->sdp);
	rc = rc ? rc : ng_build_put_opt(b, "to-tag", c->to_tag);
	rc = rc ? rc : ng_build_put_opt(b, "via-branch", c->via_branch);
	return rc ? rc : bencode_put_end(b);
}

int ng_build_offer(struct buf *b, const struct ng_params *c)
{
	return ng_build_sdp(b, "offer", c);
}

int ng_build_answer(struct buf *b, const struct ng_params *c)
{
	if (c->to_tag.len == 0)
		return -EINVAL;
	return ng_build_sdp(b, "answer", c);
}

static int ng_build_tags(struct buf *b, const char *command, const struct ng_params *c)
{
	int rc;

	if (c->call_id.len == 0)
		return -EINVAL;
	rc = bencode_put_dict_begin(b);
	rc = rc ? rc : bencode_put_kv_str(b, "call-id", c->call_id);
	rc = rc ? rc : bencode_put_kv_str(b, "command", str_from_cstr(command));
	rc = rc ? rc : ng_build_put_list(b, "flags", c->flags, c->nflags);
	rc = rc ? rc : ng_build_put_opt(b, "from-tag", c->from_tag);
	rc = rc ? rc : ng_build_put_opt(b, "to-tag", c->to_tag);
	rc = rc ? rc : ng_build_put_opt(b, "via-branch", c->via_branch);
	return rc ? rc : bencode_put_end(b);
}

int ng_build_delete(struct buf *b, const struct ng_params *c)
{
	return ng_build_tags(b, "delete", c);
}

int ng_build_query(struct buf *b, const struct ng_params *c)
{
	return ng_build_tags(b, "query", c);
}

int ng_build_ping(struct buf *b)
{
	int rc = bencode_put_dict_begin(b);

	rc = rc ? rc : bencode_put_kv_str(b, "command", STR_LIT("ping"));
	return rc ? rc : bencode_put_end(b);
}
