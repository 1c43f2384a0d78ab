-- 0017_ledger: customers' money — an append-only ledger of entries, the
-- balance derived from it, and the reservations of prepaid authorization
-- (src/billing/ledger.c; docs/decisions/0035).
--
-- ledger_entries are facts: nothing updates or deletes them.  The API has
-- no route for it, and on both stores a trigger refuses it (the two
-- dialects spell triggers differently, so those statements are marked for
-- their store: src/store/migrate.c).  Amounts are signed micro-units of
-- the currency: top-ups and refunds positive, charges negative,
-- adjustments either.  seq numbers one customer's entries 1, 2, 3 … in the
-- order they took the lock of the customer's balances row, so a ledger
-- read by seq is the order the balance moved in; balance_after is the
-- balance that entry left.  idempotency_key is the poster's (the API's
-- Idempotency-Key, the billing role's "cdr:<id>"): a customer never has
-- two entries with one key.  reference_type and reference_id name what an
-- entry is for (cdr, message, reservation, …).
CREATE TABLE ledger_entries (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	seq BIGINT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('topup', 'adjustment', 'call_charge', 'message_charge',
		'refund')),
	amount BIGINT NOT NULL,
	currency TEXT NOT NULL,
	balance_after BIGINT NOT NULL,
	reference_type TEXT,
	reference_id TEXT,
	idempotency_key TEXT,
	description TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (customer_id, seq),
	UNIQUE (customer_id, idempotency_key)
);

CREATE INDEX ledger_entries_time ON ledger_entries (customer_id, created_at);

-- only: sqlite
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger_entries are append-only'); END;

-- only: sqlite
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger_entries are append-only'); END;

-- only: postgres
CREATE FUNCTION ledger_entries_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'ledger_entries are append-only'; END $$;

-- only: postgres
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse();

-- One row per customer with an entry, written in the transaction of every
-- entry: balance is the SUM(amount) of the customer's entries and seq the
-- last entry's seq, so a balance read is one row.  Posting locks this row
-- first (an UPDATE … RETURNING), which orders a customer's posters across
-- processes on PostgreSQL; SQLite's BEGIN IMMEDIATE orders them already.
-- reserved is the sum of the customer's open reservations: available =
-- balance + customers.credit_limit - reserved.  low is 1 from the posting
-- that took the balance below the customer's threshold (and wrote its
-- balance.low event) until one takes it back to or above it.
CREATE TABLE balances (
	customer_id TEXT PRIMARY KEY REFERENCES customers (id),
	currency TEXT NOT NULL,
	balance BIGINT NOT NULL DEFAULT 0,
	reserved BIGINT NOT NULL DEFAULT 0,
	seq BIGINT NOT NULL DEFAULT 0,
	low BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL
);

-- A customer's balance.low threshold in micro-units; NULL: [billing]
-- low_balance_threshold.
ALTER TABLE customers ADD COLUMN low_balance_threshold BIGINT;

-- Money held for a call or message in progress (decision 0035): made only
-- while available covers it, settled by one charge entry, released, or
-- expired after expires_at by whichever process sweeps first.  Its amount
-- is in balances.reserved while state is 'open'.
CREATE TABLE reservations (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	amount BIGINT NOT NULL CHECK (amount > 0),
	state TEXT NOT NULL CHECK (state IN ('open', 'settled', 'released', 'expired')),
	reference_type TEXT,
	reference_id TEXT,
	entry_id TEXT,
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	closed_at BIGINT
);

CREATE INDEX reservations_open ON reservations (state, expires_at);
CREATE INDEX reservations_customer ON reservations (customer_id, state);
