-- Webhooks (docs/webhooks.md). An endpoint receives the events it subscribes to,
-- of one workspace or (workspace_id NULL) of every one, signed with its secret
-- as Standard Webhooks says. The secret is sealed under the master key; after a
-- rotation the previous one signs beside it until previous_until.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    events          TEXT NOT NULL,          -- JSON array of event types, or ["*"]
    sealed_secret   BLOB NOT NULL,
    sealed_previous BLOB,
    previous_until  BIGINT,
    master_key_id   TEXT NOT NULL,
    failing_since   BIGINT,                 -- a delivery gave up; cleared by the next success
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The outbox: each event, written in the transaction of the change it announces,
-- and one delivery per endpoint subscribed to it then.
CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,          -- msg_...: the webhook-id header
    type         TEXT NOT NULL,
    workspace_id TEXT,
    at           BIGINT NOT NULL,           -- unix seconds
    body         TEXT NOT NULL              -- {type, timestamp, data}, as sent
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL,        -- an instance is sending it until then
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_of_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt, as the endpoint's page lists it.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    status      BIGINT,                     -- the HTTP status; NULL when there was no answer
    latency_ms  BIGINT NOT NULL,
    excerpt     TEXT NOT NULL               -- the start of the answer, or why there was none
);
CREATE INDEX webhook_attempts_of_delivery ON webhook_attempts (delivery_id, id);
