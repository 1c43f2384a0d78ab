/*
 * send_gate.c — what POST /api/v1/messages checks before it stores a
 * message, from snapshots instead of the store: whether the customer is
 * active (snapshot "api_send", built here), and whether any message route
 * (the customer's own or a global one) serves the destination (the smsc
 * module's "message_routes", the very build its dispatcher routes by, so
 * that one process holds one copy of the routes and HTTP and SMPP agree).
 *
 * Both are rebuilt when the config version changes, so a suspended
 * customer or a removed route is refused within the same propagation
 * delay ([store] snapshot_poll) as their SMPP binds and calls.  What a
 * snapshot does not know (a customer created, a route added since the
 * build, or none at all) is asked of the store, so a new customer sends at
 * once, and the store's answer — no such route included — is kept in a
 * small table until that snapshot's next version: a flood of sends to a
 * destination no route serves costs one statement per config version, not
 * one each (decisions 0031, 0043).  warp_api_send_store_lookups_total
 * counts the statements.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/message.h"
#include "smsc/smsc.h"

/* The store's answers, by what was asked, while the snapshot that did not
 * know was at version: a fixed table indexed by a hash of the question,
 * a newer question taking an older one's slot (bounded, never
 * allocated).  HTTP workers share it under api->send_memo_lock. */
struct api_send_memo {
	int64_t version; /* of the snapshot asked first; 0: empty */
	char kind;	 /* 'c' a customer's status, 'r' a route */
	bool yes;
	char customer[ID_MAX];
	char to[API_MSG_ADDR_MAX + 1];
};

enum gate_answer { GATE_UNKNOWN, GATE_YES, GATE_NO };

struct gate_customer {
	char id[ID_MAX];
	bool active;
};

struct api_send_gate {
	struct gate_customer *customers; /* sorted by id */
	size_t ncustomers;
};

static int gate_customer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gate_customer *)a)->id, ((const struct gate_customer *)b)->id);
}

static void gate_free(void *data)
{
	struct api_send_gate *g = data;

	if (g)
		free(g->customers);
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

/* On the snapshot loader's thread. */
static void *gate_build(struct store_conn *c, void *arg)
{
	struct api_send_gate *g = calloc(1, sizeof(*g));
	(void)arg;

	if (!g || gate_customers_load(c, g) < 0) {
		gate_free(g);
		return NULL;
	}
	return g;
}

int api_send_gate_register(struct api *a, struct snapshot_loader *l)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_api_send_store_lookups_total",
	    "Store statements the HTTP send checks ran because a snapshot did not know the answer "
	    "(config version reads, customer and route lookups).",
	    NULL);

	a->m_send_store = f ? metric_get(f, NULL) : NULL;
	if (!(a->send_memo = calloc(API_SEND_MEMO_SLOTS, sizeof(*a->send_memo))))
		return -ENOMEM;
	pthread_mutex_init(&a->send_memo_lock, NULL);
	if (!l)
		return 0;
	a->send_gate = snapshot_register(l, "api_send", gate_build, gate_free, NULL);
	a->send_routes = smsc_routes_register(l);
	return a->send_gate && a->send_routes ? 0 : -EIO;
}

void api_send_gate_fini(struct api *a)
{
	if (!a->send_memo)
		return;
	pthread_mutex_destroy(&a->send_memo_lock);
	free(a->send_memo);
	a->send_memo = NULL;
}

/* Each version is read after its data: the store's answers kept under it
 * are never older than the build, and go when the snapshot moves on. */
void api_send_view_acquire(struct api *a, struct api_send_view *v)
{
	*v = (struct api_send_view){.api = a};
	if (a->send_gate && (v->gate = snapshot_acquire(a->send_gate)))
		v->gate_version = snapshot_version(a->send_gate);
	if (a->send_routes && (v->routes = snapshot_acquire(a->send_routes)))
		v->routes_version = snapshot_version(a->send_routes);
}

void api_send_view_release(struct api_send_view *v)
{
	if (v->gate)
		snapshot_release(v->api->send_gate, v->gate);
	if (v->routes)
		snapshot_release(v->api->send_routes, v->routes);
	*v = (struct api_send_view){0};
}

static size_t memo_slot(char kind, const char *customer, const char *to)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (const char *p = customer; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ (unsigned char)kind) * 1099511628211ULL;
	for (const char *p = to; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)(h % API_SEND_MEMO_SLOTS);
}

/* 1 with *yes when the store answered this at version, 0 when not known. */
static int memo_get(struct api *a, int64_t version, char kind, const char *customer, const char *to,
		    bool *yes)
{
	const struct api_send_memo *m = &a->send_memo[memo_slot(kind, customer, to)];
	int found;

	pthread_mutex_lock(&a->send_memo_lock);
	found = m->version == version && version > 0 && m->kind == kind &&
		strcmp(m->customer, customer) == 0 && strcmp(m->to, to) == 0;
	if (found)
		*yes = m->yes;
	pthread_mutex_unlock(&a->send_memo_lock);
	return found;
}

static void memo_put(struct api *a, int64_t version, char kind, const char *customer,
		     const char *to, bool yes)
{
	struct api_send_memo *m = &a->send_memo[memo_slot(kind, customer, to)];

	if (version <= 0 || strlen(customer) >= sizeof(m->customer) || strlen(to) >= sizeof(m->to))
		return;
	pthread_mutex_lock(&a->send_memo_lock);
	*m = (struct api_send_memo){.version = version, .kind = kind, .yes = yes};
	memcpy(m->customer, customer, strlen(customer) + 1);
	memcpy(m->to, to, strlen(to) + 1);
	pthread_mutex_unlock(&a->send_memo_lock);
}

/* What the store says to sql (with customer and, for a route, to), kept
 * for the snapshot at version; 0 with *yes set, or a store error. */
static int memo_ask(const struct api_send_view *v, struct store_conn *c, int64_t version, char kind,
		    const char *customer, const char *to, bool *yes)
{
	static const char *const sql[] = {
	    "SELECT status FROM customers WHERE id = $1",
	    /* Any route that serves the destination, the customer's own or a
	     * global one, is enough here; the longest prefix wins at dispatch. */
	    "SELECT 'active' FROM message_routes WHERE (customer_id = $1 OR customer_id IS NULL) "
	    "AND substr(CAST($2 AS TEXT), 1, length(prefix)) = prefix LIMIT 1",
	};
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(customer), store_p_text(to)};
	bool route = kind == 'r';
	int rc;

	if (memo_get(v->api, version, kind, customer, to, yes))
		return 0;
	if (v->api->m_send_store)
		metric_inc(v->api->m_send_store);
	rc = store_exec(c, sql[route], p, route ? 2 : 1, &r);
	*yes = rc == 0 && store_res_rows(r) == 1 && strcmp(store_res_text(r, 0, 0), "active") == 0;
	store_res_free(r);
	if (rc == 0)
		memo_put(v->api, version, kind, customer, to, *yes);
	return rc;
}

/* hot path: no allocation, no locks, no I/O */
static enum gate_answer gate_customer(const struct api_send_gate *g, const char *customer)
{
	struct gate_customer key;
	const struct gate_customer *k;

	if (!g || !g->ncustomers || str_copy(key.id, sizeof(key.id), str_from_cstr(customer)) < 0)
		return GATE_UNKNOWN;
	k = bsearch(&key, g->customers, g->ncustomers, sizeof(*k), gate_customer_cmp);
	if (!k)
		return GATE_UNKNOWN;
	return k->active ? GATE_YES : GATE_NO;
}

bool api_send_view_knows(const struct api_send_view *v, const char *customer)
{
	return gate_customer(v->gate, customer) != GATE_UNKNOWN;
}

int api_send_view_customer(const struct api_send_view *v, struct store_conn *c,
			   const char *customer, bool *active)
{
	enum gate_answer g = gate_customer(v->gate, customer);

	*active = g == GATE_YES;
	if (g != GATE_UNKNOWN)
		return 0;
	return memo_ask(v, c, v->gate_version, 'c', customer, "", active);
}

int api_send_view_routed(const struct api_send_view *v, struct store_conn *c, const char *customer,
			 const char *to, bool *routed)
{
	*routed = v->routes && smsc_routes_serve(v->routes, to, customer);
	if (*routed)
		return 0;
	return memo_ask(v, c, v->routes_version, 'r', customer, to, routed);
}
