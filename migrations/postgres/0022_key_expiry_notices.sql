-- Keys whose coming expiry was announced (the key.expiring webhook event), once
-- each: the row is the claim, so instances running the job at once cannot both
-- announce a key.
CREATE TABLE key_expiry_notices (
    key_id       TEXT PRIMARY KEY,
    announced_at BIGINT NOT NULL
);
