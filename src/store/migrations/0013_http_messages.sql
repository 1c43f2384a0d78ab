-- 0013_http_messages: messages sent through the HTTP API (decision 0027).
-- callback_url is where the customer wants this message's status changes
-- POSTed (held to the rules of webhook URLs).  submitted_at is when the
-- part was accepted upstream (epoch ms): with created_at and, for a final
-- state, updated_at it is the status history GET /api/v1/messages/{id}
-- shows, without a row per change.  client_ref is looked up per customer.
ALTER TABLE messages ADD COLUMN callback_url TEXT;
ALTER TABLE messages ADD COLUMN submitted_at BIGINT;

CREATE INDEX messages_client_ref ON messages (customer_id, client_ref);
