-- 0021_registrations: the registrar's bindings (RFC 3261 §10.3; src/sip/
-- reg_store.c): a trunk's address of record (aor: user@host) and the
-- contacts a REGISTER bound to it, with where the REGISTER came from
-- (received, transport: the NAT address and connection a call goes back
-- through) and its Call-ID and CSeq (§10.3 step 7 orders refreshes).  A
-- binding of RFC 5626 is keyed by (instance, reg_id), any other by its
-- contact URI.  expires_s is what the registrar granted, expires_at when
-- that ends as last written: a refresh that changes nothing is written
-- only once less than half of expires_s is left, so a binding is live until
-- expires_at + expires_s / 2 (every node reads it the same way).  Times are
-- epoch milliseconds.
CREATE TABLE registrations (
	id TEXT PRIMARY KEY,
	trunk_id TEXT NOT NULL REFERENCES trunks (id) ON DELETE CASCADE,
	aor TEXT NOT NULL,
	contact TEXT NOT NULL,
	instance TEXT NOT NULL DEFAULT '',
	reg_id BIGINT NOT NULL DEFAULT 0,
	q BIGINT NOT NULL DEFAULT 1000,
	received TEXT NOT NULL,
	transport TEXT NOT NULL,
	call_id TEXT NOT NULL,
	cseq BIGINT NOT NULL,
	expires_s BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX registrations_aor ON registrations (trunk_id, aor);
CREATE INDEX registrations_expiry ON registrations (expires_at);
