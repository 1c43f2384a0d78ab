/*
 * openapi.c — GET /api/v1/openapi.json: the OpenAPI 3.1 description of this
 * API (docs/openapi.yaml, compiled in as JSON by scripts/openapi-embed).
 *
 * It is served without credentials (the gateway lets this one path through)
 * so that clients and tools can discover the API before they hold a key.
 * The text is static, read-only and shared by every thread.
 */
#include "api/openapi.h"

/* RFC 8259 §11: application/json defines no charset parameter. */
#define OPENAPI_CONTENT_TYPE "application/json"

static void openapi_get(struct http_req *req, void *arg)
{
	(void)arg;
	http_reply_raw(req, 200, OPENAPI_CONTENT_TYPE, api_openapi_json, api_openapi_json_len);
}

int api_openapi_routes(struct http_router *r)
{
	return http_router_add(r, HTTP_GET, "/api/v1/openapi.json", openapi_get, NULL);
}
