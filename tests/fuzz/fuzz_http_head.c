/*
 * fuzz_http_head.c — arbitrary bytes through what WARP reads of an HTTP
 * request before evhttp does (src/http/head.c: where the head ends, whether
 * it is well formed, how it frames its body: Content-Length or chunked, or
 * refused as ambiguous; what follows it as a chunked body) and through
 * the router (the request line's path split into segments, matched against
 * the API's shapes of pattern, each parameter percent-decoded).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_private.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_router *fuzz_router;

static void fuzz_handler(struct http_req *req, void *arg)
{
	(void)req;
	(void)arg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const patterns[] = {
	    "/api/v1/customers",
	    "/api/v1/customers/{id}",
	    "/api/v1/carriers/{carrier_id}/gateways/{id}",
	    "/api/v1/webhooks/{id}/deliveries",
	    "/crm/*",
	};
	(void)argc;
	(void)argv;
	fuzz_router = http_router_new();
	if (!fuzz_router)
		abort();
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (http_router_add(fuzz_router, HTTP_GET | HTTP_PATCH, patterns[i], fuzz_handler,
				    NULL) < 0)
			abort();
	return 0;
}

/* The path of a request line "METHOD SP path SP version". */
static struct str fuzz_path(struct str head)
{
	ptrdiff_t sp = str_index(head, ' ');
	struct str rest, path;

	if (sp < 0)
		return (struct str){head.p, 0};
	rest = (struct str){head.p + sp + 1, head.len - (size_t)sp - 1};
	path = rest;
	for (size_t i = 0; i < rest.len; i++)
		if (rest.p[i] == ' ' || rest.p[i] == '\r' || rest.p[i] == '\n' ||
		    rest.p[i] == '?') {
			path.len = i;
			break;
		}
	return path;
}

static void fuzz_route(struct str path)
{
	struct http_route_match m;
	char *out;

	if (!path.len || path.p[0] != '/')
		return;
	if (http_router_match(fuzz_router, HTTP_GET, path, &m) != HTTP_ROUTE_FOUND)
		return;
	for (size_t i = 0; i < m.nparams; i++) {
		out = malloc(m.params[i].value.len + 1);
		if (!out)
			abort();
		if (http_path_decode(m.params[i].value, out) > m.params[i].value.len)
			abort();
		free(out);
	}
}

/* What follows the head as a chunked body (src/http/chunk.c), fed in
 * pieces of 7 bytes as a slow client would send it. */
static void fuzz_chunks(struct str body)
{
	struct http_chunk_scan s = {.limit = 4096};
	size_t at = 0, used;
	const char *why = NULL;
	int rc = 0;

	while (at < body.len && rc == 0) {
		size_t n = body.len - at < 7 ? body.len - at : 7;
		rc = http_chunk_scan(&s, (struct str){body.p + at, n}, &used, &why);
		if (used > n || (s.patch && !used) || (rc > 1 && !why) ||
		    (!rc && !s.patch && used != n))
			abort();
		at += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str all = {(const char *)data, size};
	size_t end = http_head_end(all, 0);
	struct http_framing framing;

	if (end > size)
		abort();
	if (end) {
		struct str target;
		const char *why = NULL;
		int status = http_head_check((struct str){all.p, end}, &target, &why);
		if ((status && !why) ||
		    (target.len && (target.p < all.p || target.p + target.len > all.p + end)))
			abort();
	}
	const char *why = NULL;
	int status = http_head_framing(end ? (struct str){all.p, end} : all, &framing, &why);
	if ((status && !why) || (status && status != 400 && status != 501) ||
	    (framing.chunked && framing.has_length && !status))
		abort();
	fuzz_chunks((struct str){all.p + end, size - end});
	fuzz_route(fuzz_path(all));
	return 0;
}
