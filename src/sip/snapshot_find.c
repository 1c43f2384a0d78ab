/*
 * snapshot_find.c — lookups in the SIP policy snapshot, on the call path:
 * the trunk a source address belongs to (longest ACL prefix first, a
 * port-specific entry before a portless one), whether a source is a
 * carrier's gateway, the route for a number (longest prefix; a customer's
 * route before a global one of the same length), a number's owner, a
 * gateway or carrier by id, digest credentials by (username, realm); and
 * the orders snapshot.c sorts its arrays in for these searches.
 * Everything here reads the immutable snapshot
 * only: no allocation, no locks, no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

static void mask_addr(uint8_t *dst, const uint8_t *src, unsigned len)
{
	memset(dst, 0, 16);
	memcpy(dst, src, len / 8);
	if (len % 8)
		dst[len / 8] = src[len / 8] & (uint8_t)(0xff << (8 - len % 8));
}

/* Index of the first ACL entry with (family, len, addr), or nacl. */
static size_t acl_lower(const struct psnap *s, const struct psnap_acl *key)
{
	size_t lo = 0, hi = s->nacl;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (psnap_cmp_acl(&s->acl[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Among the entries equal to key (any port), the best for port and user. */
static size_t acl_pick(const struct psnap *s, size_t i, const struct psnap_acl *key, uint16_t port,
		       struct str user)
{
	size_t best = SIZE_MAX, best_tp = 0;
	bool best_port = false;

	for (; i < s->nacl && s->acl[i].family == key->family && s->acl[i].len == key->len &&
	       memcmp(s->acl[i].addr, key->addr, 16) == 0;
	     i++) {
		const struct psnap_acl *a = &s->acl[i];
		const char *tp = s->trunks[a->trunk].tech_prefix;
		size_t tplen = strlen(tp);

		if (a->port && a->port != port)
			continue;
		if (tplen && !str_has_prefix(user, (struct str){tp, tplen}))
			tplen = 0;
		if (best == SIZE_MAX || (a->port && !best_port) ||
		    ((a->port != 0) == best_port && tplen > best_tp)) {
			best = a->trunk;
			best_port = a->port != 0;
			best_tp = tplen;
		}
	}
	return best;
}

/* hot path: no allocation, no locks, no I/O */
size_t psnap_trunk_find(const struct psnap *s, const struct net_addr *src, struct str user)
{
	struct psnap_ip ip;
	struct psnap_acl key = {0};

	if (!psnap_ip_of(src, &ip))
		return SIZE_MAX;
	int f = ip.family == AF_INET6;

	key.family = ip.family;
	for (size_t k = 0; k < s->nacl_lens[f]; k++) {
		key.len = s->acl_lens[f][k];
		mask_addr(key.addr, ip.addr, key.len);
		size_t t = acl_pick(s, acl_lower(s, &key), &key, net_addr_port(src), user);

		if (t != SIZE_MAX)
			return t;
	}
	return SIZE_MAX;
}

/* hot path: no allocation, no locks, no I/O */
bool psnap_is_gateway_ip(const struct psnap *s, const struct net_addr *src)
{
	struct psnap_ip ip;

	return psnap_ip_of(src, &ip) &&
	       psnap_find(&ip, s->gw_ips, s->ngw_ips, sizeof(ip), psnap_cmp_ip);
}

/* hot path: no allocation, no locks, no I/O */
const struct psnap_route *psnap_route_find(const struct psnap *s, const char *customer_id,
					   const char *digits)
{
	struct psnap_route key;
	size_t n = strlen(digits);

	if (n > s->route_maxlen)
		n = s->route_maxlen;
	for (size_t len = n + 1; len-- > 0;) {
		const struct psnap_route *r;

		memcpy(key.prefix, digits, len);
		key.prefix[len] = '\0';
		psnap_copy_cstr(key.customer_id, sizeof(key.customer_id), customer_id);
		r = key.customer_id[0] == '\0'
			? NULL
			: psnap_find(&key, s->routes, s->nroutes, sizeof(key), psnap_cmp_route);
		if (r)
			return r;
		key.customer_id[0] = '\0';
		r = psnap_find(&key, s->routes, s->nroutes, sizeof(key), psnap_cmp_route);
		if (r)
			return r;
	}
	return NULL;
}

/* hot path: no allocation, no locks, no I/O */
const struct psnap_number *psnap_number_find(const struct psnap *s, const char *digits)
{
	return psnap_find(digits, s->numbers, s->nnumbers, sizeof(*s->numbers), psnap_cmp_id);
}

/* hot path: no allocation, no locks, no I/O */
const struct psnap_gateway *psnap_gateway_find(const struct psnap *s, const char *id)
{
	size_t lo = 0, hi = s->ngateways;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct psnap_gateway *g = &s->gateways[s->gw_by_id[mid]];
		int c = strcmp(id, g->id);

		if (c == 0)
			return g;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* hot path: no allocation, no locks, no I/O */
const struct psnap_carrier *psnap_carrier_find(const struct psnap *s, const char *id)
{
	return psnap_find(id, s->carriers, s->ncarriers, sizeof(*s->carriers), psnap_cmp_id);
}

/* hot path: no allocation, no locks, no I/O */
size_t psnap_cred_find(const struct psnap *s, struct str user, struct str realm)
{
	struct psnap_cred key = {.trunk = 0};
	size_t lo = 0, hi = s->ncreds;

	if (str_copy(key.user, sizeof(key.user), user) < 0 ||
	    str_copy(key.realm, sizeof(key.realm), realm) < 0)
		return SIZE_MAX;
	while (lo < hi) { /* lower bound: trunk 0 sorts before every equal entry */
		size_t mid = lo + (hi - lo) / 2;

		if (psnap_cmp_cred(&s->creds[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->ncreds && strcmp(s->creds[lo].user, key.user) == 0 &&
	    strcmp(s->creds[lo].realm, key.realm) == 0)
		return lo;
	return SIZE_MAX;
}

/* ------------------------------------------------------------ orders */

/* The orders the snapshot is sorted in (snapshot.c) and searched by (here). */

/* qsort and bsearch with empty arrays, whose pointer may be NULL: the C
 * library declares it non-null even for zero elements. */
void psnap_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

void *psnap_find(const void *key, const void *base, size_t n, size_t size,
		 int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, base, n, size, cmp) : NULL;
}

int psnap_cmp_id(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b); /* id is the first member */
}

int psnap_cmp_acl(const void *pa, const void *pb)
{
	const struct psnap_acl *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	int c = memcmp(a->addr, b->addr, sizeof(a->addr));

	if (c)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->trunk < b->trunk ? -1 : a->trunk > b->trunk; /* stable: trunks by id */
}

int psnap_cmp_cred(const void *pa, const void *pb)
{
	const struct psnap_cred *a = pa, *b = pb;
	int c = strcmp(a->user, b->user);

	if (c == 0)
		c = strcmp(a->realm, b->realm);
	if (c == 0)
		c = a->trunk < b->trunk ? -1 : a->trunk > b->trunk;
	return c;
}

int psnap_cmp_ip(const void *pa, const void *pb)
{
	const struct psnap_ip *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

int psnap_cmp_route(const void *pa, const void *pb)
{
	const struct psnap_route *a = pa, *b = pb;
	int c = strcmp(a->prefix, b->prefix);

	return c ? c : strcmp(a->customer_id, b->customer_id);
}
