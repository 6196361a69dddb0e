-- The CLI signing in as a person (RFC 8628): a device code (kept as its SHA-256)
-- and the code the person types, waiting for the person to approve or deny it in
-- the console, until it expires or the CLI redeems it.
CREATE TABLE device_grants (
    device_hash TEXT PRIMARY KEY,
    user_code   TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,     -- unix seconds
    expires_at  BIGINT NOT NULL,
    polled_at   BIGINT NOT NULL,     -- the last poll: polling faster than the interval slows down
    decision    TEXT NOT NULL CHECK (decision IN ('pending', 'approved', 'denied')),
    person_id   TEXT REFERENCES people (id) ON DELETE CASCADE
);
