-- What a key adds to its tokens and who it belongs to.
-- claims: a JSON object copied into every token the key gets (at most 2 KB;
--   registered JWT claims and keymint's own are refused by the code).
ALTER TABLE api_keys ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';
-- owner: an external id (the customer or team the key belongs to), searchable.
ALTER TABLE api_keys ADD COLUMN owner TEXT;
-- federated_credentials: a JSON array of {issuer, subject, audiences}: the
--   platform tokens (Kubernetes, CI, any OpenID issuer) that may act as the key.
ALTER TABLE api_keys ADD COLUMN federated_credentials TEXT NOT NULL DEFAULT '[]';
CREATE INDEX api_keys_owner ON api_keys (owner);
-- Tokens issued by token exchange (delegation, workload federation), counted
-- apart from client-credentials exchanges.
ALTER TABLE usage_hours ADD COLUMN exchanged BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_days ADD COLUMN exchanged BIGINT NOT NULL DEFAULT 0;
