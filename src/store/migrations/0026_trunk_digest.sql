-- 0026_trunk_digest: SHA-256 digest credentials (RFC 8760) and per-device
-- credentials under a trunk (decision 0048).
-- auth_ha1_sha256 is SHA-256(username:realm:password) in lowercase hex, set
-- by the trunks API beside auth_ha1 whenever a password is given.  Trunks
-- whose password was set before this migration have NULL here and are
-- challenged with MD5 alone until their password is set again.
ALTER TABLE trunks ADD COLUMN auth_ha1_sha256 TEXT;

-- A device (a handset, a PBX of a branch) with its own digest credentials,
-- admitted as its trunk for calls and REGISTER; its REGISTER binds the AOR
-- of its own username.  The password is kept only as its two HA1s, as a
-- trunk's.  A trunk with devices is not deleted (409) until they are.
CREATE TABLE trunk_devices (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	trunk_id TEXT NOT NULL REFERENCES trunks (id),
	username TEXT NOT NULL,
	realm TEXT NOT NULL,
	auth_ha1 TEXT NOT NULL,
	auth_ha1_sha256 TEXT,
	enabled BIGINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX trunk_devices_trunk ON trunk_devices (trunk_id);
