-- 0024_lcr: least-cost routing with margin protection (decision 0038).
-- A route's mode: 'priority' tries its carriers by priority then weight as
-- written; 'lcr' orders them by each carrier's buy rate for the number (its
-- buy deck's longest prefix, per minute for calls, per segment for
-- messages), cheapest first, ties by priority then weight, and leaves out
-- carriers without a rate.  min_margin_bps (lcr only; NULL: no protection)
-- leaves out a carrier whose buy rate keeps less than this share of the sell
-- rate, in basis points of the sell rate (500 = 5 %): (sell - buy) * 10000 >=
-- sell * min_margin_bps.  A customer's min_margin_bps is the minimum of its
-- calls and messages on lcr routes that set none.
ALTER TABLE routes ADD COLUMN mode TEXT NOT NULL DEFAULT 'priority';
ALTER TABLE routes ADD COLUMN min_margin_bps BIGINT;
ALTER TABLE message_routes ADD COLUMN mode TEXT NOT NULL DEFAULT 'priority';
ALTER TABLE message_routes ADD COLUMN min_margin_bps BIGINT;
ALTER TABLE customers ADD COLUMN min_margin_bps BIGINT;
