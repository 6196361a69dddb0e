-- Which releases may run on this schema, for rolling upgrades and roll-backs.
-- From this migration on, each one records here whether it only adds to the schema
-- (expand: a release that ran before it still runs after it) or removes or changes
-- what earlier releases read and write (contract). A keymint that finds migrations
-- newer than its own starts only if every one of them is an expand.
CREATE TABLE schema_compatibility (
    version BIGINT PRIMARY KEY,
    expand BOOLEAN NOT NULL
);

INSERT INTO schema_compatibility (version, expand) VALUES (26, TRUE);
