-- 0018_message_callbacks: a message's callback_url as a delivery target of
-- its message.status event, and the retention of message events
-- (docs/decisions/0032).
--
-- callback_secrets holds the key a customer's callback deliveries are
-- signed with (POST /api/v1/customers/{id}/callback-secret, write-only like
-- a webhook's secret).  One per customer: a callback URL comes with each
-- message, so no webhook row is there to carry a secret.
CREATE TABLE callback_secrets (
	customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
	secret TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- message_callbacks is webhook_deliveries for callback URLs: one row per
-- message event whose message (group) named a callback_url, inserted by
-- the webhook dispatcher's fan-out in the transaction that numbers the
-- event (seq is the event's), with the URL copied from the message.
-- customer_id stands where webhook_id stands in webhook_deliveries, so one
-- claim, retry and outcome code serves both tables.
CREATE TABLE message_callbacks (
	event_id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL,
	url TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
	attempts BIGINT NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	last_error TEXT,
	delivered_at BIGINT,
	last_status BIGINT,
	seq BIGINT NOT NULL
);

CREATE INDEX message_callbacks_due ON message_callbacks (status, next_attempt_at);

-- The retention sweep ([webhooks] message_retention) walks message events
-- oldest first.
CREATE INDEX message_events_created ON message_events (created_at);
