-- People who sign in through the organisation's OpenID provider, one row per
-- (issuer, subject): what the last sign-in said of them. Their rights are not
-- stored here; they come from role bindings, evaluated at each request.
CREATE TABLE people (
    id               TEXT PRIMARY KEY,      -- "p_..."
    issuer           TEXT NOT NULL,
    subject          TEXT NOT NULL,         -- the IdP's `sub`
    email            TEXT,
    email_verified   INTEGER NOT NULL,      -- 1 when the IdP says the address is verified
    name             TEXT,
    groups           TEXT NOT NULL,         -- JSON array: the groups the last sign-in carried
    first_sign_in_us INTEGER NOT NULL,      -- unix microseconds
    last_sign_in_us  INTEGER NOT NULL
);
CREATE UNIQUE INDEX people_identity ON people (issuer, subject);

-- A sign-in through the IdP under way: found by the hash of the handle in the
-- browser's cookie, taken (deleted) by the callback, so it is usable once. Its
-- state, nonce and PKCE verifier are sealed under a key derived from the handle.
CREATE TABLE sso_logins (
    id_hash     TEXT PRIMARY KEY,
    sealed      BLOB NOT NULL,
    created_at  INTEGER NOT NULL            -- unix seconds
);

-- A console session is held by a key (key_id, secret_tag) or by a person
-- (person_id). SQLite cannot relax NOT NULL in place, so the table is rebuilt.
CREATE TABLE console_sessions_new (
    id_hash     TEXT PRIMARY KEY,
    key_id      TEXT,
    secret_tag  TEXT,
    person_id   TEXT REFERENCES people (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    CHECK ((key_id IS NOT NULL AND secret_tag IS NOT NULL AND person_id IS NULL)
        OR (key_id IS NULL AND secret_tag IS NULL AND person_id IS NOT NULL))
);
INSERT INTO console_sessions_new (id_hash, key_id, secret_tag, created_at, seen_at)
    SELECT id_hash, key_id, secret_tag, created_at, seen_at FROM console_sessions;
CREATE TABLE console_reveals_keep AS SELECT * FROM console_reveals;
DROP TABLE console_reveals;
DROP TABLE console_sessions;
ALTER TABLE console_sessions_new RENAME TO console_sessions;
CREATE INDEX console_sessions_key ON console_sessions (key_id);
CREATE INDEX console_sessions_person ON console_sessions (person_id);
CREATE TABLE console_reveals (
    session_hash TEXT PRIMARY KEY REFERENCES console_sessions (id_hash) ON DELETE CASCADE,
    key_id       TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    created_at   BIGINT NOT NULL
);
INSERT INTO console_reveals SELECT * FROM console_reveals_keep;
DROP TABLE console_reveals_keep;

-- The audit log names a person by id (in `actor`) and by the email they had then.
ALTER TABLE audit_log ADD COLUMN actor_email TEXT;
