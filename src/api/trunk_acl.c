/*
 * trunk_acl.c — no two trunks claim the same source.
 *
 * The sip role finds a call's trunk by its source address
 * (sip/snapshot_find.c): the ACL entry with the longest prefix wins, and
 * among entries of one network an entry with the call's source port wins
 * over a portless one, and among those the trunk whose tech_prefix is the
 * longer prefix of the dialled number.  Overlapping entries are therefore
 * decided — a /32 inside another trunk's /24 takes the calls from that one
 * address, 192.0.2.10/32 port 5060 takes that port's calls from a portless
 * 192.0.2.10/32 — but two trunks with the same network, the same port (or
 * both none) and the same tech_prefix would leave nothing to decide by, so
 * such an entry is refused: 409 acl_conflict, pointer /acl/<i>/cidr.
 * (Trunks that differ only in tech_prefix take a number that starts with
 * neither in the order of their ids, as the snapshot sorts them.)
 */
#include <string.h>

#include "api/api_private.h"

struct acl_key {
	struct net_cidr net;
	int64_t port; /* 0: any port */
};

static bool acl_key_of(const json_t *entry, struct acl_key *k)
{
	const char *cidr = json_string_value(json_object_get(entry, "cidr"));

	memset(k, 0, sizeof(*k));
	if (!cidr || net_cidr_parse(str_from_cstr(cidr), &k->net) < 0)
		return false;
	k->port = json_integer_value(json_object_get(entry, "port"));
	return true;
}

static bool acl_key_eq(const struct acl_key *a, const struct acl_key *b)
{
	return a->net.family == b->net.family && a->net.prefix_len == b->net.prefix_len &&
	       memcmp(a->net.addr, b->net.addr, sizeof(a->net.addr)) == 0 && a->port == b->port;
}

/* Index of the first entry of mine that theirs holds too, or -1. */
static ptrdiff_t acl_first_shared(const json_t *mine, const json_t *theirs)
{
	struct acl_key a, b;
	size_t i, j;
	json_t *x, *y;

	json_array_foreach(mine, i, x)
	{
		if (!acl_key_of(x, &a))
			continue;
		json_array_foreach(theirs, j, y) if (acl_key_of(y, &b) &&
						     acl_key_eq(&a, &b)) return (ptrdiff_t)i;
	}
	return -1;
}

/* The trunk that holds the entry is named to admins and to its own
 * customer; another customer's trunk is not. */
static int acl_conflict(struct api_ctx *ctx, const json_t *acl, size_t i, const struct store_res *r,
			size_t row, struct api_verr *e)
{
	const json_t *entry = json_array_get(acl, i);
	int64_t port = json_integer_value(json_object_get(entry, "port"));
	bool named =
	    api_is_admin(ctx) || strcmp(store_res_text(r, row, 1), ctx->who->customer_id) == 0;
	char ptr[48], where[16] = "";

	snprintf(ptr, sizeof(ptr), "/acl/%zu/cidr", i);
	if (port)
		snprintf(where, sizeof(where), " port %lld", (long long)port);
	return api_verr_set(e, 409, "acl_conflict", ptr,
			    "%s%s is already claimed by %s%s with the same tech_prefix; a longer "
			    "prefix, a port or another tech_prefix may overlap it",
			    json_string_value(json_object_get(entry, "cidr")), where,
			    named ? "trunk " : "another customer's trunk",
			    named ? store_res_text(r, row, 0) : "");
}

int api_trunk_acl_unclaimed(struct api_ctx *ctx, const char *id, const json_t *obj,
			    struct api_verr *e)
{
	const json_t *acl = json_object_get(obj, "acl");
	const char *tp = json_string_value(json_object_get(obj, "tech_prefix"));
	struct store_res *r = NULL;
	struct store_param p[2] = {store_p_text(id ? id : ""), store_p_text(tp ? tp : "")};
	int rc = 0;

	/* Only a request that sets them can make a new claim. */
	if (!json_object_get(ctx->body, "acl") && !json_object_get(ctx->body, "tech_prefix"))
		return 0;
	if (!json_is_array(acl) || json_array_size(acl) == 0)
		return 0;
	if (store_exec(
		ctx->conn,
		"SELECT id, customer_id, acl FROM trunks WHERE id <> $1 AND tech_prefix = $2", p, 2,
		&r) < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	for (size_t row = 0; rc == 0 && row < store_res_rows(r); row++) {
		json_t *theirs = json_loads(store_res_text(r, row, 2), 0, NULL);
		ptrdiff_t i = theirs ? acl_first_shared(acl, theirs) : -1;

		if (i >= 0)
			rc = acl_conflict(ctx, acl, (size_t)i, r, row, e);
		json_decref(theirs);
	}
	store_res_free(r);
	return rc;
}
