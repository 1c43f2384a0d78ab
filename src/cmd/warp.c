/*
 * warp — the one binary of the platform.
 *
 *   warp run [-c FILE] [--roles api,sip,media,smsc,billing]
 *   warp migrate [-c FILE]
 *   warp config check [-c FILE]
 *   warp config example
 *   warp invoice run --period YYYY-MM [--customer ID] [--dry-run] [-c FILE]
 *   warp version
 *
 * Startup either completes or stops with one line on stderr and exit code 2:
 * bad configuration, a store that cannot be opened, a failed migration and a
 * port in use all end here before anything is half started.  SIGTERM and
 * SIGINT stop cleanly with exit code 0; SIGHUP rebuilds the snapshots.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "billing/billing.h"
#include "cmd/bootstrap.h"
#include "cmd/invoice.h"
#include "cmd/schema.h"
#include "core/core.h"
#include "http/http.h"
#include "media/media.h"
#include "ng/ng.h"
#include "sip/sip.h"
#include "smsc/smsc.h"
#include "store/store.h"

#define EXIT_USAGE 2
#define EXIT_STARTUP 2
#define DEFAULT_CONFIG "etc/warp.ini"

static const char usage_text[] =
	"usage: warp <command> [options]\n"
	"\n"
	"commands:\n"
	"  run [-c FILE] [--roles LIST]   start the platform (roles: api,sip,media,smsc,billing)\n"
	"  migrate [-c FILE]              apply pending store migrations and exit\n"
	"  admin-token create [-c FILE] [--name NAME]\n"
	"                                 make an admin API token, printed once\n"
	"  admin-token revoke [-c FILE] ID\n"
	"                                 revoke the admin API token with id ID\n"
	"  config check [-c FILE]         validate the configuration and exit\n"
	"  config example                 print a documented configuration file\n"
	"  invoice run --period YYYY-MM [--customer ID] [--dry-run] [-c FILE]\n"
	"                                 issue a closed month's invoices and send them to NetSuite\n"
	"  version                        print the version\n"
	"\n"
	"FILE defaults to " DEFAULT_CONFIG " when it exists; every key can be set by\n"
	"WARP_<SECTION>_<KEY> in the environment (WARP_STORE_URL, WARP_HTTP_LISTEN, ...).\n";

enum role {
	ROLE_API = 1 << 0,
	ROLE_SIP = 1 << 1,
	ROLE_MEDIA = 1 << 2,
	ROLE_SMSC = 1 << 3,
	ROLE_BILLING = 1 << 4,
};

static const struct {
	const char *name;
	unsigned bit;
	bool built; /* roles not built yet are accepted and skipped */
} roles_known[] = {
	{ "api", ROLE_API, true },	   { "sip", ROLE_SIP, true },
	{ "media", ROLE_MEDIA, true },	   { "smsc", ROLE_SMSC, true },
	{ "billing", ROLE_BILLING, true },
};

struct opts {
	const char *config_path;
	const char *roles;
};

/* The running process: what `warp run` built and must tear down. */
#include "cmd/app.h"

/* what: the complaint, with arg (may be NULL) quoted after it. */
static int usage_error(const char *what, const char *arg)
{
	if (what && arg)
		fprintf(stderr, "warp: %s '%s'\n", what, arg);
	else if (what)
		fprintf(stderr, "warp: %s\n", what);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int parse_opts(int argc, char **argv, int first, struct opts *o, bool allow_roles)
{
	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			o->config_path = argv[++i];
		} else if (allow_roles && strcmp(a, "--roles") == 0 && i + 1 < argc) {
			o->roles = argv[++i];
		} else if (allow_roles && strncmp(a, "--roles=", 8) == 0) {
			o->roles = a + 8;
		} else {
			return usage_error("unexpected argument", a);
		}
	}
	return 0;
}

/* An amount key (a decimal such as "5.00", exact to micro-units) in micro-units. */
int64_t config_money(const struct config *cfg, const char *sec, const char *key)
{
	int64_t v = 0;
	billing_money_parse(str_from_cstr(config_str(cfg, sec, key)), true, &v);
	return v;
}

/* The schema has no money type: an amount key is checked here, at load. */
static int config_money_check(const struct config *cfg, const char *sec, const char *key)
{
	int64_t v;
	int rc = billing_money_parse(str_from_cstr(config_str(cfg, sec, key)), true, &v);

	if (rc < 0)
		fprintf(stderr, "warp: [%s] %s: %s (an amount such as 5.00)\n", sec, key,
			billing_money_strerror(rc));
	return rc;
}

static struct config *load_config(const struct opts *o)
{
	char err[ERR_LEN];
	const char *path = o->config_path;

	if (!path && access(DEFAULT_CONFIG, F_OK) == 0)
		path = DEFAULT_CONFIG;
	if (path && access(path, R_OK) != 0) {
		fprintf(stderr, "warp: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct config *cfg = config_load(path, warp_schema, warp_schema_len, err, sizeof(err));
	if (!cfg)
		fprintf(stderr, "warp: %s\n", err);
	if (cfg && config_money_check(cfg, "billing", "low_balance_threshold") < 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void setup_logging(const struct config *cfg)
{
	enum log_level level = LOG_INFO;
	enum log_format format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
	const char *f = config_str(cfg, "log", "format");

	log_level_parse(str_from_cstr(config_str(cfg, "log", "level")), &level);
	if (strcmp(f, "auto") != 0)
		log_format_parse(str_from_cstr(f), &format);
	log_setup(level, format, stderr);
}

static int parse_roles(const char *list, unsigned *out)
{
	struct str rest = str_from_cstr(list);
	*out = 0;
	while (rest.len > 0) {
		ptrdiff_t comma = str_index(rest, ',');
		struct str name = str_trim((struct str){ rest.p, comma < 0 ? rest.len : (size_t)comma });
		size_t i;
		for (i = 0; i < sizeof(roles_known) / sizeof(roles_known[0]); i++)
			if (str_eq_cstr(name, roles_known[i].name))
				break;
		if (i == sizeof(roles_known) / sizeof(roles_known[0])) {
			fprintf(stderr, "warp: unknown role '%.*s' (roles: api,sip,media,smsc,billing)\n",
				STR_FMT(name));
			return -EINVAL;
		}
		*out |= roles_known[i].bit;
		rest = comma < 0 ? STR_NULL : (struct str){ rest.p + comma + 1, rest.len - comma - 1 };
	}
	if (*out == 0) {
		fprintf(stderr, "warp: no role given\n");
		return -EINVAL;
	}
	return 0;
}

static struct store *open_store(const struct config *cfg)
{
	char err[ERR_LEN];
	struct store *s = store_open(config_str(cfg, "store", "url"), err, sizeof(err));
	if (!s)
		fprintf(stderr, "warp: store: %s\n", err);
	return s;
}

static int migrate(struct store *s)
{
	char err[ERR_LEN];
	if (store_migrate(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "warp: migration failed: %s\n", err);
		return -1;
	}
	return 0;
}

static int cmd_migrate(const struct opts *o)
{
	struct config *cfg = load_config(o);
	if (!cfg)
		return EXIT_STARTUP;
	setup_logging(cfg);
	struct store *s = open_store(cfg);
	int rc = s && migrate(s) == 0 ? 0 : EXIT_STARTUP;
	if (rc == 0)
		printf("store at migration %d\n", store_migrations_latest());
	store_close(s);
	config_free(cfg);
	return rc;
}

/* warp admin-token create [-c FILE] [--name NAME] | revoke [-c FILE] ID */
static int admin_token_args(int argc, char **argv, bool create, struct opts *o,
			    const char **arg)
{
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc)
			o->config_path = argv[++i];
		else if (create && strcmp(a, "--name") == 0 && i + 1 < argc && !*arg)
			*arg = argv[++i];
		else if (!create && a[0] != '-' && !*arg)
			*arg = a;
		else
			return usage_error("unexpected argument", a);
	}
	return create || *arg ? 0 : usage_error("admin-token revoke needs the token's id", NULL);
}

static int cmd_admin_token(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *arg = NULL;
	char err[ERR_LEN];
	bool create = argc >= 3 && strcmp(argv[2], "create") == 0;

	if (argc < 3 || (!create && strcmp(argv[2], "revoke") != 0))
		return usage_error("admin-token needs 'create' or 'revoke'", NULL);
	int rc = admin_token_args(argc, argv, create, &o, &arg);
	if (rc)
		return rc;
	struct config *cfg = load_config(&o);
	if (!cfg)
		return EXIT_STARTUP;
	setup_logging(cfg);
	struct store *s = open_store(cfg);
	rc = EXIT_STARTUP;
	if (s && store_migrations_current(s) != 0)
		fprintf(stderr, "warp: store is not migrated: run `warp migrate`\n");
	else if (s && create)
		rc = bootstrap_admin_token_create(s, arg, stdout, err, sizeof(err)) < 0 ? 1 : 0;
	else if (s)
		rc = bootstrap_admin_token_revoke(s, arg, err, sizeof(err)) < 0 ? 1 : 0;
	if (rc == 1)
		fprintf(stderr, "warp: %s\n", err);
	else if (rc == 0 && !create)
		printf("admin token %s revoked (running processes refuse it within [auth] "
		       "key_cache_ttl)\n", arg);
	store_close(s);
	config_free(cfg);
	return rc;
}

static int cmd_config(int argc, char **argv)
{
	struct opts o = { 0 };
	if (argc < 3)
		return usage_error("config needs 'check' or 'example'", NULL);
	if (strcmp(argv[2], "example") == 0 && argc == 3)
		return config_schema_write(warp_schema, warp_schema_len, stdout) < 0 ? 1 : 0;
	if (strcmp(argv[2], "check") != 0)
		return usage_error("unknown config command", argv[2]);
	int rc = parse_opts(argc, argv, 3, &o, false);
	if (rc)
		return rc;
	struct config *cfg = load_config(&o);
	if (!cfg)
		return EXIT_STARTUP;
	unsigned roles;
	rc = parse_roles(config_str(cfg, "run", "roles"), &roles) < 0 ? EXIT_STARTUP : 0;
	if (rc == 0)
		printf("configuration ok\n");
	config_free(cfg);
	return rc;
}

/* warp invoice run --period YYYY-MM [--customer ID] [--dry-run] [-c FILE] */
static int cmd_invoice(int argc, char **argv)
{
	struct cmd_invoice_args a = { 0 };
	const char *what = NULL, *arg = NULL;

	if (argc < 3 || strcmp(argv[2], "run") != 0)
		return usage_error("invoice needs 'run'", NULL);
	if (cmd_invoice_args(argc, argv, 3, &a, &what, &arg) < 0)
		return usage_error(what, arg);
	struct opts o = { .config_path = a.config_path };
	struct config *cfg = load_config(&o);
	if (!cfg)
		return EXIT_STARTUP;
	setup_logging(cfg);
	struct store *s = open_store(cfg);
	int rc = EXIT_STARTUP;
	if (s && store_migrations_current(s) != 0)
		fprintf(stderr, "warp: store is not migrated: run `warp migrate`\n");
	else if (s)
		rc = cmd_invoice_run(cfg, s, &a, stdout);
	store_close(s);
	config_free(cfg);
	return rc;
}

/* ------------------------------------------------------------ warp run */

static const char *config_str_or_null(const struct config *cfg, const char *sec, const char *key)
{
	const char *v = config_str(cfg, sec, key);
	return v && *v ? v : NULL;
}

static struct auth *start_auth(const struct config *cfg, struct store *s)
{
	char err[ERR_LEN];
	struct auth_opts o;
	auth_opts_init(&o);
	o.store = s;
	o.key_cache_ttl_ms = config_duration_ms(cfg, "auth", "key_cache_ttl");
	o.jwks_file = config_str_or_null(cfg, "auth", "jwks_file");
	o.jwks_url = config_str_or_null(cfg, "auth", "jwks_url");
	o.issuer = config_str_or_null(cfg, "auth", "issuer");
	o.audience = config_str_or_null(cfg, "auth", "audience");
	o.role_claim = config_str(cfg, "auth", "role_claim");
	o.customer_claim = config_str(cfg, "auth", "customer_claim");
	o.scope_claim = config_str(cfg, "auth", "jwt_scope_claim");
	o.default_scopes = config_str(cfg, "auth", "jwt_default_scopes");
	o.hs256_secret = config_str_or_null(cfg, "auth", "hs256_secret");
	o.skew_s = config_duration_ms(cfg, "auth", "clock_skew") / 1000;
	o.jwks_min_refetch_ms = config_duration_ms(cfg, "auth", "jwks_min_refetch");
	o.jwks_wait_ms = config_duration_ms(cfg, "auth", "jwks_wait");
	struct auth *a = auth_new(&o, err, sizeof(err));
	if (!a)
		fprintf(stderr, "warp: auth: %s\n", err);
	return a;
}

static struct ratelimit *start_ratelimit(const struct config *cfg)
{
	char err[ERR_LEN];
	struct ratelimit_opts o;
	ratelimit_opts_init(&o);
	if (strcmp(config_str(cfg, "ratelimit", "backend"), "redis") == 0)
		o.redis_url = config_str(cfg, "ratelimit", "redis_url");
	o.fail_open = config_bool(cfg, "ratelimit", "fail_open");
	o.admin_rate = config_int(cfg, "ratelimit", "admin_rate");
	o.admin_burst = config_int(cfg, "ratelimit", "admin_burst");
	o.customer_rate = config_int(cfg, "ratelimit", "customer_rate");
	o.customer_burst = config_int(cfg, "ratelimit", "customer_burst");
	o.anon_rate = config_int(cfg, "ratelimit", "anon_rate");
	o.anon_burst = config_int(cfg, "ratelimit", "anon_burst");
	struct ratelimit *rl = ratelimit_new(&o, err, sizeof(err));
	if (!rl)
		fprintf(stderr, "warp: ratelimit: %s\n", err);
	return rl;
}

/* Runs on the main loop: asks auth's fetcher thread to renew a JWKS past its
 * max-age (it never waits, auth.h), so requests rarely find one stale.  The
 * last fetch's result is logged when failures start and end. */
static void jwks_refresh(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;
	int rc = auth_jwks_refresh(app->auth, time_wall_ms(), false);

	(void)fd;
	(void)what;
	if (rc == app->jwks_rc)
		return;
	if (rc < 0)
		log_warn("warp", "JWKS refresh failed: %s", strerror(-rc));
	else
		log_info("warp", "JWKS refresh works again");
	app->jwks_rc = rc;
}

static int start_jwks_timer(struct app *app)
{
	const struct config *cfg = app->cfg;
	int64_t every = config_duration_ms(cfg, "auth", "jwks_refresh");
	struct timeval tv = { (time_t)(every / 1000), (suseconds_t)(every % 1000) * 1000 };

	if (!config_str_or_null(cfg, "auth", "jwks_url") && !config_str_or_null(cfg, "auth", "jwks_file"))
		return 0;
	app->jwks_timer = event_new(app->main_base, -1, EV_PERSIST, jwks_refresh, app);
	if (!app->jwks_timer || event_add(app->jwks_timer, &tv) != 0)
		return -1;
	/* A JWKS URL is fetched now, so the first token rarely finds none. */
	jwks_refresh(-1, 0, app);
	return 0;
}

/* [route.NAME]: upstream services mounted behind the gateway. */
static int start_upstreams(struct app *app)
{
	const char *names[64];
	char err[ERR_LEN], section[128];
	size_t n = config_sections(app->cfg, "route", names, 64);

	if (n > 64) {
		fprintf(stderr, "warp: more than 64 [route.*] sections\n");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(section, sizeof(section), "route.%s", names[i]);
		struct api_upstream_opts o = {
			.name = names[i],
			.prefix = config_str(app->cfg, section, "prefix"),
			.url = config_str(app->cfg, section, "upstream"),
			.timeout_ms = config_duration_ms(app->cfg, section, "timeout"),
		};
		if (api_upstream_add(app->api, app->router, &o, err, sizeof(err)) < 0) {
			fprintf(stderr, "warp: %s\n", err);
			return -1;
		}
	}
	return 0;
}

/* The api role: gateway and provisioning routes on the shared router. */
static int start_api(struct app *app)
{
	char err[ERR_LEN];
	app->auth = start_auth(app->cfg, app->store);
	app->rl = app->auth ? start_ratelimit(app->cfg) : NULL;
	if (!app->rl)
		return -1;
	struct api_opts o = { .store = app->store,
			      .loader = app->loader,
			      .auth = app->auth,
			      .rl = app->rl,
			      .webhooks_allow_private =
				  config_bool(app->cfg, "webhooks", "allow_private"),
			      .msg_default_validity_ms =
				  config_duration_ms(app->cfg, "smsc", "default_validity"),
			      .msg_max_validity_ms =
				  config_duration_ms(app->cfg, "smsc", "max_validity"),
			      .low_balance_threshold =
				  config_money(app->cfg, "billing", "low_balance_threshold"),
			      .campaign_max_numbers =
				  config_int(app->cfg, "tendlc", "campaign_max_numbers"),
			      .tendlc = { .opt_out_brand_wide = strcmp(config_str(app->cfg, "tendlc",
									      "opt_out_scope"),
								   "brand") == 0 },
			      .rating = app_rating(app) };
	cmd_invoice_opts(app->cfg, &o.invoice, NULL);
	app->api = api_new(&o, err, sizeof(err));
	if (!app->api) {
		fprintf(stderr, "warp: %s\n", err);
		return -1;
	}
	if (api_routes_add(app->api, app->router) < 0) {
		fprintf(stderr, "warp: api: cannot add routes\n");
		return -1;
	}
	if (start_upstreams(app) < 0)
		return -1;
	if (start_jwks_timer(app) < 0) {
		fprintf(stderr, "warp: cannot start the JWKS refresh timer\n");
		return -1;
	}
	return 0;
}

/* Runs on the main loop: the store's health is probed here, off the HTTP
 * threads, so a store that hangs never stalls /healthz or the API. */
static void health_check(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;
	const char *why = NULL;

	/* Read here, on the thread that owns app->sip; /readyz reads the flag. */
	atomic_store(&app->degraded, app->sip && sip_proxy_limits_degraded(app->sip));
	if (store_ping(app->store) != 0)
		why = "store unreachable";
	else if (store_migrations_current(app->store) != 0)
		why = "migrations not applied";
	if (why) {
		if (atomic_load(&app->ready))
			log_warn("warp", "not ready: %s", why);
		atomic_store(&app->ready, 0);
		snprintf(app->not_ready, sizeof(app->not_ready), "%s", why);
	} else {
		if (!atomic_load(&app->ready))
			log_info("warp", "ready");
		atomic_store(&app->ready, 1);
	}
}

static int readiness(void *arg, char *why, size_t n)
{
	struct app *app = arg;
	if (atomic_load(&app->ready) && atomic_load(&app->degraded)) {
		snprintf(why, n, "sip limits: Redis unreachable, each node admits on its share");
		return 1;
	}
	if (atomic_load(&app->ready))
		return 0;
	snprintf(why, n, "%s", app->not_ready[0] ? app->not_ready : "starting");
	return -EAGAIN;
}

static void on_reload(void *arg)
{
	struct app *app = arg;
	log_info("warp", "SIGHUP: reloading snapshots");
	snapshot_loader_reload(app->loader);
}

static void on_stop(void *arg)
{
	(void)arg;
	log_info("warp", "stopping");
}

static int start_http(struct app *app)
{
	char err[ERR_LEN];
	const struct config *cfg = app->cfg;
	unsigned threads = (unsigned)config_int(cfg, "http", "threads");
	struct http_server_opts ho = {
		.listen = *config_addr(cfg, "http", "listen"),
		.max_body = (size_t)config_int(cfg, "http", "max_body"),
		.max_headers = (size_t)config_int(cfg, "http", "max_headers"),
		.request_timeout_ms = (int)config_duration_ms(cfg, "http", "request_timeout"),
		.ready = readiness,
		.ready_arg = app,
		.before = app->api ? api_before : NULL,
		.before_arg = app->api,
	};

	app->http_pool = loop_pool_new(threads ? threads : loop_default_threads(), "http");
	if (!app->http_pool || !app->router) {
		fprintf(stderr, "warp: out of memory\n");
		return -ENOMEM;
	}
	app->http = http_server_new(&ho, app->router, app->http_pool, err, sizeof(err));
	if (!app->http) {
		fprintf(stderr, "warp: http: %s\n", err);
		return -EIO;
	}
	return loop_pool_start(app->http_pool);
}

/* warp_build_info{version,roles} 1: which build runs which roles here,
 * for dashboards joining on it (roles not built yet are not listed). */
static void build_info_publish(unsigned roles)
{
	struct metric_family *f =
	    metrics_gauge(metrics_default(), "warp_build_info",
			  "1 per process: the warp version and the roles it runs.", "version,roles");
	char list[64] = "";
	size_t n = 0;

	for (size_t i = 0; i < sizeof(roles_known) / sizeof(roles_known[0]); i++)
		if ((roles & roles_known[i].bit) && roles_known[i].built)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? "," : "",
					      roles_known[i].name);
	metric_set(metric_get(f, WARP_VERSION, list), 1);
}

static int start(struct app *app, unsigned roles)
{
	char err[ERR_LEN];
	const struct config *cfg = app->cfg;

	app->store = open_store(cfg);
	if (!app->store)
		return -1;
	if (config_bool(cfg, "store", "migrate_on_start") && migrate(app->store) < 0)
		return -1;
	if (store_migrations_current(app->store) != 0) {
		fprintf(stderr, "warp: store is not migrated: run `warp migrate`\n");
		return -1;
	}
	if (bootstrap_admin_token(app->store, getenv("WARP_ADMIN_TOKEN"), stdout, err, sizeof(err)) < 0) {
		fprintf(stderr, "warp: %s\n", err);
		return -1;
	}
	app->loader = snapshot_loader_new(app->store, (int)config_duration_ms(cfg, "store", "snapshot_poll"));
	if (!app->loader || snapshot_loader_start(app->loader) < 0) {
		fprintf(stderr, "warp: cannot start the snapshot loader\n");
		return -1;
	}
	app->main_base = event_base_new();
	if (!app->main_base)
		return -1;
	int64_t every = config_duration_ms(cfg, "store", "health_interval");
	struct timeval tv = { (time_t)(every / 1000), (suseconds_t)(every % 1000) * 1000 };
	app->health_timer = event_new(app->main_base, -1, EV_PERSIST, health_check, app);
	if (!app->health_timer || event_add(app->health_timer, &tv) < 0)
		return -1;
	health_check(-1, 0, app);
	/* The HTTP listener serves /healthz, /readyz and /metrics for every role;
	 * the api role adds its routes to the same router. */
	app->router = http_router_new();
	if (!app->router || ((roles & ROLE_API) && start_api(app) < 0))
		return -1;
	if ((roles & ROLE_API) && config_bool(cfg, "webhooks", "enabled") &&
	    !(app->dispatch = api_webhook_dispatch_start(app->store, cfg, err, sizeof(err)))) {
		fprintf(stderr, "warp: %s\n", err);
		return -1;
	}
	if ((roles & ROLE_MEDIA) && start_media(app) < 0)
		return -1;
	if ((roles & ROLE_SIP) && start_sip(app) < 0)
		return -1;
	if ((roles & ROLE_SMSC) && start_smsc(app) < 0)
		return -1;
	if ((roles & ROLE_BILLING) && start_billing(app) < 0)
		return -1;
	build_info_publish(roles);
	/* HTTP last: once /healthz answers, every role is listening. */
	if (start_http(app) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(roles_known) / sizeof(roles_known[0]); i++)
		if ((roles & roles_known[i].bit) && !roles_known[i].built)
			log_info("warp", "role %s is not built yet: skipped", roles_known[i].name);
	return 0;
}

static void stop(struct app *app)
{
	media_stop(app->media); /* ends calls: recordings closed */
	media_free(app->media);
	sip_proxy_free(app->sip); /* ends calls: CDRs go through the store first */
	smsc_free(app->smsc);	  /* sessions closed; acknowledged messages are stored */
	billing_role_free(app->billing); /* after its batch; before the loader goes */
	export_free(app->export); /* before the store closes */
	netsuite_sender_free(app->netsuite);
	ng_pinger_free(app->ng_pinger);
	ng_engine_set_free(app->ng_engines);
	/* Sends suspended for their commit are answered before the server
	 * goes: the loops stop taking requests, the API commits what it has
	 * queued, and the answers it hands back run here (http_req_suspend). */
	if (app->http_pool)
		loop_pool_stop(app->http_pool);
	api_stop(app->api);
	if (app->http_pool)
		loop_pool_drain(app->http_pool);
	http_server_free(app->http);
	loop_pool_free(app->http_pool);
	http_router_free(app->router);
	api_webhook_dispatch_stop(app->dispatch); /* before the store closes */
	api_free(app->api);
	ratelimit_free(app->rl);
	auth_free(app->auth);
	if (app->loader) {
		snapshot_loader_stop(app->loader);
		snapshot_loader_free(app->loader);
	}
	billing_rating_source_free(app->rating_src); /* after its snapshot's last build */
	if (app->health_timer)
		event_free(app->health_timer);
	if (app->jwks_timer)
		event_free(app->jwks_timer);
	if (app->main_base)
		event_base_free(app->main_base);
	store_close(app->store);
	config_free(app->cfg);
}

static int cmd_run(const struct opts *o)
{
	struct app app = { 0 };
	unsigned roles = 0;
	int rc = EXIT_STARTUP;

	loop_main_block_signals();
	app.cfg = load_config(o);
	if (!app.cfg)
		return EXIT_STARTUP;
	setup_logging(app.cfg);
	if (parse_roles(o->roles ? o->roles : config_str(app.cfg, "run", "roles"), &roles) < 0)
		goto out;
	if (loop_global_init() < 0 || start(&app, roles) < 0)
		goto out;
	char where[NET_ADDR_STRLEN];
	net_addr_format(config_addr(app.cfg, "http", "listen"), where, sizeof(where));
	printf("warp %s: API listening on http://%s\n", WARP_VERSION, where);
	fflush(stdout);
	char store_url[URL_REDACT_MAX];
	log_info("warp", "started; http on %s, store %s", where,
		 url_redact(config_str(app.cfg, "store", "url"), store_url, sizeof(store_url)));
	struct loop_main_hooks hooks = { .on_reload = on_reload, .on_stop = on_stop, .arg = &app };
	rc = loop_main_run(app.main_base, &hooks) == 0 ? 0 : 1;
	log_info("warp", "stopped");
out:
	stop(&app);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int rc;

	if (argc < 2)
		return usage_error(NULL, NULL);
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		if (argc != 2)
			return usage_error("version takes no arguments", NULL);
		printf("warp %s\n", WARP_VERSION);
		return 0;
	}
	if (strcmp(cmd, "config") == 0)
		return cmd_config(argc, argv);
	if (strcmp(cmd, "admin-token") == 0)
		return cmd_admin_token(argc, argv);
	if (strcmp(cmd, "invoice") == 0)
		return cmd_invoice(argc, argv);
	if (strcmp(cmd, "migrate") == 0) {
		rc = parse_opts(argc, argv, 2, &o, false);
		return rc ? rc : cmd_migrate(&o);
	}
	if (strcmp(cmd, "run") == 0) {
		rc = parse_opts(argc, argv, 2, &o, true);
		return rc ? rc : cmd_run(&o);
	}
	return usage_error("unknown command", cmd);
}
