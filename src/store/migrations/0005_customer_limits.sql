-- 0005_customer_limits: a customer's own CPS and concurrent-call limits,
-- shared by all its trunks (the SIP policy enforces them beside each
-- trunk's; 0 = unlimited, as on trunks and carriers).
ALTER TABLE customers ADD COLUMN cps_limit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN channel_limit BIGINT NOT NULL DEFAULT 0;
