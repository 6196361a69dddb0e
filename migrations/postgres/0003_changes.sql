-- The change feed: one row per committed change that other instances must see
-- (keys, workspaces, signing keys). Instances read it to invalidate their caches;
-- PostgreSQL also announces each row with NOTIFY. Old rows are pruned.
CREATE TABLE changes (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,       -- unix milliseconds, for the feed's lag
    kind    TEXT NOT NULL,         -- key | workspace | signing_key
    target  TEXT NOT NULL          -- the id that changed
);

-- At most one key waits to sign, even when instances rotate together.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';
