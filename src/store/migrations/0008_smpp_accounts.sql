-- 0008_smpp_accounts: how a customer's ESMEs bind to the smsc role.
-- system_id is unique across customers (a bind names no customer); the
-- password is kept only as a PBKDF2 hash (core/passhash.c); allowed_cidrs
-- is JSON text like a trunk's ACL, parsed once per snapshot rebuild.
-- throughput is messages per second (token bucket rate, burst its depth),
-- window the outstanding PDUs a session may have before ESME_RMSGQFUL.
CREATE TABLE smpp_accounts (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	system_id TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	enabled BIGINT NOT NULL DEFAULT 1,
	allowed_cidrs TEXT NOT NULL DEFAULT '[]',
	max_binds BIGINT NOT NULL DEFAULT 4,
	throughput BIGINT NOT NULL DEFAULT 100,
	burst BIGINT NOT NULL DEFAULT 0,
	window_size BIGINT NOT NULL DEFAULT 10,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX smpp_accounts_customer ON smpp_accounts (customer_id);
