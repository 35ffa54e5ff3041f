-- 0001_leads: leads, their status history, and idempotency keys.
CREATE TABLE leads (
    id            TEXT NOT NULL UNIQUE,          -- ULID: sorts in commit order
    form          TEXT NOT NULL,
    created_at    TEXT NOT NULL,                 -- RFC 3339 UTC with milliseconds
    created_ms    INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'new',
    email         TEXT,                          -- normalized, for dedupe and search
    name          TEXT,
    company       TEXT,
    fields        TEXT NOT NULL DEFAULT '{}',    -- JSON object, typed values
    extra         TEXT NOT NULL DEFAULT '{}',
    attribution   TEXT NOT NULL DEFAULT '{}',
    utm_source    TEXT,
    utm_medium    TEXT,
    utm_campaign  TEXT,
    client        TEXT NOT NULL DEFAULT '{}',    -- {"ip", "user_agent"}
    flags         INTEGER NOT NULL DEFAULT 0,    -- 1 honeypot, 2 too_fast, 4 duplicate, 8 disposable_email
    duplicate_of  TEXT,
    score         INTEGER NOT NULL DEFAULT 0,
    grade         TEXT NOT NULL DEFAULT 'cold',
    qualified     INTEGER NOT NULL DEFAULT 0,
    score_reasons TEXT NOT NULL DEFAULT '[]',
    erased_at     TEXT                           -- set when personal data was erased
);
CREATE INDEX leads_form_id ON leads(form, id);
CREATE INDEX leads_dedupe ON leads(form, email, created_ms) WHERE email IS NOT NULL;
CREATE INDEX leads_utm_source ON leads(utm_source, id);

CREATE TABLE lead_history (
    lead_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    status  TEXT NOT NULL,
    note    TEXT
);
CREATE INDEX lead_history_lead ON lead_history(lead_id);

CREATE TABLE idempotency_keys (
    form       TEXT NOT NULL,
    key        TEXT NOT NULL,
    body_hash  BLOB NOT NULL,
    lead_id    TEXT NOT NULL,
    status     INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (form, key)
) WITHOUT ROWID;

CREATE TABLE writer_probe (id INTEGER PRIMARY KEY, at INTEGER);
