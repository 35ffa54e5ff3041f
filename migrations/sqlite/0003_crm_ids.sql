-- 0003_crm_ids: the record id each CRM answered for a lead (response_id),
-- as a JSON object by webhook name: {"hubspot": "551"}. NULL: none yet.
ALTER TABLE leads ADD COLUMN crm_ids TEXT;
