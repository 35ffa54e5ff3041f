-- leadd_take_sends also says when, by the database's clock, it granted the
-- starts: the time a delivery attempt is recorded at, so the attempts kept
-- show the limit as it was kept, whatever the nodes' latency to here.
DROP FUNCTION leadd_take_sends(text, bigint, bigint, bigint);
CREATE FUNCTION leadd_take_sends(k text, want bigint, lim bigint, win bigint,
                                 OUT granted bigint, OUT wait_ms bigint, OUT at_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    ts bigint[];
BEGIN
    at_ms := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    INSERT INTO send_windows(key, times) VALUES (k, '{}') ON CONFLICT (key) DO NOTHING;
    SELECT array(SELECT t FROM unnest(w.times) AS t WHERE t > at_ms - win ORDER BY t)
      INTO ts FROM send_windows AS w WHERE w.key = k FOR UPDATE;
    -- the clock read before the row's lock: another node's grant may lie
    -- after it; the window counts from the later of the two
    at_ms := greatest(at_ms, coalesce(ts[cardinality(ts)], at_ms));
    granted := least(want, greatest(lim - cardinality(ts), 0));
    IF granted > 0 THEN
        ts := ts || array_fill(at_ms, ARRAY[granted::int]);
    END IF;
    UPDATE send_windows SET times = ts WHERE key = k;
    wait_ms := CASE WHEN granted < want
                    THEN greatest(ts[cardinality(ts) - lim + 1] + win - at_ms, 1) ELSE 0 END;
END $$;
