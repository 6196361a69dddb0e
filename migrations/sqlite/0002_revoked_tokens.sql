-- Access tokens revoked before their expiry (RFC 7009). A row can go once the
-- token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,   -- the token's unique id
    key_id      TEXT NOT NULL,      -- the client that revoked it (its own token)
    expires_at  BIGINT NOT NULL     -- the token's exp; purge after this
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
