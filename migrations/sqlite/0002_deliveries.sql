-- 0002_deliveries: the transactional outbox. A delivery row is written in the
-- same transaction as its lead, so an acknowledged lead is always forwarded.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    lead_id         TEXT NOT NULL,
    webhook         TEXT NOT NULL,
    webhook_id      TEXT NOT NULL UNIQUE,     -- msg_<ulid>: the same on every retry
    event           TEXT NOT NULL,            -- lead.qualified | lead.created
    state           TEXT NOT NULL DEFAULT 'pending', -- pending | delivering | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(webhook, state, next_attempt_ms);
CREATE INDEX deliveries_lead ON deliveries(lead_id);
CREATE INDEX deliveries_state ON deliveries(state, id);

CREATE TABLE delivery_attempts (
    delivery_id INTEGER NOT NULL,
    at          TEXT NOT NULL,
    status      INTEGER,           -- HTTP status, NULL when none came back
    error       TEXT,              -- curl's error, or why the status failed
    duration_ms INTEGER NOT NULL,
    response    TEXT               -- the first 1 KB of the response body
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id);
