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

-- How a lead counts: the one place that says it. A lead's day is its local
-- day: SQLite's 'localtime' is the process's zone, which leadd sets to
-- [server] timezone at start. valid: neither spam (flags 1, 2, 16) nor a
-- duplicate (flag 4); qualified, the grades and the statuses count valid
-- leads only, so leads = valid + spam + duplicates and valid = hot + warm +
-- cold. currency is the revenue's: '' unless the lead is converted, valid
-- and has a value. Erased leads stay counted (erasure removes people, not
-- numbers).
CREATE VIEW lead_counts AS
SELECT id, form, utm_source, utm_medium, utm_campaign,
       date(created_ms / 1000, 'unixepoch', 'localtime') AS day,
       CASE WHEN v AND status = 'converted' AND value_minor IS NOT NULL
            THEN currency ELSE '' END AS currency,
       1 AS leads, v AS valid, v AND qualified AS qualified,
       v AND grade = 'hot' AS hot, v AND grade = 'warm' AS warm, v AND grade = 'cold' AS cold,
       v AND status = 'contacted' AS contacted, v AND status = 'converted' AS converted,
       v AND status = 'rejected' AS rejected,
       (flags & 19) != 0 AS spam, (flags & 19) = 0 AND (flags & 4) != 0 AS duplicates,
       CASE WHEN v AND status = 'converted' THEN coalesce(value_minor, 0) ELSE 0 END
           AS revenue_minor
  FROM (SELECT *, (flags & 23) = 0 AS v FROM leads);

-- The counters, in three grains of one table:
--   0  a local day and every dimension
--   1  a month (YYYY-MM) and every dimension: long ranges read few rows
--   2  a day, form and source only (medium and campaign ''): the time series
-- '' stands for no source, medium or campaign; a group has one row per
-- currency its sales were made in.
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
CREATE TABLE rollup_grains (grain INTEGER PRIMARY KEY);
INSERT INTO rollup_grains VALUES (0), (1), (2);

-- Each lead's rows of the rollup, one per grain.
CREATE VIEW lead_rollup AS
SELECT c.id, g.grain, CASE g.grain WHEN 1 THEN substr(c.day, 1, 7) ELSE c.day END AS period,
       c.form, coalesce(c.utm_source, '') AS utm_source,
       CASE g.grain WHEN 2 THEN '' ELSE coalesce(c.utm_medium, '') END AS utm_medium,
       CASE g.grain WHEN 2 THEN '' ELSE coalesce(c.utm_campaign, '') END AS utm_campaign,
       c.currency, c.leads, c.valid, c.qualified, c.hot, c.warm, c.cold, c.contacted,
       c.converted, c.rejected, c.spam, c.duplicates, c.revenue_minor
  FROM lead_counts AS c, rollup_grains AS g;

-- The rollup counts the leads up to this id. The writer folds newer ones in
-- every 2,000 leads or 10 seconds (src/store/rollup.c), a group's counters
-- updated once for all its leads: updating them lead by lead, as each is
-- inserted, cost a quarter of capture's throughput. The report adds the
-- few leads past the mark from the leads themselves, in the same read, so
-- it is exact at every moment.
CREATE TABLE rollup_mark (one INTEGER PRIMARY KEY CHECK (one = 1), upto TEXT NOT NULL);
INSERT INTO rollup_mark VALUES (1, '');

-- A change to a counted lead moves it between counters in the transaction
-- that changes it: out as it was (before), in as it is (after). Leads past
-- the mark are counted by the report as they are. leadd never deletes a lead
-- (erasure keeps a tombstone); after an edit by hand, `leadd rollup --rebuild`.
CREATE TRIGGER leads_rollup_out BEFORE UPDATE OF flags, grade, qualified, status, currency,
    value_minor ON leads
WHEN OLD.id <= (SELECT upto FROM rollup_mark)
 AND ((OLD.flags & 23) != (NEW.flags & 23) OR OLD.grade IS NOT NEW.grade
  OR OLD.qualified IS NOT NEW.qualified OR OLD.status IS NOT NEW.status
  OR OLD.currency IS NOT NEW.currency OR OLD.value_minor IS NOT NEW.value_minor) BEGIN
    INSERT INTO rollup
    SELECT grain, period, form, utm_source, utm_medium, utm_campaign, currency, -leads, -valid,
           -qualified, -hot, -warm, -cold, -contacted, -converted, -rejected, -spam,
           -duplicates, -revenue_minor
      FROM lead_rollup WHERE id = OLD.id
    ON CONFLICT DO UPDATE SET
        leads = leads + excluded.leads, valid = valid + excluded.valid,
        qualified = qualified + excluded.qualified, hot = hot + excluded.hot,
        warm = warm + excluded.warm, cold = cold + excluded.cold,
        contacted = contacted + excluded.contacted, converted = converted + excluded.converted,
        rejected = rejected + excluded.rejected, spam = spam + excluded.spam,
        duplicates = duplicates + excluded.duplicates,
        revenue_minor = revenue_minor + excluded.revenue_minor;
END;

CREATE TRIGGER leads_rollup_in AFTER UPDATE OF flags, grade, qualified, status, currency,
    value_minor ON leads
WHEN OLD.id <= (SELECT upto FROM rollup_mark)
 AND ((OLD.flags & 23) != (NEW.flags & 23) OR OLD.grade IS NOT NEW.grade
  OR OLD.qualified IS NOT NEW.qualified OR OLD.status IS NOT NEW.status
  OR OLD.currency IS NOT NEW.currency OR OLD.value_minor IS NOT NEW.value_minor) BEGIN
    INSERT INTO rollup SELECT grain, period, form, utm_source, utm_medium, utm_campaign,
           currency, leads, valid, qualified, hot, warm, cold, contacted, converted, rejected,
           spam, duplicates, revenue_minor
      FROM lead_rollup WHERE id = NEW.id
    ON CONFLICT DO UPDATE SET
        leads = leads + excluded.leads, valid = valid + excluded.valid,
        qualified = qualified + excluded.qualified, hot = hot + excluded.hot,
        warm = warm + excluded.warm, cold = cold + excluded.cold,
        contacted = contacted + excluded.contacted, converted = converted + excluded.converted,
        rejected = rejected + excluded.rejected, spam = spam + excluded.spam,
        duplicates = duplicates + excluded.duplicates,
        revenue_minor = revenue_minor + excluded.revenue_minor;
    -- a group the lead left may now be empty: it goes, so counters kept up
    -- are exactly the counters rebuilt from the leads
    DELETE FROM rollup WHERE leads = 0 AND grain IN (0, 1, 2)
       AND period IN (SELECT period FROM lead_rollup WHERE id = NEW.id)
       AND form = NEW.form AND utm_source = coalesce(NEW.utm_source, '');
END;


-- Facts about the database itself: which zone the rollups' days are in.
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- The lead list's filters that would otherwise read every lead to find a
-- page of few matches (grade, qualified, score, only spam), for the leads up
-- to the rollup's mark: filled by the same fold, not by each insert (an
-- index on leads itself costs every commit its pages: four of them cost a
-- quarter of capture's throughput). The list reads the leads past the mark
-- directly, and this table for the older ones (src/store/query.c).
CREATE TABLE lead_filters (
    rid    INTEGER PRIMARY KEY, -- the lead's rowid (rowids grow as ids do)
    bucket INTEGER NOT NULL,    -- grade (hot 0, warm 1, cold 2) * 4 + qualified * 2 + spam
    score  INTEGER NOT NULL     -- spam: flags & 19 (honeypot, too_fast, marked_spam)
);
CREATE INDEX lead_filters_bucket ON lead_filters(bucket);
CREATE INDEX lead_filters_score ON lead_filters(score);

CREATE TRIGGER leads_filters_update AFTER UPDATE OF grade, qualified, score, flags ON leads
WHEN OLD.id <= (SELECT upto FROM rollup_mark) BEGIN
    UPDATE lead_filters
       SET bucket = CASE NEW.grade WHEN 'hot' THEN 0 WHEN 'warm' THEN 4 ELSE 8 END
                    + 2 * (NEW.qualified != 0) + ((NEW.flags & 19) != 0),
           score = NEW.score
     WHERE rid = NEW.rowid;
END;
