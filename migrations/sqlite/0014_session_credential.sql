-- 0014_session_credential: a session says what signed it in (kind: an API
-- key, or a user of [auth] by name) and keeps a fingerprint of that
-- credential, so a name can never stand for another principal and a changed
-- or removed secret ends its sessions at once. Sessions from before carry
-- neither: they end here (their people sign in again).
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('key', 'user'));
ALTER TABLE sessions ADD COLUMN credential TEXT NOT NULL DEFAULT ''; -- hex
