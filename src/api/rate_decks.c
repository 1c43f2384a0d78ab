/*
 * rate_decks.c — /api/v1/rate-decks: the price lists of the billing
 * module (decision 0034).  A sell deck is what customers pay, a buy deck
 * what a carrier charges, each in one currency; its prices come in
 * versions imported from CSV (deck_versions.c).  Admins only: a buy deck
 * is the operator's cost, and a customer's prices reach it on its CDRs.
 *
 * A deck may be kept for one owner (customer_id on a sell deck, carrier_id
 * on a buy deck) or shared.  Assigning one — customers.sell_deck_id,
 * trunks.sell_deck_id, carriers.buy_deck_id — goes through
 * api_deck_assignable, so every way in checks the same rules.
 */
#include <string.h>

#include "api/api_private.h"

static int check_owner_customer(struct api_ctx *ctx, const struct api_field *f, json_t **val,
				struct api_verr *e)
{
	return api_check_exists(ctx, f, "customers", "not_found", "customer", *val, e);
}

static int check_owner_carrier(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			       struct api_verr *e)
{
	return api_check_exists(ctx, f, "carriers", "not_found", "carrier", *val, e);
}

/* A sell deck kept for a customer is in that customer's currency; a buy
 * deck belongs to a carrier, never to a customer, and the other way round. */
static int deck_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			 struct api_verr *e)
{
	const char *dir = json_string_value(json_object_get(obj, "direction"));
	const char *cust = json_string_value(json_object_get(obj, "customer_id"));
	const char *car = json_string_value(json_object_get(obj, "carrier_id"));
	const char *cur = json_string_value(json_object_get(obj, "currency"));
	(void)id;

	if (!creating)
		return 0; /* direction, currency and owners are immutable */
	if (strcmp(dir, "sell") == 0 && car)
		return api_verr_set(e, 422, "invalid_owner", "/carrier_id",
				    "a sell deck is kept for a customer, not a carrier");
	if (strcmp(dir, "buy") == 0 && cust)
		return api_verr_set(e, 422, "invalid_owner", "/customer_id",
				    "a buy deck is kept for a carrier, not a customer");
	if (!cust)
		return 0;
	struct store_res *r = NULL;
	struct store_param p = store_p_text(cust);
	int rc = store_exec(ctx->conn, "SELECT currency FROM customers WHERE id = $1", &p, 1, &r);
	if (rc == 0 && store_res_rows(r) == 1 && strcmp(store_res_text(r, 0, 0), cur) != 0)
		rc = api_verr_set(e, 422, "currency_mismatch", "/currency",
				  "customer %s is billed in %s, not %s", cust,
				  store_res_text(r, 0, 0), cur);
	else if (rc < 0)
		rc = api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	store_res_free(r);
	return rc;
}

/* A deck in use stays: customers, trunks or carriers priced by it would
 * silently lose their prices. */
static int deck_can_delete(struct api_ctx *ctx, const char *id, struct api_verr *e)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	int rc = store_exec(ctx->conn,
			    "SELECT (SELECT count(*) FROM customers WHERE sell_deck_id = $1) + "
			    "(SELECT count(*) FROM trunks WHERE sell_deck_id = $1) + "
			    "(SELECT count(*) FROM carriers WHERE buy_deck_id = $1)",
			    &p, 1, &r);
	int64_t n = rc == 0 ? store_res_int(r, 0, 0) : 0;
	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (n > 0)
		return api_verr_set(e, 409, "has_dependents", NULL,
				    "rate deck %s is assigned to %lld customer(s), trunk(s) or "
				    "carrier(s); assign another first",
				    id, (long long)n);
	return 0;
}

/* The rows of the deck's versions go with it (the versions themselves by
 * ON DELETE CASCADE; rows carry no foreign key, see 0016). */
static int deck_before_delete(struct api_ctx *ctx, const char *id)
{
	struct store_param p = store_p_text(id);

	return store_exec(ctx->conn,
			  "DELETE FROM rate_deck_rows WHERE version_id IN "
			  "(SELECT id FROM rate_deck_versions WHERE deck_id = $1)",
			  &p, 1, NULL);
}

int api_deck_assignable(struct api_ctx *ctx, const json_t *deck, const struct api_deck_use *use,
			struct api_verr *e)
{
	struct store_res *r = NULL;
	const char *id = json_string_value(deck);

	if (!id)
		return 0; /* null: no deck of its own */
	struct store_param p = store_p_text(id);
	int rc = store_exec(ctx->conn,
			    "SELECT direction, currency, customer_id, carrier_id FROM rate_decks "
			    "WHERE id = $1",
			    &p, 1, &r);
	if (rc < 0) {
		rc = api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	} else if (store_res_rows(r) == 0) {
		rc = api_verr_set(e, 422, "not_found", use->pointer, "no rate deck %s", id);
	} else if (strcmp(store_res_text(r, 0, 0), use->direction) != 0) {
		rc = api_verr_set(e, 422, "wrong_direction", use->pointer,
				  "rate deck %s is a %s deck; a %s deck is needed here", id,
				  store_res_text(r, 0, 0), use->direction);
	} else if (use->currency && strcmp(store_res_text(r, 0, 1), use->currency) != 0) {
		rc = api_verr_set(e, 422, "currency_mismatch", use->currency_pointer,
				  "rate deck %s is in %s, the customer is billed in %s", id,
				  store_res_text(r, 0, 1), use->currency);
	} else {
		size_t col = strcmp(use->direction, "sell") == 0 ? 2 : 3;
		const char *owner = store_res_isnull(r, 0, col) ? NULL : store_res_text(r, 0, col);
		if (owner && (!use->owner || strcmp(owner, use->owner) != 0))
			rc = api_verr_set(e, 422, "not_owner", use->pointer,
					  "rate deck %s is kept for %s", id, owner);
	}
	store_res_free(r);
	return rc;
}

static const struct api_field deck_fields[] = {
    {"name", NULL, API_F_STR, API_F_REQUIRED, 1, 200, NULL, NULL},
    {"direction", NULL, API_F_ENUM, API_F_REQUIRED | API_F_IMMUTABLE, 0, 0, "sell|buy", NULL},
    {"currency", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 3, 3, NULL, api_check_currency},
    {"customer_id", NULL, API_F_STR, API_F_NULLABLE | API_F_IMMUTABLE, 1, 64, NULL,
     check_owner_customer},
    {"carrier_id", NULL, API_F_STR, API_F_NULLABLE | API_F_IMMUTABLE, 1, 64, NULL,
     check_owner_carrier},
};

const struct api_resource api_rate_decks = {
    .name = "rate_deck",
    .path = "/api/v1/rate-decks",
    .table = "rate_decks",
    .id_prefix = "rdk",
    .scope = API_SCOPE_ADMIN,
    .fields = deck_fields,
    .nfields = sizeof(deck_fields) / sizeof(deck_fields[0]),
    .validate = deck_validate,
    .can_delete = deck_can_delete,
    .before_delete = deck_before_delete,
};
