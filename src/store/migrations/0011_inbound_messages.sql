-- 0011_inbound_messages: mobile-originated (MO) messages from upstreams to
-- customers' numbers, kept apart from the outbound queue (messages) so the
-- dispatcher's queries never see them.  A row is stored before the
-- upstream's deliver_sm is answered ESME_ROK.
-- state 'part' rows are the parts of a multi-part MO (UDH 8/16-bit or SAR)
-- waiting for the rest of their set, identified by (carrier_id, source,
-- number, part_ref, part_total); once all are in (or the set is older than
-- [smsc] mo_reassembly_timeout) they are replaced by one 'pending' row with
-- the parts' user data joined in part_seq order.  A whole message has
-- part_ref NULL (NULLs are distinct, so the unique index only refuses a
-- part the upstream sent twice).
-- number is the e164 of the numbers row (sms = 1) that took the message,
-- destination the address as the upstream wrote it.  body is the user data
-- (without UDH) in lowercase hex.  parts is how many parts the body holds,
-- part_total how many the set announced (parts < part_total: delivered
-- incomplete after the timeout).  'pending' rows are delivered to a bound
-- receiver of the customer's SMPP accounts (lease_until keeps two
-- processes from sending one at once); delivered_to is the SMPP account
-- that answered deliver_sm_resp ESME_ROK.  Times are epoch milliseconds.
CREATE TABLE inbound_messages (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	number TEXT NOT NULL,
	source TEXT NOT NULL,
	source_ton BIGINT NOT NULL DEFAULT 0,
	source_npi BIGINT NOT NULL DEFAULT 0,
	destination TEXT NOT NULL,
	dest_ton BIGINT NOT NULL DEFAULT 0,
	dest_npi BIGINT NOT NULL DEFAULT 0,
	data_coding BIGINT NOT NULL DEFAULT 0,
	body TEXT NOT NULL,
	parts BIGINT NOT NULL DEFAULT 1,
	part_ref BIGINT,
	part_total BIGINT NOT NULL DEFAULT 1,
	part_seq BIGINT NOT NULL DEFAULT 1,
	carrier_id TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('part', 'pending', 'delivered', 'expired')),
	delivered_to TEXT,
	lease_until BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX inbound_messages_part ON inbound_messages
	(carrier_id, source, number, part_ref, part_total, part_seq);
CREATE INDEX inbound_messages_due ON inbound_messages (state, customer_id, created_at);
CREATE INDEX inbound_messages_customer ON inbound_messages (customer_id, created_at);
