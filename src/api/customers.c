/*
 * customers.c — /api/v1/customers: the accounts that own trunks, numbers
 * and keys.  Admins manage them; a customer's credential sees only its own
 * record.  Suspending a customer stops its traffic: the SIP and SMSC
 * snapshots carry the status.
 */
#include <ctype.h>
#include <string.h>

#include "api/api_private.h"

#define CREDIT_LIMIT_MAX (1000000000LL * 1000000) /* a billion, in micro-units */

/* ISO 4217: three upper-case letters. */
int api_check_currency(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		       struct api_verr *e)
{
	const char *c = json_string_value(*val);
	(void)ctx;
	(void)f;
	for (int i = 0; i < 3; i++)
		if (!isupper((unsigned char)c[i]))
			goto bad;
	if (c[3] == '\0')
		return 0;
bad:
	return api_verr_set(e, 422, "invalid_value", "/currency",
			    "'currency' must be an ISO 4217 code such as USD");
}

/* Everything that names the customer keeps it: its ledger entries are
 * facts never removed (decision 0035), its trunks, numbers and SMPP
 * accounts carry traffic, its webhooks, (message) routes and the rate decks
 * kept for it point at it,
 * and an unrevoked API key would otherwise keep authenticating as a
 * customer that no longer exists.  Revoked keys stay for the audit trail
 * and do not count. */
static int customer_can_delete(struct api_ctx *ctx, const char *id, struct api_verr *e)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	int64_t n = 0;
	int rc = store_exec(ctx->conn,
			    "SELECT (SELECT count(*) FROM trunks WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM numbers WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM webhooks WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM routes WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM message_routes WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM smpp_accounts WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM rate_decks WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM ledger_entries WHERE customer_id = $1) + "
			    "(SELECT count(*) FROM api_keys WHERE customer_id = $1 "
			    "AND revoked_at IS NULL)",
			    &p, 1, &r);
	if (rc == 0)
		n = store_res_int(r, 0, 0);
	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	if (n > 0)
		return api_verr_set(e, 409, "has_dependents", NULL,
				    "customer %s still has trunks, numbers, SMPP accounts, "
				    "webhooks, routes, message routes, rate decks kept for it, "
				    "ledger entries (kept for ever) or active API keys; delete "
				    "or revoke them first",
				    id);
	return 0;
}

/* Labels: what message routes' customer_labels filters match (decision
 * 0051), WARP's customer groups. */
static int check_labels(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			struct api_verr *e)
{
	return api_check_list(ctx, f, *val, 32, api_check_word_entry, e);
}

static const struct api_field customer_fields[] = {
	{ "name", NULL, API_F_STR, API_F_REQUIRED, 1, 200, NULL, NULL },
	{ "status", NULL, API_F_ENUM, 0, 0, 0, "active|suspended", NULL },
	{ "billing_type", NULL, API_F_ENUM, 0, 0, 0, "prepaid|postpaid", NULL },
	{ "currency", NULL, API_F_STR, 0, 3, 3, NULL, api_check_currency },
	{ "credit_limit", NULL, API_F_INT, 0, 0, CREDIT_LIMIT_MAX, NULL, NULL },
	{ "cps_limit", NULL, API_F_INT, 0, 0, 100000, NULL, NULL },
	{ "channel_limit", NULL, API_F_INT, 0, 0, 1000000, NULL, NULL },
	{ "sell_deck_id", NULL, API_F_STR, API_F_NULLABLE, 1, 64, NULL, NULL },
	/* micro-units; null: [billing] low_balance_threshold (balances.c) */
	{ "low_balance_threshold", NULL, API_F_INT, API_F_NULLABLE, -CREDIT_LIMIT_MAX,
	  CREDIT_LIMIT_MAX, NULL, NULL },
	/* basis points of the sell rate; lcr routes without their own (decision 0038) */
	{ "min_margin_bps", NULL, API_F_INT, API_F_NULLABLE, 0, 10000, NULL, NULL },
	{ "labels", NULL, API_F_JSON, 0, 0, 0, NULL, check_labels },
};

/* Defaults the schema cannot give: status and billing type are NOT NULL
 * without defaults, so a create names them or gets these.  The sell deck
 * is in the customer's currency, checked again when either changes. */
static int customer_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			     struct api_verr *e)
{
	if (creating) {
		if (!json_object_get(obj, "status"))
			json_object_set_new(obj, "status", json_string("active"));
		/* postpaid: a prepaid customer is refused every call and message
		 * until it has a sell deck (decision 0052), so it is asked for */
		if (!json_object_get(obj, "billing_type"))
			json_object_set_new(obj, "billing_type", json_string("postpaid"));
		if (!json_object_get(obj, "currency"))
			json_object_set_new(obj, "currency", json_string("USD"));
	}
	bool deck_given = json_object_get(ctx->body, "sell_deck_id") != NULL;
	if (!deck_given && !json_object_get(ctx->body, "currency"))
		return 0;
	struct api_deck_use use = {
		.direction = "sell",
		.currency = json_string_value(json_object_get(obj, "currency")),
		.owner = id,
		.pointer = "/sell_deck_id",
		.currency_pointer = deck_given ? "/sell_deck_id" : "/currency",
	};
	return api_deck_assignable(ctx, json_object_get(obj, "sell_deck_id"), &use, e);
}

const struct api_resource api_customers = {
	.name = "customer",
	.path = "/api/v1/customers",
	.table = "customers",
	.id_prefix = "cus",
	.scope = API_SCOPE_SELF,
	.fields = customer_fields,
	.nfields = sizeof(customer_fields) / sizeof(customer_fields[0]),
	.validate = customer_validate,
	.can_delete = customer_can_delete,
};
