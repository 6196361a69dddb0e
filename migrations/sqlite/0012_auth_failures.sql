-- Failed client authentications per key id or client address and window. One
-- SQLite file serves one host, whose processes count in memory; the table keeps
-- the schema the same as PostgreSQL's.
CREATE TABLE auth_failures (
    subject       TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    failures      BIGINT NOT NULL
);
