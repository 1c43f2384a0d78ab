-- 0015_messages_pending: the dispatcher's lease takes the due messages in
-- next_attempt_at order, LIMIT a batch, every tick (src/smsc/dispatch.c).
-- messages_due (state, next_attempt_at) serves it only by reading every due
-- row of both states and sorting them, so each tick cost grew with the
-- backlog; this partial index holds only the messages waiting to go
-- upstream, in the order they are taken, so a tick reads one batch
-- (decision 0029).  SQLite is told to use it (INDEXED BY); PostgreSQL's
-- planner picks it.
CREATE INDEX messages_pending ON messages (next_attempt_at) WHERE state IN ('accepted', 'queued');
