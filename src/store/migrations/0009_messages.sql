-- 0009_messages: the SMSC's durable store-and-forward queue.
-- One row is one part: what goes upstream as one submit_sm.  A message a
-- customer sent as one (HTTP, or a single submit_sm) has group_id = id; the
-- parts of a multi-part HTTP message share the group_id the customer sees.
-- body is the user data in lowercase hex (UDH included when esm_class has
-- 0x40), exactly as it is to be submitted.  Times are epoch milliseconds.
-- lease_owner/lease_until let several smsc processes share the queue: a row
-- is taken by setting the lease, and only its holder moves it on.
-- receipt_due is 1 while a final state still has to reach an SMPP customer
-- that asked for receipts (registered_delivery); receipt_lease_until keeps
-- two processes from sending the same receipt at once.
CREATE TABLE messages (
	id TEXT PRIMARY KEY,
	group_id TEXT NOT NULL,
	part_seq BIGINT NOT NULL DEFAULT 1,
	part_total BIGINT NOT NULL DEFAULT 1,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	origin TEXT NOT NULL CHECK (origin IN ('smpp', 'http')),
	smpp_account_id TEXT,
	client_ref TEXT,
	source TEXT NOT NULL,
	source_ton BIGINT NOT NULL DEFAULT 0,
	source_npi BIGINT NOT NULL DEFAULT 0,
	destination TEXT NOT NULL,
	dest_ton BIGINT NOT NULL DEFAULT 0,
	dest_npi BIGINT NOT NULL DEFAULT 0,
	data_coding BIGINT NOT NULL DEFAULT 0,
	esm_class BIGINT NOT NULL DEFAULT 0,
	registered_delivery BIGINT NOT NULL DEFAULT 0,
	body TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('accepted', 'queued', 'submitted', 'delivered',
		'undeliverable', 'expired', 'rejected')),
	error TEXT,
	attempts BIGINT NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL DEFAULT 0,
	lease_owner TEXT,
	lease_until BIGINT NOT NULL DEFAULT 0,
	carrier_id TEXT,
	upstream_id TEXT,
	expires_at BIGINT NOT NULL,
	receipt_due BIGINT NOT NULL DEFAULT 0,
	receipt_lease_until BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX messages_due ON messages (state, next_attempt_at);
CREATE INDEX messages_group ON messages (group_id, part_seq);
CREATE INDEX messages_customer ON messages (customer_id, created_at);
CREATE INDEX messages_upstream ON messages (carrier_id, upstream_id);
CREATE INDEX messages_receipts ON messages (receipt_due, smpp_account_id);
