-- 0031_messages_fillfactor: room on each page of messages for the new
-- version of a row an UPDATE writes, on PostgreSQL (decision 0055).
--
-- A message's lease and its receipt's lease set only columns no index
-- reads, so PostgreSQL can write their new row versions on the same page
-- without an entry in each of the table's indexes (a heap-only tuple) —
-- if the page has room, which pages filled by INSERTs at fillfactor 100
-- do not.  At 80 an insert leaves a fifth of each new page free; pages
-- written before keep their fill until they are rewritten.  SQLite updates
-- rows in place and has no such setting.

-- only: postgres
ALTER TABLE messages SET (fillfactor = 80);
