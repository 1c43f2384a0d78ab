/*
 * gw_series.c — a gateway's health entry and its /metrics series, kept
 * across snapshot rebuilds.
 *
 * The entry (struct psnap_gw_state) holds the prober's up/down mark; the
 * builder finds it by id, the prober writes it.  Its series:
 *
 *   warp_sip_gateway_up{gateway}    1 answering OPTIONS, 0 down, -1 not
 *                                   probed (probe off, tls, or no round
 *                                   has decided yet; used by the planner);
 *   warp_sip_gateway_info{gateway,carrier,carrier_name,host,port,transport} 1
 *                                   names the opaque id.
 *
 * and the carrier totals (warp_sip_carrier_*_total{carrier}) of carriers
 * no longer in the store leave too.
 *
 * After each build, the gateways no longer in the store leave /metrics
 * (metric_hide: entries and series stay allocated, the prober may still
 * hold them through an older snapshot), and an info series whose labels
 * changed is replaced by the new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

#define GW_UNPROBED (-1)

struct psnap_gw_state *psnap_gw_state_get(struct psnap_env *env, const char *id)
{
	struct psnap_gw_state *st;

	pthread_mutex_lock(&env->gw_lock);
	for (st = env->gw_states; st; st = st->next)
		if (strcmp(st->id, id) == 0)
			break;
	if (!st && (st = calloc(1, sizeof(*st))) != NULL) {
		psnap_copy_cstr(st->id, sizeof(st->id), id);
		st->up = env->gw_up ? metric_get(env->gw_up, id) : NULL;
		metric_set(st->up, GW_UNPROBED); /* new gateways are used until probed down */
		st->next = env->gw_states;
		env->gw_states = st;
	}
	pthread_mutex_unlock(&env->gw_lock);
	return st;
}

static const char *gw_transport_name(enum sip_transport_kind t)
{
	return t == SIP_TRANSPORT_TLS ? "tls" : t == SIP_TRANSPORT_TCP ? "tcp" : "udp";
}

/* The gateway's info series as built now; the one it had before, when its
 * labels differ, leaves.  Called with gw_lock held. */
static void gw_info_update(struct psnap_env *env, const struct psnap_gateway *g,
			   const struct psnap_carrier *ca)
{
	char port[8];
	const char *v[6] = {g->id,   ca->id, ca->name,
			    g->host, port,   gw_transport_name(g->transport)};
	struct metric *info;

	snprintf(port, sizeof(port), "%u", (unsigned)g->port);
	info = env->gw_info ? metric_getv(env->gw_info, v, 6) : NULL;
	if (g->state->info && g->state->info != info)
		metric_hide(g->state->info, true);
	g->state->info = info;
	metric_set(info, 1);
	metric_hide(info, false);
}

static bool carrier_in(const char *const *values, void *arg)
{
	return psnap_carrier_find(arg, values[0]) != NULL;
}

void psnap_gw_series_publish(struct psnap_env *env, const struct psnap *s)
{
	struct psnap_gw_state *st;
	unsigned gen;

	pthread_mutex_lock(&env->gw_lock);
	gen = ++env->gw_gen;
	for (size_t i = 0; i < s->ngateways; i++) {
		const struct psnap_gateway *g = &s->gateways[i];

		g->state->gen = gen;
		/* The prober leaves these alone: a mark it made before probing
		 * was turned off no longer holds (the planner uses the gateway
		 * again), and none is shown. */
		if (!g->probe || g->transport == SIP_TRANSPORT_TLS) {
			atomic_store(&g->state->down, false);
			atomic_store(&g->state->misses, 0);
			metric_set(g->state->up, GW_UNPROBED);
		}
		metric_hide(g->state->up, false);
		gw_info_update(env, g, &s->carriers[g->carrier]);
	}
	for (st = env->gw_states; st; st = st->next)
		if (st->gen != gen) {
			metric_hide(st->up, true);
			metric_hide(st->info, true);
		}
	pthread_mutex_unlock(&env->gw_lock);
	/* A carrier's id is never reused: once gone, its totals stay hidden. */
	metrics_family_hide_unless(env->car_attempts, carrier_in, (void *)s);
	metrics_family_hide_unless(env->car_answered, carrier_in, (void *)s);
	metrics_family_hide_unless(env->car_duration, carrier_in, (void *)s);
}
