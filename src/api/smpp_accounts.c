/*
 * smpp_accounts.c — /api/v1/smpp-accounts: how a customer's ESMEs bind to
 * the smsc role.
 *
 * A bind names a system_id and a password, never a customer, so system_id
 * is unique across customers.  SMPP 3.4 (§5.2.1) carries the password in
 * clear, at most 8 characters: the store keeps only its PBKDF2 hash
 * (core/passhash.c), the field is write-only.  An account binds only from
 * the networks it lists (at least one: "0.0.0.0/0" says anywhere in so many
 * words), at most max_binds sessions at once, at throughput messages a
 * second (burst the bucket's depth, 0 = one second's worth) with at most
 * window PDUs unanswered.  The smsc role reads accounts from its snapshot.
 */
#include <string.h>

#include "api/api_private.h"

#define CIDRS_MAX 32

static int cidr_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	struct net_cidr c;
	(void)ctx;
	if (json_is_string(v) && net_cidr_parse(str_from_cstr(json_string_value(v)), &c) == 0)
		return 0;
	return api_verr_set(e, 422, "invalid_cidr", ptr,
			    "an entry must be an IPv4 or IPv6 network such as 192.0.2.0/24");
}

static int check_cidrs(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		       struct api_verr *e)
{
	int rc = api_check_list(ctx, f, *val, CIDRS_MAX, cidr_entry, e);
	if (rc == 0 && json_array_size(*val) == 0)
		return api_verr_set(
		    e, 422, "required", "/allowed_cidrs",
		    "'allowed_cidrs' needs at least one network (0.0.0.0/0 for any)");
	return rc;
}

/* Replaces the password by its hash: what the row stores. */
static int hash_password(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			 struct api_verr *e)
{
	char h[PASSHASH_MAX];
	(void)ctx;
	(void)f;
	if (!api_is_printable(json_string_value(*val)))
		return api_verr_set(e, 422, "invalid_password", "/password",
				    "'password' is printable ASCII without spaces");
	if (passhash_make(str_from_cstr(json_string_value(*val)), 0, h, sizeof(h)) < 0)
		return api_verr_set(e, 500, "internal", NULL, "cannot hash the password");
	json_decref(*val);
	*val = json_string(h);
	return *val ? 0 : api_verr_set(e, 500, "internal", NULL, "out of memory");
}

static const struct api_field smpp_account_fields[] = {
	{ "system_id", NULL, API_F_STR, API_F_REQUIRED, 1, API_SMPP_SYSTEM_ID_MAX, NULL,
	  api_check_system_id },
	{ "password", "password_hash", API_F_STR, API_F_REQUIRED | API_F_WRITEONLY, 1,
	  API_SMPP_PASSWORD_MAX, NULL, hash_password },
	{ "enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "allowed_cidrs", NULL, API_F_JSON, API_F_REQUIRED, 0, 0, NULL, check_cidrs },
	{ "max_binds", NULL, API_F_INT, 0, 1, 100, NULL, NULL },
	{ "throughput", NULL, API_F_INT, 0, 1, 100000, NULL, NULL },
	{ "burst", NULL, API_F_INT, 0, 0, 1000000, NULL, NULL },
	{ "window", "window_size", API_F_INT, 0, 1, 1000, NULL, NULL },
};

const struct api_resource api_smpp_accounts = {
	.name = "smpp_account",
	.path = "/api/v1/smpp-accounts",
	.table = "smpp_accounts",
	.id_prefix = "sma",
	.scope = API_SCOPE_CUSTOMER,
	.fields = smpp_account_fields,
	.nfields = sizeof(smpp_account_fields) / sizeof(smpp_account_fields[0]),
};
