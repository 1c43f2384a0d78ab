/*
 * trunk_devices.c — /api/v1/trunks/{trunk_id}/devices: digest credentials
 * of one device (a handset, a branch's PBX) under a trunk (decision 0048).
 *
 * A device has its own username, realm ("warp" unless given) and
 * write-only password, kept as its MD5 and SHA-256 HA1s exactly as a
 * trunk's (api_digest_credentials in trunks.c).  The SIP proxy admits an
 * enabled device's calls and REGISTERs as its trunk, and its REGISTER
 * binds the AOR of the device's own username.  A customer manages the
 * devices of its own trunks (the trunk in the path must be visible to the
 * caller); an operator names the trunk's customer as customer_id.
 */
#include <string.h>

#include "api/api_private.h"

/* The trunk of the path belongs to the row's customer: a device is its
 * trunk's customer's, whoever writes it. */
static int device_trunk_owned(struct api_ctx *ctx, const json_t *obj, struct api_verr *e)
{
	const char *c = json_string_value(json_object_get(obj, "customer_id"));
	const char *trunk = http_req_param(ctx->req, "trunk_id");
	struct store_param p[] = {store_p_text(trunk), store_p_text(c ? c : ctx->who->customer_id)};
	struct store_res *r = NULL;
	int rc = store_exec(ctx->conn, "SELECT 1 FROM trunks WHERE id = $1 AND customer_id = $2", p,
			    2, &r);
	bool owned = rc == 0 && store_res_rows(r) == 1;

	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (!owned)
		return api_verr_set(e, 422, "not_found", "/customer_id",
				    "trunk %s is not this customer's", trunk);
	return 0;
}

static int device_validate(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			   struct api_verr *e)
{
	(void)id;
	(void)creating;
	int rc = device_trunk_owned(ctx, obj, e);
	return rc ? rc : api_digest_credentials(ctx, obj, e);
}

static const struct api_field device_fields[] = {
    {"username", NULL, API_F_STR, API_F_REQUIRED, 1, 64, NULL, NULL},
    {"realm", NULL, API_F_STR, 0, 1, 128, NULL, NULL},
    {"password", "auth_ha1", API_F_STR, API_F_REQUIRED | API_F_WRITEONLY, 8, 128, NULL, NULL},
    /* The password's SHA-256 HA1, set only by api_digest_credentials. */
    {"password_sha256", "auth_ha1_sha256", API_F_STR,
     API_F_READONLY | API_F_WRITEONLY | API_F_NULLABLE, 0, 64, NULL, NULL},
    {"enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL},
};

const struct api_resource api_trunk_devices = {
    .name = "trunk_device",
    .path = "/api/v1/trunks/{trunk_id}/devices",
    .table = "trunk_devices",
    .id_prefix = "dev",
    .scope = API_SCOPE_CUSTOMER,
    .parent_param = "trunk_id",
    .parent_column = "trunk_id",
    .parent = &api_trunks,
    .fields = device_fields,
    .nfields = sizeof(device_fields) / sizeof(device_fields[0]),
    .validate = device_validate,
};
