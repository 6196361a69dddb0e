-- During a rotation's grace, how the old secret is still used: how often and from
-- where (its last use is `previous_last_used_at`), so an admin can see every
-- caller has moved before ending the grace. Reset by each rotation.
ALTER TABLE api_keys ADD COLUMN previous_use_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN previous_last_used_ip TEXT;
