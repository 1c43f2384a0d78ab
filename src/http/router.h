/*
 * router.h — private to src/http: matching a path against the router.
 *
 * The router is built at startup and then only read, so every worker thread
 * matches against the same tree without locks.  A match returns the handler
 * and the captured parameters as views into the path it was given, still
 * percent-encoded (names are the router's own NUL-terminated copies).
 */
#ifndef WARP_HTTP_ROUTER_H
#define WARP_HTTP_ROUTER_H

#include "http/http.h"

/* Parameters one pattern may capture; longer patterns are refused. */
#define HTTP_ROUTE_MAX_PARAMS 8
/* Paths with more segments than this are not found (bounds the walk). */
#define HTTP_ROUTE_MAX_SEGMENTS 32

enum http_route_result {
	HTTP_ROUTE_FOUND,
	HTTP_ROUTE_NOT_ALLOWED, /* the path is known, the method is not: 405 */
	HTTP_ROUTE_NOT_FOUND,   /* 404 */
};

struct http_route_param {
	const char *name; /* the router's copy; "*" for a trailing wildcard */
	struct str value; /* view into the matched path */
};

struct http_route_match {
	http_handler_fn fn;
	void *arg;
	unsigned allow; /* methods the path accepts (for Allow on 405) */
	size_t nparams;
	struct http_route_param params[HTTP_ROUTE_MAX_PARAMS];
};

/* path is the path as received (still percent-encoded), starting with '/';
 * it is split into segments before each is decoded, so parameter values
 * are views of encoded text (decode them with http_path_decode).  method is
 * one HTTP_* bit.  HEAD matches a GET route when no HEAD route is given
 * (RFC 9110 §9.3.2). */
enum http_route_result http_router_match(const struct http_router *r, unsigned method,
					 struct str path, struct http_route_match *m);

/* Percent-decodes in into out (room for in.len + 1 bytes, NUL-terminated);
 * returns the decoded length.  A '%' without two hex digits stays as is. */
size_t http_path_decode(struct str in, char *out);

/* "GET, HEAD, POST" for an Allow header; out should hold 64 bytes. */
void http_methods_format(unsigned methods, char *out, size_t n);

#endif
