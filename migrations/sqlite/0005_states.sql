-- States are closed sets: the database refuses any other value, as the code's
-- enums do (KeyStatus, SigningKeyState). `expired` is derived, never stored.
-- SQLite cannot add a CHECK constraint to an existing table: triggers refuse the
-- same values on insert and update.
CREATE TRIGGER api_keys_status_known_insert BEFORE INSERT ON api_keys
    WHEN NEW.status NOT IN ('active', 'inactive', 'revoked')
    BEGIN SELECT RAISE(ABORT, 'api_keys.status must be active, inactive or revoked'); END;
CREATE TRIGGER api_keys_status_known_update BEFORE UPDATE OF status ON api_keys
    WHEN NEW.status NOT IN ('active', 'inactive', 'revoked')
    BEGIN SELECT RAISE(ABORT, 'api_keys.status must be active, inactive or revoked'); END;
CREATE TRIGGER signing_keys_state_known_insert BEFORE INSERT ON signing_keys
    WHEN NEW.state NOT IN ('next', 'current', 'retired')
    BEGIN SELECT RAISE(ABORT, 'signing_keys.state must be next, current or retired'); END;
CREATE TRIGGER signing_keys_state_known_update BEFORE UPDATE OF state ON signing_keys
    WHEN NEW.state NOT IN ('next', 'current', 'retired')
    BEGIN SELECT RAISE(ABORT, 'signing_keys.state must be next, current or retired'); END;
