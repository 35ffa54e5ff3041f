-- 0013_cancelled: a delivery that is never to be sent (its lead withdrew
-- consent, or was marked spam) is cancelled, with why, instead of deleted:
-- its attempts so far stay in GET /v1/deliveries.
ALTER TABLE deliveries ADD COLUMN why TEXT;
