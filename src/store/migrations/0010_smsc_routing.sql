-- 0010_smsc_routing: where the smsc sends messages.
-- message_routes mirror voice routes: a destination prefix (longest match,
-- a customer's own route before a global one) and the carriers to try, by
-- priority then weight, as JSON [{carrier_id, priority, weight}].
-- smpp_connectors are a carrier's SMPP binds.  The password is kept as
-- given, since WARP must present it upstream; the API never shows it.
-- submit_id_base and receipt_id_base say how the upstream writes its message
-- ids in submit_sm_resp and in receipts (Kannel's msg-id-type): 'hex' and
-- 'dec' ids are compared as numbers, 'text' ones as case-insensitive text.
-- Durations are milliseconds.
CREATE TABLE message_routes (
	id TEXT PRIMARY KEY,
	prefix TEXT NOT NULL,
	customer_id TEXT REFERENCES customers (id),
	carriers TEXT NOT NULL DEFAULT '[]',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX message_routes_prefix ON message_routes (prefix);

CREATE TABLE smpp_connectors (
	id TEXT PRIMARY KEY,
	carrier_id TEXT NOT NULL REFERENCES carriers (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	enabled BIGINT NOT NULL DEFAULT 1,
	host TEXT NOT NULL,
	port BIGINT NOT NULL DEFAULT 2775,
	tls BIGINT NOT NULL DEFAULT 0,
	tls_ca_file TEXT,
	tls_server_name TEXT,
	system_id TEXT NOT NULL,
	password TEXT NOT NULL,
	system_type TEXT NOT NULL DEFAULT '',
	bind_mode TEXT NOT NULL DEFAULT 'transceiver'
		CHECK (bind_mode IN ('transceiver', 'transmitter')),
	binds BIGINT NOT NULL DEFAULT 1,
	window_size BIGINT NOT NULL DEFAULT 10,
	throughput BIGINT NOT NULL DEFAULT 0,
	enquire_link_ms BIGINT NOT NULL DEFAULT 30000,
	response_timeout_ms BIGINT NOT NULL DEFAULT 10000,
	reconnect_min_ms BIGINT NOT NULL DEFAULT 1000,
	reconnect_max_ms BIGINT NOT NULL DEFAULT 60000,
	submit_id_base TEXT NOT NULL DEFAULT 'text' CHECK (submit_id_base IN ('text', 'hex', 'dec')),
	receipt_id_base TEXT NOT NULL DEFAULT 'text' CHECK (receipt_id_base IN ('text', 'hex', 'dec')),
	default_ton BIGINT NOT NULL DEFAULT 1,
	default_npi BIGINT NOT NULL DEFAULT 1,
	concat TEXT NOT NULL DEFAULT 'udh' CHECK (concat IN ('udh', 'sar')),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX smpp_connectors_carrier ON smpp_connectors (carrier_id);
