-- 0006_session_credential: as SQLite's 0014: a session says what signed it
-- in (an API key, or a user by name) and keeps a fingerprint of that
-- credential; sessions from before end here.
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN kind text NOT NULL DEFAULT 'user' CHECK (kind IN ('key', 'user'));
ALTER TABLE sessions ADD COLUMN credential text NOT NULL DEFAULT ''; -- hex
