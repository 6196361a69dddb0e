-- Rotations whose grace period ran out while the old secret was still in use
-- (announced as key.grace_ended), once per key and grace end: the row is the
-- claim, so instances running the schedule at once announce it once.
CREATE TABLE key_grace_notices (
    key_id       TEXT NOT NULL,
    grace_end    BIGINT NOT NULL,
    announced_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, grace_end)
);
