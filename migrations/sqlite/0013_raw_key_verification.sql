-- Raw-key verification: an imported secret carries no key id, so it is found by a
-- keyed hash of its value (HMAC-SHA256 under a key derived from the master key,
-- never a plain hash). `previous_secret_lookup` keeps the pre-rotation secret
-- findable during its grace period; a stale entry is harmless, as the secret is
-- then verified against the key's stored hashes.
ALTER TABLE api_keys ADD COLUMN secret_lookup TEXT;
ALTER TABLE api_keys ADD COLUMN previous_secret_lookup TEXT;
CREATE INDEX api_keys_secret_lookup ON api_keys (secret_lookup);
CREATE INDEX api_keys_previous_secret_lookup ON api_keys (previous_secret_lookup);

-- Raw keys verified at introspection, per key and bucket: which keys still call
-- the old way.
ALTER TABLE usage_hours ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_days ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
