-- 0017_claims: a delivery's lease (who holds it, until when), as
-- PostgreSQL's nodes keep it, so both engines record an attempt with one
-- statement. SQLite's one forwarder claims in memory: these stay NULL.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
