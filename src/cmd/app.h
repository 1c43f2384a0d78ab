/*
 * app.h — private to src/cmd: the running platform's parts, shared by
 * warp.c (command line, start order, shutdown) and roles.c (how the sip,
 * media, smsc and billing roles are configured and started).
 */
#ifndef WARP_CMD_APP_H
#define WARP_CMD_APP_H

#include <stdatomic.h>

#include "api/api.h"
#include "auth/auth.h"
#include "billing/billing.h"
#include "core/core.h"
#include "export/export.h"
#include "http/http.h"
#include "invoice/invoice.h"
#include "media/media.h"
#include "ng/ng.h"
#include "sip/sip.h"
#include "smsc/smsc.h"
#include "store/store.h"

#define ERR_LEN 512

struct app {
	struct config *cfg;
	struct store *store;
	struct snapshot_loader *loader;
	/* The rating snapshot (decks and assignments), one per process for
	 * every role that prices: registered by app_rating on first use. */
	struct billing_rating_source *rating_src;
	struct snapshot *rating;
	struct loop_pool *http_pool;
	struct http_router *router;
	struct http_server *http;
	struct auth *auth;
	struct ratelimit *rl;
	struct api *api;
	struct media *media;
	struct sip_proxy *sip;
	struct smsc *smsc;
	struct export *export; /* billing role: BigQuery export */
	struct netsuite_sender *netsuite; /* billing role: invoices to NetSuite */
	struct billing_role *billing; /* the billing role's rating thread */
	struct ng_engine_set *ng_engines; /* the sip role's media engines */
	struct ng_pinger *ng_pinger;	  /* on main_base */
	struct api_webhook_dispatch *dispatch; /* webhooks: started after the api role */
	struct event_base *main_base;
	struct event *health_timer;
	struct event *jwks_timer; /* refreshes a JWKS past its max-age */
	int jwks_rc;		  /* the last refresh's result, logged on change */
	atomic_int ready;   /* 1 when the store answers and migrations are current */
	char not_ready[128]; /* written by the main thread only while ready == 0 */
	atomic_bool degraded; /* sip limits without their Redis (health_check) */
};

/* roles.c: each starts its role from app->cfg; 0 or -1 with the reason logged. */
int start_sip_media(struct app *app);
int start_sip(struct app *app);
int start_media(struct app *app);
int start_smsc(struct app *app);
int start_billing(struct app *app);
/* warp.c: an amount key (a decimal such as "5.00") in micro-units. */
int64_t config_money(const struct config *cfg, const char *sec, const char *key);
/* The process's rating snapshot, registered on the first call; NULL (the
 * reason logged) when the store cannot build it. */
struct snapshot *app_rating(struct app *app);

#endif
