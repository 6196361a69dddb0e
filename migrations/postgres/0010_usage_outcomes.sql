-- Usage by outcome, per key, in hourly buckets (kept 30 days) and daily buckets
-- (kept a year); `start` is the bucket's first second (Unix time, UTC). `failed`
-- is every refusal, the other columns say why (rows from before this migration
-- have only the total). Written by multi-row statements off the request path.
CREATE TABLE usage_hours (
    key_id               TEXT NOT NULL,
    workspace_id         TEXT NOT NULL,
    start                BIGINT NOT NULL,
    issued               BIGINT NOT NULL DEFAULT 0,
    failed               BIGINT NOT NULL DEFAULT 0,
    wrong_secret         BIGINT NOT NULL DEFAULT 0,
    address_not_allowed  BIGINT NOT NULL DEFAULT 0,
    scope_refused        BIGINT NOT NULL DEFAULT 0,
    key_inactive         BIGINT NOT NULL DEFAULT 0,
    throttled            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, start)
);
CREATE INDEX usage_hours_workspace ON usage_hours (workspace_id, start);
CREATE INDEX usage_hours_start ON usage_hours (start);

CREATE TABLE usage_days (
    key_id               TEXT NOT NULL,
    workspace_id         TEXT NOT NULL,
    start                BIGINT NOT NULL,
    issued               BIGINT NOT NULL DEFAULT 0,
    failed               BIGINT NOT NULL DEFAULT 0,
    wrong_secret         BIGINT NOT NULL DEFAULT 0,
    address_not_allowed  BIGINT NOT NULL DEFAULT 0,
    scope_refused        BIGINT NOT NULL DEFAULT 0,
    key_inactive         BIGINT NOT NULL DEFAULT 0,
    throttled            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, start)
);
CREATE INDEX usage_days_workspace ON usage_days (workspace_id, start);
CREATE INDEX usage_days_start ON usage_days (start);

INSERT INTO usage_days (key_id, workspace_id, start, issued, failed)
SELECT key_id, workspace_id, EXTRACT(EPOCH FROM day::date)::BIGINT, issued, failed FROM usage_daily;
DROP TABLE usage_daily;

-- Tokens issued per key, day and client address (kept 30 days): what an edit that
-- narrows a key's allowed ranges would refuse.
CREATE TABLE usage_addresses (
    key_id   TEXT NOT NULL,
    start    BIGINT NOT NULL,
    address  TEXT NOT NULL,
    issued   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, start, address)
);
CREATE INDEX usage_addresses_start ON usage_addresses (start);

-- Each usage flush moves the last use of every key used since the previous one.
-- Room in each page lets PostgreSQL update those rows in place (HOT: no new index
-- entries), which makes that statement several times cheaper; pages written from
-- now on keep it.
ALTER TABLE api_keys SET (fillfactor = 80);
