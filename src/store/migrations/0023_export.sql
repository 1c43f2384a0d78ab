-- 0023_export: the BigQuery export's cursor and quarantine (decision 0039,
-- src/export/).
--
-- export_cursors holds one row per stream ("stream:cdrs", "files:messages"):
-- the (ts, id) of the last row that left, or for load files the end of the
-- last period written and loaded (id then names a load job in flight, so a
-- restart asks BigQuery for that job instead of loading the file twice).
-- Moved in the same transaction as the quarantine rows of its batch.
CREATE TABLE export_cursors (
	stream TEXT PRIMARY KEY,
	ts BIGINT NOT NULL DEFAULT 0,
	id TEXT NOT NULL DEFAULT '',
	rows_exported BIGINT NOT NULL DEFAULT 0,
	rows_quarantined BIGINT NOT NULL DEFAULT 0,
	failures BIGINT NOT NULL DEFAULT 0,
	last_success_at BIGINT,
	last_error TEXT,
	last_error_at BIGINT,
	updated_at BIGINT NOT NULL
);

-- Rows BigQuery refused (insertAll's insertErrors, or a load file a load
-- job refused for good): kept with the reason and the JSON that was sent,
-- never dropped silently.  One row per record and table.
CREATE TABLE export_quarantine (
	id TEXT PRIMARY KEY,
	stream TEXT NOT NULL,
	table_name TEXT NOT NULL,
	record_id TEXT NOT NULL,
	reason TEXT NOT NULL,
	row_json TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (table_name, record_id)
);
CREATE INDEX export_quarantine_created ON export_quarantine (created_at, id);

-- The cursors' walks: CDRs in the order they were written, message parts
-- in the order they became final.
CREATE INDEX cdrs_export ON cdrs (created_at, id);
CREATE INDEX messages_export ON messages (updated_at, id)
	WHERE state IN ('delivered', 'undeliverable', 'expired', 'rejected');
