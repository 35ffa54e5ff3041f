-- 0005_cancelled: as SQLite's 0013: a cancelled delivery keeps its row and
-- attempts, and says why.
ALTER TABLE deliveries ADD COLUMN why text;
