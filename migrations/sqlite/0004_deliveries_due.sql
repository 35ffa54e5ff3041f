-- 0004_deliveries_due: the forwarder asks, each round, when the next
-- pending delivery falls due: with this index that is one probe, not a scan
-- of every pending delivery (which made a backlog drain slower the longer
-- it was).
CREATE INDEX deliveries_state_due ON deliveries(state, next_attempt_ms);
