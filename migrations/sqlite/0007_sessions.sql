-- 0007_sessions: people signed in to the inbox. A session is known by the
-- SHA-256 of its cookie's token (the token itself is never stored), ends
-- after 12 idle hours or on sign-out, and survives a restart.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user       TEXT NOT NULL,            -- a [auth] user.NAME, or "api"
    created_ms INTEGER NOT NULL,
    seen_ms    INTEGER NOT NULL
) WITHOUT ROWID;
