/*
 * campaigns.c — US A2P 10DLC registration (decision 0041):
 *   /api/v1/brands                         the companies a registry vetted
 *   /api/v1/campaigns                      a brand's registered use cases
 *   /api/v1/campaigns/{campaign_id}/numbers the US long codes that send for one
 * All per customer.  A customer writes its brands and campaigns, but what
 * the registry decides (registry_id, vetting_score, status) only an admin
 * sets, so no customer can make its own long codes send.  A number sends
 * for exactly one campaign (UNIQUE number_id: a second binding is 409),
 * and a campaign holds at most its max_numbers or [tendlc]
 * campaign_max_numbers.  Every write bumps the config version, so the
 * compliance snapshot (src/tendlc/) the send paths read sees it.
 */
#include <string.h>

#include "api/api_private.h"
#include "tendlc/tendlc.h"

#define SAMPLES_MAX 5
#define TEXT_MAX 320 /* two parts of GSM text */

/* The members of obj only an admin may write. */
static int registry_fields_admin(struct api_ctx *ctx, const char *const *names, struct api_verr *e)
{
	char ptr[64];

	if (api_is_admin(ctx))
		return 0;
	for (; *names; names++)
		if (json_object_get(ctx->body, *names)) {
			snprintf(ptr, sizeof(ptr), "/%s", *names);
			return api_verr_set(e, 403, "forbidden", ptr,
					    "'%s' is set by the operator from the registry",
					    *names);
		}
	return 0;
}

/* The customer a row being written belongs to (number_validate's rule). */
static const char *row_customer(struct api_ctx *ctx, const json_t *obj)
{
	const char *c = json_string_value(json_object_get(obj, "customer_id"));
	return c ? c : ctx->who->customer_id;
}

/* A row of table with id belongs to customer: 1, 0 when not, <0 on error. */
static int owned_by(struct api_ctx *ctx, const char *table, const char *id, const char *customer)
{
	struct store_res *r = NULL;
	char sql[96];
	struct store_param p[] = {store_p_text(id), store_p_text(customer)};

	snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = $1 AND customer_id = $2", table);
	int rc = store_exec(ctx->conn, sql, p, 2, &r);
	rc = rc < 0 ? rc : store_res_rows(r) == 1;
	store_res_free(r);
	return rc;
}

/* 409 while sql ($1: id) finds a row that depends on id. */
static int refuse_while_used(struct api_ctx *ctx, const char *sql, const char *id, const char *why,
			     struct api_verr *e)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	int rc = store_exec(ctx->conn, sql, &p, 1, &r);
	bool used = rc == 0 && store_res_rows(r) > 0;

	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (used)
		return api_verr_set(e, 409, "in_use", NULL, "%s %s", id, why);
	return 0;
}

static int check_registry_id(const json_t *v, char lead, const char *ptr, struct api_verr *e)
{
	const char *s = json_string_value(v);

	if (!v || json_is_null(v))
		return 0;
	if (s && s[0] == lead && strlen(s) >= 2 && api_is_printable(s))
		return 0;
	return api_verr_set(e, 422, "invalid_registry_id", ptr,
			    "a registry id starts with %c (such as %c7NX3QZ)", lead, lead);
}

/* ---------------------------------------------------------------- brands */

static int check_ein(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		     struct api_verr *e)
{
	const char *s = json_string_value(*val);
	(void)ctx;
	(void)f;
	/* IRS EIN: nine digits, written NN-NNNNNNN. */
	if (s && (api_is_digits(s, 9, 9) ||
		  (strlen(s) == 10 && s[2] == '-' && api_is_digits(s + 3, 7, 7) && s[0] >= '0' &&
		   s[0] <= '9' && s[1] >= '0' && s[1] <= '9')))
		return 0;
	return api_verr_set(e, 422, "invalid_ein", "/ein",
			    "'ein' is nine digits, such as 12-3456789");
}

static int brand_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			  struct api_verr *e)
{
	static const char *const registry[] = {"registry_id", "vetting_score", "status", NULL};
	(void)id;
	(void)creating;
	int rc = registry_fields_admin(ctx, registry, e);
	return rc ? rc
		  : check_registry_id(json_object_get(obj, "registry_id"), 'B', "/registry_id", e);
}

static int brand_can_delete(struct api_ctx *ctx, const char *id, struct api_verr *e)
{
	return refuse_while_used(ctx, "SELECT 1 FROM campaigns WHERE brand_id = $1 LIMIT 1", id,
				 "has campaigns", e);
}

static const struct api_field brand_fields[] = {
    {"legal_name", NULL, API_F_STR, API_F_REQUIRED, 1, 255, NULL, NULL},
    {"ein", NULL, API_F_STR, API_F_REQUIRED, 9, 10, NULL, check_ein},
    {"vertical", NULL, API_F_STR, API_F_REQUIRED, 1, 64, NULL, NULL},
    {"registry_id", NULL, API_F_STR, API_F_NULLABLE, 2, 32, NULL, NULL},
    {"vetting_score", NULL, API_F_INT, API_F_NULLABLE, 0, 100, NULL, NULL},
    {"status", NULL, API_F_ENUM, 0, 0, 0, "pending|verified|unverified|suspended", NULL},
};

const struct api_resource api_brands = {
    .name = "brand",
    .path = "/api/v1/brands",
    .table = "brands",
    .id_prefix = "brd",
    .scope = API_SCOPE_CUSTOMER,
    .fields = brand_fields,
    .nfields = sizeof(brand_fields) / sizeof(brand_fields[0]),
    .validate = brand_validate,
    .can_delete = brand_can_delete,
};

/* ------------------------------------------------------------- campaigns */

static int sample_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	(void)ctx;
	if (json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= TEXT_MAX)
		return 0;
	return api_verr_set(e, 422, "invalid_sample", ptr,
			    "a sample message is text of 1 to %d characters", TEXT_MAX);
}

static int check_samples(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			 struct api_verr *e)
{
	return api_check_list(ctx, f, *val, SAMPLES_MAX, sample_entry, e);
}

/* Per carrier ("att", "tmobile", …) an object of its class and limits
 * (decision 0050: att.class, <carrier>.sms_tpm, tmobile.daily_cap); only
 * its shape is checked here, a value of another type is as if not given. */
static int check_throughput(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			    struct api_verr *e)
{
	const char *carrier;
	json_t *v;
	char ptr[96];
	(void)ctx;
	(void)f;
	if (!json_is_object(*val))
		return api_verr_set(e, 422, "invalid_type", "/throughput",
				    "'throughput' is an object of carriers");
	json_object_foreach(*val, carrier, v)
	{
		snprintf(ptr, sizeof(ptr), "/throughput/%.64s", carrier);
		if (!json_is_object(v))
			return api_verr_set(e, 422, "invalid_type", ptr,
					    "a carrier's throughput is an object");
	}
	return 0;
}

static int campaign_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			     struct api_verr *e)
{
	/* What the registry and carriers decide: throughput sets how much a
	 * campaign may send (decision 0050), so no customer raises its own. */
	static const char *const registry[] = {"registry_id", "status", "throughput", NULL};
	const char *brand = json_string_value(json_object_get(obj, "brand_id"));
	(void)id;
	int rc = registry_fields_admin(ctx, registry, e);

	rc = rc ? rc
		: check_registry_id(json_object_get(obj, "registry_id"), 'C', "/registry_id", e);
	if (rc || !creating || !brand)
		return rc;
	rc = owned_by(ctx, "brands", brand, row_customer(ctx, obj));
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (rc == 0)
		return api_verr_set(e, 422, "not_found", "/brand_id",
				    "no brand %s for this customer", brand);
	return 0;
}

static int campaign_can_delete(struct api_ctx *ctx, const char *id, struct api_verr *e)
{
	return refuse_while_used(ctx,
				 "SELECT 1 FROM campaign_numbers WHERE campaign_id = $1 LIMIT 1",
				 id, "has numbers: unbind them first", e);
}

static const struct api_field campaign_fields[] = {
    {"brand_id", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 1, 64, NULL, NULL},
    {"registry_id", NULL, API_F_STR, API_F_NULLABLE, 2, 32, NULL, NULL},
    {"use_case", NULL, API_F_STR, API_F_REQUIRED, 1, 64, NULL, NULL},
    {"description", NULL, API_F_STR, API_F_NULLABLE, 1, 1024, NULL, NULL},
    {"sample_messages", NULL, API_F_JSON, 0, 0, 0, NULL, check_samples},
    {"opt_in_text", NULL, API_F_STR, API_F_NULLABLE, 1, TEXT_MAX, NULL, NULL},
    {"opt_out_text", NULL, API_F_STR, API_F_REQUIRED, 1, TEXT_MAX, NULL, NULL},
    {"help_text", NULL, API_F_STR, API_F_REQUIRED, 1, TEXT_MAX, NULL, NULL},
    {"status", NULL, API_F_ENUM, 0, 0, 0, "pending|active|suspended|expired", NULL},
    {"max_numbers", NULL, API_F_INT, API_F_NULLABLE, 1, 1000000, NULL, NULL},
    {"throughput", NULL, API_F_JSON, 0, 0, 0, NULL, check_throughput},
};

const struct api_resource api_campaigns = {
    .name = "campaign",
    .path = "/api/v1/campaigns",
    .table = "campaigns",
    .id_prefix = "cmp",
    .scope = API_SCOPE_CUSTOMER,
    .fields = campaign_fields,
    .nfields = sizeof(campaign_fields) / sizeof(campaign_fields[0]),
    .validate = campaign_validate,
    .can_delete = campaign_can_delete,
};

/* ------------------------------------------------------ numbers bound */

/* The campaign's cap and how many numbers it holds. */
static int campaign_room(struct api_ctx *ctx, const char *campaign, int64_t *cap, int64_t *held)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(campaign);
	int rc = store_exec(ctx->conn,
			    "SELECT c.max_numbers, (SELECT count(*) FROM campaign_numbers n WHERE "
			    "n.campaign_id = c.id) FROM campaigns c WHERE c.id = $1",
			    &p, 1, &r);

	if (rc == 0 && store_res_rows(r) == 1) {
		*cap = store_res_isnull(r, 0, 0) ? ctx->api->campaign_max_numbers
						 : store_res_int(r, 0, 0);
		*held = store_res_int(r, 0, 1);
	}
	store_res_free(r);
	return rc;
}

/* The number's e164 when it is the customer's: 1, 0 when not, <0 on error. */
static int number_of(struct api_ctx *ctx, const char *id, const char *customer, char *e164,
		     size_t n)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(id), store_p_text(customer)};
	int rc = store_exec(
	    ctx->conn, "SELECT e164 FROM numbers WHERE id = $1 AND customer_id = $2", p, 2, &r);
	if (rc == 0 && (rc = store_res_rows(r) == 1))
		snprintf(e164, n, "%s", store_res_text(r, 0, 0));
	store_res_free(r);
	return rc;
}

static int binding_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			    struct api_verr *e)
{
	const char *campaign = http_req_param(ctx->req, "campaign_id");
	const char *number = json_string_value(json_object_get(obj, "number_id"));
	const char *customer = row_customer(ctx, obj);
	char e164[32];
	int64_t cap = 0, held = 0;
	(void)id;
	if (!creating || !campaign || !number)
		return 0;
	int rc = owned_by(ctx, "campaigns", campaign, customer);
	int owned = rc;
	rc = rc < 0 ? rc : number_of(ctx, number, customer, e164, sizeof(e164));
	int found = rc;
	rc = rc < 0 ? rc : campaign_room(ctx, campaign, &cap, &held);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (!owned)
		return api_verr_set(e, 422, "not_found", "/customer_id",
				    "campaign %s is not this customer's", campaign);
	if (!found)
		return api_verr_set(e, 422, "not_found", "/number_id",
				    "no number %s for this customer", number);
	if (!tendlc_is_us_long_code(str_from_cstr(e164)))
		return api_verr_set(e, 422, "not_us_long_code", "/number_id",
				    "%s is not a US 10-digit long code", e164);
	if (held >= cap)
		return api_verr_set(e, 422, "campaign_full", "/number_id",
				    "campaign %s holds its %lld numbers", campaign, (long long)cap);
	return 0;
}

static const struct api_field binding_fields[] = {
    {"number_id", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 1, 64, NULL, NULL},
};

const struct api_resource api_campaign_numbers = {
    .name = "campaign_number",
    .path = "/api/v1/campaigns/{campaign_id}/numbers",
    .table = "campaign_numbers",
    .id_prefix = "cnb",
    .scope = API_SCOPE_CUSTOMER,
    .parent_param = "campaign_id",
    .parent_column = "campaign_id",
    .parent = &api_campaigns,
    .fields = binding_fields,
    .nfields = sizeof(binding_fields) / sizeof(binding_fields[0]),
    .validate = binding_validate,
};
