-- 0009_lead_reads: which leads each person has opened, so the inbox can
-- show the unread ones (read is per user).
CREATE TABLE lead_reads (
    user    TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (user, lead_id)
) WITHOUT ROWID;
