-- 0003_shared: what one node kept in memory and every node must now share
-- (src/store/shared.c). All are UNLOGGED: no WAL, so no cost to a commit;
-- a crash of the server empties them, which only forgets recent counts.

-- Submission and sign-in rate limits: one token bucket a (scope, client),
-- keyed by a hash of the two (hex), so no client address is kept here. A
-- bucket past full_ms is full again and is dropped by any node's writer.
CREATE UNLOGGED TABLE rate_buckets (
    key      text PRIMARY KEY,
    tokens   double precision NOT NULL,
    at_ms    bigint NOT NULL,
    full_ms  bigint NOT NULL,
    taken    boolean NOT NULL
);
CREATE INDEX rate_buckets_full ON rate_buckets(full_ms);

-- Round-robin turns (a form's assign.NAME rules): the next number a key.
CREATE UNLOGGED TABLE turns (
    key  text PRIMARY KEY,
    n    bigint NOT NULL
);

-- A webhook's rate_limit (N requests in any window, whichever node sends
-- them): the start times of the last requests sent, kept by
-- leadd_take_sends, which hands out up to the free places at once.
CREATE UNLOGGED TABLE send_windows (
    key    text PRIMARY KEY,
    times  bigint[] NOT NULL
);

-- Up to want starts for key now, by the database's clock: granted, and
-- when fewer than asked, wait_ms until the oldest start leaves the window.
-- The row's lock makes two nodes asking at once take turns.
CREATE FUNCTION leadd_take_sends(k text, want bigint, lim bigint, win bigint,
                                 OUT granted bigint, OUT wait_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    ts bigint[];
BEGIN
    INSERT INTO send_windows(key, times) VALUES (k, '{}') ON CONFLICT (key) DO NOTHING;
    SELECT array(SELECT t FROM unnest(w.times) AS t WHERE t > now_ms - win ORDER BY t)
      INTO ts FROM send_windows AS w WHERE w.key = k FOR UPDATE;
    granted := least(want, greatest(lim - cardinality(ts), 0));
    IF granted > 0 THEN
        ts := ts || array_fill(now_ms, ARRAY[granted::int]);
    END IF;
    UPDATE send_windows SET times = ts WHERE key = k;
    wait_ms := CASE WHEN granted < want
                    THEN greatest(ts[cardinality(ts) - lim + 1] + win - now_ms, 1) ELSE 0 END;
END $$;
