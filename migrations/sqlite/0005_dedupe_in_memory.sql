-- 0005_dedupe_in_memory: duplicate checks use the writer's in-memory window
-- (src/store/dedupe.c), confirmed by rowid; this index cost a random page
-- written per lead.
DROP INDEX leads_dedupe;
