/*
 * openapi.h — the API's own description (private to the api module).
 *
 * docs/openapi.yaml is converted to JSON at build time by
 * scripts/openapi-embed into a generated C file defining the two objects
 * below; openapi.c serves them, unauthenticated, at GET /api/v1/openapi.json.
 */
#ifndef WARP_API_OPENAPI_H
#define WARP_API_OPENAPI_H

#include <stddef.h>

#include "http/http.h"

/* The document as compact JSON, NUL-terminated; len excludes the NUL. */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

/* Adds GET /api/v1/openapi.json to r. */
int api_openapi_routes(struct http_router *r);

#endif
