-- Console sessions. The session id lives only in the admin's cookie; the row is
-- found by its SHA-256, so a copy of the database signs no one in.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,   -- hex SHA-256 of the session id
    key_id      TEXT NOT NULL,      -- the admin key that signed in
    secret_tag  TEXT NOT NULL,      -- tag of the secret it signed in with: a rotation ends the session
    created_at  BIGINT NOT NULL,    -- unix seconds; the absolute lifetime counts from here
    seen_at     BIGINT NOT NULL     -- unix seconds of the last request; the idle timeout counts from here
);
CREATE INDEX console_sessions_key ON console_sessions (key_id);

-- A secret waiting to be shown once, on the page after a create or a rotation.
-- Sealed (AES-256-GCM) under a key derived from the session id, which is not
-- stored: the database alone cannot open it. Taken (deleted) when shown.
CREATE TABLE console_reveals (
    session_hash TEXT PRIMARY KEY REFERENCES console_sessions (id_hash) ON DELETE CASCADE,
    key_id       TEXT NOT NULL,     -- the key whose secret this is
    sealed       BLOB NOT NULL,     -- nonce || ciphertext || tag
    created_at   BIGINT NOT NULL    -- unix seconds
);
