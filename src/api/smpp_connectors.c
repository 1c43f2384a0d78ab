/*
 * smpp_connectors.c — /api/v1/smpp-connectors (admins only): how the smsc
 * binds to a carrier's SMSC to send it messages.
 *
 * A connector belongs to one carrier for good: receipts are matched to
 * messages by carrier and upstream id, so moving a connector would orphan
 * the receipts of what it already sent (carrier_id is immutable); deleting
 * the carrier deletes its connectors.  The password is kept as given,
 * since WARP must present it in its bind (SMPP 3.4 §4.1.1), and is
 * write-only.  submit_id_base and receipt_id_base say how the upstream
 * writes its message ids (migration 0010).  Durations are milliseconds.
 * The smsc role reads enabled connectors of enabled carriers from its
 * snapshot and keeps `binds` sessions up for each.
 */
#include <string.h>

#include "api/api_private.h"
#include "smsc/smsc.h"

#define PATH_MAX_LEN 1024
/* What the schema's defaults are, for a create that gives only one bound. */
#define RECONNECT_MIN_DEFAULT 1000
#define RECONNECT_MAX_DEFAULT 60000
#define RECONNECT_LIMIT (3600 * 1000)

static int check_carrier(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			 struct api_verr *e)
{
	return api_check_exists(ctx, f, "carriers", "unknown_carrier", "carrier", *val, e);
}

/* RFC 6066 §3: server_name is a DNS host name; literal IPv4 and IPv6
 * addresses are not permitted in it. */
static int check_server_name(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			     struct api_verr *e)
{
	const char *s = json_string_value(*val);
	(void)ctx;
	(void)f;
	if (api_is_host(s) && !api_is_ip_literal(s))
		return 0;
	return api_verr_set(e, 422, "invalid_host", "/tls_server_name",
			    "'tls_server_name' must be a host name (not an address)");
}

/* The smsc opens the file from wherever it runs: a relative path would
 * depend on its working directory. */
static int check_ca_file(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			 struct api_verr *e)
{
	(void)ctx;
	(void)f;
	if (json_string_value(*val)[0] == '/')
		return 0;
	return api_verr_set(e, 422, "invalid_value", "/tls_ca_file",
			    "'tls_ca_file' must be an absolute path");
}

static int64_t int_or(const json_t *obj, const char *name, int64_t def)
{
	const json_t *v = json_object_get(obj, name);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* The backoff grows from reconnect_min_ms to reconnect_max_ms, so the
 * first must not exceed the second; the pointer names the bound the
 * request gave (the minimum when it gave both). */
static int connector_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			      struct api_verr *e)
{
	(void)id;
	(void)creating;
	int64_t lo = int_or(obj, "reconnect_min_ms", RECONNECT_MIN_DEFAULT);
	int64_t hi = int_or(obj, "reconnect_max_ms", RECONNECT_MAX_DEFAULT);
	if (lo <= hi)
		return 0;
	bool max_given = ctx->body && json_object_get(ctx->body, "reconnect_max_ms") &&
			 !json_object_get(ctx->body, "reconnect_min_ms");
	return api_verr_set(e, 422, "out_of_range",
			    max_given ? "/reconnect_max_ms" : "/reconnect_min_ms",
			    "'reconnect_min_ms' (%lld) must not exceed 'reconnect_max_ms' (%lld)",
			    (long long)lo, (long long)hi);
}

static int check_failover_errors(struct api_ctx *ctx, const struct api_field *f, json_t **val,
				 struct api_verr *e)
{
	return api_check_list(ctx, f, *val, SMSC_FAILOVER_ERRORS_MAX, api_check_word_entry, e);
}

static const struct api_field smpp_connector_fields[] = {
	{ "carrier_id", NULL, API_F_STR, API_F_REQUIRED | API_F_IMMUTABLE, 1, 64, NULL,
	  check_carrier },
	{ "name", NULL, API_F_STR, API_F_REQUIRED, 1, 200, NULL, NULL },
	{ "enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "host", NULL, API_F_STR, API_F_REQUIRED, 1, 253, NULL, api_check_host },
	{ "port", NULL, API_F_INT, 0, 1, 65535, NULL, NULL },
	{ "tls", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
	{ "tls_ca_file", NULL, API_F_STR, API_F_NULLABLE, 1, PATH_MAX_LEN, NULL, check_ca_file },
	{ "tls_server_name", NULL, API_F_STR, API_F_NULLABLE, 1, 253, NULL, check_server_name },
	{ "system_id", NULL, API_F_STR, API_F_REQUIRED, 1, API_SMPP_SYSTEM_ID_MAX, NULL,
	  api_check_system_id },
	{ "password", NULL, API_F_STR, API_F_REQUIRED | API_F_WRITEONLY, 1, API_SMPP_PASSWORD_MAX,
	  NULL, NULL },
	{ "system_type", NULL, API_F_STR, 0, 0, API_SMPP_SYSTEM_TYPE_MAX, NULL, NULL },
	{ "bind_mode", NULL, API_F_ENUM, 0, 0, 0, "transceiver|transmitter", NULL },
	{ "binds", NULL, API_F_INT, 0, 1, 16, NULL, NULL },
	{ "window", "window_size", API_F_INT, 0, 1, 1000, NULL, NULL },
	{ "throughput", NULL, API_F_INT, 0, 0, 100000, NULL, NULL },
	{ "enquire_link_ms", NULL, API_F_INT, 0, 1000, 300000, NULL, NULL },
	{ "response_timeout_ms", NULL, API_F_INT, 0, 1000, 120000, NULL, NULL },
	{ "reconnect_min_ms", NULL, API_F_INT, 0, 100, RECONNECT_LIMIT, NULL, NULL },
	{ "reconnect_max_ms", NULL, API_F_INT, 0, 100, RECONNECT_LIMIT, NULL, NULL },
	{ "submit_id_base", NULL, API_F_ENUM, 0, 0, 0, "text|hex|dec", NULL },
	{ "receipt_id_base", NULL, API_F_ENUM, 0, 0, 0, "text|hex|dec", NULL },
	/* SMPP 3.4 §5.2.5 and §5.2.6: the TON and NPI values it defines. */
	{ "default_ton", NULL, API_F_INT, 0, 0, 6, NULL, NULL },
	{ "default_npi", NULL, API_F_INT, 0, 0, 18, NULL, NULL },
	{ "concat", NULL, API_F_ENUM, 0, 0, 0, "udh|sar", NULL },
	/* Negative receipts that send the message to the route's next
	 * carrier: errors as WARP records them, "stat:<stat>" (decision 0051). */
	{ "failover_errors", NULL, API_F_JSON, 0, 0, 0, NULL, check_failover_errors },
};

const struct api_resource api_smpp_connectors = {
	.name = "smpp_connector",
	.path = "/api/v1/smpp-connectors",
	.table = "smpp_connectors",
	.id_prefix = "smc",
	.scope = API_SCOPE_ADMIN,
	.fields = smpp_connector_fields,
	.nfields = sizeof(smpp_connector_fields) / sizeof(smpp_connector_fields[0]),
	.validate = connector_validate,
};
