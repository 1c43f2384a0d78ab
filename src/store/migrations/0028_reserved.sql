-- 0028_reserved: a placeholder on branch wt-build only, so that its
-- 0029_rating_batches has no gap before it (scripts/embed-migrations).
-- Another branch holds the real 0028; this file is dropped when they merge.
SELECT 1;
