-- 0010_filter_order: lead_filters' indexes hold each key's rows in rowid
-- order, as SQLite's do (a table's rowid ends each of its index's keys): a
-- page of the newest leads with one grade, or one score, is the start of a
-- range read backwards, at the same cost however many leads there are
-- (src/store/query.c).
DROP INDEX lead_filters_bucket;
DROP INDEX lead_filters_score;
CREATE INDEX lead_filters_bucket ON lead_filters(bucket, rid);
CREATE INDEX lead_filters_score ON lead_filters(score, rid);
