-- Failed client authentications per key id or client address and window, shared
-- by every instance, so N instances allow the configured attempts, not N times
-- them. Unlogged: losing the counts in a crash only restarts the windows.
CREATE UNLOGGED TABLE auth_failures (
    subject       TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    failures      BIGINT NOT NULL
);
