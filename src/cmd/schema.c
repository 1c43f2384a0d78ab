/*
 * schema.c — the configuration keys of every role, in the order etc/warp.ini
 * documents them.  A key added here is checked, defaulted and overridable by
 * WARP_<SECTION>_<KEY> without further code.
 */
#include "cmd/schema.h"

#define KB 1024
#define MB (1024 * 1024)

const struct config_key warp_schema[] = {
	{ "log", "level", CONFIG_ENUM, "info", 0, 0, "debug|info|warn|error",
	  "Lowest level written to standard error." },
	{ "log", "format", CONFIG_ENUM, "auto", 0, 0, "auto|text|json",
	  "text for people, json for one object a line; auto picks text on a terminal." },

	{ "run", "roles", CONFIG_STR, "api,sip,media,smsc,billing", 0, 0, NULL,
	  "Roles this process runs (comma-separated); --roles overrides. Roles not built yet are skipped." },

	{ "store", "url", CONFIG_STR, "sqlite:var/warp.db", 0, 0, NULL,
	  "sqlite:PATH for the embedded store, postgres://user@host:port/db for PostgreSQL." },
	{ "store", "migrate_on_start", CONFIG_BOOL, "true", 0, 0, NULL,
	  "Apply pending migrations when `warp run` starts (`warp migrate` does it alone)." },
	{ "store", "snapshot_poll", CONFIG_DURATION, "200ms", 10, 60000, NULL,
	  "How often the config version is polled (PostgreSQL also wakes on NOTIFY)." },
	{ "store", "health_interval", CONFIG_DURATION, "1s", 100, 60000, NULL,
	  "How often /readyz re-checks that the store answers." },

	{ "http", "listen", CONFIG_ADDR, "127.0.0.1:8080", 0, 0, NULL,
	  "Address of the HTTP listener: REST API, /healthz, /readyz, /metrics." },
	{ "http", "threads", CONFIG_INT, "0", 0, 64, NULL,
	  "HTTP worker threads, each with its own listener (SO_REUSEPORT); 0 = one per CPU." },
	{ "http", "max_body", CONFIG_INT, "1048576", 1 * KB, 64 * MB, NULL,
	  "Largest request body in bytes; larger bodies are answered 413." },
	{ "http", "max_headers", CONFIG_INT, "16384", 1 * KB, 1 * MB, NULL,
	  "Largest request header block in bytes." },
	{ "http", "request_timeout", CONFIG_DURATION, "30s", 100, 3600000, NULL,
	  "A request not received whole within this time is answered 408." },

	{ "auth", "jwks_file", CONFIG_STR, "", 0, 0, NULL,
	  "JSON Web Key Set file for RS256/ES256 JWTs (empty: none)." },
	{ "auth", "jwks_url", CONFIG_STR, "", 0, 0, NULL,
	  "JWKS URL, fetched and cached per Cache-Control max-age (Google Identity Platform's, say)." },
	{ "auth", "issuer", CONFIG_STR, "", 0, 0, NULL,
	  "Required JWT iss; needed when JWTs are enabled." },
	{ "auth", "audience", CONFIG_STR, "", 0, 0, NULL,
	  "Required JWT aud (empty: not checked)." },
	{ "auth", "role_claim", CONFIG_STR, "warp_role", 0, 0, NULL,
	  "JWT claim naming the role: admin or customer." },
	{ "auth", "customer_claim", CONFIG_STR, "customer_id", 0, 0, NULL,
	  "JWT claim naming the customer of a customer-role token." },
	{ "auth", "hs256_secret", CONFIG_STR, "", 0, 0, NULL,
	  "Shared secret enabling HS256 JWTs (empty: HS256 refused). Prefer WARP_AUTH_HS256_SECRET." },
	{ "auth", "clock_skew", CONFIG_DURATION, "60s", 0, 600000, NULL,
	  "Clock skew allowed on exp, nbf and iat." },
	{ "auth", "key_cache_ttl", CONFIG_DURATION, "5s", 0, 300000, NULL,
	  "How long an API key lookup is cached: a revoked key stops working within this." },
	{ "auth", "jwks_refresh", CONFIG_DURATION, "5s", 100, 3600000, NULL,
	  "How often a timer off the request path refreshes a JWKS whose max-age has passed." },
	{ "auth", "jwks_min_refetch", CONFIG_DURATION, "10s", 100, 3600000, NULL,
	  "Least time between two JWKS fetches, also when tokens name unknown kids." },

	{ "ratelimit", "backend", CONFIG_ENUM, "memory", 0, 0, "memory|redis",
	  "memory: per process; redis: one budget shared by every gateway replica." },
	{ "ratelimit", "redis_url", CONFIG_STR, "redis://127.0.0.1:6379", 0, 0, NULL,
	  "Redis for backend = redis: redis://[:password@]host[:port][/db]." },
	{ "ratelimit", "fail_open", CONFIG_BOOL, "true", 0, 0, NULL,
	  "When Redis fails: allow requests (true) or refuse them (false)." },
	{ "ratelimit", "admin_rate", CONFIG_INT, "100", 1, 1000000, NULL,
	  "Requests per second for admin credentials without their own limit." },
	{ "ratelimit", "admin_burst", CONFIG_INT, "200", 1, 1000000, NULL, "Burst for admin credentials." },
	{ "ratelimit", "customer_rate", CONFIG_INT, "20", 1, 1000000, NULL,
	  "Requests per second for customer credentials without their own limit." },
	{ "ratelimit", "customer_burst", CONFIG_INT, "40", 1, 1000000, NULL,
	  "Burst for customer credentials." },
	{ "ratelimit", "anon_rate", CONFIG_INT, "5", 1, 1000000, NULL,
	  "Requests per second per source address for unauthenticated requests." },
	{ "ratelimit", "anon_burst", CONFIG_INT, "10", 1, 1000000, NULL,
	  "Burst per source address for unauthenticated requests." },

	{ "webhooks", "enabled", CONFIG_BOOL, "true", 0, 0, NULL,
	  "Deliver the events outbox to customers' webhooks (api role); false leaves them queued." },
	{ "webhooks", "poll", CONFIG_DURATION, "500ms", 10, 60000, NULL,
	  "How often the dispatcher looks for new events and due retries." },
	{ "webhooks", "timeout", CONFIG_DURATION, "5s", 100, 60000, NULL,
	  "One delivery, connect included; a slower answer counts as a failed attempt." },
	{ "webhooks", "max_attempts", CONFIG_INT, "10", 1, 100, NULL,
	  "Attempts before a delivery is marked failed and the webhook's next event moves up." },
	{ "webhooks", "backoff_base", CONFIG_DURATION, "5s", 10, 3600000, NULL,
	  "Delay after the first failed attempt; it doubles with each further one (less up to 25% jitter)." },
	{ "webhooks", "backoff_max", CONFIG_DURATION, "1h", 10, 86400000, NULL,
	  "Longest delay between two attempts of one delivery." },
	{ "webhooks", "concurrency", CONFIG_INT, "8", 1, 64, NULL,
	  "Deliveries in flight at once, each to a different webhook." },

	{ "route.*", "prefix", CONFIG_STR, NULL, 0, 0, NULL,
	  "[route.NAME] mounts an HTTP service behind the gateway's auth and limits: this path prefix (/crm) ..." },
	{ "route.*", "upstream", CONFIG_STR, NULL, 0, 0, NULL,
	  "... is proxied to http://host[:port][/path] with X-Warp-Role, X-Warp-Customer-Id, X-Warp-Credential-Id." },
	{ "route.*", "timeout", CONFIG_DURATION, "10s", 100, 300000, NULL,
	  "An upstream silent this long (connect, write or read) is answered 504; one that refuses, 502." },

	{ "sip", "listen", CONFIG_ADDR, "127.0.0.1:5060", 0, 0, NULL,
	  "Address of the SIP listener (UDP and TCP)." },
	{ "media", "ng_listen", CONFIG_ADDR, "127.0.0.1:2223", 0, 0, NULL,
	  "Address of the ng control listener (UDP) of the media relay." },
	{ "smsc", "listen", CONFIG_ADDR, "127.0.0.1:2775", 0, 0, NULL,
	  "Address of the SMPP listener for customers' ESMEs." },
};

const size_t warp_schema_len = sizeof(warp_schema) / sizeof(warp_schema[0]);
