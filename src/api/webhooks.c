/*
 * webhooks.c — /api/v1/webhooks: where a customer wants its events
 * delivered.  Deliveries are signed with HMAC-SHA256 over the timestamp and
 * body using the webhook's secret, which is write-only.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"
#include "api/webhook_dispatch.h"

#define EVENT_TYPES_MAX 32

/* An http(s) URL curl can parse; its host may not be a literal non-public
 * address unless [webhooks] allow_private (webhook_target.c).  This holds
 * for admins too: the check protects the operator's network, and an admin
 * who wants internal receivers sets allow_private.  A message's
 * callback_url is held to the same rule (message_input.c). */
int api_check_webhook_url(struct api_ctx *ctx, const char *u, const char *pointer,
			  struct api_verr *e)
{
	char why[256] = "the URL cannot be checked";
	if ((strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0) ||
	    strpbrk(u, " \t\r\n<>\"") || strlen(u) <= 8)
		return api_verr_set(e, 422, "invalid_url", pointer,
				    "'%s' must be an http:// or https:// URL", pointer + 1);
	int rc = api_webhook_url_check(u, ctx->api->webhooks_allow_private, why, sizeof(why));
	if (rc == -EACCES)
		return api_verr_set(e, 422, "private_address", pointer, "%s", why);
	if (rc < 0)
		return api_verr_set(e, 422, "invalid_url", pointer, "%s", why);
	return 0;
}

static int check_url(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		     struct api_verr *e)
{
	(void)f;
	return api_check_webhook_url(ctx, json_string_value(*val), "/url", e);
}

/* "*", "trunk.*" or "trunk.created": lower-case words and dots. */
static int event_type_entry(struct api_ctx *ctx, const json_t *v, const char *ptr,
			    struct api_verr *e)
{
	const char *t = json_string_value(v);
	(void)ctx;
	if (t && *t && strlen(t) <= 64 && strspn(t, "abcdefghijklmnopqrstuvwxyz_.*") == strlen(t))
		return 0;
	return api_verr_set(e, 422, "invalid_value", ptr,
			    "an event type is like \"trunk.created\", \"trunk.*\" or \"*\"");
}

static int check_event_types(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			     struct api_verr *e)
{
	int rc = api_check_list(ctx, f, *val, EVENT_TYPES_MAX, event_type_entry, e);
	if (rc == 0 && json_array_size(*val) == 0)
		return api_verr_set(e, 422, "required", "/event_types", "name at least one event type");
	return rc;
}

static const struct api_field webhook_fields[] = {
	{ "url", NULL, API_F_STR, API_F_REQUIRED | API_F_URL, 8, 2048, NULL, check_url },
	{ "secret", NULL, API_F_STR, API_F_REQUIRED | API_F_WRITEONLY, 16, 256, NULL, NULL },
	{ "event_types", NULL, API_F_JSON, 0, 0, 0, NULL, check_event_types },
	{ "enabled", NULL, API_F_BOOL, 0, 0, 0, NULL, NULL },
};

const struct api_resource api_webhooks = {
	.name = "webhook",
	.path = "/api/v1/webhooks",
	.table = "webhooks",
	.id_prefix = "whk",
	.scope = API_SCOPE_CUSTOMER,
	.fields = webhook_fields,
	.nfields = sizeof(webhook_fields) / sizeof(webhook_fields[0]),
};
