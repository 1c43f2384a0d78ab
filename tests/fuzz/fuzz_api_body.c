/*
 * fuzz_api_body.c — arbitrary bytes as a request body of every API
 * resource: parsed as http_req_json parses bodies (jansson, duplicate keys
 * refused), then, when it is an object, each resource's field checks for a
 * create and for a patch (types, lengths, choices, E.164 numbers, CIDRs,
 * codecs, URIs, webhook URLs and their addresses).  The checks run as an
 * admin and never reach the store.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const struct api_resource *res, const json_t *body, bool creating)
{
	static struct api api;
	static const struct auth_identity admin = { .role = AUTH_ROLE_ADMIN,
						    .scopes = AUTH_SCOPE_READ | AUTH_SCOPE_WRITE };
	struct api_ctx ctx = { .api = &api, .who = &admin };
	struct api_verr e = { 0 };
	json_t *copy = json_deep_copy(body);

	if (!copy)
		return;
	if (api_body_validate(&ctx, res, copy, creating, &e) < 0 &&
	    (e.status < 400 || e.status > 499 || !e.code[0]))
		abort(); /* every refusal names a 4xx and a code */
	json_decref(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct api_resource *const resources[] = {
		&api_customers, &api_trunks,   &api_carriers, &api_gateways,
		&api_routes,	&api_numbers,  &api_webhooks, &api_keys,
	};
	json_error_t err;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);

	if (!body)
		return 0;
	if (json_is_object(body))
		for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
			fuzz_one(resources[i], body, true);
			fuzz_one(resources[i], body, false);
		}
	json_decref(body);
	return 0;
}
