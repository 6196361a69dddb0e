-- One row that /readyz writes: "ready" means the database accepts writes, not
-- only reads (a full disk or a read-only replica answers reads but not writes).
CREATE TABLE readiness (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  BIGINT NOT NULL        -- unix milliseconds of the last successful probe
);
