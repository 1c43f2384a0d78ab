-- 0028_filtered_routes: message routes with filters, and failover on a
-- carrier's retryable negative receipt (docs/decisions/0051).
--
-- A message route's filters (JSON object, '{}' for none) must all match a
-- message for the route to take it: customers, source and destination
-- regexes, destination prefixes, a content regex, a date interval and a
-- time-of-day interval in a time zone, content-rule tags.  Routes of one
-- prefix and customer are tried by priority (lowest first), so several may
-- share a prefix as long as their priorities differ.
ALTER TABLE message_routes ADD COLUMN filters TEXT NOT NULL DEFAULT '{}';
ALTER TABLE message_routes ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;

-- The receipt errors (as WARP records them: "err:088", "network:3:88") and
-- stat values ("stat:REJECTD") an upstream marks retryable, JSON array of
-- strings: such a receipt sends the message to its route's next carrier
-- instead of ending it.
ALTER TABLE smpp_connectors ADD COLUMN failover_errors TEXT NOT NULL DEFAULT '[]';

-- The carriers a message went out through and that answered a retryable
-- negative receipt, each followed by ',': the dispatcher skips them, and
-- receipt_failovers bounds how many times it happens ([smsc]
-- receipt_failover_attempts).
ALTER TABLE messages ADD COLUMN carriers_tried TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN receipt_failovers BIGINT NOT NULL DEFAULT 0;

-- A customer's labels (JSON array of strings): what a route's customer_labels
-- filter matches, WARP's customer group (a customer may carry several).
ALTER TABLE customers ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
