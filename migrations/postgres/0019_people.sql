-- People who sign in through the organisation's OpenID provider, one row per
-- (issuer, subject): what the last sign-in said of them. Their rights are not
-- stored here; they come from role bindings, evaluated at each request.
CREATE TABLE people (
    id               TEXT PRIMARY KEY,      -- "p_..."
    issuer           TEXT NOT NULL,
    subject          TEXT NOT NULL,         -- the IdP's `sub`
    email            TEXT,
    email_verified   BIGINT NOT NULL,       -- 1 when the IdP says the address is verified
    name             TEXT,
    groups           TEXT NOT NULL,         -- JSON array: the groups the last sign-in carried
    first_sign_in_us BIGINT NOT NULL,       -- unix microseconds
    last_sign_in_us  BIGINT NOT NULL
);
CREATE UNIQUE INDEX people_identity ON people (issuer, subject);

-- A sign-in through the IdP under way: found by the hash of the handle in the
-- browser's cookie, taken (deleted) by the callback, so it is usable once. Its
-- state, nonce and PKCE verifier are sealed under a key derived from the handle.
CREATE TABLE sso_logins (
    id_hash     TEXT PRIMARY KEY,
    sealed      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL             -- unix seconds
);

-- A console session is held by a key (key_id, secret_tag) or by a person (person_id).
ALTER TABLE console_sessions ALTER COLUMN key_id DROP NOT NULL;
ALTER TABLE console_sessions ALTER COLUMN secret_tag DROP NOT NULL;
ALTER TABLE console_sessions ADD COLUMN person_id TEXT REFERENCES people (id) ON DELETE CASCADE;
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_holder CHECK (
    (key_id IS NOT NULL AND secret_tag IS NOT NULL AND person_id IS NULL)
    OR (key_id IS NULL AND secret_tag IS NULL AND person_id IS NOT NULL));
CREATE INDEX console_sessions_person ON console_sessions (person_id);

-- The audit log names a person by id (in `actor`) and by the email they had then.
ALTER TABLE audit_log ADD COLUMN actor_email TEXT;
