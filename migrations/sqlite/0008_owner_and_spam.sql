-- 0008_owner_and_spam: who works a lead (an [auth] user, assigned at intake
-- by the form's assign rules or later by hand), and a history that says what
-- each change was: an assignment (owner, "" for none) or a spam verdict.
ALTER TABLE leads ADD COLUMN owner TEXT;
CREATE INDEX leads_owner ON leads(owner, id);
ALTER TABLE lead_history ADD COLUMN owner TEXT;
ALTER TABLE lead_history ADD COLUMN spam INTEGER;
