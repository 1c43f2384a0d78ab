/*
 * routes.c — the message-routing snapshot: message routes sorted by
 * (prefix, customer) for a longest-prefix lookup that prefers the sender's
 * own route, each with its carriers by priority (or, in lcr mode, by their
 * SMS buy rate per message, smsc_route_order) — several of one prefix and
 * customer by priority, each with its filters compiled (route_filter.c,
 * smsc_route_pick, decision 0051); and every enabled SMPP
 * connector of an enabled carrier, sorted by id, as the upstream thread
 * keeps them bound.  Rebuilt when provisioning changes; read without locks.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "smsc/smsc_private.h"

#define ROUTES_SQL                                                                                 \
	"SELECT id, prefix, customer_id, carriers, mode, min_margin_bps, priority, filters FROM "  \
	"message_routes"
#define CONNECTORS_SQL                                                                             \
	"SELECT s.id, s.carrier_id, s.host, s.port, s.system_id, s.password, s.system_type, "      \
	"s.bind_mode, s.binds, s.window_size, s.throughput, s.enquire_link_ms, "                   \
	"s.response_timeout_ms, s.reconnect_min_ms, s.reconnect_max_ms, s.submit_id_base, "        \
	"s.receipt_id_base, s.default_ton, s.default_npi, s.updated_at, s.tls, s.tls_ca_file, "    \
	"s.tls_server_name, s.concat, s.failover_errors "                                          \
	"FROM smpp_connectors s JOIN carriers c ON c.id = s.carrier_id "                           \
	"WHERE s.enabled <> 0 AND c.enabled <> 0"
#define MARGINS_SQL "SELECT id, min_margin_bps FROM customers WHERE min_margin_bps IS NOT NULL"
#define LABELS_SQL "SELECT id, labels FROM customers WHERE labels <> '[]'"

static int route_cmp(const void *a, const void *b)
{
	const struct smsc_route *x = a, *y = b;
	int c = strcmp(x->prefix, y->prefix);
	c = c ? c : strcmp(x->customer_id, y->customer_id);
	return c ? c : (x->priority > y->priority) - (x->priority < y->priority);
}

/* By (prefix, customer) alone: any route of that pair. */
static int route_key_cmp(const void *a, const void *b)
{
	const struct smsc_route *x = a, *y = b;
	int c = strcmp(x->prefix, y->prefix);
	return c ? c : strcmp(x->customer_id, y->customer_id);
}

static int choice_cmp(const void *a, const void *b)
{
	const struct smsc_route_carrier *x = a, *y = b;
	return x->priority != y->priority ? x->priority - y->priority : y->weight - x->weight;
}

static int connector_cmp(const void *a, const void *b)
{
	return strcmp(((const struct smsc_connector_cfg *)a)->id,
		      ((const struct smsc_connector_cfg *)b)->id);
}

static void copy_text(char *dst, size_t n, const char *s)
{
	if (str_copy(dst, n, str_from_cstr(s ? s : "")) < 0)
		dst[0] = '\0';
}

static int route_carriers(struct smsc_route *r, const char *text)
{
	json_t *list = json_loads(text, 0, NULL), *v;
	size_t i;

	if (json_is_array(list))
		json_array_foreach(list, i, v)
		{
			if (r->ncarriers == SMSC_ROUTE_CARRIERS_MAX)
				break;
			struct smsc_route_carrier *c = &r->carriers[r->ncarriers];
			copy_text(c->carrier_id, sizeof(c->carrier_id),
				  json_string_value(json_object_get(v, "carrier_id")));
			c->priority = (int)json_integer_value(json_object_get(v, "priority"));
			c->weight = json_object_get(v, "weight")
					? (int)json_integer_value(json_object_get(v, "weight"))
					: 1;
			if (c->carrier_id[0])
				r->ncarriers++;
		}
	json_decref(list);
	if (r->ncarriers > 1)
		qsort(r->carriers, r->ncarriers, sizeof(r->carriers[0]), choice_cmp);
	return 0;
}

/* The route's filters, compiled once here (decision 0051).  The API
 * stored only filters that compile; one that no longer does (a time zone
 * removed from the system) makes the route match nothing, said once. */
static void route_filter(struct smsc_routes *s, struct smsc_route *e, const char *text)
{
	json_t *j = json_loads(text ? text : "{}", 0, NULL);
	char ptr[64], why[160];

	if (smsc_route_filter_init(&e->filter, j, NULL, ptr, sizeof(ptr), why, sizeof(why)) < 0) {
		log_warn("smsc", "message route %s: %s: %s; it takes no message", e->id, ptr, why);
		e->filter.any = e->filter.none = true;
	}
	s->filters_text = s->filters_text || smsc_route_filter_wants_text(&e->filter);
	json_decref(j);
}

static int build_routes(struct smsc_routes *s, struct store_conn *c)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, ROUTES_SQL, NULL, 0, &r);

	if (rc == 0 && !(s->routes = calloc(store_res_rows(r) + 1, sizeof(*s->routes))))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct smsc_route *e = &s->routes[s->nroutes];
		/* A prefix longer than any destination serves none (the API
		 * allows 15 digits): left out, never cut to the default "". */
		if (str_copy(e->prefix, sizeof(e->prefix), str_from_cstr(store_res_text(r, i, 1))) <
		    0)
			continue;
		s->nroutes++;
		copy_text(e->id, sizeof(e->id), store_res_text(r, i, 0));
		copy_text(e->customer_id, sizeof(e->customer_id), store_res_text(r, i, 2));
		route_carriers(e, store_res_text(r, i, 3));
		e->lcr = strcmp(store_res_text(r, i, 4), "lcr") == 0;
		e->margin = !store_res_isnull(r, i, 5);
		e->min_margin_bps = e->margin ? store_res_int(r, i, 5) : 0;
		e->priority = store_res_int(r, i, 6);
		route_filter(s, e, store_res_text(r, i, 7));
		if (strlen(e->prefix) > s->maxlen)
			s->maxlen = strlen(e->prefix);
	}
	store_res_free(r);
	if (s->nroutes > 1)
		qsort(s->routes, s->nroutes, sizeof(*s->routes), route_cmp);
	return rc;
}

static enum smsc_id_base id_base(const char *s)
{
	return strcmp(s, "hex") == 0   ? SMSC_ID_HEX
	       : strcmp(s, "dec") == 0 ? SMSC_ID_DEC
				       : SMSC_ID_TEXT;
}

/* failover_errors as ",a,b,": one strstr finds ",<error>," (decision 0051). */
static void connector_failover(struct smsc_connector_cfg *k, const char *text)
{
	json_t *list = json_loads(text ? text : "[]", 0, NULL), *v;
	struct buf b;
	size_t i;

	buf_init(&b);
	json_array_foreach(list, i, v) if (json_is_string(v))
	    buf_printf(&b, "%s%s,", b.len ? "" : ",", json_string_value(v));
	copy_text(k->failover_errors, sizeof(k->failover_errors), b.p);
	buf_fini(&b);
	json_decref(list);
}

static void connector_row(struct smsc_connector_cfg *k, const struct store_res *r, size_t i)
{
	copy_text(k->id, sizeof(k->id), store_res_text(r, i, 0));
	copy_text(k->carrier_id, sizeof(k->carrier_id), store_res_text(r, i, 1));
	copy_text(k->host, sizeof(k->host), store_res_text(r, i, 2));
	k->port = (uint16_t)store_res_int(r, i, 3);
	copy_text(k->system_id, sizeof(k->system_id), store_res_text(r, i, 4));
	copy_text(k->password, sizeof(k->password), store_res_text(r, i, 5));
	copy_text(k->system_type, sizeof(k->system_type), store_res_text(r, i, 6));
	k->transmitter_only = strcmp(store_res_text(r, i, 7), "transmitter") == 0;
	k->binds = (unsigned)store_res_int(r, i, 8);
	k->window = (unsigned)store_res_int(r, i, 9);
	k->throughput = store_res_int(r, i, 10);
	k->enquire_link_ms = store_res_int(r, i, 11);
	k->response_timeout_ms = store_res_int(r, i, 12);
	k->reconnect_min_ms = store_res_int(r, i, 13);
	k->reconnect_max_ms = store_res_int(r, i, 14);
	k->submit_id_base = id_base(store_res_text(r, i, 15));
	k->receipt_id_base = id_base(store_res_text(r, i, 16));
	k->default_ton = (uint8_t)store_res_int(r, i, 17);
	k->default_npi = (uint8_t)store_res_int(r, i, 18);
	k->updated_at = store_res_int(r, i, 19);
	k->tls = store_res_int(r, i, 20) != 0;
	copy_text(k->tls_ca_file, sizeof(k->tls_ca_file), store_res_text(r, i, 21));
	copy_text(k->tls_server_name, sizeof(k->tls_server_name), store_res_text(r, i, 22));
	k->sar = strcmp(store_res_text(r, i, 23), "sar") == 0;
	connector_failover(k, store_res_text(r, i, 24));
	if (k->binds > SMSC_CONNECTOR_BINDS_MAX)
		k->binds = SMSC_CONNECTOR_BINDS_MAX;
}

static int build_connectors(struct smsc_routes *s, struct store_conn *c)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, CONNECTORS_SQL, NULL, 0, &r);

	if (rc == 0 && !(s->connectors = calloc(store_res_rows(r) + 1, sizeof(*s->connectors))))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++)
		connector_row(&s->connectors[s->nconnectors++], r, i);
	store_res_free(r);
	if (s->nconnectors > 1)
		qsort(s->connectors, s->nconnectors, sizeof(*s->connectors), connector_cmp);
	return rc;
}

static int margin_cmp(const void *a, const void *b)
{
	return strcmp(((const struct smsc_margin *)a)->customer_id,
		      ((const struct smsc_margin *)b)->customer_id);
}

static int build_margins(struct smsc_routes *s, struct store_conn *c)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, MARGINS_SQL, NULL, 0, &r);

	if (rc == 0 && !(s->margins = calloc(store_res_rows(r) + 1, sizeof(*s->margins))))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct smsc_margin *m = &s->margins[s->nmargins++];
		copy_text(m->customer_id, sizeof(m->customer_id), store_res_text(r, i, 0));
		m->min_margin_bps = store_res_int(r, i, 1);
	}
	store_res_free(r);
	if (s->nmargins > 1)
		qsort(s->margins, s->nmargins, sizeof(*s->margins), margin_cmp);
	return rc;
}

static int labels_cmp(const void *a, const void *b)
{
	return strcmp(((const struct smsc_labels *)a)->customer_id,
		      ((const struct smsc_labels *)b)->customer_id);
}

static char **labels_list(const char *text)
{
	json_t *j = json_loads(text, 0, NULL), *v;
	char **l = calloc(json_array_size(j) + 1, sizeof(*l));
	size_t i, n = 0;

	json_array_foreach(j, i, v) if (l && json_is_string(v) &&
					(l[n] = strdup(json_string_value(v)))) n++;
	json_decref(j);
	return l;
}

static int build_labels(struct smsc_routes *s, struct store_conn *c)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, LABELS_SQL, NULL, 0, &r);

	if (rc == 0 && !(s->labels = calloc(store_res_rows(r) + 1, sizeof(*s->labels))))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		struct smsc_labels *k = &s->labels[s->nlabels];
		copy_text(k->customer_id, sizeof(k->customer_id), store_res_text(r, i, 0));
		if ((k->labels = labels_list(store_res_text(r, i, 1))))
			s->nlabels++;
	}
	store_res_free(r);
	if (s->nlabels > 1)
		qsort(s->labels, s->nlabels, sizeof(*s->labels), labels_cmp);
	return rc;
}

void *smsc_routes_build(struct store_conn *c, void *arg)
{
	struct smsc_routes *s = calloc(1, sizeof(*s));

	(void)arg;
	if (s && build_routes(s, c) == 0 && build_connectors(s, c) == 0 &&
	    build_margins(s, c) == 0 && build_labels(s, c) == 0)
		return s;
	smsc_routes_free(s);
	return NULL;
}

void smsc_routes_free(void *data)
{
	struct smsc_routes *s = data;
	if (!s)
		return;
	for (size_t i = 0; s->routes && i < s->nroutes; i++)
		smsc_route_filter_fini(&s->routes[i].filter);
	for (size_t i = 0; i < s->nlabels; i++) {
		for (size_t k = 0; s->labels[i].labels[k]; k++)
			free(s->labels[i].labels[k]);
		free(s->labels[i].labels);
	}
	free(s->labels);
	free(s->routes);
	free(s->connectors);
	free(s->margins);
	free(s);
}

static const struct smsc_route *route_get(const struct smsc_routes *s, const char *prefix,
					  const char *customer_id)
{
	struct smsc_route key;

	copy_text(key.prefix, sizeof(key.prefix), prefix);
	copy_text(key.customer_id, sizeof(key.customer_id), customer_id);
	return s->nroutes ? bsearch(&key, s->routes, s->nroutes, sizeof(key), route_key_cmp) : NULL;
}

/* The first route of (prefix, customer_id) by priority whose filters
 * match m, or NULL. */
static const struct smsc_route *route_first(const struct smsc_routes *s, const char *prefix,
					    const char *customer_id, const struct smsc_route_msg *m)
{
	const struct smsc_route *r = route_get(s, prefix, customer_id),
				*end = s->routes + s->nroutes;

	if (!r)
		return NULL;
	while (r > s->routes && route_key_cmp(r - 1, r) == 0)
		r--; /* bsearch found one of the pair: back to its first */
	for (const struct smsc_route *k = r; k < end && route_key_cmp(k, r) == 0; k++)
		if (smsc_route_filter_match(&k->filter, m))
			return k;
	return NULL;
}

static const char *const *customer_labels(const struct smsc_routes *s, const char *customer_id)
{
	struct smsc_labels key;
	const struct smsc_labels *k;

	copy_text(key.customer_id, sizeof(key.customer_id), customer_id);
	k = s->nlabels ? bsearch(&key, s->labels, s->nlabels, sizeof(key), labels_cmp) : NULL;
	return k ? (const char *const *)k->labels : NULL;
}

const struct smsc_route *smsc_route_pick(const struct smsc_routes *s,
					 const struct smsc_route_msg *msg)
{
	char digits[SMSC_PREFIX_MAX + 1];
	struct smsc_route_msg m = *msg;
	size_t n = 0;

	if (!s || !m.dest)
		return NULL;
	m.labels = customer_labels(s, m.customer_id);
	for (size_t i = 0; m.dest[i] && n < s->maxlen; i++)
		if (m.dest[i] >= '0' && m.dest[i] <= '9')
			digits[n++] = m.dest[i];
	for (;; n--) {
		digits[n] = '\0';
		const struct smsc_route *r = route_first(s, digits, m.customer_id, &m);
		if (!r)
			r = route_first(s, digits, "", &m);
		if (r || n == 0)
			return r;
	}
}

/* Longest prefix first; at each length the customer's own route, then the
 * global one.  Only the digits of dest count. */
const struct smsc_route *smsc_route_find(const struct smsc_routes *s, struct str dest,
					 const char *customer_id)
{
	char digits[SMSC_PREFIX_MAX + 1];
	size_t n = 0;

	if (!s)
		return NULL;
	for (size_t i = 0; i < dest.len && n < s->maxlen; i++)
		if (dest.p[i] >= '0' && dest.p[i] <= '9')
			digits[n++] = dest.p[i];
	for (;; n--) {
		digits[n] = '\0';
		const struct smsc_route *r = route_get(s, digits, customer_id);
		if (!r)
			r = route_get(s, digits, "");
		if (r || n == 0)
			return r;
	}
}

struct snapshot *smsc_routes_register(struct snapshot_loader *l)
{
	return snapshot_register(l, SMSC_ROUTES_SNAPSHOT, smsc_routes_build, smsc_routes_free,
				 NULL);
}

/* hot path: no allocation, no locks, no I/O */
bool smsc_routes_serve(const void *routes, const char *to, const char *customer_id)
{
	return smsc_route_find(routes, str_from_cstr(to), customer_id) != NULL;
}

/* ---------------------------------------------------------------- lcr */

void smsc_dest_digits(struct str dest, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < dest.len && j + 1 < n; i++)
		if (dest.p[i] >= '0' && dest.p[i] <= '9')
			out[j++] = dest.p[i];
	out[j] = '\0';
}

/* The sell rate per segment and the currency buy rates are compared in. */
static void lcr_sell(const struct billing_rating *g, const char *customer_id, struct str num,
		     int64_t t_ms, struct billing_lcr_margin *m, char *cur, size_t curlen)
{
	const struct billing_customer *cu = billing_rating_customer(g, str_from_cstr(customer_id));
	const struct billing_deck *deck = NULL;
	struct billing_rate row;

	copy_text(cur, curlen, cu ? cu->currency : "");
	m->has_sell = billing_rating_sell(g, str_from_cstr(customer_id), STR_NULL, t_ms,
					  BILLING_SMS, num, &row, &deck) == 0;
	m->sell_rate = m->has_sell ? row.rate : 0;
	if (m->has_sell && !cur[0] && deck)
		copy_text(cur, curlen, billing_deck_meta(deck)->currency);
}

/* warp_smsc_lcr_excluded_total{reason}: a carrier an lcr route left out
 * of a message's order (its dispatch, and again at a failover). */
static void lcr_count(enum billing_lcr_out out)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_smsc_lcr_excluded_total",
	    "Carriers a message route in lcr mode left out of a message's order, by reason: "
	    "no_rate, currency_mismatch, margin.",
	    "reason");

	if (f)
		metric_inc(metric_get(f, billing_lcr_out_reason(out)));
}

/* The route's minimum margin, else the customer's (none: margin false). */
static struct billing_lcr_margin lcr_margin(const struct smsc_routes *s, const struct smsc_route *r,
					    const char *customer_id)
{
	struct billing_lcr_margin m = {.margin = r->margin, .min_margin_bps = r->min_margin_bps};
	struct smsc_margin key;
	const struct smsc_margin *cm;

	copy_text(key.customer_id, sizeof(key.customer_id), customer_id);
	cm = !m.margin && s && s->nmargins
		 ? bsearch(&key, s->margins, s->nmargins, sizeof(key), margin_cmp)
		 : NULL;
	if (cm) {
		m.margin = true;
		m.min_margin_bps = cm->min_margin_bps;
	}
	return m;
}

static size_t lcr_order(const struct billing_rating *g, const struct smsc_routes *s,
			const struct smsc_route *r, const char *dest, const char *customer_id,
			const char *ids[SMSC_ROUTE_CARRIERS_MAX], const char **why)
{
	struct billing_lcr_candidate c[SMSC_ROUTE_CARRIERS_MAX];
	struct billing_lcr_margin m = lcr_margin(s, r, customer_id);
	char digits[SMPP_ADDR_WIDE_MAX], cur[BILLING_CURRENCY_MAX] = "";
	int64_t t_ms = time_wall_ms();
	bool margin_out = false;

	smsc_dest_digits(str_from_cstr(dest), digits, sizeof(digits));
	if (g)
		lcr_sell(g, customer_id, str_from_cstr(digits), t_ms, &m, cur, sizeof(cur));
	for (size_t i = 0; i < r->ncarriers; i++) {
		const struct billing_deck *deck = NULL;
		struct billing_rate row;

		c[i] =
		    (struct billing_lcr_candidate){.idx = i, .priority = r->carriers[i].priority};
		c[i].has_rate =
		    g && billing_rating_buy(g, str_from_cstr(r->carriers[i].carrier_id), t_ms,
					    BILLING_SMS, str_from_cstr(digits), &row, &deck) == 0;
		c[i].buy_rate = c[i].has_rate ? row.rate : 0;
		c[i].currency_ok =
		    !cur[0] || !deck || strcmp(billing_deck_meta(deck)->currency, cur) == 0;
	}
	size_t kept = billing_lcr_order(c, r->ncarriers, &m);

	for (size_t i = 0; i < r->ncarriers; i++) {
		if (i < kept) {
			ids[i] = r->carriers[c[i].idx].carrier_id;
			continue;
		}
		margin_out = margin_out || c[i].out == BILLING_LCR_MARGIN;
		lcr_count(c[i].out);
	}
	if (kept == 0 && why)
		*why = margin_out ? "no_carrier_within_margin" : "no_carrier_rate";
	return kept;
}

/* hot path: no allocation, no locks, no I/O */
size_t smsc_route_order(struct snapshot *rating, const struct smsc_routes *s,
			const struct smsc_route *r, const char *dest, const char *customer_id,
			const char *ids[SMSC_ROUTE_CARRIERS_MAX], const char **why)
{
	if (why)
		*why = NULL;
	if (!r->lcr) {
		for (size_t i = 0; i < r->ncarriers; i++)
			ids[i] = r->carriers[i].carrier_id;
		return r->ncarriers;
	}
	const struct billing_rating *g = rating ? snapshot_acquire(rating) : NULL;
	size_t n = lcr_order(g, s, r, dest, customer_id, ids, why);

	if (g)
		snapshot_release(rating, g);
	return n;
}
