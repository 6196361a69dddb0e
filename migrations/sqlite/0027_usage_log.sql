-- Usage that scales with the fleet, not with the keys: each instance's flush only
-- appends to the usage log (no index, no row anyone else writes), and one instance
-- at a time folds the log into the hourly rows, client addresses and keys' last
-- uses, at most once a minute across the fleet however many instances append.

-- One row per key and hour per flush: the counters, and the key's last use (and
-- uses of its pre-rotation secret) on one of its rows. An empty workspace_id: the
-- id was counted without its key (a refusal), and takes its key's when folded.
CREATE TABLE usage_log (
    key_id               TEXT NOT NULL,
    workspace_id         TEXT NOT NULL,
    start                BIGINT NOT NULL,
    issued               INTEGER NOT NULL,
    failed               INTEGER NOT NULL,
    wrong_secret         INTEGER NOT NULL,
    address_not_allowed  INTEGER NOT NULL,
    scope_refused        INTEGER NOT NULL,
    key_inactive         INTEGER NOT NULL,
    throttled            INTEGER NOT NULL,
    verified             INTEGER NOT NULL,
    exchanged            INTEGER NOT NULL,
    last_used_at         BIGINT,
    last_used_ip         TEXT,
    previous_count       INTEGER NOT NULL,
    previous_at          BIGINT,
    previous_ip          TEXT
);

-- Tokens per key, day and client address, as flushed.
CREATE TABLE usage_address_log (
    key_id   TEXT NOT NULL,
    start    BIGINT NOT NULL,
    address  TEXT NOT NULL,
    issued   INTEGER NOT NULL
);

-- Each key's last use, as folds find it: apart from api_keys, so a fold never
-- touches (or waits for) a key row an admin is changing. A key's last use is the
-- later of this and api_keys.last_used_at (which releases before this one write).
CREATE TABLE key_uses (
    key_id   TEXT PRIMARY KEY,
    used_at  BIGINT NOT NULL,
    used_ip  TEXT
);
INSERT INTO key_uses (key_id, used_at, used_ip)
SELECT id, last_used_at, last_used_ip FROM api_keys WHERE last_used_at IS NOT NULL;

-- Uses of pre-rotation secrets folded out of the log and not yet added to their
-- keys (few: only keys in a rotation's grace): a fold adds them to api_keys in
-- small transactions of their own, so an admin's change to a key never waits for
-- a whole fold.
CREATE TABLE usage_previous_uses (
    key_id          TEXT PRIMARY KEY,
    previous_count  BIGINT NOT NULL,
    previous_at     BIGINT NOT NULL,
    previous_ip     TEXT
);

-- When the log was last folded (one row): what instances read to fold no more
-- often than once a minute, and the lock that lets one fold at a time.
CREATE TABLE usage_folds (
    id         INTEGER PRIMARY KEY,
    folded_at  BIGINT NOT NULL
);
INSERT INTO usage_folds (id, folded_at) VALUES (1, 0);

INSERT INTO schema_compatibility (version, expand) VALUES (27, TRUE);
