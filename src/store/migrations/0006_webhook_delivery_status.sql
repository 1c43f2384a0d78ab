-- 0006_webhook_delivery_status: the HTTP status of a delivery's last
-- attempt, shown by GET /api/v1/webhooks/{id}/deliveries beside last_error
-- (NULL while no attempt got an answer: not yet tried, or a connection
-- error, a timeout or a refused address).
ALTER TABLE webhook_deliveries ADD COLUMN last_status BIGINT;
