-- 0012_message_events: message.status events from the smsc to the webhook
-- dispatcher, without the config version (docs/decisions/0026).
--
-- message_events is the interface between the smsc role, which writes one
-- row in the transaction that makes a message (its group) final, and the
-- api role's dispatcher, which fans the rows out to webhooks.  The writer
-- leaves seq NULL: no counter is shared by message writers.  The
-- dispatcher's fan-out gives each row its seq from the cursor row
-- webhook_dispatch id 2, under that row's lock, so seq follows the order the
-- fan-out saw rows commit in and has no gaps to wait for.  UNIQUE
-- (group_id, type) keeps a group's final status to one event, whichever
-- process reaches it first.
CREATE TABLE message_events (
	id TEXT PRIMARY KEY,
	group_id TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	type TEXT NOT NULL,
	data TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	seq BIGINT,
	UNIQUE (group_id, type)
);

CREATE INDEX message_events_seq ON message_events (seq, created_at);
CREATE INDEX message_events_customer ON message_events (customer_id, seq);

INSERT INTO webhook_dispatch (id, last_seq) VALUES (2, 0);

-- webhook_deliveries rebuilt: event_id now names a row of events or of
-- message_events (no foreign key to one of them), and stream says which,
-- since the two seq orders are separate: a webhook receives each stream in
-- its own seq order.
CREATE TABLE webhook_deliveries_v2 (
	event_id TEXT NOT NULL,
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	stream TEXT NOT NULL DEFAULT 'config' CHECK (stream IN ('config', 'message')),
	status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts BIGINT NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	last_error TEXT,
	delivered_at BIGINT,
	seq BIGINT NOT NULL DEFAULT 0,
	last_status BIGINT,
	PRIMARY KEY (event_id, webhook_id)
);

INSERT INTO webhook_deliveries_v2 (event_id, webhook_id, stream, status, attempts,
	next_attempt_at, last_error, delivered_at, seq, last_status)
	SELECT event_id, webhook_id, 'config', status, attempts, next_attempt_at, last_error,
	delivered_at, seq, last_status FROM webhook_deliveries;

DROP TABLE webhook_deliveries;

ALTER TABLE webhook_deliveries_v2 RENAME TO webhook_deliveries;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, status, stream, seq);

-- The parts of a long message an SMPP customer submits one submit_sm each
-- (UDH or SAR) are tied into one group at insert: concat_key is
-- "<source>|<destination>|<reference>|<total>", NULL for a message in one
-- part (src/smsc/submit.c, decision 0026).
ALTER TABLE messages ADD COLUMN concat_key TEXT;

CREATE INDEX messages_concat ON messages (concat_key, created_at);
