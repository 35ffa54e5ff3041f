-- 0017_claims: a delivery's lease (who holds it, until when), as
-- PostgreSQL's nodes keep it, so both engines record an attempt with one
-- statement. SQLite's one forwarder claims in memory: these stay NULL.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
-- wanted: how many changes asked for an update while this one waited (an
-- update is rendered when claimed; one asked for after that is sent anew).
ALTER TABLE deliveries ADD COLUMN wanted INTEGER NOT NULL DEFAULT 0;
