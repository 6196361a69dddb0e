-- States are closed sets: the database refuses any other value, as the code's
-- enums do (KeyStatus, SigningKeyState). `expired` is derived, never stored.
ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_status_known CHECK (status IN ('active', 'inactive', 'revoked'));
ALTER TABLE signing_keys
    ADD CONSTRAINT signing_keys_state_known CHECK (state IN ('next', 'current', 'retired'));
