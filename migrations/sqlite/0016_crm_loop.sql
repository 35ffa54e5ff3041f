-- 0016_crm_loop: outcomes coming back from a CRM ([inbound.NAME]).
-- crm_records: each record a target's CRM answered with (response_id), by
-- target and record id, so an event about record 551 finds its lead without
-- reading every lead's crm_ids. Written with crm_ids; erasure deletes a
-- lead's rows.
CREATE TABLE crm_records (
    webhook TEXT NOT NULL,
    crm_id  TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    PRIMARY KEY (webhook, crm_id, lead_id)
) WITHOUT ROWID;
CREATE INDEX crm_records_lead ON crm_records(lead_id);
INSERT OR IGNORE INTO crm_records(webhook, crm_id, lead_id)
    SELECT j.key, j.value, leads.id FROM leads, json_each(leads.crm_ids) AS j
    WHERE leads.crm_ids IS NOT NULL AND json_valid(leads.crm_ids) AND leads.erased_at IS NULL
      AND j.type = 'text';
-- inbound_events: the events applied, by source and the event's own id, so
-- a CRM's retry of one changes nothing the second time. Kept 30 days.
CREATE TABLE inbound_events (
    source   TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at_ms    INTEGER NOT NULL,
    PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
