-- 0009_wanted: how many changes asked for an update while this one waited
-- (an update is rendered when claimed; one asked for after that is sent
-- anew).
ALTER TABLE deliveries ADD COLUMN wanted bigint NOT NULL DEFAULT 0;
