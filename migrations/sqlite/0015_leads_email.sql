-- 0015_leads_email: a person's leads by address, whatever the form: an
-- erasure request comes per person (POST /v1/erasures).
CREATE INDEX leads_email ON leads(email) WHERE email IS NOT NULL;
