-- A private_key_jwt key's public keys may be published by the client at a URL
-- (RFC 7591 `jwks_uri`) instead of held here (`jwks`); one or the other.
ALTER TABLE api_keys ADD COLUMN jwks_uri TEXT;
