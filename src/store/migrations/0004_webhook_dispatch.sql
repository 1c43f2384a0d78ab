-- 0004_webhook_dispatch: what the webhook dispatcher (src/api/dispatch.c)
-- needs beside 0002's webhook_deliveries.
--
-- webhook_dispatch holds one row: the highest event seq already fanned out
-- into webhook_deliveries.  The fan-out of a batch and the move of this
-- cursor commit together, and deliveries are inserted with ON CONFLICT DO
-- NOTHING, so a crash or two dispatchers racing never lose or double one.
CREATE TABLE webhook_dispatch (
	id BIGINT PRIMARY KEY,
	last_seq BIGINT NOT NULL
);

INSERT INTO webhook_dispatch (id, last_seq) VALUES (1, 0);

-- A delivery keeps its event's seq so that "the oldest pending delivery of a
-- webhook" (the head that blocks the rest, for in-order delivery) is one
-- index range, without joining events.
ALTER TABLE webhook_deliveries ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, status, seq);

-- The seq of a webhook's own creation event: a webhook receives only events
-- committed after it was created.
CREATE INDEX events_resource ON events (resource_id, seq);
