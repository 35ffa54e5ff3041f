-- 0010_analytics: what leads cost and earn, and counters that answer the
-- stats report without reading the leads.

-- A converted lead's deal value, in its currency's minor units (cents).
ALTER TABLE leads ADD COLUMN value_minor INTEGER;
ALTER TABLE leads ADD COLUMN currency TEXT;

-- Ad spend by the ad platform's day, source and campaign ('' when the
-- source's spend is not split by campaign), one row per currency.
CREATE TABLE spend (
    day          TEXT NOT NULL,
    utm_source   TEXT NOT NULL,
    utm_campaign TEXT NOT NULL DEFAULT '',
    currency     TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (day, utm_source, utm_campaign, currency)
) WITHOUT ROWID;
CREATE INDEX spend_source ON spend(utm_source, day);

-- Counters of leads. A lead's day is its local day: SQLite's 'localtime' is
-- the process's zone, which leadd sets to [server] timezone at start (a
-- program in another zone that edits leads should be followed by
-- `leadd rollup --rebuild`). Three grains, one table:
--   0  a local day ([server] timezone) and every dimension
--   1  a month (YYYY-MM) and every dimension: long ranges read few rows
--   2  a day, form and source only (medium and campaign ''): the time series
-- '' stands for no source, medium or campaign. currency is the revenue's:
-- '' unless the lead is converted, valid and has a value, so one group has
-- one row per currency its sales were made in.
-- valid: neither spam (flags 1, 2, 16) nor a duplicate (flag 4); qualified,
-- the grades and the statuses count valid leads only, so for every row
-- leads = valid + spam + duplicates and valid = hot + warm + cold.
-- Erased leads stay counted (erasure removes people, not numbers).
CREATE TABLE rollup (
    grain         INTEGER NOT NULL,
    period        TEXT NOT NULL,
    form          TEXT NOT NULL,
    utm_source    TEXT NOT NULL,
    utm_medium    TEXT NOT NULL,
    utm_campaign  TEXT NOT NULL,
    currency      TEXT NOT NULL,
    leads         INTEGER NOT NULL,
    valid         INTEGER NOT NULL,
    qualified     INTEGER NOT NULL,
    hot           INTEGER NOT NULL,
    warm          INTEGER NOT NULL,
    cold          INTEGER NOT NULL,
    contacted     INTEGER NOT NULL,
    converted     INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    spam          INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    revenue_minor INTEGER NOT NULL,
    PRIMARY KEY (grain, period, form, utm_source, utm_medium, utm_campaign, currency)
) WITHOUT ROWID;

-- Every change to what a lead counts for passes through here, as n leads
-- (1, -1, or a group's count: a writer batch's new leads, or a rebuild) with
-- the values that decide how they count: the trigger below is the one place
-- that turns leads into counters. Rows leave as soon as they are applied.
CREATE TABLE rollup_delta (
    n            INTEGER NOT NULL,
    day          TEXT NOT NULL,
    form         TEXT NOT NULL,
    utm_source   TEXT,
    utm_medium   TEXT,
    utm_campaign TEXT,
    flags        INTEGER NOT NULL,
    grade        TEXT NOT NULL,
    qualified    INTEGER NOT NULL,
    status       TEXT NOT NULL,
    currency     TEXT,
    value_minor  INTEGER          -- the sum of the n leads' values, signed as n
);

CREATE TRIGGER rollup_apply AFTER INSERT ON rollup_delta BEGIN
    INSERT INTO rollup
    SELECT g.grain, CASE g.grain WHEN 1 THEN substr(NEW.day, 1, 7) ELSE NEW.day END, NEW.form,
           coalesce(NEW.utm_source, ''),
           CASE g.grain WHEN 2 THEN '' ELSE coalesce(NEW.utm_medium, '') END,
           CASE g.grain WHEN 2 THEN '' ELSE coalesce(NEW.utm_campaign, '') END,
           CASE WHEN v.ok AND NEW.status = 'converted' AND NEW.value_minor IS NOT NULL
                THEN NEW.currency ELSE '' END,
           NEW.n, NEW.n * v.ok, NEW.n * (v.ok AND NEW.qualified),
           NEW.n * (v.ok AND NEW.grade = 'hot'), NEW.n * (v.ok AND NEW.grade = 'warm'),
           NEW.n * (v.ok AND NEW.grade = 'cold'),
           NEW.n * (v.ok AND NEW.status = 'contacted'), NEW.n * (v.ok AND NEW.status = 'converted'),
           NEW.n * (v.ok AND NEW.status = 'rejected'),
           NEW.n * ((NEW.flags & 19) != 0), NEW.n * ((NEW.flags & 19) = 0 AND (NEW.flags & 4) != 0),
           CASE WHEN v.ok AND NEW.status = 'converted' THEN coalesce(NEW.value_minor, 0) ELSE 0 END
      FROM (SELECT 0 AS grain UNION ALL SELECT 1 UNION ALL SELECT 2) AS g,
           (SELECT (NEW.flags & 23) = 0 AS ok) AS v
     WHERE 1
    ON CONFLICT DO UPDATE SET
        leads = leads + excluded.leads, valid = valid + excluded.valid,
        qualified = qualified + excluded.qualified, hot = hot + excluded.hot,
        warm = warm + excluded.warm, cold = cold + excluded.cold,
        contacted = contacted + excluded.contacted, converted = converted + excluded.converted,
        rejected = rejected + excluded.rejected, spam = spam + excluded.spam,
        duplicates = duplicates + excluded.duplicates,
        revenue_minor = revenue_minor + excluded.revenue_minor;
    -- A group a lead left may now be empty: it goes, so counters kept up as
    -- leads change are exactly the counters rebuilt from the leads.
    DELETE FROM rollup WHERE NEW.n < 0 AND leads = 0 AND grain IN (0, 1, 2)
       AND period IN (NEW.day, substr(NEW.day, 1, 7)) AND form = NEW.form
       AND utm_source = coalesce(NEW.utm_source, '');
    DELETE FROM rollup_delta WHERE rowid = NEW.rowid;
END;

-- New leads are counted by leadd's writer, which adds up each batch's
-- leads that count alike into one rollup_delta row (src/store/rollup.c):
-- a trigger per inserted lead cost more than the rest of its insert.
-- Changes to stored leads come through these triggers.
CREATE TRIGGER leads_rollup_update AFTER UPDATE OF flags, grade, qualified, status, currency,
    value_minor ON leads
WHEN (OLD.flags & 23) != (NEW.flags & 23) OR OLD.grade IS NOT NEW.grade
  OR OLD.qualified IS NOT NEW.qualified OR OLD.status IS NOT NEW.status
  OR OLD.currency IS NOT NEW.currency OR OLD.value_minor IS NOT NEW.value_minor BEGIN
    INSERT INTO rollup_delta VALUES (-1, date(OLD.created_ms / 1000, 'unixepoch', 'localtime'), OLD.form, OLD.utm_source,
        OLD.utm_medium, OLD.utm_campaign, OLD.flags, OLD.grade, OLD.qualified, OLD.status,
        OLD.currency, -OLD.value_minor);
    INSERT INTO rollup_delta VALUES (1, date(NEW.created_ms / 1000, 'unixepoch', 'localtime'), NEW.form, NEW.utm_source,
        NEW.utm_medium, NEW.utm_campaign, NEW.flags, NEW.grade, NEW.qualified, NEW.status,
        NEW.currency, NEW.value_minor);
END;

CREATE TRIGGER leads_rollup_delete AFTER DELETE ON leads BEGIN
    INSERT INTO rollup_delta VALUES (-1, date(OLD.created_ms / 1000, 'unixepoch', 'localtime'), OLD.form, OLD.utm_source,
        OLD.utm_medium, OLD.utm_campaign, OLD.flags, OLD.grade, OLD.qualified, OLD.status,
        OLD.currency, -OLD.value_minor);
END;

-- Facts about the database itself: which zone the rollups' days are in.
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- The lead list's filters that would otherwise read every lead to find a
-- page: by grade, qualified, score, and only spam (a partial index: the
-- spam alone).
CREATE INDEX leads_grade ON leads(grade, id);
CREATE INDEX leads_qualified ON leads(qualified, id);
CREATE INDEX leads_score ON leads(score, id);
CREATE INDEX leads_spam ON leads(id) WHERE (flags & 19) != 0;
