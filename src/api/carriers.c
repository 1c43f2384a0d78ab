/*
 * carriers.c — /api/v1/carriers and /api/v1/carriers/{id}/gateways: the
 * upstream networks calls are routed to (admins only).  A carrier's stop
 * codes end a call at once instead of failing over, so a busy callee is
 * never rung twice; its gateways are tried by priority, then weight.  Its
 * SMPP connectors (smpp_connectors.c) are where the smsc sends messages.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"

#define STOP_CODES_MAX 20

static int stop_code_entry(struct api_ctx *ctx, const json_t *v, const char *ptr,
			   struct api_verr *e)
{
	(void)ctx;
	if (json_is_integer(v) && json_integer_value(v) >= 300 && json_integer_value(v) <= 699)
		return 0;
	return api_verr_set(e, 422, "out_of_range", ptr, "a stop code is a SIP status 300 to 699");
}

static int check_stop_codes(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			    struct api_verr *e)
{
	return api_check_list(ctx, f, *val, STOP_CODES_MAX, stop_code_entry, e);
}

/* How many rows of a route table name the carrier.  Routes hold carrier ids
 * in JSON, and ids are random, so a substring match finds exactly the
 * routes using it. */
static int carrier_routes_count(struct api_ctx *ctx, const char *table, const char *id, int64_t *n)
{
	struct store_res *r = NULL;
	char pattern[ID_MAX + 8], sql[96];
	snprintf(pattern, sizeof(pattern), "%%\"%s\"%%", id);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE carriers LIKE $1", table);
	struct store_param p = store_p_text(pattern);
	int rc = store_exec(ctx->conn, sql, &p, 1, &r);
	*n = rc == 0 ? store_res_int(r, 0, 0) : 0;
	store_res_free(r);
	return rc;
}

/* Buy decks kept for the carrier (rate_decks.carrier_id). */
static int64_t carrier_decks_count(struct api_ctx *ctx, const char *id)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	int rc = store_exec(ctx->conn, "SELECT count(*) FROM rate_decks WHERE carrier_id = $1", &p,
			    1, &r);
	int64_t n = rc == 0 ? store_res_int(r, 0, 0) : 0;
	store_res_free(r);
	return n;
}

/* The buy deck prices the carrier's calls: a buy deck shared or kept for
 * this carrier, in whatever currency the carrier bills. */
static int carrier_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			    struct api_verr *e)
{
	struct api_deck_use use = { "buy", NULL, id, "/buy_deck_id", "/buy_deck_id" };
	(void)creating;
	if (!json_object_get(ctx->body, "buy_deck_id"))
		return 0;
	return api_deck_assignable(ctx, json_object_get(obj, "buy_deck_id"), &use, e);
}

/* A voice or message route naming the carrier keeps it: deleting it would
 * leave the route pointing nowhere.  Its gateways and SMPP connectors are
 * its own and go with it. */
static int carrier_can_delete(struct api_ctx *ctx, const char *id, struct api_verr *e)
{
	int64_t calls = 0, messages = 0;
	int rc = carrier_routes_count(ctx, api_routes.table, id, &calls);
	rc = rc ? rc : carrier_routes_count(ctx, api_message_routes.table, id, &messages);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL, "the store cannot be reached");
	if (carrier_decks_count(ctx, id) > 0)
		return api_verr_set(e, 409, "has_dependents", NULL,
				    "carrier %s has rate decks kept for it; delete them first", id);
	if (calls + messages > 0)
		return api_verr_set(e, 409, "has_dependents", NULL,
				    "carrier %s is used by %lld route(s) and %lld message "
				    "route(s); change them first",
				    id, (long long)calls, (long long)messages);
	return 0;
}

/* Rows of res whose carrier_id is the carrier's: each gets its
 * "<name>.deleted" event in the carrier's delete transaction. */
static int carrier_children_deleted(struct api_ctx *ctx, const struct api_resource *res,
				    const char *id)
{
	struct buf q;
	struct store_res *r = NULL;
	struct store_param p = store_p_text(id);
	char type[64];

	snprintf(type, sizeof(type), "%s.deleted", res->name);
	buf_init(&q);
	int rc = api_rows_select(&q, res);
	rc = rc ? rc : buf_append_cstr(&q, " WHERE carrier_id = $1 ORDER BY id");
	rc = rc ? rc : store_exec(ctx->conn, q.p, &p, 1, &r);
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		json_t *row = api_row_json(res, r, i);
		rc = row ? api_event_emit(ctx, NULL, type, store_res_text(r, i, 0), row) : -ENOMEM;
		json_decref(row);
	}
	store_res_free(r);
	buf_fini(&q);
	return rc;
}

/* A carrier's gateways and SMPP connectors go with it (ON DELETE CASCADE):
 * event and webhook consumers see each of them go, not only the carrier. */
static int carrier_before_delete(struct api_ctx *ctx, const char *id)
{
	int rc = carrier_children_deleted(ctx, &api_gateways, id);
	return rc ? rc : carrier_children_deleted(ctx, &api_smpp_connectors, id);
}

static const struct api_field carrier_fields[] = {
	{ "name", NULL, API_F_STR, API_F_REQUIRED, 1, 200, NULL, NULL },
	{ "enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "tech_prefix", NULL, API_F_STR, 0, 0, 16, NULL, api_check_tech_prefix },
	{ "cps_limit", NULL, API_F_INT, 0, 0, 100000, NULL, NULL },
	{ "channel_limit", NULL, API_F_INT, 0, 0, 1000000, NULL, NULL },
	{ "stop_codes", NULL, API_F_JSON, 0, 0, 0, NULL, check_stop_codes },
	{ "buy_deck_id", NULL, API_F_STR, API_F_NULLABLE, 1, 64, NULL, NULL },
};

const struct api_resource api_carriers = {
	.name = "carrier",
	.path = "/api/v1/carriers",
	.table = "carriers",
	.id_prefix = "car",
	.scope = API_SCOPE_ADMIN,
	.fields = carrier_fields,
	.nfields = sizeof(carrier_fields) / sizeof(carrier_fields[0]),
	.validate = carrier_validate,
	.can_delete = carrier_can_delete,
	.before_delete = carrier_before_delete,
};

static const struct api_field gateway_fields[] = {
	{ "host", NULL, API_F_STR, API_F_REQUIRED, 1, 253, NULL, api_check_host },
	{ "port", NULL, API_F_INT, 0, 1, 65535, NULL, NULL },
	{ "transport", NULL, API_F_ENUM, 0, 0, 0, "udp|tcp|tls", NULL },
	{ "weight", NULL, API_F_INT, 0, 1, 1000, NULL, NULL },
	{ "priority", NULL, API_F_INT, 0, 0, 1000, NULL, NULL },
	{ "probe", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
};

const struct api_resource api_gateways = {
	.name = "gateway",
	.path = "/api/v1/carriers/{carrier_id}/gateways",
	.table = "gateways",
	.id_prefix = "gw",
	.scope = API_SCOPE_ADMIN,
	.parent_param = "carrier_id",
	.parent_column = "carrier_id",
	.parent = &api_carriers,
	.fields = gateway_fields,
	.nfields = sizeof(gateway_fields) / sizeof(gateway_fields[0]),
};
