-- keymint schema, SQLite flavour. Instants are INTEGER unix seconds; lists are JSON text.

-- Tenants. Every API key belongs to exactly one workspace.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,          -- public id, "ws_..."
    name        TEXT NOT NULL UNIQUE,      -- human name, unique across the deployment
    created_at  INTEGER NOT NULL           -- unix seconds
);

-- Long-lived API keys (the OAuth clients).
CREATE TABLE api_keys (
    id                      TEXT PRIMARY KEY,            -- public id, used as client_id and sub
    workspace_id            TEXT NOT NULL REFERENCES workspaces(id),
    name                    TEXT NOT NULL,               -- unique within the workspace
    name_lower              TEXT NOT NULL,               -- lower(name), for case-insensitive search
    description             TEXT NOT NULL DEFAULT '',
    environment             TEXT NOT NULL,               -- e.g. production, staging; fixed at creation
    key_type                TEXT NOT NULL,               -- e.g. access, gateway
    scopes                  TEXT NOT NULL,               -- JSON array of scope strings
    allowed_cidrs           TEXT NOT NULL,               -- JSON array of CIDRs; empty = any address
    audiences               TEXT NOT NULL,               -- JSON array; first is the default aud
    expires_at              INTEGER,                     -- NULL = never
    status                  TEXT NOT NULL,               -- active | inactive | revoked (expired is derived)
    secret_hash             TEXT NOT NULL,               -- "sha256:<hex>" or an argon2id PHC string; never the secret
    masked_secret           TEXT NOT NULL,               -- prefix + last 4 characters, for display
    imported                INTEGER NOT NULL DEFAULT 0,  -- 1 when the secret was imported, not generated
    previous_secret_hash    TEXT,                        -- the pre-rotation secret during a grace period
    previous_expires_at     INTEGER,                     -- end of that grace period
    previous_last_used_at   INTEGER,                     -- last use of the old secret during the grace
    created_at              INTEGER NOT NULL,
    created_by              TEXT,                        -- actor: key id, or "cli"/"bootstrap"
    updated_at              INTEGER NOT NULL,
    last_used_at            INTEGER,
    last_used_ip            TEXT,
    rotated_at              INTEGER,
    revoked_at              INTEGER,
    revoked_by              TEXT,
    version                 INTEGER NOT NULL DEFAULT 1,  -- optimistic concurrency for updates
    UNIQUE (workspace_id, name)
);
CREATE INDEX api_keys_list ON api_keys (workspace_id, created_at, id);
CREATE INDEX api_keys_created ON api_keys (created_at, id);

-- Token signing keys. Private keys are sealed (AES-256-GCM) under the master key.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,       -- RFC 7638 JWK thumbprint
    alg             TEXT NOT NULL,          -- ES256 | EdDSA | RS256
    state           TEXT NOT NULL,          -- next | current | retired
    public_jwk      TEXT NOT NULL,          -- JSON public JWK, as published
    sealed_private  BLOB NOT NULL,          -- nonce || ciphertext || tag of the PKCS#8 private key
    master_key_id   TEXT NOT NULL,          -- fingerprint of the master key that sealed it
    created_at      INTEGER NOT NULL,
    activated_at    INTEGER,                -- when it became current
    retired_at      INTEGER                 -- when it stopped signing
);
-- At most one key signs at a time, even when instances start together.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';

-- Append-only record of every management action. Never holds a secret.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor         TEXT NOT NULL,            -- key id of the caller, or "cli"/"bootstrap"/"system"
    actor_ip      TEXT,
    workspace_id  TEXT,
    action        TEXT NOT NULL,            -- e.g. key.create, key.revoke
    target_type   TEXT NOT NULL,            -- key | workspace | signing_key
    target_id     TEXT NOT NULL,
    details       TEXT NOT NULL             -- JSON: what changed
);
CREATE INDEX audit_log_target ON audit_log (target_id, id);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, id);

-- Token exchanges per key and day, flushed in batches from memory.
CREATE TABLE usage_daily (
    key_id        TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    day           TEXT NOT NULL,            -- YYYY-MM-DD, UTC
    issued        INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);
CREATE INDEX usage_daily_workspace ON usage_daily (workspace_id, day);
