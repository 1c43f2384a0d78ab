-- 0014_topology_hiding: whether the proxy hides each side's addresses from
-- the other on a trunk's calls (Via, Contact, Record-Route, From and To
-- hosts, Call-ID; decision 0024).  On by default, as an SBC does; 0 keeps
-- the messages as the parties wrote them.
ALTER TABLE trunks ADD COLUMN topology_hiding BIGINT NOT NULL DEFAULT 1;
