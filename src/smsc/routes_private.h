/*
 * routes_private.h — the smsc role's routing snapshot: message routes with
 * their filters, connectors, customers' margins and labels (routes.c,
 * route_pick.c), shared by the smsc files through smsc_private.h.
 */
#ifndef WARP_SMSC_ROUTES_PRIVATE_H
#define WARP_SMSC_ROUTES_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smpp/smpp.h"
#include "smsc/route_filter.h"
#include "smsc/smsc.h"

#define SMSC_PREFIX_MAX 15
#define SMSC_ROUTE_CARRIERS_MAX 20
#define SMSC_CONNECTOR_BINDS_MAX 16

struct smsc_route_carrier {
	char carrier_id[ID_MAX];
	int priority, weight;
};

struct smsc_route {
	char id[ID_MAX];
	char prefix[SMSC_PREFIX_MAX + 1];
	char customer_id[ID_MAX];				     /* "" for a global route */
	struct smsc_route_carrier carriers[SMSC_ROUTE_CARRIERS_MAX]; /* by priority */
	size_t ncarriers;
	bool lcr;    /* mode lcr: carriers by SMS buy rate (decision 0038) */
	bool margin; /* min_margin_bps set */
	int64_t min_margin_bps;
	int64_t priority;		  /* among routes of its prefix and customer: lowest first */
	struct smsc_route_filter filter; /* all must match (decision 0051) */
};

/* How an upstream writes its message ids (Kannel's msg-id-type). */
enum smsc_id_base { SMSC_ID_TEXT, SMSC_ID_HEX, SMSC_ID_DEC };

struct smsc_connector_cfg {
	char id[ID_MAX], carrier_id[ID_MAX];
	char host[256];
	uint16_t port;
	char system_id[SMPP_SYSTEM_ID_MAX], password[SMPP_PASSWORD_MAX];
	char system_type[SMPP_SYSTEM_TYPE_MAX];
	bool transmitter_only;
	unsigned binds, window;
	int64_t throughput, enquire_link_ms, response_timeout_ms;
	int64_t reconnect_min_ms, reconnect_max_ms;
	enum smsc_id_base submit_id_base, receipt_id_base;
	uint8_t default_ton, default_npi;
	int64_t updated_at;	   /* a changed connector is rebound */
	bool tls;		   /* connect with TLS, verifying the server (tls.c) */
	bool sar;		   /* long messages' parts go with sar_* TLVs, not a UDH */
	char tls_ca_file[1025];	   /* "": the system's CA store */
	char tls_server_name[254]; /* "": host is the name checked */
	/* Retryable negative receipts, ",err:088,stat:REJECTD," (decision 0051). */
	char failover_errors[SMSC_FAILOVER_ERRORS_MAX * 66 + 2];
};

/* A customer's minimum margin for lcr routes that set none (decision 0038). */
struct smsc_margin {
	char customer_id[ID_MAX];
	int64_t min_margin_bps;
};

/* A customer's labels, what customer_labels filters match. */
struct smsc_labels {
	char customer_id[ID_MAX];
	char **labels; /* NULL-ended */
};

struct smsc_routes {
	struct smsc_route *routes; /* by (prefix, customer_id, priority) */
	size_t nroutes, maxlen;
	bool filters_text;	     /* a route's filters read the message's text */
	struct smsc_labels *labels; /* customers with labels, by id */
	size_t nlabels;
	struct smsc_margin *margins; /* customers with one, by id */
	size_t nmargins;
	struct smsc_connector_cfg *connectors; /* enabled ones, by id */
	size_t nconnectors;
};

void *smsc_routes_build(struct store_conn *c, void *arg);
void smsc_routes_free(void *data);
/* A route for dest's longest prefix, customer_id's own or a global one,
 * whatever its filters say: whether the destination is served at all (the
 * submit checks). */
const struct smsc_route *smsc_route_find(const struct smsc_routes *s, struct str dest,
					 const char *customer_id);
/* The route m takes: longest prefix of m->dest first; at each length
 * the customer's own routes, then the global ones, each by priority; the
 * first whose filters all match m (m->labels filled from s).  NULL: none. */
const struct smsc_route *smsc_route_pick(const struct smsc_routes *s,
					 const struct smsc_route_msg *m);
/* The digits of dest, as rate decks write prefixes (NUL-terminated, cut
 * to n - 1). */
void smsc_dest_digits(struct str dest, char *out, size_t n);
/* The carriers a message of customer_id to dest tries, in order, into
 * ids: the route's own order, or in lcr mode (decision 0038) by SMS buy
 * rate from the rating snapshot at now, carriers without a rate, in another
 * currency or under the route's minimum margin (else the customer's, from
 * s) over the customer's sell rate left out.  Returns how many; with none
 * kept in lcr mode, *why (when not NULL) says why
 * ("no_carrier_within_margin", "no_carrier_rate"), else it is NULL.  No
 * store access. */
size_t smsc_route_order(struct snapshot *rating, const struct smsc_routes *s,
			const struct smsc_route *r, const char *dest, const char *customer_id,
			const char *ids[SMSC_ROUTE_CARRIERS_MAX], const char **why);

#endif
