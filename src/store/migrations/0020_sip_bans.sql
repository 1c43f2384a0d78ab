-- 0020_sip_bans: sources the sip role ignores for flooding or scanning
-- (src/sip/ban_log.c).  Each sip process keeps its own ban table in
-- memory (limits.c, bounded); a ban that starts is also written here so
-- that GET /api/v1/sip/bans, on any api node, lists what every node
-- ignores.  One row per (address, node): a ban starting again on the same
-- node moves banned_until.  Rows whose ban ended an hour ago are deleted by
-- the next ban written.  Times are epoch milliseconds.
CREATE TABLE sip_bans (
	address TEXT NOT NULL,
	node TEXT NOT NULL,
	banned_until BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (address, node)
);

CREATE INDEX sip_bans_until ON sip_bans (banned_until);
