-- 0003_cdrs: one row per call, written by the SIP role's batching writer.
-- (call_id, direction) is unique so a retried write never doubles a call.
-- Times are epoch milliseconds; attempts is a JSON list of
-- {"gateway_id","code","start_ms"}; media statistics are per direction
-- (a: caller to callee, b: callee to caller), NULL when not relayed.

CREATE TABLE cdrs (
	id TEXT PRIMARY KEY,
	call_id TEXT NOT NULL,
	direction TEXT NOT NULL CHECK (direction IN ('termination', 'origination')),
	customer_id TEXT,
	trunk_id TEXT,
	carrier_id TEXT,
	gateway_id TEXT,
	caller TEXT,
	dialed TEXT,
	normalized TEXT,
	source TEXT,
	start_ms BIGINT NOT NULL,
	answer_ms BIGINT,
	end_ms BIGINT NOT NULL,
	duration_ms BIGINT NOT NULL DEFAULT 0,
	billable_ms BIGINT NOT NULL DEFAULT 0,
	final_code BIGINT NOT NULL,
	final_reason TEXT,
	hangup TEXT CHECK (hangup IN ('none', 'caller', 'callee', 'proxy')),
	attempts TEXT NOT NULL DEFAULT '[]',
	pdd_ms BIGINT,
	rtp_packets_a BIGINT,
	rtp_packets_b BIGINT,
	rtp_lost_a BIGINT,
	rtp_lost_b BIGINT,
	rtp_jitter_us_a BIGINT,
	rtp_jitter_us_b BIGINT,
	created_at BIGINT NOT NULL,
	UNIQUE (call_id, direction)
);

CREATE INDEX cdrs_customer_start ON cdrs (customer_id, start_ms);
CREATE INDEX cdrs_start ON cdrs (start_ms);
CREATE INDEX cdrs_normalized ON cdrs (normalized);
