-- 0006_history_actor: who made each change to a lead: a user's name, or
-- "api" for an API key. NULL for changes made before it was recorded.
ALTER TABLE lead_history ADD COLUMN actor TEXT;
