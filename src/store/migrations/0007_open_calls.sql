-- 0007_open_calls: answered calls a SIP process holds, so that a call is
-- billed even when the process dies before it ends (src/sip/journal.c).
-- open_calls has the CDR's columns as known at answer (end_ms = answer_ms
-- until the end is known) and the node holding the call; sip_nodes has each
-- running SIP process's heartbeat.  A call whose node has not been seen for
-- three heartbeats becomes a CDR ending at that node's last heartbeat.

CREATE TABLE sip_nodes (
	id TEXT PRIMARY KEY,
	started_ms BIGINT NOT NULL,
	seen_ms BIGINT NOT NULL
);

CREATE TABLE open_calls (
	node_id TEXT NOT NULL,
	id TEXT NOT NULL,
	call_id TEXT NOT NULL,
	direction TEXT NOT NULL,
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
	hangup TEXT,
	attempts TEXT NOT NULL DEFAULT '[]',
	pdd_ms BIGINT,
	rtp_packets_a BIGINT,
	rtp_packets_b BIGINT,
	rtp_lost_a BIGINT,
	rtp_lost_b BIGINT,
	rtp_jitter_us_a BIGINT,
	rtp_jitter_us_b BIGINT,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (call_id, direction)
);

CREATE INDEX open_calls_node ON open_calls (node_id);
