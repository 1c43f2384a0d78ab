-- 0002_provisioning: what the api role provisions and the sip and smsc roles
-- read through snapshots: customers, trunks, carriers and their gateways,
-- routes, numbers, webhooks, the events outbox and idempotency records.
-- Lists that are always read and written whole (ACL entries, codecs,
-- destinations, a route's carriers) are JSON text: the snapshot builders
-- parse them once per rebuild, never per call.
-- Times are epoch milliseconds; money is integer micro-units.

CREATE TABLE customers (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
	billing_type TEXT NOT NULL CHECK (billing_type IN ('prepaid', 'postpaid')),
	currency TEXT NOT NULL,
	credit_limit BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE trunks (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	name TEXT NOT NULL,
	enabled BIGINT NOT NULL DEFAULT 1,
	acl TEXT NOT NULL DEFAULT '[]',
	auth_username TEXT,
	auth_realm TEXT,
	auth_ha1 TEXT,
	tech_prefix TEXT NOT NULL DEFAULT '',
	codecs TEXT NOT NULL DEFAULT '["PCMU","PCMA"]',
	cps_limit BIGINT NOT NULL DEFAULT 0,
	channel_limit BIGINT NOT NULL DEFAULT 0,
	destinations TEXT NOT NULL DEFAULT '[]',
	max_call_duration BIGINT NOT NULL DEFAULT 0,
	blocked_prefixes TEXT NOT NULL DEFAULT '[]',
	media_mode TEXT NOT NULL DEFAULT 'relay' CHECK (media_mode IN ('relay', 'bypass')),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX trunks_customer ON trunks (customer_id);

CREATE TABLE carriers (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	enabled BIGINT NOT NULL DEFAULT 1,
	tech_prefix TEXT NOT NULL DEFAULT '',
	cps_limit BIGINT NOT NULL DEFAULT 0,
	channel_limit BIGINT NOT NULL DEFAULT 0,
	stop_codes TEXT NOT NULL DEFAULT '[404,486,600,603]',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE gateways (
	id TEXT PRIMARY KEY,
	carrier_id TEXT NOT NULL REFERENCES carriers (id) ON DELETE CASCADE,
	host TEXT NOT NULL,
	port BIGINT NOT NULL DEFAULT 5060,
	transport TEXT NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp', 'tls')),
	weight BIGINT NOT NULL DEFAULT 1,
	priority BIGINT NOT NULL DEFAULT 0,
	probe BIGINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX gateways_carrier ON gateways (carrier_id);

CREATE TABLE routes (
	id TEXT PRIMARY KEY,
	prefix TEXT NOT NULL,
	customer_id TEXT REFERENCES customers (id),
	carriers TEXT NOT NULL DEFAULT '[]',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX routes_prefix ON routes (prefix);

CREATE TABLE numbers (
	id TEXT PRIMARY KEY,
	e164 TEXT NOT NULL UNIQUE,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	trunk_id TEXT REFERENCES trunks (id),
	voice BIGINT NOT NULL DEFAULT 1,
	sms BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX numbers_customer ON numbers (customer_id);

CREATE TABLE webhooks (
	id TEXT PRIMARY KEY,
	customer_id TEXT REFERENCES customers (id),
	url TEXT NOT NULL,
	secret TEXT NOT NULL,
	event_types TEXT NOT NULL DEFAULT '["*"]',
	enabled BIGINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- The outbox: one row per change, written in the change's transaction.  seq
-- is the config version the change produced, so it orders events globally
-- and per customer without a sequence type the two dialects spell apart.
CREATE TABLE events (
	id TEXT PRIMARY KEY,
	seq BIGINT NOT NULL UNIQUE,
	customer_id TEXT,
	type TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	data TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE INDEX events_customer ON events (customer_id, seq);

CREATE TABLE webhook_deliveries (
	event_id TEXT NOT NULL REFERENCES events (id),
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts BIGINT NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	last_error TEXT,
	delivered_at BIGINT,
	PRIMARY KEY (event_id, webhook_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- Idempotency-Key on POST: the first response to (credential, key) is kept
-- for 24 hours and replayed for the same body; another body answers 409.
CREATE TABLE idempotency_keys (
	principal TEXT NOT NULL,
	idem_key TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status BIGINT NOT NULL,
	body TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (principal, idem_key)
);

-- API keys are served by the same resource engine as the rest, which keeps
-- updated_at on every row.
ALTER TABLE api_keys ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
