-- 0008_crm_loop: as SQLite's 0016: each CRM record a target was answered
-- with, by record id, and the inbound events applied, by their own id.
CREATE TABLE crm_records (
    webhook text NOT NULL,
    crm_id  text NOT NULL,
    lead_id text NOT NULL,
    PRIMARY KEY (webhook, crm_id, lead_id)
);
CREATE INDEX crm_records_lead ON crm_records(lead_id);
INSERT INTO crm_records(webhook, crm_id, lead_id)
    SELECT j.key, j.value, leads.id FROM leads, json_each_text(leads.crm_ids::json) AS j
    WHERE leads.crm_ids IS NOT NULL AND leads.erased_at IS NULL
    ON CONFLICT DO NOTHING;
CREATE TABLE inbound_events (
    source   text NOT NULL,
    event_id text NOT NULL,
    at_ms    bigint NOT NULL,
    PRIMARY KEY (source, event_id)
);
