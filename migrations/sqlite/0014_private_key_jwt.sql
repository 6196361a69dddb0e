-- Client authentication by signed assertion (RFC 7523, private_key_jwt): a key's
-- method and its public keys (a checked JWK Set, public members only). A key that
-- authenticates by assertion has no secret.
ALTER TABLE api_keys ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
ALTER TABLE api_keys ADD COLUMN jwks TEXT;

-- JWT ids used once (client assertions; later, DPoP proofs), per subject, kept
-- until the JWT would have expired. A use is one INSERT that fails on a repeat,
-- so every instance sharing the database refuses a replay.
CREATE TABLE used_jtis (
    subject     TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (subject, jti)
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
