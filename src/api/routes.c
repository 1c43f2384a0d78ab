/*
 * routes.c — /api/v1/routes and /api/v1/message-routes (admins only): a
 * destination prefix and the carriers to try for it, by priority and
 * weight.  A route is global, or one customer's; the SIP proxy (for a call)
 * and the smsc (for a message) take the longest matching prefix, a
 * customer's route winning over a global one of the same prefix.  Voice and
 * message routes are the same shape in two tables, so one set of fields
 * and checks serves both.  A route in mode lcr orders its carriers by their
 * buy rate for the number and may set a minimum margin (decision 0038).
 * A message route may carry filters (customers, customer labels, source,
 * destination and content regexes, destination prefixes, date and
 * time-of-day intervals in a time zone, content-rule tags) and a priority:
 * routes of one prefix and customer are tried by priority, the first whose
 * filters all match taking the message (decision 0051).  The filters are
 * compiled here as the smsc compiles them, so a bad regex or zone is a 422
 * naming it.
 */
#include <string.h>

#include "api/api_private.h"
#include "smsc/smsc.h"

#define ROUTE_CARRIERS_MAX 20

static int check_prefix(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			struct api_verr *e)
{
	(void)ctx;
	(void)f;
	/* The empty prefix is the default route. */
	if (api_is_digits(json_string_value(*val), 0, 15))
		return 0;
	return api_verr_set(e, 422, "invalid_prefix", "/prefix", "'prefix' is 0 to 15 digits");
}

static int carrier_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e)
{
	char p[160];
	int rc = api_check_members(v, ptr, "carrier_id|priority|weight", e);
	const char *id = json_string_value(api_member(v, "carrier_id", ptr, p, sizeof(p)));
	if (rc == 0 && !id)
		rc = api_verr_set(e, 422, "required", p, "'carrier_id' is required");
	if (rc == 0 && !api_row_visible(ctx, "carriers", NULL, id))
		rc = api_verr_set(e, 422, "unknown_carrier", p, "no carrier %s", id);
	rc = rc ? rc : api_check_int_member(v, "priority", ptr, 0, 1000, false, e);
	return rc ? rc : api_check_int_member(v, "weight", ptr, 1, 1000, false, e);
}

static int check_carriers(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			  struct api_verr *e)
{
	int rc = api_check_list(ctx, f, *val, ROUTE_CARRIERS_MAX, carrier_entry, e);
	if (rc == 0 && json_array_size(*val) == 0)
		return api_verr_set(e, 422, "required", "/carriers", "a route needs a carrier");
	return rc;
}

static int check_customer(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			  struct api_verr *e)
{
	return api_check_exists(ctx, f, "customers", "not_found", "customer", *val, e);
}

/* One route per prefix and customer (or per prefix globally) in res's
 * table: two would leave the longest-match lookup with no rule to choose
 * between them.  Answered 409, like any other duplicate. */
static int route_unique(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			const json_t *obj, struct api_verr *e)
{
	struct store_res *r = NULL;
	char sql[320];
	const char *prefix = json_string_value(json_object_get(obj, "prefix"));
	const char *cust = json_string_value(json_object_get(obj, "customer_id"));
	bool prio = res == &api_message_routes; /* several a prefix, by priority */
	struct store_param p[] = { store_p_text(prefix), store_p_text(cust), store_p_text(id),
				   store_p_int(json_integer_value(json_object_get(obj, "priority"))) };
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM %s WHERE prefix = $1 AND (customer_id = $2 OR "
		 "(customer_id IS NULL AND CAST($2 AS TEXT) IS NULL)) AND "
		 "(CAST($3 AS TEXT) IS NULL OR id <> $3)%s",
		 res->table, prio ? " AND priority = $4" : "");
	int rc = store_exec(ctx->conn, sql, p, prio ? 4 : 3, &r);
	bool taken = rc == 0 && store_res_rows(r) > 0;
	char other[ID_MAX] = "";
	if (taken)
		snprintf(other, sizeof(other), "%s", store_res_text(r, 0, 0));
	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	if (taken)
		return api_verr_set(e, 409, "duplicate", "/prefix",
				    "%s %s already serves prefix '%s' for %s%s", res->name, other,
				    prefix, cust ? cust : "every customer",
				    prio ? " at this priority" : "");
	return 0;
}

static int route_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			  struct api_verr *e)
{
	(void)creating;
	return route_unique(ctx, &api_routes, id, obj, e);
}

static int message_route_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
				  struct api_verr *e)
{
	(void)creating;
	return route_unique(ctx, &api_message_routes, id, obj, e);
}

/* The filters as the smsc's routing snapshot compiles them. */
static int check_filters(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			 struct api_verr *e)
{
	char ptr[96], why[200];

	(void)ctx;
	(void)f;
	if (smsc_route_filters_check(*val, ptr, sizeof(ptr), why, sizeof(why)) == 0)
		return 0;
	return api_verr_set(e, 422, "invalid_filter", ptr, "%s", why);
}

/* The fields of both; message routes have the last two as well. */
static const struct api_field route_fields[] = {
	{ "prefix", NULL, API_F_STR, API_F_REQUIRED, 0, 15, NULL, check_prefix },
	{ "customer_id", NULL, API_F_STR, API_F_NULLABLE, 1, 64, NULL, check_customer },
	{ "carriers", NULL, API_F_JSON, API_F_REQUIRED, 0, 0, NULL, check_carriers },
	/* Least-cost routing (decision 0038): carriers by buy rate, and the
	 * share of the sell rate a carrier must leave, in basis points. */
	{ "mode", NULL, API_F_ENUM, 0, 0, 0, "priority|lcr", NULL },
	{ "min_margin_bps", NULL, API_F_INT, API_F_NULLABLE, 0, 10000, NULL, NULL },
	/* Message routes only (decision 0051). */
	{ "priority", NULL, API_F_INT, 0, 0, 1000000, NULL, NULL },
	{ "filters", NULL, API_F_JSON, 0, 0, 0, NULL, check_filters },
};
#define ROUTE_FIELDS_VOICE 5

const struct api_resource api_routes = {
	.name = "route",
	.path = "/api/v1/routes",
	.table = "routes",
	.id_prefix = "rte",
	.scope = API_SCOPE_ADMIN,
	.fields = route_fields,
	.nfields = ROUTE_FIELDS_VOICE,
	.validate = route_validate,
};

const struct api_resource api_message_routes = {
	.name = "message_route",
	.path = "/api/v1/message-routes",
	.table = "message_routes",
	.id_prefix = "mrt",
	.scope = API_SCOPE_ADMIN,
	.fields = route_fields,
	.nfields = sizeof(route_fields) / sizeof(route_fields[0]),
	.validate = message_route_validate,
};
