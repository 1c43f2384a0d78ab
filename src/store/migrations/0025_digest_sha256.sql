-- 0025_digest_sha256: SHA-256 digest credentials (RFC 8760, decision 0048).
-- auth_ha1_sha256 is SHA-256(username:realm:password) in lowercase hex, set
-- by the trunks API beside auth_ha1 whenever a password is given.  Trunks
-- whose password was set before this migration have NULL here and are
-- challenged with MD5 alone until their password is set again.
ALTER TABLE trunks ADD COLUMN auth_ha1_sha256 TEXT;
