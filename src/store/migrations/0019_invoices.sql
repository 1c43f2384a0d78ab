-- 0019_invoices (reserved number 0023; the coordinator renumbers): the
-- documents a period's ledger is invoiced with (src/invoice/,
-- docs/decisions/0040).
--
-- A document is a fact like a ledger entry: once issued nothing changes its
-- lines or total; only its NetSuite delivery state moves (netsuite_*).  One
-- invoice per customer and period (seq 0); a rerun that finds the ledger of
-- the period changed adds a credit or debit note (seq 1, 2 …) for the
-- difference.  Amounts are signed micro-units the customer owes.
CREATE TABLE invoices (
	id TEXT PRIMARY KEY,
	number_seq BIGINT NOT NULL UNIQUE,
	number TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'debit_note')),
	customer_id TEXT NOT NULL REFERENCES customers (id),
	customer_name TEXT NOT NULL,
	period TEXT NOT NULL,
	seq BIGINT NOT NULL,
	corrects_id TEXT REFERENCES invoices (id),
	external_id TEXT NOT NULL UNIQUE,
	currency TEXT NOT NULL,
	opening_balance BIGINT NOT NULL,
	payments BIGINT NOT NULL,
	closing_balance BIGINT NOT NULL,
	total BIGINT NOT NULL,
	entries BIGINT NOT NULL,
	issued_at BIGINT NOT NULL,
	netsuite_state TEXT NOT NULL DEFAULT 'pending' CHECK (netsuite_state IN ('pending', 'sent',
		'failed')),
	netsuite_id TEXT,
	netsuite_error TEXT,
	netsuite_attempts BIGINT NOT NULL DEFAULT 0,
	netsuite_sent_at BIGINT,
	UNIQUE (customer_id, period, seq)
);

CREATE INDEX invoices_period ON invoices (period, customer_id);
CREATE INDEX invoices_netsuite ON invoices (netsuite_state);

-- text: the zone of calls and SMS, the entries' description of an
-- adjustment or refund line.
CREATE TABLE invoice_lines (
	invoice_id TEXT NOT NULL REFERENCES invoices (id),
	line BIGINT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('calls', 'sms', 'adjustment', 'refund')),
	text TEXT NOT NULL,
	count BIGINT NOT NULL,
	billable_ms BIGINT NOT NULL,
	amount BIGINT NOT NULL,
	amount_rounded BIGINT NOT NULL,
	PRIMARY KEY (invoice_id, line)
);

-- One row per run that was not a dry run: what /metrics and the API show.
CREATE TABLE invoice_runs (
	id TEXT PRIMARY KEY,
	period TEXT NOT NULL,
	customer_id TEXT,
	issued BIGINT NOT NULL DEFAULT 0,
	unchanged BIGINT NOT NULL DEFAULT 0,
	corrected BIGINT NOT NULL DEFAULT 0,
	failures BIGINT NOT NULL DEFAULT 0,
	started_at BIGINT NOT NULL,
	finished_at BIGINT
);

CREATE INDEX invoice_runs_finished ON invoice_runs (finished_at);
