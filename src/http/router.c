/*
 * router.c — path patterns to handlers.
 *
 * Patterns are split on '/' into a tree: each node has literal children, at
 * most one parameter child ({name}), the routes that end at it and the
 * routes that end at it with a trailing "*" segment.  Matching walks the tree with
 * literal segments tried before the parameter and the parameter before the
 * wildcard, backing up when a branch leads nowhere, so "/users/me" beats
 * "/users/{id}" and "/users/{id}/keys" still matches "/users/me/keys" when
 * only the parameter branch has it.  Parameter names live on the route, not
 * on the tree, so "/a/{id}" and "/a/{name}/b" may share a node.
 *
 * The router is filled at startup and never changed afterwards: every
 * worker thread reads it without locks.  Empty segments are ignored, so
 * "/a//b/" matches "/a/b".
 *
 * Paths are matched as received: split on '/' first, each segment then
 * percent-decoded (RFC 3986 §2.2: an encoded reserved character is data,
 * not a delimiter).  So "/carriers/a%2Fgateways" is the carrier
 * "a/gateways", never the gateways of carrier "a"; a parameter may hold a
 * '/', and literal segments compare decoded ("/cust%6Fmers" is
 * "/customers", RFC 3986 §6.2.2.2).
 */
#include "http/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_METHODS_ALL                                                                 \
	(HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE | HTTP_HEAD | HTTP_OPTIONS)

struct route {
	unsigned methods;
	http_handler_fn fn;
	void *arg;
	size_t nnames;
	char *names[HTTP_ROUTE_MAX_PARAMS];
};

struct node {
	char *literal; /* this node's segment when it is a literal child */
	struct node **children;
	size_t nchildren;
	struct node *param;
	struct route *routes; /* patterns ending here */
	size_t nroutes;
	struct route *wild; /* patterns ending here with a "*" segment */
	size_t nwild;
};

struct http_router {
	struct node root;
};

/* Cuts the next non-empty segment off the front of rest. */
static bool seg_next(struct str *rest, struct str *seg)
{
	while (rest->len && rest->p[0] == '/') {
		rest->p++;
		rest->len--;
	}
	if (!rest->len)
		return false;
	size_t i = 0;
	while (i < rest->len && rest->p[i] != '/')
		i++;
	*seg = (struct str){ rest->p, i };
	rest->p += i;
	rest->len -= i;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The byte at *i of s, percent-decoded, and *i past it.  A '%' without two
 * hex digits after it stands for itself, as evhttp_uridecode reads it. */
static char pct_next(struct str s, size_t *i)
{
	size_t at = *i;

	if (s.p[at] == '%' && at + 2 < s.len &&
	    hex_digit(s.p[at + 1]) >= 0 && hex_digit(s.p[at + 2]) >= 0) {
		*i += 3;
		return (char)(hex_digit(s.p[at + 1]) * 16 + hex_digit(s.p[at + 2]));
	}
	*i += 1;
	return s.p[at];
}

size_t http_path_decode(struct str in, char *out)
{
	size_t i = 0, n = 0;

	while (i < in.len)
		out[n++] = pct_next(in, &i);
	out[n] = '\0';
	return n;
}

/* hot path: no allocation, no locks, no I/O */
static bool seg_eq_literal(struct str seg, const char *lit)
{
	size_t i = 0;

	while (i < seg.len && *lit)
		if (pct_next(seg, &i) != *lit++)
			return false;
	return i == seg.len && !*lit;
}

static void route_fini(struct route *rt)
{
	for (size_t i = 0; i < rt->nnames; i++)
		free(rt->names[i]);
}

static void node_fini(struct node *n)
{
	for (size_t i = 0; i < n->nchildren; i++) {
		node_fini(n->children[i]);
		free(n->children[i]);
	}
	free(n->children);
	if (n->param) {
		node_fini(n->param);
		free(n->param);
	}
	for (size_t i = 0; i < n->nroutes; i++)
		route_fini(&n->routes[i]);
	for (size_t i = 0; i < n->nwild; i++)
		route_fini(&n->wild[i]);
	free(n->routes);
	free(n->wild);
	free(n->literal);
}

struct http_router *http_router_new(void)
{
	return calloc(1, sizeof(struct http_router));
}

void http_router_free(struct http_router *r)
{
	if (!r)
		return;
	node_fini(&r->root);
	free(r);
}

/* The literal child for seg; decoded tells whether seg is percent-encoded
 * (a received path) or not (a pattern). */
static struct node *node_child(const struct node *n, struct str seg, bool decoded)
{
	for (size_t i = 0; i < n->nchildren; i++)
		if (decoded ? seg_eq_literal(seg, n->children[i]->literal)
			    : str_eq_cstr(seg, n->children[i]->literal))
			return n->children[i];
	return NULL;
}

static struct node *node_child_add(struct node *n, struct str seg)
{
	struct node *c = node_child(n, seg, false);
	if (c)
		return c;
	struct node **v = realloc(n->children, (n->nchildren + 1) * sizeof(*v));
	if (!v)
		return NULL;
	n->children = v;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->literal = str_dup(seg))) {
		free(c);
		return NULL;
	}
	n->children[n->nchildren++] = c;
	return c;
}

static struct node *node_param_add(struct node *n)
{
	if (!n->param)
		n->param = calloc(1, sizeof(*n->param));
	return n->param;
}

static bool param_name_valid(struct str name)
{
	if (!name.len)
		return false;
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

static bool seg_is_param(struct str seg)
{
	return seg.len >= 2 && seg.p[0] == '{' && seg.p[seg.len - 1] == '}';
}

/* Walks (creating) the tree for pattern; collects parameter names into rt.
 * Sets *wild when the last segment is a lone "*". */
static int pattern_walk(struct node *root, const char *pattern, struct route *rt,
			struct node **out, bool *wild)
{
	struct str rest = str_from_cstr(pattern), seg;
	struct node *n = root;

	*wild = false;
	if (!rest.len || rest.p[0] != '/')
		return -EINVAL;
	while (seg_next(&rest, &seg)) {
		if (*wild)
			return -EINVAL; /* "*" only as the last segment */
		if (str_eq_cstr(seg, "*")) {
			*wild = true;
			continue;
		}
		if (seg_is_param(seg)) {
			struct str name = { seg.p + 1, seg.len - 2 };
			if (!param_name_valid(name) || rt->nnames == HTTP_ROUTE_MAX_PARAMS)
				return -EINVAL;
			if (!(rt->names[rt->nnames] = str_dup(name)))
				return -ENOMEM;
			rt->nnames++;
			n = node_param_add(n);
		} else {
			if (memchr(seg.p, '{', seg.len) || memchr(seg.p, '}', seg.len) ||
			    memchr(seg.p, '*', seg.len))
				return -EINVAL;
			n = node_child_add(n, seg);
		}
		if (!n)
			return -ENOMEM;
	}
	*out = n;
	return 0;
}

static int routes_append(struct route **v, size_t *n, const struct route *rt)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].methods & rt->methods)
			return -EEXIST;
	struct route *nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = *rt;
	return 0;
}

int http_router_add(struct http_router *r, unsigned methods, const char *pattern,
		    http_handler_fn fn, void *arg)
{
	struct route rt = { .methods = methods, .fn = fn, .arg = arg };
	struct node *n;
	bool wild;
	int rc = -EINVAL;

	if (!r || !pattern || !fn || !methods || (methods & ~(unsigned)HTTP_METHODS_ALL))
		goto fail;
	rc = pattern_walk(&r->root, pattern, &rt, &n, &wild);
	if (rc < 0)
		goto fail;
	if (wild && rt.nnames == HTTP_ROUTE_MAX_PARAMS) {
		rc = -EINVAL; /* no room left for the "*" parameter */
		goto fail;
	}
	rc = wild ? routes_append(&n->wild, &n->nwild, &rt)
		  : routes_append(&n->routes, &n->nroutes, &rt);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	route_fini(&rt);
	return rc;
}

/* ---------------------------------------------------------------- match */

struct walk {
	unsigned method;
	struct http_route_match *m;
	struct str values[HTTP_ROUTE_MAX_PARAMS];
	size_t nvalues;
};

static unsigned route_allow(const struct route *rt)
{
	/* RFC 9110 §9.3.2: a server answering GET should answer HEAD the same. */
	return rt->methods | ((rt->methods & HTTP_GET) ? (unsigned)HTTP_HEAD : 0u);
}

static const struct route *routes_find(const struct route *v, size_t n, unsigned method)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].methods & method)
			return &v[i];
	if (method == HTTP_HEAD)
		return routes_find(v, n, HTTP_GET);
	return NULL;
}

/* Takes a route from v if one accepts the method; otherwise notes what the
 * path would accept. */
static bool walk_take(struct walk *w, const struct route *v, size_t n, const struct str *rest)
{
	const struct route *rt = routes_find(v, n, w->method);
	if (!rt) {
		for (size_t i = 0; i < n; i++)
			w->m->allow |= route_allow(&v[i]);
		return false;
	}
	w->m->fn = rt->fn;
	w->m->arg = rt->arg;
	w->m->nparams = 0;
	for (size_t i = 0; i < rt->nnames && i < w->nvalues; i++)
		w->m->params[w->m->nparams++] = (struct http_route_param){ rt->names[i], w->values[i] };
	if (rest && w->m->nparams < HTTP_ROUTE_MAX_PARAMS)
		w->m->params[w->m->nparams++] = (struct http_route_param){ "*", *rest };
	return true;
}

static bool walk_node(struct walk *w, const struct node *n, struct str rest)
{
	struct str seg, after = rest;

	if (!seg_next(&after, &seg)) {
		struct str none = { after.p, 0 };
		return walk_take(w, n->routes, n->nroutes, NULL) ||
		       walk_take(w, n->wild, n->nwild, &none);
	}
	const struct node *child = node_child(n, seg, true);
	if (child && walk_node(w, child, after))
		return true;
	if (n->param && w->nvalues < HTTP_ROUTE_MAX_PARAMS) {
		w->values[w->nvalues++] = seg;
		bool ok = walk_node(w, n->param, after);
		w->nvalues--;
		if (ok)
			return true;
	}
	/* The wildcard takes everything from this segment on. */
	struct str tail = { seg.p, (size_t)(rest.p + rest.len - seg.p) };
	return walk_take(w, n->wild, n->nwild, &tail);
}

static size_t path_segments(struct str path)
{
	struct str seg;
	size_t n = 0;
	while (n <= HTTP_ROUTE_MAX_SEGMENTS && seg_next(&path, &seg))
		n++;
	return n;
}

enum http_route_result http_router_match(const struct http_router *r, unsigned method,
					 struct str path, struct http_route_match *m)
{
	struct walk w = { .method = method, .m = m };

	memset(m, 0, sizeof(*m));
	if (!r || !path.len || path.p[0] != '/' || path_segments(path) > HTTP_ROUTE_MAX_SEGMENTS)
		return HTTP_ROUTE_NOT_FOUND;
	if (walk_node(&w, &r->root, path))
		return HTTP_ROUTE_FOUND;
	return m->allow ? HTTP_ROUTE_NOT_ALLOWED : HTTP_ROUTE_NOT_FOUND;
}

void http_methods_format(unsigned methods, char *out, size_t n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ HTTP_GET, "GET" },     { HTTP_HEAD, "HEAD" },     { HTTP_POST, "POST" },
		{ HTTP_PUT, "PUT" },     { HTTP_PATCH, "PATCH" },   { HTTP_DELETE, "DELETE" },
		{ HTTP_OPTIONS, "OPTIONS" },
	};
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (methods & names[i].bit)
			buf_printf(&b, "%s%s", b.len ? ", " : "", names[i].name);
	str_copy(out, n, (struct str){ b.p ? b.p : "", b.len });
	buf_fini(&b);
}
