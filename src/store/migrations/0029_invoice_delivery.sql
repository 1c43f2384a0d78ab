-- 0029_invoice_delivery:
-- the billing role delivers every issued invoice and note to NetSuite by
-- itself (docs/decisions/0054), however it was issued
-- (`warp invoice run` or POST /api/v1/invoice-runs).  netsuite_next_at is
-- when a document not yet accepted may be sent again (epoch ms; 0: at
-- once): after a failure, the backoff its attempts earned; while one
-- sender has it in flight, that sender's lease, so that two billing
-- processes never send one document at the same time.  Kept in the store,
-- so a restart keeps both.
ALTER TABLE invoices ADD COLUMN netsuite_next_at BIGINT NOT NULL DEFAULT 0;

CREATE INDEX invoices_netsuite_due ON invoices (netsuite_state, netsuite_next_at);
