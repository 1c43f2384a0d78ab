/*
 * roles.c — starting the sip, media, smsc and billing roles from the configuration:
 * their listen addresses, options and the threads each one runs.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/app.h"
#include "cmd/invoice.h"
#include "cmd/schema.h"

/* Appends the comma-separated addresses of [sip] key to out (port given:
 * the default); an error names the key and the bad address. */
static int sip_addr_list(const struct config *cfg, const char *key, uint16_t port,
			 struct net_addr *out, size_t *n)
{
	struct str rest = str_from_cstr(config_str(cfg, "sip", key));
	while (rest.len > 0) {
		ptrdiff_t comma = str_index(rest, ',');
		struct str one = str_trim((struct str){ rest.p, comma < 0 ? rest.len : (size_t)comma });
		if (one.len && (*n == SIP_PROXY_LISTEN_MAX || net_addr_parse(one, port, &out[(*n)++]) < 0)) {
			fprintf(stderr, "warp: [sip] %s: bad address '%.*s'\n", key, STR_FMT(one));
			return -EINVAL;
		}
		rest = comma < 0 ? STR_NULL : (struct str){ rest.p + comma + 1, rest.len - (size_t)comma - 1 };
	}
	return 0;
}

/* The sip role: listen addresses from [sip] listen and listen_also, TLS
 * ones from tls_listen with the files it needs (RFC 3261 §26.2). */
static int sip_listen_opts(const struct config *cfg, struct sip_proxy_opts *o)
{
	o->listen[o->nlisten++] = *config_addr(cfg, "sip", "listen");
	if (sip_addr_list(cfg, "listen_also", 5060, o->listen, &o->nlisten) < 0 ||
	    sip_addr_list(cfg, "tls_listen", 5061, o->tls_listen, &o->ntls_listen) < 0)
		return -EINVAL;
	o->tls_cert = config_str(cfg, "sip", "tls_cert");
	o->tls_key = config_str(cfg, "sip", "tls_key");
	o->tls_ca = config_str(cfg, "sip", "tls_ca");
	o->tls_verify_clients = config_bool(cfg, "sip", "tls_verify_clients");
	for (int i = 0; o->ntls_listen && i < 2; i++) {
		const char *key = i ? "tls_key" : "tls_cert";
		if (!config_str(cfg, "sip", key)[0]) {
			fprintf(stderr, "warp: [sip] tls_listen is set but %s is empty\n", key);
			return -EINVAL;
		}
	}
	return 0;
}

/* The sip role's media engines and their pinger (on the main loop).  With
 * none configured, a process running the media role too uses its own. */
int start_sip_media(struct app *app)
{
	char err[ERR_LEN], local[NET_ADDR_STRLEN + 8];
	const struct config *cfg = app->cfg;
	const char *spec = config_str(cfg, "sip", "media_engines");
	if (!spec[0] && app->media) {
		char where[NET_ADDR_STRLEN];
		net_addr_format(config_addr(cfg, "media", "ng_listen"), where, sizeof(where));
		snprintf(local, sizeof(local), "udp:%s", where);
		spec = local;
	}
	if (!spec[0]) {
		/* Not an error: a trunk may be put in relay mode later. */
		log_warn("sip", "no media engines ([sip] media_engines empty, no media role here): "
				"calls on trunks in relay mode are refused 503");
		return 0;
	}
	app->ng_engines = ng_engine_set_new(spec, 0, err, sizeof(err));
	if (!app->ng_engines) {
		fprintf(stderr, "warp: sip: media_engines: %s\n", err);
		return -1;
	}
	app->ng_pinger = ng_pinger_new(app->ng_engines, app->main_base,
				       config_duration_ms(cfg, "sip", "media_ping_interval"),
				       (unsigned)config_int(cfg, "sip", "media_ping_misses"));
	if (!app->ng_pinger) {
		fprintf(stderr, "warp: sip: cannot start the media engines' pinger\n");
		return -1;
	}
	log_info("sip", "media engines: %s", spec);
	return 0;
}

int start_sip(struct app *app)
{
	char err[ERR_LEN];
	const struct config *cfg = app->cfg;
	struct sip_proxy_opts o = {
		.tcp = config_bool(cfg, "sip", "tcp"),
		.threads = (unsigned)config_int(cfg, "sip", "threads"),
		.tcp_max_conns = (int)config_int(cfg, "sip", "tcp_max_conns"),
		.tcp_idle_ms = (int)config_duration_ms(cfg, "sip", "tcp_idle"),
		.udp_receive_buffer = (int)config_int(cfg, "sip", "udp_receive_buffer"),
		.policy =
		    {
			.dialog_ceiling_ms = config_duration_ms(cfg, "sip", "dialog_ceiling"),
			.setup_timeout_ms = (int)config_duration_ms(cfg, "sip", "setup_timeout"),
			.max_attempts = (int)config_int(cfg, "sip", "max_attempts"),
			.flood_refusals = (int)config_int(cfg, "sip", "flood_refusals"),
			.flood_window_ms = (int)config_duration_ms(cfg, "sip", "flood_window"),
			.flood_ban_ms = (int)config_duration_ms(cfg, "sip", "flood_ban"),
			.flood_table_size = (size_t)config_int(cfg, "sip", "flood_table"),
			.probe_interval_ms = (int)config_duration_ms(cfg, "sip", "probe_interval"),
			.digest_nonce_ttl_ms = config_duration_ms(cfg, "sip", "digest_nonce_ttl"),
			.digest_sha256 = config_bool(cfg, "sip", "digest_sha256"),
			.digest_sha256_first = config_bool(cfg, "sip", "digest_sha256_first"),
			.call_heartbeat_ms = (int)config_duration_ms(cfg, "sip", "call_heartbeat"),
			.limits =
			    {
				.redis = strcmp(config_str(cfg, "limits", "backend"), "redis") == 0,
				.redis_url = config_str(cfg, "limits", "redis_url"),
				.timeout_ms = (int)config_duration_ms(cfg, "limits", "timeout"),
				.sync_ms = (int)config_duration_ms(cfg, "limits", "sync_interval"),
				.lease_ms = config_duration_ms(cfg, "limits", "lease"),
				.nodes = (int)config_int(cfg, "limits", "nodes"),
			    },
		    },
		.register_min_expires_s = config_duration_ms(cfg, "sip", "register_min_expires") / 1000,
		.register_max_expires_s = config_duration_ms(cfg, "sip", "register_max_expires") / 1000,
		.register_default_expires_s =
		    config_duration_ms(cfg, "sip", "register_default_expires") / 1000,
		.register_max_contacts = (int)config_int(cfg, "sip", "register_max_contacts"),
		.register_keepalive_ms = config_duration_ms(cfg, "sip", "register_keepalive"),
		.register_keepalive_misses = (int)config_int(cfg, "sip", "register_keepalive_misses"),
		.store = app->store,
		.loader = app->loader,
		.media_timeout_ms = config_duration_ms(cfg, "sip", "media_timeout"),
		.prepaid_quantum_s = config_duration_ms(cfg, "sip", "prepaid_quantum") / 1000,
		.prepaid_timeout_ms = config_duration_ms(cfg, "sip", "prepaid_timeout"),
		.prepaid_threads = (unsigned)config_int(cfg, "sip", "prepaid_threads"),
		.prepaid_sweep_ms = config_duration_ms(cfg, "sip", "prepaid_sweep_interval"),
	};
	/* checked at load (warp.c): an exact decimal */
	billing_money_parse(str_from_cstr(config_str(cfg, "billing", "low_balance_threshold")),
			    true, &o.low_balance_threshold);
	if (sip_listen_opts(cfg, &o) < 0 || start_sip_media(app) < 0)
		return -1;
	/* Prepaid customers' calls are priced before they are routed: without
	 * the rating snapshot they could not be, so the role does not start. */
	o.rating = app_rating(app);
	if (!o.rating) {
		fprintf(stderr, "warp: sip: no rating snapshot: prepaid calls cannot be priced\n");
		return -1;
	}
	o.media_engines = app->ng_engines;
	app->sip = sip_proxy_new(&o, err, sizeof(err));
	if (!app->sip || sip_proxy_start(app->sip) < 0) {
		fprintf(stderr, "warp: sip: %s\n", app->sip ? "cannot start" : err);
		return -1;
	}
	return 0;
}

/* The media role: the RTP relay and its ng control listener. */
int start_media(struct app *app)
{
	char err[ERR_LEN];
	const struct config *cfg = app->cfg;
	struct media_opts o = {
		.ng_listen = *config_addr(cfg, "media", "ng_listen"),
		.timeout_ms = config_duration_ms(cfg, "media", "timeout"),
		.final_timeout_ms = config_duration_ms(cfg, "media", "final_timeout"),
		.port_quiet_ms = config_duration_ms(cfg, "media", "port_quiet"),
		.cookie_ttl_ms = config_duration_ms(cfg, "media", "cookie_ttl"),
		.workers = (unsigned)config_int(cfg, "media", "workers"),
		.spool_dir = config_str(cfg, "media", "recording_dir"),
		.learning_window_ms = config_duration_ms(cfg, "media", "learning_window"),
	};

	/* the schema admits only the modes media_learn_mode_parse knows */
	media_learn_mode_parse(str_from_cstr(config_str(cfg, "media", "endpoint_learning")),
			       &o.learning);

	if (media_ifaces_parse(&o, config_str(cfg, "media", "interfaces"),
			       (uint16_t)config_int(cfg, "media", "port_min"),
			       (uint16_t)config_int(cfg, "media", "port_max"), err, sizeof(err)) < 0 ||
	    !(app->media = media_new(&o, err, sizeof(err)))) {
		fprintf(stderr, "warp: media: %s\n", err);
		return -1;
	}
	if (media_start(app->media) < 0) {
		fprintf(stderr, "warp: media: cannot start the relay threads\n");
		return -1;
	}
	return 0;
}

/* The smsc role: the SMPP server for customers' ESMEs. */
int start_smsc(struct app *app)
{
	char err[ERR_LEN];
	const struct config *cfg = app->cfg;
	struct smsc_opts o = {
		.listen = *config_addr(cfg, "smsc", "listen"),
		.store = app->store,
		.loader = app->loader,
		.rating = app_rating(app),
		.low_balance_threshold = config_money(cfg, "billing", "low_balance_threshold"),
		.sms_refund_undelivered = config_bool(cfg, "billing", "sms_refund_undelivered"),
		.idle_ms = config_duration_ms(cfg, "smsc", "idle_timeout"),
		.default_validity_ms = config_duration_ms(cfg, "smsc", "default_validity"),
		.max_validity_ms = config_duration_ms(cfg, "smsc", "max_validity"),
		.lease_ms = config_duration_ms(cfg, "smsc", "lease"),
		.mo_reassembly_ms = config_duration_ms(cfg, "smsc", "mo_reassembly_timeout"),
		.receipt_failover_attempts =
		    (int)config_int(cfg, "smsc", "receipt_failover_attempts"),
		.max_sessions = (unsigned)config_int(cfg, "smsc", "max_sessions"),
		.tls_certificate = config_str(cfg, "smsc", "tls_certificate"),
		.tls_key = config_str(cfg, "smsc", "tls_key"),
		.tls_handshake_ms = config_duration_ms(cfg, "smsc", "tls_handshake_timeout"),
		.tendlc = { .opt_out_brand_wide =
				strcmp(config_str(cfg, "tendlc", "opt_out_scope"), "brand") == 0 },
	};

	if (tendlc_limits_parse(config_str(cfg, "tendlc", "att_class_limits"),
				config_str(cfg, "tendlc", "tmobile_daily_caps"),
				config_duration_ms(cfg, "tendlc", "throughput_window"),
				&o.tendlc.limits) < 0) {
		fprintf(stderr, "warp: [tendlc] att_class_limits is CLASS:N,… and "
				"tmobile_daily_caps SCORE:N,… (at most %d)\n",
			TENDLC_TIERS_MAX);
		return -EINVAL;
	}
	struct str tls = str_trim(str_from_cstr(config_str(cfg, "smsc", "tls_listen")));
	o.tls = tls.len > 0;
	if (o.tls && net_addr_parse(tls, 3550, &o.tls_listen) < 0) {
		fprintf(stderr, "warp: [smsc] tls_listen: bad address '%.*s'\n", STR_FMT(tls));
		return -EINVAL;
	}
	app->smsc = smsc_new(&o, err, sizeof(err));
	if (!app->smsc || smsc_start(app->smsc) < 0) {
		fprintf(stderr, "warp: smsc: %s\n", app->smsc ? "cannot start" : err);
		return -1;
	}
	return 0;
}

/* The billing role's rating thread over the process's rating snapshot
 * (decision 0036). */
static int start_billing_rater(struct app *app)
{
	const struct config *cfg = app->cfg;
	struct billing_role_opts o = {
		.store = app->store,
		.rating = app_rating(app),
		.interval_ms = config_duration_ms(cfg, "billing", "rate_interval"),
		.batch = (int)config_int(cfg, "billing", "rate_batch"),
		.ledger = { config_money(cfg, "billing", "low_balance_threshold") },
	};

	if (!o.rating || !(app->billing = billing_role_new(&o)) || billing_role_start(app->billing) < 0) {
		fprintf(stderr, "warp: billing: cannot start the rating thread\n");
		return -1;
	}
	return 0;
}

struct snapshot *app_rating(struct app *app)
{
	if (app->rating)
		return app->rating;
	if (!app->rating_src && !(app->rating_src = billing_rating_source_new()))
		return NULL;
	app->rating = snapshot_register(app->loader, "billing_rating", billing_rating_build,
					billing_rating_release, app->rating_src);
	if (!app->rating)
		log_error("warp", "the rating snapshot could not be built");
	return app->rating;
}

/* The billing role's BigQuery export, when [export] enabled (decision 0039). */
static int start_billing_export(struct app *app)
{
	char err[ERR_LEN];
	const struct config *cfg = app->cfg;
	struct export_opts o = {
		.store = app->store,
		.mode = strcmp(config_str(cfg, "export", "mode"), "files") == 0 ? EXPORT_MODE_FILES
										 : EXPORT_MODE_STREAM,
		.tables = config_str(cfg, "export", "tables"),
		.project = config_str(cfg, "export", "project"),
		.dataset = config_str(cfg, "export", "dataset"),
		.key_file = config_str(cfg, "export", "key_file"),
		.token_url = config_str(cfg, "export", "token_url"),
		.api_url = config_str(cfg, "export", "api_url"),
		.upload_url = config_str(cfg, "export", "upload_url"),
		.ca_file = config_str(cfg, "export", "ca_file"),
		.dir = config_str(cfg, "export", "dir"),
		.period = strcmp(config_str(cfg, "export", "period"), "day") == 0 ? EXPORT_PERIOD_DAY
										  : EXPORT_PERIOD_HOUR,
		.load = config_bool(cfg, "export", "load"),
		.batch_rows = (int)config_int(cfg, "export", "batch_rows"),
		.inflight = (int)config_int(cfg, "export", "inflight"),
		.poll_ms = config_duration_ms(cfg, "export", "poll"),
		.settle_ms = config_duration_ms(cfg, "export", "settle"),
		.backoff_base_ms = config_duration_ms(cfg, "export", "backoff_base"),
		.backoff_max_ms = config_duration_ms(cfg, "export", "backoff_max"),
		.timeout_ms = config_duration_ms(cfg, "export", "timeout"),
		.job_poll_ms = config_duration_ms(cfg, "export", "job_poll"),
	};

	if (!config_bool(cfg, "export", "enabled"))
		return 0;
	app->export = export_new(&o, err, sizeof(err));
	if (!app->export || export_start(app->export) < 0) {
		fprintf(stderr, "warp: billing: export: %s\n", app->export ? "cannot start" : err);
		return -1;
	}
	return 0;
}

/* The billing role's delivery of issued invoices to NetSuite, when
 * [netsuite] account_id is set (decision 0054). */
static int start_billing_netsuite(struct app *app)
{
	struct invoice_opts io;
	struct netsuite_sender_opts o = {
		.store = app->store,
		.poll_ms = config_duration_ms(app->cfg, "netsuite", "poll"),
	};

	cmd_invoice_opts(app->cfg, &io, &o.ns);
	if (!o.ns.account_id[0])
		return 0;
	app->netsuite = netsuite_sender_new(&o);
	if (!app->netsuite || netsuite_sender_start(app->netsuite) < 0) {
		fprintf(stderr, "warp: billing: cannot start the NetSuite delivery\n");
		return -1;
	}
	return 0;
}

/* The billing role: its workers, the rater (decision 0036), the export
 * of what it rated (decision 0039) and the invoices' delivery (0054). */
int start_billing(struct app *app)
{
	if (start_billing_rater(app) < 0 || start_billing_export(app) < 0)
		return -1;
	return start_billing_netsuite(app);
}
