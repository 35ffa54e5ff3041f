-- 0012_delivery_ids: a delivery's id is never used again. Without
-- AUTOINCREMENT, SQLite hands the largest id out anew once its row is gone
-- (a lead erased while its delivery was in flight): the next lead's delivery
-- took it, and the first attempt's outcome was recorded against it. The
-- table is made anew (SQLite cannot add AUTOINCREMENT to a table), and the
-- sequence starts past every id the attempts still name.
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id         TEXT NOT NULL,
    webhook         TEXT NOT NULL,
    webhook_id      TEXT NOT NULL UNIQUE,     -- msg_<ulid>: the same on every retry
    event           TEXT NOT NULL,            -- lead.qualified | lead.created
    state           TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    secret          TEXT
);
INSERT INTO deliveries_new (id, lead_id, webhook, webhook_id, event, state, attempts,
                            next_attempt_ms, created_ms, updated_ms, secret)
    SELECT id, lead_id, webhook, webhook_id, event, state, attempts, next_attempt_ms,
           created_ms, updated_ms, secret FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(webhook, state, next_attempt_ms);
CREATE INDEX deliveries_lead ON deliveries(lead_id);
CREATE INDEX deliveries_state ON deliveries(state, id);
CREATE INDEX deliveries_state_due ON deliveries(state, next_attempt_ms);
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'deliveries', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'deliveries');
UPDATE sqlite_sequence
   SET seq = max(seq, coalesce((SELECT max(delivery_id) FROM delivery_attempts), 0))
 WHERE name = 'deliveries';
