/*
 * snapshot.c — the call policy's immutable view of provisioning: trunks with
 * their ACLs, blocked prefixes and destinations, customers' status, carriers
 * and gateways, routes and numbers.  Built by the store's snapshot loader
 * when the config version changes (psnap_build) and read without locks by
 * every SIP worker (the psnap_*_find lookups).
 *
 * Everything slow happens here, once per rebuild: JSON columns are parsed,
 * gateway hosts and destination URIs are resolved with getaddrinfo (the call
 * path never resolves), and every table is sorted for binary search:
 *   - ACL entries by (family, prefix length, network, port): a lookup masks
 *     the source once per prefix length present and searches, longest first;
 *   - routes by (prefix, customer): a lookup tries each prefix of the number,
 *     longest first, the caller's own route before a global one; a route's
 *     mode and minimum margin (the lcr migration) are kept for lcr.c, whose
 *     rates come from the rating snapshot at call time;
 *   - numbers by digits, gateways by id, gateway addresses by address.
 * Ids are sorted with strcmp here, not by SQL ORDER BY, because PostgreSQL's
 * collation may order '_' differently from SQLite's.
 *
 * Customer limits (cps_limit, channel_limit) come from migration 0005.
 * Digest credentials (auth_username, auth_realm, auth_ha1 of migration 0002,
 * auth_ha1_sha256 of 0026, written by src/api/trunks.c) and those of the
 * trunk's enabled devices (trunk_devices of 0026, src/api/trunk_devices.c)
 * are kept by (username, realm) for digest.c, each naming its trunk
 * (snapshot_creds.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

struct bcustomer {
	char id[ID_MAX];
	bool active;
	struct sip_limit *limit;
	bool margin; /* min_margin_bps set (lcr.c) */
	int64_t min_margin_bps;
};

struct builder {
	struct psnap *s;
	struct psnap_env *env;
	struct store_conn *c;
	struct bcustomer *cus;
	size_t ncus;
	size_t cap_acl, cap_blocked, cap_dests, cap_choices, cap_creds;
};

void *psnap_vec_push(void *arr, size_t *n, size_t *cap, size_t size)
{
	void **a = arr;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		void *p = realloc(*a, ncap * size);

		if (!p)
			return NULL;
		*a = p;
		*cap = ncap;
	}
	void *e = (char *)*a + (*n)++ * size;

	memset(e, 0, size);
	return e;
}

/* One table read into an array: sql's rows, row() filling one element each
 * (its return: 0 kept, 1 skipped, < 0 failed), then sorted by cmp (NULL:
 * as the query ordered them).  The array has room for one element at least,
 * so its pointer is never NULL. */
struct loader {
	const char *sql;
	size_t size;
	int (*row)(struct builder *b, struct store_res *r, size_t i, void *elem);
	int (*cmp)(const void *, const void *);
};

static int load_rows(struct builder *b, const struct loader *l, void **arr, size_t *n)
{
	struct store_res *r = NULL;
	char *a = NULL;
	int rc = store_exec(b->c, l->sql, NULL, 0, &r);

	*n = 0;
	if (rc < 0)
		goto out;
	size_t rows = store_res_rows(r);

	a = calloc(rows ? rows : 1, l->size);
	rc = a ? 0 : -ENOMEM;
	for (size_t i = 0; i < rows && rc == 0; i++) {
		rc = l->row(b, r, i, a + *n * l->size);
		*n += rc == 0;
		rc = rc > 0 ? 0 : rc;
	}
	if (rc == 0 && l->cmp)
		psnap_sort(a, *n, l->size, l->cmp);
out:
	*arr = a;
	store_res_free(r);
	return rc;
}

void psnap_copy_cstr(char *dst, size_t n, const char *s)
{
	if (str_copy(dst, n, str_from_cstr(s ? s : "")) < 0)
		dst[0] = '\0'; /* too long to be an id or prefix of ours */
}

/* "+1 (555) 0100" -> "15550100": digits only, for prefixes. */
static void copy_digits(char *dst, size_t n, const char *s)
{
	size_t j = 0;

	for (; s && *s && j + 1 < n; s++)
		if (*s >= '0' && *s <= '9')
			dst[j++] = *s;
	dst[j] = '\0';
}

/* ------------------------------------------------------------ resolve */

static int resolve_host(const char *host, uint16_t port, struct net_addr *out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *ai = NULL;
	char sport[8];

	snprintf(sport, sizeof(sport), "%u", (unsigned)port);
	if (getaddrinfo(host, sport, &hints, &ai) != 0 || !ai)
		return -ENOENT;
	int rc = net_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, out);

	freeaddrinfo(ai);
	return rc;
}

static enum sip_transport_kind transport_from(const char *t)
{
	if (t && strcasecmp(t, "tcp") == 0)
		return SIP_TRANSPORT_TCP;
	if (t && strcasecmp(t, "tls") == 0)
		return SIP_TRANSPORT_TLS;
	return SIP_TRANSPORT_UDP;
}

/* ---------------------------------------------------------- customers */

static int customer_row(struct builder *b, struct store_res *r, size_t i, void *elem)
{
	struct bcustomer *cu = elem;

	psnap_copy_cstr(cu->id, sizeof(cu->id), store_res_text(r, i, 0));
	cu->active = strcmp(store_res_text(r, i, 1), "active") == 0;
	cu->limit = sip_limits_entry(b->env->limits, SIP_LIMIT_CUSTOMER, cu->id,
				     store_res_int(r, i, 2), store_res_int(r, i, 3));
	cu->margin = !store_res_isnull(r, i, 4);
	cu->min_margin_bps = cu->margin ? store_res_int(r, i, 4) : 0;
	return cu->limit ? 0 : -ENOMEM;
}

static int build_customers(struct builder *b)
{
	static const struct loader l = {
	    "SELECT id, status, cps_limit, channel_limit, min_margin_bps FROM customers",
	    sizeof(*b->cus), customer_row, psnap_cmp_id};
	void *a;
	int rc = load_rows(b, &l, &a, &b->ncus);

	b->cus = a;
	return rc;
}

/* ---------------------------------------------------------------- ACL */

static int acl_add(struct builder *b, const json_t *item, size_t trunk, const char *trunk_id)
{
	const char *cidr = json_string_value(json_object_get(item, "cidr"));
	json_t *port = json_object_get(item, "port");
	struct net_cidr nc;
	struct psnap_acl *a;

	if (!cidr || net_cidr_parse(str_from_cstr(cidr), &nc) < 0) {
		log_warn("sip", "trunk %s: ACL entry without a valid cidr skipped", trunk_id);
		return 0;
	}
	a = psnap_vec_push(&b->s->acl, &b->s->nacl, &b->cap_acl, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->family = nc.family;
	a->len = nc.prefix_len;
	memcpy(a->addr, nc.addr, sizeof(a->addr));
	a->port = json_is_integer(port) ? (uint16_t)json_integer_value(port) : 0;
	a->trunk = trunk;
	return 0;
}

static void acl_index(struct psnap *s)
{
	bool seen[2][129] = {{false}};

	psnap_sort(s->acl, s->nacl, sizeof(*s->acl), psnap_cmp_acl);
	for (size_t i = 0; i < s->nacl; i++)
		seen[s->acl[i].family == AF_INET6][s->acl[i].len] = true;
	for (int f = 0; f < 2; f++)
		for (int len = 128; len >= 0; len--)
			if (seen[f][len])
				s->acl_lens[f][s->nacl_lens[f]++] = (uint8_t)len;
}

/* ------------------------------------------------------------- trunks */

static int trunk_blocked(struct builder *b, struct psnap_trunk *t, const json_t *list)
{
	size_t i;
	json_t *v;

	t->blocked_first = b->s->nblocked;
	json_array_foreach(list, i, v)
	{
		const char *p = json_string_value(v);
		char(*e)[PSNAP_PREFIX_MAX];

		if (!p)
			continue;
		e = psnap_vec_push(&b->s->blocked, &b->s->nblocked, &b->cap_blocked, sizeof(*e));
		if (!e)
			return -ENOMEM;
		copy_digits(*e, sizeof(*e), p);
		t->nblocked++;
	}
	return 0;
}

/* Parses one destination URI into its target (RFC 3261 §19.1.1): host,
 * port, user and transport; resolved now, never on the call path. */
static int dest_parse(struct psnap_dest *d, const char *uri, const char *trunk_id)
{
	struct sip_uri u;
	struct str tp = STR_NULL;
	size_t ulen = 0;
	struct sip_target *t = &d->target;

	if (!uri || sip_uri_parse(str_from_cstr(uri), &u) < 0 || u.scheme == SIP_URI_TEL ||
	    u.scheme == SIP_URI_OTHER || str_copy(t->host, sizeof(t->host), u.host) < 0)
		return -EINVAL;
	t->transport = u.scheme == SIP_URI_SIPS ? SIP_TRANSPORT_TLS : SIP_TRANSPORT_UDP;
	if (sip_uri_param(&u, "transport", &tp) == 0) {
		char buf[8] = "";

		str_copy(buf, sizeof(buf), tp);
		t->transport = u.scheme == SIP_URI_SIPS ? SIP_TRANSPORT_TLS : transport_from(buf);
	}
	t->port = u.port;
	if (u.user.len && sip_uri_unescape(u.user, t->user, sizeof(t->user) - 1, &ulen) == 0) {
		t->user[ulen] = '\0';
		d->has_user = true;
	}
	psnap_copy_cstr(t->trunk_id, sizeof(t->trunk_id), trunk_id);
	uint16_t port = u.port ? u.port : (t->transport == SIP_TRANSPORT_TLS ? 5061 : 5060);

	return resolve_host(t->host, port, &t->addr);
}

static int cmp_dest(const void *pa, const void *pb)
{
	const struct psnap_dest *a = pa, *b = pb;

	return a->priority < b->priority ? -1 : a->priority > b->priority;
}

static int trunk_dests(struct builder *b, struct psnap_trunk *t, const json_t *list)
{
	size_t i;
	json_t *v;

	t->dest_first = b->s->ndests;
	json_array_foreach(list, i, v)
	{
		const char *uri = json_string_value(json_object_get(v, "uri"));
		struct psnap_dest *d =
		    psnap_vec_push(&b->s->dests, &b->s->ndests, &b->cap_dests, sizeof(*d));

		if (!d)
			return -ENOMEM;
		d->priority = json_integer_value(json_object_get(v, "priority"));
		d->weight = json_is_integer(json_object_get(v, "weight"))
				? json_integer_value(json_object_get(v, "weight"))
				: 1;
		if (dest_parse(d, uri, t->id) < 0) {
			log_warn("sip",
				 "trunk %s: destination %s unusable (bad URI or host "
				 "not resolved)",
				 t->id, uri ? uri : "?");
			b->s->ndests--;
			continue;
		}
		t->ndests++;
	}
	psnap_sort(&b->s->dests[t->dest_first], t->ndests, sizeof(*b->s->dests), cmp_dest);
	return 0;
}

static json_t *json_column(struct store_res *r, size_t row, size_t col)
{
	json_t *j = json_loads(store_res_text(r, row, col), 0, NULL);

	if (j && !json_is_array(j)) {
		json_decref(j);
		j = NULL;
	}
	return j ? j : json_array();
}

/* ------------------------------------------------- digest credentials */

/* Columns 11..13: auth_username, auth_realm, auth_ha1; 15: auth_ha1_sha256
 * (snapshot_creds.c keeps the entries). */
static int cred_add(struct builder *b, struct store_res *r, size_t i)
{
	return psnap_cred_push(b->s, &b->cap_creds, store_res_text(r, i, 11),
			       store_res_text(r, i, 12), store_res_text(r, i, 13),
			       store_res_text(r, i, 15), i);
}

/* Columns: id, customer_id, enabled, acl, tech_prefix, cps_limit,
 * channel_limit, destinations, max_call_duration, blocked_prefixes,
 * media_mode, auth_username, auth_realm, auth_ha1, topology_hiding,
 * auth_ha1_sha256. */
static int trunk_row(struct builder *b, struct store_res *r, size_t i, void *elem)
{
	struct psnap_trunk *t = elem;
	json_t *acl = json_column(r, i, 3), *dests = json_column(r, i, 7);
	json_t *blocked = json_column(r, i, 9), *v;
	const struct bcustomer *cu;
	size_t k;
	int rc = 0;

	psnap_copy_cstr(t->id, sizeof(t->id), store_res_text(r, i, 0));
	psnap_copy_cstr(t->customer_id, sizeof(t->customer_id), store_res_text(r, i, 1));
	cu = psnap_find(t->customer_id, b->cus, b->ncus, sizeof(*b->cus), psnap_cmp_id);
	t->enabled = store_res_int(r, i, 2) != 0;
	t->customer_active = cu && cu->active;
	t->customer_limit = cu ? cu->limit : NULL;
	t->customer_margin = cu && cu->margin;
	t->customer_min_margin_bps = cu ? cu->min_margin_bps : 0;
	psnap_copy_cstr(t->tech_prefix, sizeof(t->tech_prefix), store_res_text(r, i, 4));
	t->limit = sip_limits_entry(b->env->limits, SIP_LIMIT_TRUNK, t->id, store_res_int(r, i, 5),
				    store_res_int(r, i, 6));
	t->max_duration_ms = store_res_int(r, i, 8) * 1000;
	t->media_relay = strcmp(store_res_text(r, i, 10), "bypass") != 0;
	t->topology_hiding = store_res_int(r, i, 14) != 0;
	if (!t->limit)
		rc = -ENOMEM;
	json_array_foreach(acl, k, v)
	{
		if (rc == 0)
			rc = acl_add(b, v, i, t->id);
	}
	rc = rc ? rc : trunk_blocked(b, t, blocked);
	rc = rc ? rc : trunk_dests(b, t, dests);
	rc = rc ? rc : cred_add(b, r, i);
	json_decref(acl);
	json_decref(dests);
	json_decref(blocked);
	return rc;
}

static int build_trunks(struct builder *b)
{
	static const struct loader l = {
	    "SELECT id, customer_id, enabled, acl, tech_prefix, cps_limit, "
	    "channel_limit, destinations, max_call_duration, blocked_prefixes, "
	    "media_mode, auth_username, auth_realm, auth_ha1, topology_hiding, "
	    "auth_ha1_sha256 FROM trunks ORDER BY id",
	    sizeof(struct psnap_trunk), trunk_row, NULL};
	void *a;
	int rc = load_rows(b, &l, &a, &b->s->ntrunks);

	b->s->trunks = a;
	rc = rc ? rc : psnap_creds_load_devices(b->s, &b->cap_creds, b->c);
	if (rc == 0) {
		acl_index(b->s);
		psnap_creds_index(b->s);
	}
	return rc;
}

/* ----------------------------------------------------------- carriers */

static void carrier_stop_codes(struct psnap_carrier *ca, const char *text)
{
	json_t *list = json_loads(text, 0, NULL), *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		json_int_t code = json_integer_value(v);

		if (code >= 300 && code <= 699 && ca->nstop_codes < SIP_STOP_CODES_MAX)
			ca->stop_codes[ca->nstop_codes++] = (uint16_t)code;
	}
	if (!json_is_array(list)) { /* unreadable: the defaults */
		static const uint16_t def[] = {404, 486, 600, 603};

		memcpy(ca->stop_codes, def, sizeof(def));
		ca->nstop_codes = 4;
	}
	json_decref(list);
}

static struct metric *carrier_metric(struct metric_family *f, const char *id)
{
	return f ? metric_get(f, id) : NULL;
}

static int carrier_row(struct builder *b, struct store_res *r, size_t i, void *elem)
{
	struct psnap_carrier *ca = elem;
	struct psnap_env *env = b->env;

	psnap_copy_cstr(ca->id, sizeof(ca->id), store_res_text(r, i, 0));
	psnap_copy_cstr(ca->name, sizeof(ca->name), store_res_text(r, i, 6));
	ca->enabled = store_res_int(r, i, 1) != 0;
	psnap_copy_cstr(ca->tech_prefix, sizeof(ca->tech_prefix), store_res_text(r, i, 2));
	carrier_stop_codes(ca, store_res_text(r, i, 5));
	ca->limit = sip_limits_entry(env->limits, SIP_LIMIT_CARRIER, ca->id, store_res_int(r, i, 3),
				     store_res_int(r, i, 4));
	ca->attempts = carrier_metric(env->car_attempts, ca->id);
	ca->answered = carrier_metric(env->car_answered, ca->id);
	ca->duration_s = carrier_metric(env->car_duration, ca->id);
	return ca->limit ? 0 : -ENOMEM;
}

static int build_carriers(struct builder *b)
{
	static const struct loader l = {
	    "SELECT id, enabled, tech_prefix, cps_limit, channel_limit, stop_codes, name "
	    "FROM carriers",
	    sizeof(struct psnap_carrier), carrier_row, psnap_cmp_id};
	void *a;
	int rc = load_rows(b, &l, &a, &b->s->ncarriers);

	b->s->carriers = a;
	return rc;
}

/* ----------------------------------------------------------- gateways */

static int cmp_gateway(const void *pa, const void *pb)
{
	const struct psnap_gateway *a = pa, *b = pb;

	if (a->carrier != b->carrier)
		return a->carrier < b->carrier ? -1 : 1;
	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Columns: id, carrier_id, host, port, transport, weight, priority, probe. */
static int gateway_row(struct builder *b, struct store_res *r, size_t i, void *elem)
{
	struct psnap_gateway *g = elem;
	const struct psnap_carrier *ca =
	    psnap_find(store_res_text(r, i, 1), b->s->carriers, b->s->ncarriers,
		       sizeof(*b->s->carriers), psnap_cmp_id);

	if (!ca)
		return 1; /* dangling: skipped */
	psnap_copy_cstr(g->id, sizeof(g->id), store_res_text(r, i, 0));
	g->carrier = (size_t)(ca - b->s->carriers);
	psnap_copy_cstr(g->host, sizeof(g->host), store_res_text(r, i, 2));
	g->port = (uint16_t)store_res_int(r, i, 3);
	g->transport = transport_from(store_res_text(r, i, 4));
	g->weight = store_res_int(r, i, 5);
	g->priority = store_res_int(r, i, 6);
	g->probe = store_res_int(r, i, 7) != 0;
	g->resolved = resolve_host(g->host, g->port ? g->port : 5060, &g->addr) == 0;
	if (!g->resolved)
		log_warn("sip",
			 "gateway %s: host %s not resolved; skipped until the next "
			 "rebuild",
			 g->id, g->host);
	g->state = psnap_gw_state_get(b->env, g->id);
	return g->state ? 0 : -ENOMEM;
}

static int build_gateways(struct builder *b)
{
	static const struct loader l = {
	    "SELECT id, carrier_id, host, port, transport, weight, priority, probe FROM gateways",
	    sizeof(struct psnap_gateway), gateway_row, cmp_gateway};
	struct psnap *s = b->s;
	void *a;
	int rc = load_rows(b, &l, &a, &s->ngateways);

	s->gateways = a;
	for (size_t i = s->ngateways; rc == 0 && i-- > 0;) {
		s->carriers[s->gateways[i].carrier].gw_first = i;
		s->carriers[s->gateways[i].carrier].ngw++;
	}
	return rc;
}

static int cmp_gw_index(const void *pa, const void *pb, void *arg)
{
	const struct psnap *s = arg;

	return strcmp(s->gateways[*(const size_t *)pa].id, s->gateways[*(const size_t *)pb].id);
}

/* A source address as (family, 16 bytes); IPv4-mapped IPv6 as IPv4. */
bool psnap_ip_of(const struct net_addr *a, struct psnap_ip *out)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;

	memset(out, 0, sizeof(*out));
	if (a->ss.ss_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->addr, &v4->sin_addr, 4);
	} else if (a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
		out->family = AF_INET;
		memcpy(out->addr, &v6->sin6_addr.s6_addr[12], 4);
	} else if (a->ss.ss_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(out->addr, &v6->sin6_addr, 16);
	} else {
		return false;
	}
	return true;
}

static int gateway_index(struct psnap *s)
{
	s->gw_by_id = calloc(s->ngateways + 1, sizeof(*s->gw_by_id));
	s->gw_ips = calloc(s->ngateways + 1, sizeof(*s->gw_ips));
	if (!s->gw_by_id || !s->gw_ips)
		return -ENOMEM;
	for (size_t i = 0; i < s->ngateways; i++) {
		s->gw_by_id[i] = i;
		if (s->gateways[i].resolved &&
		    psnap_ip_of(&s->gateways[i].addr, &s->gw_ips[s->ngw_ips]))
			s->ngw_ips++;
	}
	if (s->ngateways > 1)
		qsort_r(s->gw_by_id, s->ngateways, sizeof(*s->gw_by_id), cmp_gw_index, s);
	psnap_sort(s->gw_ips, s->ngw_ips, sizeof(*s->gw_ips), psnap_cmp_ip);
	return 0;
}

/* ------------------------------------------------------------- routes */

static int cmp_choice(const void *pa, const void *pb)
{
	const struct psnap_choice *a = pa, *b = pb;

	return a->priority < b->priority ? -1 : a->priority > b->priority;
}

static int route_choices(struct builder *b, struct psnap_route *rt, const json_t *list)
{
	struct psnap *s = b->s;
	size_t i;
	json_t *v;

	rt->choice_first = s->nchoices;
	json_array_foreach(list, i, v)
	{
		const char *id = json_string_value(json_object_get(v, "carrier_id"));
		const struct psnap_carrier *ca = id ? psnap_find(id, s->carriers, s->ncarriers,
								 sizeof(*s->carriers), psnap_cmp_id)
						    : NULL;
		struct psnap_choice *ch;

		if (!ca)
			continue;
		ch = psnap_vec_push(&s->choices, &s->nchoices, &b->cap_choices, sizeof(*ch));
		if (!ch)
			return -ENOMEM;
		ch->idx = (size_t)(ca - s->carriers);
		ch->priority = json_integer_value(json_object_get(v, "priority"));
		ch->weight = json_is_integer(json_object_get(v, "weight"))
				 ? json_integer_value(json_object_get(v, "weight"))
				 : 1;
		rt->nchoices++;
	}
	psnap_sort(&s->choices[rt->choice_first], rt->nchoices, sizeof(*s->choices), cmp_choice);
	return 0;
}

static int route_row(struct builder *b, struct store_res *r, size_t i, void *elem)
{
	struct psnap_route *rt = elem;
	json_t *list = json_column(r, i, 2);

	copy_digits(rt->prefix, sizeof(rt->prefix), store_res_text(r, i, 0));
	psnap_copy_cstr(rt->customer_id, sizeof(rt->customer_id), store_res_text(r, i, 1));
	rt->lcr = strcmp(store_res_text(r, i, 3), "lcr") == 0;
	rt->margin = !store_res_isnull(r, i, 4);
	rt->min_margin_bps = rt->margin ? store_res_int(r, i, 4) : 0;
	if (strlen(rt->prefix) > b->s->route_maxlen)
		b->s->route_maxlen = strlen(rt->prefix);
	int rc = route_choices(b, rt, list);

	json_decref(list);
	return rc;
}

static int build_routes(struct builder *b)
{
	static const struct loader l = {
	    "SELECT prefix, customer_id, carriers, mode, min_margin_bps FROM routes",
	    sizeof(struct psnap_route), route_row, psnap_cmp_route};
	void *a;
	int rc = load_rows(b, &l, &a, &b->s->nroutes);

	b->s->routes = a;
	return rc;
}

/* ------------------------------------------------------------ numbers */

static int number_row(struct builder *b, struct store_res *r, size_t i, void *elem)
{
	struct psnap *s = b->s;
	struct psnap_number *nu = elem;
	const struct psnap_trunk *t =
	    store_res_isnull(r, i, 1) ? NULL
				      : psnap_find(store_res_text(r, i, 1), s->trunks, s->ntrunks,
						   sizeof(*s->trunks), psnap_cmp_id);

	copy_digits(nu->digits, sizeof(nu->digits), store_res_text(r, i, 0));
	nu->trunk = t ? (size_t)(t - s->trunks) : SIZE_MAX;
	nu->voice = store_res_int(r, i, 2) != 0;
	return 0;
}

static int build_numbers(struct builder *b)
{
	static const struct loader l = {"SELECT e164, trunk_id, voice FROM numbers",
					sizeof(struct psnap_number), number_row, psnap_cmp_id};
	void *a;
	int rc = load_rows(b, &l, &a, &b->s->nnumbers);

	b->s->numbers = a;
	return rc;
}

/* ------------------------------------------------------------- build */

void psnap_free(void *data)
{
	struct psnap *s = data;

	if (!s)
		return;
	free(s->trunks);
	free(s->acl);
	free(s->blocked);
	free(s->dests);
	free(s->carriers);
	free(s->gateways);
	free(s->gw_by_id);
	free(s->gw_ips);
	free(s->routes);
	free(s->choices);
	free(s->numbers);
	free(s->creds);
	psnap_env_release(s->env);
	free(s);
}

void *psnap_build(struct store_conn *c, void *arg)
{
	struct builder b = {.env = arg, .c = c};
	int rc = -ENOMEM;

	if (atomic_load(&b.env->closed))
		return NULL; /* the policy is gone: keep what is published */
	b.s = calloc(1, sizeof(*b.s));
	if (!b.s)
		goto fail;
	rc = build_customers(&b);
	rc = rc ? rc : build_trunks(&b);
	rc = rc ? rc : build_carriers(&b);
	rc = rc ? rc : build_gateways(&b);
	rc = rc ? rc : gateway_index(b.s);
	rc = rc ? rc : build_routes(&b);
	rc = rc ? rc : build_numbers(&b);
	if (rc < 0)
		goto fail;
	psnap_gw_series_publish(b.env, b.s);
	free(b.cus);
	b.s->env = b.env;
	atomic_fetch_add(&b.env->refs, 1);
	log_debug("sip",
		  "policy snapshot: %zu trunks, %zu ACL entries, %zu carriers, %zu "
		  "gateways, %zu routes, %zu numbers, %zu digest credentials",
		  b.s->ntrunks, b.s->nacl, b.s->ncarriers, b.s->ngateways, b.s->nroutes,
		  b.s->nnumbers, b.s->ncreds);
	return b.s;
fail:
	log_error("sip", "policy snapshot build failed: %s (%s)",
		  rc <= STORE_ERR ? store_strerror(rc) : strerror(-rc), store_conn_errmsg(c));
	free(b.cus);
	psnap_free(b.s);
	return NULL;
}

struct psnap_env *psnap_env_new(void)
{
	struct psnap_env *env = calloc(1, sizeof(*env));

	if (!env)
		return NULL;
	atomic_init(&env->refs, 1);
	pthread_mutex_init(&env->gw_lock, NULL);
	env->limits = sip_limits_new();
	if (!env->limits) {
		psnap_env_release(env);
		return NULL;
	}
	return env;
}

void psnap_env_release(struct psnap_env *env)
{
	struct psnap_gw_state *st, *next;

	if (!env || atomic_fetch_sub(&env->refs, 1) != 1)
		return;
	for (st = env->gw_states; st; st = next) {
		next = st->next;
		free(st);
	}
	sip_limits_free(env->limits);
	pthread_mutex_destroy(&env->gw_lock);
	free(env);
}

/* ------------------------------------------------------------ lookups */
