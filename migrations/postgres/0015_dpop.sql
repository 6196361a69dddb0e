-- DPoP (RFC 9449): a key that must bind its tokens to a key of its own (1) or may
-- (0). Proofs' `jti`s use `used_jtis`.
ALTER TABLE api_keys ADD COLUMN dpop_bound_access_tokens BIGINT NOT NULL DEFAULT 0;
