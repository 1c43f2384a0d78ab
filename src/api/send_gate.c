/*
 * send_gate.c — what POST /api/v1/messages checks before it stores a
 * message, from a snapshot instead of the store: whether the customer is
 * active, and whether any message route (the customer's own or a global
 * one) serves the destination.
 *
 * The snapshot ("api_send", src/store/snapshot.c) is rebuilt when the
 * config version changes, as the SMSC's and the SIP proxy's are, so a
 * suspended customer or a removed route is refused within the same
 * propagation delay ([store] snapshot_poll) as their SMPP binds and calls.
 * What the snapshot does not know yet (a customer created, a route added
 * since the last build) is asked of the store, so a new customer can send
 * at once; a known answer never costs a query (decision 0031).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/message.h"

struct gate_customer {
	char id[ID_MAX];
	bool active;
};

/* A route's key: customer_id ("" for a global route) and prefix; prefixes
 * longer than any destination are left out. */
struct gate_route {
	char customer[ID_MAX];
	char prefix[API_MSG_ADDR_MAX + 1];
};

struct api_send_gate {
	struct gate_customer *customers; /* sorted by id */
	size_t ncustomers;
	struct gate_route *routes; /* sorted by customer, then prefix */
	size_t nroutes;
};

static int gate_customer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gate_customer *)a)->id, ((const struct gate_customer *)b)->id);
}

static int gate_route_cmp(const void *a, const void *b)
{
	const struct gate_route *x = a, *y = b;
	int c = strcmp(x->customer, y->customer);

	return c ? c : strcmp(x->prefix, y->prefix);
}

static void gate_free(void *data)
{
	struct api_send_gate *g = data;

	if (g) {
		free(g->customers);
		free(g->routes);
	}
	free(g);
}

static int gate_customers_load(struct store_conn *c, struct api_send_gate *g)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, "SELECT id, status FROM customers", NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && n && !(g->customers = calloc(n, sizeof(*g->customers))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct gate_customer *k = &g->customers[g->ncustomers];
		if (str_copy(k->id, sizeof(k->id), str_from_cstr(store_res_text(r, i, 0))) < 0)
			continue; /* no id the API hands out is this long */
		k->active = strcmp(store_res_text(r, i, 1), "active") == 0;
		g->ncustomers++;
	}
	store_res_free(r);
	if (g->ncustomers)
		qsort(g->customers, g->ncustomers, sizeof(*g->customers), gate_customer_cmp);
	return rc;
}

static int gate_routes_load(struct store_conn *c, struct api_send_gate *g)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, "SELECT customer_id, prefix FROM message_routes", NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && n && !(g->routes = calloc(n, sizeof(*g->routes))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct gate_route *k = &g->routes[g->nroutes];
		/* A global route's NULL customer_id reads as "". */
		if (str_copy(k->customer, sizeof(k->customer),
			     str_from_cstr(store_res_text(r, i, 0))) < 0 ||
		    str_copy(k->prefix, sizeof(k->prefix), str_from_cstr(store_res_text(r, i, 1))) <
			0)
			continue; /* a prefix longer than any destination serves none */
		g->nroutes++;
	}
	store_res_free(r);
	if (g->nroutes)
		qsort(g->routes, g->nroutes, sizeof(*g->routes), gate_route_cmp);
	return rc;
}

/* On the snapshot loader's thread. */
static void *gate_build(struct store_conn *c, void *arg)
{
	struct api_send_gate *g = calloc(1, sizeof(*g));
	(void)arg;

	if (!g || gate_customers_load(c, g) < 0 || gate_routes_load(c, g) < 0) {
		gate_free(g);
		return NULL;
	}
	return g;
}

struct snapshot *api_send_gate_register(struct snapshot_loader *l)
{
	return snapshot_register(l, "api_send", gate_build, gate_free, NULL);
}

/* hot path: no allocation, no locks, no I/O */
enum api_gate_answer api_send_gate_customer(const struct api_send_gate *g, const char *customer)
{
	struct gate_customer key;
	const struct gate_customer *k;

	if (!g->ncustomers || str_copy(key.id, sizeof(key.id), str_from_cstr(customer)) < 0)
		return API_GATE_UNKNOWN;
	k = bsearch(&key, g->customers, g->ncustomers, sizeof(*k), gate_customer_cmp);
	if (!k)
		return API_GATE_UNKNOWN;
	return k->active ? API_GATE_YES : API_GATE_NO;
}

/* hot path: no allocation, no locks, no I/O
 * Every prefix of to, the empty one (the default route) included, looked
 * up for the customer and globally: at most 2 × 16 binary searches. */
enum api_gate_answer api_send_gate_routed(const struct api_send_gate *g, const char *customer,
					  const char *to)
{
	struct gate_route key[2];
	size_t len = strlen(to);

	if (!g->nroutes || len > API_MSG_ADDR_MAX ||
	    str_copy(key[0].customer, sizeof(key[0].customer), str_from_cstr(customer)) < 0)
		return API_GATE_UNKNOWN;
	key[1].customer[0] = '\0';
	for (size_t n = 0; n <= len; n++)
		for (int k = 0; k < 2; k++) {
			memcpy(key[k].prefix, to, n);
			key[k].prefix[n] = '\0';
			if (bsearch(&key[k], g->routes, g->nroutes, sizeof(g->routes[0]),
				    gate_route_cmp))
				return API_GATE_YES;
		}
	return API_GATE_UNKNOWN; /* a route added since the build: the store knows */
}
