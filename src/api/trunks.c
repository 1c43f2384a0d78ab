/*
 * trunks.c — /api/v1/trunks: how a customer's equipment reaches WARP.
 *
 * A trunk is recognised by its source address (the ACL, CIDRs with an
 * optional port) or by digest credentials; the password is write-only and
 * kept only as HA1 = H(username:realm:password) for MD5 and SHA-256 (RFC 7616
 * §3.4.2, RFC 8760; decision 0048), which is what digest verification
 * needs.  Limits, codecs, the tech prefix to strip, blocked destinations
 * and where to deliver calls to the customer's numbers complete it.  The
 * SIP proxy reads trunks from its snapshot; a trunk's devices, with
 * credentials of their own, are trunk_devices.c.
 */
#include <openssl/evp.h>
#include <string.h>

#include "api/api_private.h"

#define ACL_MAX 64
#define CODECS_MAX 8
#define DESTINATIONS_MAX 16
#define BLOCKED_MAX 1000
#define DEFAULT_REALM "warp"

static const char *const known_codecs[] = { "PCMU", "PCMA", "G729", "G722", "opus",
					    "telephone-event" };

static int acl_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	char p[160];
	struct net_cidr c;
	(void)ctx;
	int rc = api_check_members(v, ptr, "cidr|port", e);
	if (rc < 0)
		return rc;
	const json_t *cidr = api_member(v, "cidr", ptr, p, sizeof(p));
	if (!json_is_string(cidr) || net_cidr_parse(str_from_cstr(json_string_value(cidr)), &c) < 0)
		return api_verr_set(e, 422, "invalid_cidr", p,
				    "'cidr' must be an IPv4 or IPv6 network such as 192.0.2.0/24");
	return api_check_int_member(v, "port", ptr, 1, 65535, false, e);
}

static int check_acl(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		     struct api_verr *e)
{
	return api_check_list(ctx, f, *val, ACL_MAX, acl_entry, e);
}

static int codec_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	(void)ctx;
	for (size_t i = 0; json_is_string(v) && i < sizeof(known_codecs) / sizeof(*known_codecs); i++)
		if (strcmp(json_string_value(v), known_codecs[i]) == 0)
			return 0;
	return api_verr_set(e, 422, "unknown_codec", ptr,
			    "unknown codec; known: PCMU, PCMA, G729, G722, opus, telephone-event");
}

static int check_codecs(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			struct api_verr *e)
{
	int rc = api_check_list(ctx, f, *val, CODECS_MAX, codec_entry, e);
	if (rc == 0 && json_array_size(*val) == 0)
		return api_verr_set(e, 422, "required", "/codecs", "'codecs' needs at least one codec");
	for (size_t i = 0; rc == 0 && i < json_array_size(*val); i++)
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(*val, i), json_array_get(*val, j))) {
				char p[32];
				snprintf(p, sizeof(p), "/codecs/%zu", i);
				return api_verr_set(e, 422, "duplicate", p, "codec listed twice");
			}
	return rc;
}

/* The host of "sip:[user@]host[:port][;params]" (RFC 3261 §19.1.1): a name,
 * an IPv4 address or a bracketed IPv6 reference. */
static bool sip_uri_host_valid(const char *rest)
{
	char host[256];
	const char *at = strchr(rest, '@');
	const char *h = at ? at + 1 : rest;
	size_t n;

	if (*h == '[') {
		const char *close = strchr(h, ']');
		n = close ? (size_t)(close - h - 1) : 0;
		h++;
	} else {
		n = strcspn(h, ":;?");
	}
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	return api_is_host(host);
}

static int destination_entry(struct api_ctx *ctx, const json_t *v, const char *ptr,
			     struct api_verr *e)
{
	char p[160];
	(void)ctx;
	int rc = api_check_members(v, ptr, "uri|priority|weight", e);
	const json_t *uri = api_member(v, "uri", ptr, p, sizeof(p));
	const char *u = json_string_value(uri);
	size_t scheme = u && strncmp(u, "sip:", 4) == 0 ? 4 : u && strncmp(u, "sips:", 5) == 0 ? 5 : 0;
	if (rc == 0 && (!scheme || strlen(u) > 255 || strpbrk(u, " \t\r\n<>\"") ||
			!sip_uri_host_valid(u + scheme)))
		rc = api_verr_set(e, 422, "invalid_uri", p,
				  "'uri' must be a sip: or sips: URI with a host");
	rc = rc ? rc : api_check_int_member(v, "priority", ptr, 0, 1000, false, e);
	return rc ? rc : api_check_int_member(v, "weight", ptr, 1, 1000, false, e);
}

static int check_destinations(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			      struct api_verr *e)
{
	return api_check_list(ctx, f, *val, DESTINATIONS_MAX, destination_entry, e);
}

static int prefix_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	(void)ctx;
	if (json_is_string(v) && api_is_digits(json_string_value(v), 1, 15))
		return 0;
	return api_verr_set(e, 422, "invalid_prefix", ptr, "a prefix is 1 to 15 digits");
}

static int check_blocked(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			 struct api_verr *e)
{
	return api_check_list(ctx, f, *val, BLOCKED_MAX, prefix_entry, e);
}

/* HA1 under md as lowercase hex into out (32 or 64 digits). */
static int ha1(const EVP_MD *md, const char *user, const char *realm, const char *password,
	       char out[65])
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, md, NULL) && EVP_DigestUpdate(c, user, strlen(user)) &&
		 EVP_DigestUpdate(c, ":", 1) && EVP_DigestUpdate(c, realm, strlen(realm)) &&
		 EVP_DigestUpdate(c, ":", 1) && EVP_DigestUpdate(c, password, strlen(password)) &&
		 EVP_DigestFinal_ex(c, h, &n);
	EVP_MD_CTX_free(c);
	if (!ok || n != (unsigned)EVP_MD_get_size(md))
		return -1;
	hex_encode(h, n, out);
	return 0;
}

/* Sets a member both in obj (what validate sees) and in the request body:
 * on PATCH obj is the stored row merged with the body, and only the body's
 * members are written, so a value decided here must land in both. */
static void trunk_member_set(struct api_ctx *ctx, json_t *obj, const char *name, json_t *v)
{
	json_object_set(obj, name, v);
	if (ctx->body != obj)
		json_object_set(ctx->body, name, v);
	json_decref(v);
}

/* Digest credentials come as a whole: a new username or realm needs the
 * password again, since the HA1s cover all three, and removing the username
 * removes the realm and HA1s with it.  The password is write-only, so obj
 * holds one only when this request gave it.  A trunk's and a device's
 * (trunk_devices.c) alike. */
int api_digest_credentials(struct api_ctx *ctx, json_t *obj, struct api_verr *e)
{
	const char *user = json_string_value(json_object_get(obj, "username"));
	const char *realm = json_string_value(json_object_get(obj, "realm"));
	const json_t *pw = json_object_get(obj, "password");
	bool renamed = json_object_get(ctx->body, "username") || json_object_get(ctx->body, "realm");
	char h[65], h256[65];

	if (json_is_string(pw) && !user)
		return api_verr_set(e, 422, "required", "/username",
				    "'username' is required with a password");
	if (!user) {
		if (json_is_null(json_object_get(ctx->body, "username"))) {
			trunk_member_set(ctx, obj, "realm", json_null());
			trunk_member_set(ctx, obj, "password", json_null());
			trunk_member_set(ctx, obj, "password_sha256", json_null());
		}
		return 0;
	}
	if (!realm) {
		realm = DEFAULT_REALM;
		trunk_member_set(ctx, obj, "realm", json_string(realm));
	}
	if (renamed && !json_is_string(pw))
		return api_verr_set(e, 422, "required", "/password",
				    "'password' is required with a new username or realm");
	if (!json_is_string(pw))
		return 0;
	if (ha1(EVP_md5(), user, realm, json_string_value(pw), h) < 0 ||
	    ha1(EVP_sha256(), user, realm, json_string_value(pw), h256) < 0)
		return api_verr_set(e, 500, "internal", NULL, "cannot hash the password");
	trunk_member_set(ctx, obj, "password", json_string(h));
	trunk_member_set(ctx, obj, "password_sha256", json_string(h256));
	return 0;
}

/* A trunk's own sell deck overrides its customer's for calls on it: only
 * an operator sets (or clears) it, and it is in the customer's currency. */
static int trunk_sell_deck(struct api_ctx *ctx, json_t *obj, struct api_verr *e)
{
	struct store_res *r = NULL;
	const json_t *deck = json_object_get(ctx->body, "sell_deck_id");
	const char *cust = json_string_value(json_object_get(obj, "customer_id"));

	if (!deck)
		return 0;
	if (!api_is_admin(ctx))
		return api_verr_set(e, 403, "forbidden", "/sell_deck_id",
				    "only an operator assigns rate decks");
	struct store_param p = store_p_text(cust);
	int rc = store_exec(ctx->conn, "SELECT currency FROM customers WHERE id = $1", &p, 1, &r);
	struct api_deck_use use = {
		.direction = "sell",
		.currency = rc == 0 && store_res_rows(r) == 1 ? store_res_text(r, 0, 0) : NULL,
		.owner = cust,
		.pointer = "/sell_deck_id",
		.currency_pointer = "/sell_deck_id",
	};
	rc = rc < 0 ? api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached")
		    : api_deck_assignable(ctx, deck, &use, e);
	store_res_free(r);
	return rc;
}

static int trunk_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			  struct api_verr *e)
{
	(void)creating;
	int rc = trunk_sell_deck(ctx, obj, e);
	rc = rc ? rc : api_digest_credentials(ctx, obj, e);
	return rc ? rc : api_trunk_acl_unclaimed(ctx, id, obj, e);
}

/* Numbers delivered to the trunk and its devices keep it: the caller moves
 * or deletes them first, and learns which rule refused the delete. */
static int trunk_can_delete(struct api_ctx *ctx, const char *id, struct api_verr *e)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	int rc = store_exec(ctx->conn,
			    "SELECT (SELECT count(*) FROM numbers WHERE trunk_id = $1), "
			    "(SELECT count(*) FROM trunk_devices WHERE trunk_id = $1)",
			    &p, 1, &r);
	int64_t n = rc == 0 ? store_res_int(r, 0, 0) : 0, d = rc == 0 ? store_res_int(r, 0, 1) : 0;
	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	if (n > 0)
		return api_verr_set(e, 409, "has_dependents", NULL,
				    "trunk %s still receives %lld number(s); move or delete them first",
				    id, (long long)n);
	if (d > 0)
		return api_verr_set(e, 409, "has_dependents", NULL,
				    "trunk %s still has %lld device(s); delete them first", id,
				    (long long)d);
	return 0;
}

static const struct api_field trunk_fields[] = {
	{ "name", NULL, API_F_STR, API_F_REQUIRED, 1, 200, NULL, NULL },
	{ "enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "acl", NULL, API_F_JSON, 0, 0, 0, NULL, check_acl },
	{ "username", "auth_username", API_F_STR, API_F_NULLABLE, 1, 64, NULL, NULL },
	{ "realm", "auth_realm", API_F_STR, API_F_NULLABLE, 1, 128, NULL, NULL },
	{ "password", "auth_ha1", API_F_STR, API_F_WRITEONLY | API_F_NULLABLE, 8, 128, NULL, NULL },
	/* The password's SHA-256 HA1, set only by api_digest_credentials. */
	{ "password_sha256", "auth_ha1_sha256", API_F_STR,
	  API_F_READONLY | API_F_WRITEONLY | API_F_NULLABLE, 0, 64, NULL, NULL },
	{ "tech_prefix", NULL, API_F_STR, 0, 0, 16, NULL, api_check_tech_prefix },
	{ "codecs", NULL, API_F_JSON, 0, 0, 0, NULL, check_codecs },
	{ "cps_limit", NULL, API_F_INT, 0, 0, 100000, NULL, NULL },
	{ "channel_limit", NULL, API_F_INT, 0, 0, 1000000, NULL, NULL },
	{ "destinations", NULL, API_F_JSON, 0, 0, 0, NULL, check_destinations },
	{ "max_call_duration", NULL, API_F_INT, 0, 0, 86400, NULL, NULL },
	{ "blocked_prefixes", NULL, API_F_JSON, 0, 0, 0, NULL, check_blocked },
	{ "media_mode", NULL, API_F_ENUM, 0, 0, 0, "relay|bypass", NULL },
	{ "topology_hiding", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "sell_deck_id", NULL, API_F_STR, API_F_NULLABLE, 1, 64, NULL, NULL },
};

const struct api_resource api_trunks = {
	.name = "trunk",
	.path = "/api/v1/trunks",
	.table = "trunks",
	.id_prefix = "trk",
	.scope = API_SCOPE_CUSTOMER,
	.fields = trunk_fields,
	.nfields = sizeof(trunk_fields) / sizeof(trunk_fields[0]),
	.validate = trunk_validate,
	.can_delete = trunk_can_delete,
};
