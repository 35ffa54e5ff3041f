-- 0007_leads_email: as SQLite's 0015: a person's leads by address, for an
-- erasure request (POST /v1/erasures).
CREATE INDEX leads_email ON leads(email) WHERE email IS NOT NULL;
