-- 0001_foundation: the config-version counter and API keys.
-- Written in the subset SQLite 3.40 and PostgreSQL 15 share (DESIGN.md
-- principle 5).  Statements end with ';' at the end of a line.

-- One row; every provisioning write increments version so that snapshot
-- loaders notice (store_config_version_bump).
CREATE TABLE config_version (
	id BIGINT PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL
);

INSERT INTO config_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;

-- API keys and the bootstrap admin token.  Only a SHA-256 of the secret is
-- kept (hex); prefix is the public part shown in listings.
CREATE TABLE api_keys (
	id TEXT PRIMARY KEY,
	prefix TEXT NOT NULL,
	secret_hash TEXT NOT NULL UNIQUE,
	customer_id TEXT,
	role TEXT NOT NULL CHECK (role IN ('admin', 'customer')),
	scopes TEXT NOT NULL DEFAULT 'read,write',
	name TEXT,
	rate_per_sec BIGINT,
	burst BIGINT,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT,
	last_used_at BIGINT
);
