-- 0011_consent: captcha and double opt-in, and the consent record.

-- A consent's exact wording, kept once per distinct text and named by its
-- SHA-256 (hex): a record proves which words the person agreed to.
CREATE TABLE consent_texts (
    hash TEXT PRIMARY KEY,
    text TEXT NOT NULL
) WITHOUT ROWID;

-- What a person allowed, and when: written in the transaction that stores
-- or changes the lead. kind: given (a consent field ticked on the form),
-- confirmed (the double opt-in link followed), withdrawn, expired (never
-- confirmed: the lead was erased). Append-only: erasure may only blank
-- the person's traces (ip, user_agent, page) and set email_hash, a salted
-- hash of the address, so a dispute can still be answered without it.
CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    form        TEXT NOT NULL,
    field       TEXT,
    text_hash   TEXT REFERENCES consent_texts(hash),
    at          TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    page        TEXT,
    actor       TEXT,
    email_hash  TEXT
);
CREATE INDEX consents_lead ON consents(lead_id, id);
CREATE INDEX consents_email ON consents(email_hash) WHERE email_hash IS NOT NULL;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
WHEN NEW.id IS NOT OLD.id OR NEW.lead_id IS NOT OLD.lead_id OR NEW.kind IS NOT OLD.kind
  OR NEW.form IS NOT OLD.form OR NEW.field IS NOT OLD.field
  OR NEW.text_hash IS NOT OLD.text_hash OR NEW.at IS NOT OLD.at OR NEW.actor IS NOT OLD.actor
  OR (NEW.ip IS NOT NULL AND NEW.ip IS NOT OLD.ip)
  OR (NEW.user_agent IS NOT NULL AND NEW.user_agent IS NOT OLD.user_agent)
  OR (NEW.page IS NOT NULL AND NEW.page IS NOT OLD.page)
  OR (OLD.email_hash IS NOT NULL AND NEW.email_hash IS NOT OLD.email_hash) BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

-- A double opt-in lead's link: the token is kept only as its SHA-256; the
-- mail's delivery holds it in clear (deliveries.secret) until it is sent.
-- One token per lead, for its confirmation (until expires_ms) and for
-- unsubscribing (any time).
CREATE TABLE confirm_tokens (
    token_hash   BLOB PRIMARY KEY,
    lead_id      TEXT NOT NULL UNIQUE,
    expires_ms   INTEGER NOT NULL,
    confirmed_ms INTEGER
);
CREATE INDEX confirm_tokens_due ON confirm_tokens(expires_ms) WHERE confirmed_ms IS NULL;
ALTER TABLE deliveries ADD COLUMN secret TEXT;

-- captcha_unverified (flag 32) is held like spam: the masks of 0010 grow
-- from 19 (spam) and 23 (spam or duplicate) to 51 and 55. No lead had the
-- flag before, so the counters stay as they are.
DROP TRIGGER leads_rollup_out;
DROP TRIGGER leads_rollup_in;
DROP TRIGGER leads_filters_update;
DROP VIEW lead_rollup;
DROP VIEW lead_counts;

CREATE VIEW lead_counts AS
SELECT id, form, utm_source, utm_medium, utm_campaign,
       date(created_ms / 1000, 'unixepoch', 'localtime') AS day,
       CASE WHEN v AND status = 'converted' AND value_minor IS NOT NULL
            THEN currency ELSE '' END AS currency,
       1 AS leads, v AS valid, v AND qualified AS qualified,
       v AND grade = 'hot' AS hot, v AND grade = 'warm' AS warm, v AND grade = 'cold' AS cold,
       v AND status = 'contacted' AS contacted, v AND status = 'converted' AS converted,
       v AND status = 'rejected' AS rejected,
       (flags & 51) != 0 AS spam, (flags & 51) = 0 AND (flags & 4) != 0 AS duplicates,
       CASE WHEN v AND status = 'converted' THEN coalesce(value_minor, 0) ELSE 0 END
           AS revenue_minor
  FROM (SELECT *, (flags & 55) = 0 AS v FROM leads);

CREATE VIEW lead_rollup AS
SELECT c.id, g.grain, CASE g.grain WHEN 1 THEN substr(c.day, 1, 7) ELSE c.day END AS period,
       c.form, coalesce(c.utm_source, '') AS utm_source,
       CASE g.grain WHEN 2 THEN '' ELSE coalesce(c.utm_medium, '') END AS utm_medium,
       CASE g.grain WHEN 2 THEN '' ELSE coalesce(c.utm_campaign, '') END AS utm_campaign,
       c.currency, c.leads, c.valid, c.qualified, c.hot, c.warm, c.cold, c.contacted,
       c.converted, c.rejected, c.spam, c.duplicates, c.revenue_minor
  FROM lead_counts AS c, rollup_grains AS g;

CREATE TRIGGER leads_rollup_out BEFORE UPDATE OF flags, grade, qualified, status, currency,
    value_minor ON leads
WHEN OLD.id <= (SELECT upto FROM rollup_mark)
 AND ((OLD.flags & 55) != (NEW.flags & 55) OR OLD.grade IS NOT NEW.grade
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
 AND ((OLD.flags & 55) != (NEW.flags & 55) OR OLD.grade IS NOT NEW.grade
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

CREATE TRIGGER leads_filters_update AFTER UPDATE OF grade, qualified, score, flags ON leads
WHEN OLD.id <= (SELECT upto FROM rollup_mark) BEGIN
    UPDATE lead_filters
       SET bucket = CASE NEW.grade WHEN 'hot' THEN 0 WHEN 'warm' THEN 4 ELSE 8 END
                    + 2 * (NEW.qualified != 0) + ((NEW.flags & 51) != 0),
           score = NEW.score
     WHERE rid = NEW.rowid;
END;
