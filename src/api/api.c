/*
 * api.c — the api role's assembly: which resources exist and at which
 * paths.  Each resource file describes its table; resource.c serves it.
 */
#include <errno.h>
#include <stdlib.h>

#include "api/api_private.h"
#include "api/message.h"
#include "api/openapi.h"

static const struct api_resource *const resources[] = {
	&api_customers,	    &api_trunks,	 &api_carriers, &api_gateways,
	&api_routes,	    &api_numbers,	 &api_webhooks, &api_keys,
	&api_smpp_accounts, &api_message_routes, &api_smpp_connectors,
	&api_rate_decks,    &api_brands,	 &api_campaigns, &api_campaign_numbers,
	&api_opt_outs,	    &api_content_rules,	 &api_trunk_devices,
	&api_carrier_prefixes,
};

struct api *api_new(const struct api_opts *o, char *err, size_t errlen)
{
	if (!o->store || !o->auth) {
		snprintf(err, errlen, "api: a store and an authenticator are required");
		return NULL;
	}
	struct api *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "api: out of memory");
		return NULL;
	}
	a->store = o->store;
	a->auth = o->auth;
	a->rl = o->rl;
	a->webhooks_allow_private = o->webhooks_allow_private;
	a->msg_default_validity_ms = o->msg_default_validity_ms;
	a->msg_max_validity_ms = o->msg_max_validity_ms;
	a->ledger.low_balance_threshold = o->low_balance_threshold;
	a->invoice = o->invoice;
	a->campaign_max_numbers = o->campaign_max_numbers > 0 ? o->campaign_max_numbers : 50;
	a->tendlc_opts = o->tendlc;
	a->rating = o->rating;
	if (!(a->refusals = api_refusals_new()) || api_messages_start(a, o->loader) < 0) {
		snprintf(err, errlen,
			 "api: out of memory, or the send checks' snapshot could not "
			 "be built from the store");
		api_refusals_free(a->refusals);
		free(a);
		return NULL;
	}
	return a;
}

void api_stop(struct api *a)
{
	if (a)
		api_messages_stop(a);
}

void api_free(struct api *a)
{
	if (a) {
		api_messages_stop(a);
		api_send_gate_fini(a);
		api_upstreams_free(a);
		api_refusals_free(a->refusals);
	}
	free(a);
}

int api_routes_add(struct api *a, struct http_router *r)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]) && rc == 0; i++)
		rc = api_resource_routes(a, r, resources[i]);
	rc = rc ? rc : api_events_routes(r);
	rc = rc ? rc : api_deliveries_routes(r);
	rc = rc ? rc : api_callback_secret_routes(r);
	rc = rc ? rc : api_cdrs_routes(r); /* cdrs.c */
	rc = rc ? rc : api_messages_routes(r); /* messages.c */
	rc = rc ? rc : api_deck_versions_routes(r); /* deck_versions.c */
	rc = rc ? rc : api_balances_routes(r); /* balances.c */
	rc = rc ? rc : api_sip_bans_routes(r); /* sip_bans.c */
	rc = rc ? rc : api_registrations_routes(r); /* registrations.c */
	rc = rc ? rc : api_invoices_routes(a, r); /* invoices.c */
	rc = rc ? rc : api_opt_outs_routes(r); /* opt_outs.c */
	rc = rc ? rc : api_carrier_prefixes_routes(r); /* carrier_prefixes.c */
	rc = rc ? rc : api_message_release_routes(r); /* message_release.c */
	rc = rc ? rc : api_export_routes(r); /* export_state.c */
	rc = rc ? rc : api_openapi_routes(r);
	return rc;
}
