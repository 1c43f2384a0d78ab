/*
 * numbers.c — /api/v1/numbers: E.164 numbers a customer owns, each pointing
 * at one of its trunks, with voice and SMS capabilities.  A number belongs
 * to one customer at a time: a second create answers 409.
 */
#include <string.h>

#include "api/api_private.h"

static int check_e164(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		      struct api_verr *e)
{
	(void)ctx;
	(void)f;
	if (api_is_e164(json_string_value(*val)))
		return 0;
	return api_verr_set(e, 422, "invalid_e164", "/e164",
			    "'e164' must be + and 7 to 15 digits, such as +14155550100");
}

/* The trunk must be the same customer's. */
static int number_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			   struct api_verr *e)
{
	const char *trunk = json_string_value(json_object_get(obj, "trunk_id"));
	const char *cust = json_string_value(json_object_get(obj, "customer_id"));
	struct store_res *r = NULL;
	(void)id;
	(void)creating;
	if (!trunk)
		return 0;
	if (!cust)
		cust = ctx->who->customer_id;
	struct store_param p[] = { store_p_text(trunk), store_p_text(cust) };
	int rc = store_exec(ctx->conn, "SELECT 1 FROM trunks WHERE id = $1 AND customer_id = $2", p, 2,
			    &r);
	bool found = rc == 0 && store_res_rows(r) == 1;
	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	if (!found)
		return api_verr_set(e, 422, "not_found", "/trunk_id", "no trunk %s for this customer",
				    trunk);
	return 0;
}

static const struct api_field number_fields[] = {
	{ "e164", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 8, 16, NULL, check_e164 },
	{ "trunk_id", NULL, API_F_STR, API_F_NULLABLE, 1, 64, NULL, NULL },
	{ "voice", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "sms", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
};

const struct api_resource api_numbers = {
	.name = "number",
	.path = "/api/v1/numbers",
	.table = "numbers",
	.id_prefix = "num",
	.scope = API_SCOPE_CUSTOMER,
	.fields = number_fields,
	.nfields = sizeof(number_fields) / sizeof(number_fields[0]),
	.validate = number_validate,
};
