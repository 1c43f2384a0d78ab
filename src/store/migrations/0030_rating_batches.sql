-- 0030_rating_batches: the billing role charges a batch's calls of one
-- postpaid customer with one ledger entry (docs/decisions/0052): the
-- entry's amount is the sum of their prices, its reference type
-- cdr_batch, and each CDR's rating row names it (entry_id) with the part
-- of its amount that is the CDR's (entry_amount, its first price; a
-- re-rating's difference is an adjustment of its own).  Invoices expand
-- such an entry into its CDRs' zones by this index; a prepaid settlement
-- of a CDR that a batch charged finds it here and posts nothing.  A CDR
-- charged alone (a batch's only call of its customer, a prepaid customer's
-- call) keeps its own entry under cdr:<id> and no entry_id.
ALTER TABLE cdr_ratings ADD COLUMN entry_id TEXT;

ALTER TABLE cdr_ratings ADD COLUMN entry_amount BIGINT;

CREATE INDEX cdr_ratings_entry ON cdr_ratings (entry_id) WHERE entry_id IS NOT NULL;
