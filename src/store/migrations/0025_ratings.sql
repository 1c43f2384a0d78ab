-- 0025_ratings: what the billing role priced (src/billing/role*.c;
-- docs/decisions/0036-billing-role.md).  One row per CDR (cdr_ratings)
-- and per message part (message_ratings), beside the record and never in
-- it: the sip and smsc writers stay as they are, and a re-rating rewrites
-- one row.
--
-- state: pending (to be rated: new, changed, or asked to be rated again),
-- rated, or quarantined with reason (billing_price_reason's word,
-- no_carrier, out_of_range) and side (sell or buy).  A quarantined row is
-- tried again once the rating snapshot's version (rating_version: the
-- config version it was built from) is newer than the one it failed on.
-- Prices are micro-units: sell in currency (the customer's), buy in
-- buy_currency (the carrier's deck's); margin is NULL when the two differ.
-- The deck versions used are (deck id, version number).  charged is what
-- the ledger holds for the record (its charge and adjustments, as a
-- positive amount), so a re-rating posts only the difference; ratings
-- counts the successful ratings and names each adjustment's key
-- (cdr:<id>:r<ratings>).
CREATE TABLE cdr_ratings (
	cdr_id TEXT PRIMARY KEY,
	state TEXT NOT NULL CHECK (state IN ('pending', 'rated', 'quarantined')),
	reason TEXT,
	side TEXT,
	currency TEXT,
	sell BIGINT,
	buy_currency TEXT,
	buy BIGINT,
	margin BIGINT,
	billable_s BIGINT,
	prefix TEXT,
	zone TEXT,
	destination TEXT,
	sell_deck_id TEXT,
	sell_deck_version BIGINT,
	buy_deck_id TEXT,
	buy_deck_version BIGINT,
	charged BIGINT NOT NULL DEFAULT 0,
	ratings BIGINT NOT NULL DEFAULT 0,
	rating_version BIGINT NOT NULL DEFAULT 0,
	rated_at BIGINT
);

-- The role's queue: the pending and the quarantined rows only (partial
-- indexes, both stores), so rating a row takes it out of a small index
-- instead of moving it inside one as large as the table.
CREATE INDEX cdr_ratings_pending ON cdr_ratings (rating_version) WHERE state = 'pending';

CREATE INDEX cdr_ratings_quarantined ON cdr_ratings (rating_version) WHERE state = 'quarantined';

-- One row per part (messages.id); the ledger has one entry per message
-- (group_id), for all its parts, once every part is final.  segments is
-- the part's (1): what it was priced for.
CREATE TABLE message_ratings (
	message_id TEXT PRIMARY KEY,
	group_id TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('pending', 'rated', 'quarantined')),
	reason TEXT,
	side TEXT,
	currency TEXT,
	sell BIGINT,
	buy_currency TEXT,
	buy BIGINT,
	margin BIGINT,
	segments BIGINT,
	prefix TEXT,
	zone TEXT,
	destination TEXT,
	sell_deck_id TEXT,
	sell_deck_version BIGINT,
	buy_deck_id TEXT,
	buy_deck_version BIGINT,
	charged BIGINT NOT NULL DEFAULT 0,
	ratings BIGINT NOT NULL DEFAULT 0,
	rating_version BIGINT NOT NULL DEFAULT 0,
	rated_at BIGINT
);

CREATE INDEX message_ratings_pending ON message_ratings (rating_version) WHERE state = 'pending';

CREATE INDEX message_ratings_quarantined ON message_ratings (rating_version) WHERE state = 'quarantined';
CREATE INDEX message_ratings_group ON message_ratings (group_id);

-- The CDRs and final messages already stored are rated once the role runs.
INSERT INTO cdr_ratings (cdr_id, state) SELECT id, 'pending' FROM cdrs;

INSERT INTO message_ratings (message_id, group_id, state) SELECT id, group_id, 'pending' FROM messages WHERE state IN ('delivered', 'undeliverable', 'expired', 'rejected');

-- A new CDR is pending; one the journal's row gave way to (src/sip/cdr.c:
-- the real end of a call thought lost) is rated again.  A message part is
-- pending once its state is final.  The dialects spell triggers
-- differently (src/store/migrate.c).

-- only: sqlite
CREATE TRIGGER cdrs_rating_new AFTER INSERT ON cdrs BEGIN INSERT OR IGNORE INTO cdr_ratings (cdr_id, state) VALUES (NEW.id, 'pending'); END;

-- only: sqlite
CREATE TRIGGER cdrs_rating_changed AFTER UPDATE OF end_ms, duration_ms, carrier_id ON cdrs BEGIN UPDATE cdr_ratings SET state = 'pending' WHERE cdr_id = NEW.id; END;

-- only: sqlite
CREATE TRIGGER messages_rating_new AFTER INSERT ON messages WHEN NEW.state IN ('delivered', 'undeliverable', 'expired', 'rejected') BEGIN INSERT OR IGNORE INTO message_ratings (message_id, group_id, state) VALUES (NEW.id, NEW.group_id, 'pending'); END;

-- only: sqlite
CREATE TRIGGER messages_rating_final AFTER UPDATE OF state ON messages WHEN NEW.state IN ('delivered', 'undeliverable', 'expired', 'rejected') AND OLD.state NOT IN ('delivered', 'undeliverable', 'expired', 'rejected') BEGIN INSERT OR IGNORE INTO message_ratings (message_id, group_id, state) VALUES (NEW.id, NEW.group_id, 'pending'); END;

-- only: postgres
CREATE FUNCTION cdrs_rating_pending() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP = 'INSERT' THEN INSERT INTO cdr_ratings (cdr_id, state) VALUES (NEW.id, 'pending') ON CONFLICT (cdr_id) DO NOTHING; ELSE UPDATE cdr_ratings SET state = 'pending' WHERE cdr_id = NEW.id; END IF; RETURN NULL; END $$;

-- only: postgres
CREATE TRIGGER cdrs_rating_new AFTER INSERT ON cdrs FOR EACH ROW EXECUTE FUNCTION cdrs_rating_pending();

-- only: postgres
CREATE TRIGGER cdrs_rating_changed AFTER UPDATE OF end_ms, duration_ms, carrier_id ON cdrs FOR EACH ROW EXECUTE FUNCTION cdrs_rating_pending();

-- only: postgres
CREATE FUNCTION messages_rating_pending() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO message_ratings (message_id, group_id, state) VALUES (NEW.id, NEW.group_id, 'pending') ON CONFLICT (message_id) DO NOTHING; RETURN NULL; END $$;

-- only: postgres
CREATE TRIGGER messages_rating_new AFTER INSERT ON messages FOR EACH ROW WHEN (NEW.state IN ('delivered', 'undeliverable', 'expired', 'rejected')) EXECUTE FUNCTION messages_rating_pending();

-- only: postgres
CREATE TRIGGER messages_rating_final AFTER UPDATE OF state ON messages FOR EACH ROW WHEN (NEW.state IN ('delivered', 'undeliverable', 'expired', 'rejected') AND OLD.state NOT IN ('delivered', 'undeliverable', 'expired', 'rejected')) EXECUTE FUNCTION messages_rating_pending();
