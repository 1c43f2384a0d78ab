-- 0016_rate_decks: rate decks (decision 0034).  A deck is what customers
-- pay (direction sell) or what a carrier charges (buy), in one currency; its
-- prices change by whole versions, each imported from one CSV file in one
-- transaction.  A version is a draft until it is given an activate_at;
-- the version of a deck in force at an instant is the one with the latest
-- activate_at not after it, so readers decide by time and nothing has to
-- flip a state when the moment comes.  Money is integer micro-units,
-- durations seconds, times epoch milliseconds.

CREATE TABLE rate_decks (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	direction TEXT NOT NULL CHECK (direction IN ('sell', 'buy')),
	currency TEXT NOT NULL,
	-- Owner scope: a sell deck kept for one customer, a buy deck for one
	-- carrier; NULL is a deck any customer (or carrier) may be given.
	customer_id TEXT REFERENCES customers (id),
	carrier_id TEXT REFERENCES carriers (id),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE rate_deck_versions (
	id TEXT PRIMARY KEY,
	deck_id TEXT NOT NULL REFERENCES rate_decks (id) ON DELETE CASCADE,
	number BIGINT NOT NULL,
	activate_at BIGINT,
	row_count BIGINT NOT NULL,
	voice_rows BIGINT NOT NULL,
	sms_rows BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (deck_id, number)
);

-- seq is the row's place in the version sorted by prefix, service and
-- effective_from: listing by it lists by prefix, and it is the cursor.
-- version_id has no REFERENCES: on PostgreSQL the foreign-key trigger ran
-- once per row and was most of a 100,000-row import; the rows are written
-- only with their version, in its transaction, and deleted with its deck
-- by the API (rate_decks.c).
CREATE TABLE rate_deck_rows (
	version_id TEXT NOT NULL,
	seq BIGINT NOT NULL,
	prefix TEXT NOT NULL,
	service TEXT NOT NULL CHECK (service IN ('voice', 'sms')),
	destination TEXT NOT NULL DEFAULT '',
	zone TEXT NOT NULL DEFAULT '',
	rate BIGINT NOT NULL,
	connection_fee BIGINT NOT NULL DEFAULT 0,
	initial_s BIGINT NOT NULL,
	increment_s BIGINT NOT NULL,
	min_duration_s BIGINT NOT NULL DEFAULT 0,
	effective_from BIGINT NOT NULL DEFAULT 0,
	effective_to BIGINT NOT NULL DEFAULT 0,
	line BIGINT NOT NULL,
	PRIMARY KEY (version_id, seq)
);

CREATE INDEX rate_deck_rows_prefix ON rate_deck_rows (version_id, prefix);

-- Assignments: a customer's sell deck, a carrier's buy deck, and a trunk's
-- own sell deck that overrides its customer's for calls on it.
ALTER TABLE customers ADD COLUMN sell_deck_id TEXT REFERENCES rate_decks (id);
ALTER TABLE carriers ADD COLUMN buy_deck_id TEXT REFERENCES rate_decks (id);
ALTER TABLE trunks ADD COLUMN sell_deck_id TEXT REFERENCES rate_decks (id);
