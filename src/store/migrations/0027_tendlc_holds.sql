-- 0027_tendlc_holds: US 10DLC throughput holds (docs/decisions/0050).
--
-- carrier_prefixes is the number-portability / prefix table that says
-- which carrier a US handset is on (longest prefix: an NPA-NXX block, or a
-- whole ported number): AT&T's per-campaign minute limits and T-Mobile's
-- per-brand daily caps apply by it.  Loaded like a rate deck, from CSV
-- (POST /api/v1/carrier-prefix-imports) or one row at a time; provisioning
-- data, so every write bumps the config version and the compliance
-- snapshot keeps it in memory.
CREATE TABLE carrier_prefixes (
	id TEXT PRIMARY KEY,
	prefix TEXT NOT NULL UNIQUE,
	carrier TEXT NOT NULL CHECK (carrier IN ('att', 'tmobile', 'verizon', 'other')),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- A message over a throughput limit is not refused but held: it stays
-- 'queued' with next_attempt_at at the window it is promised to, and
-- hold_reason names the limit (att_campaign_minute, tmobile_brand_day, …)
-- so the customer sees why it waits.  It is kept once the message goes on,
-- as the last hold it met.
ALTER TABLE messages ADD COLUMN hold_reason TEXT;

-- The dispatcher's expiry sweep (every second: the queued messages whose
-- validity ended, oldest first) read every waiting row through
-- messages_due to find the few due; with 100,000 held that was most of an
-- idle smsc's CPU.  This partial index holds the waiting rows by expiry,
-- so the sweep reads only those it expires (bench/holds.sh).
CREATE INDEX messages_expiring ON messages (state, expires_at) WHERE state IN ('accepted', 'queued');

-- A content rule's action may be 'hold' too: a matching MT is accepted and
-- held ('queued', hold_reason 'review:<rule>', next_attempt_at at its
-- expiry) until an admin releases it (POST /api/v1/messages/{id}/release)
-- or its validity ends.  SQLite cannot change a CHECK in place, so the
-- small table is rebuilt.
CREATE TABLE content_rules_next (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	category TEXT NOT NULL DEFAULT 'other',
	match TEXT NOT NULL CHECK (match IN ('domain', 'keyword')),
	patterns TEXT NOT NULL DEFAULT '[]',
	action TEXT NOT NULL DEFAULT 'refuse' CHECK (action IN ('refuse', 'tag', 'hold')),
	enabled BIGINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
INSERT INTO content_rules_next (id, name, category, match, patterns, action, enabled, created_at,
	updated_at) SELECT id, name, category, match, patterns, action, enabled, created_at, updated_at
	FROM content_rules;
DROP TABLE content_rules;
ALTER TABLE content_rules_next RENAME TO content_rules;
