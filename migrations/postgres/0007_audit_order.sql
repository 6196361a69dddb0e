-- The audit log is read in the order events happened (`at`, then `id`), not the
-- order they were written: events of the token path (`token.refused`) are written
-- in batches, after changes that happened later.
CREATE INDEX audit_log_time ON audit_log (at, id);
CREATE INDEX audit_log_target_time ON audit_log (target_id, at, id);
CREATE INDEX audit_log_workspace_time ON audit_log (workspace_id, at, id);
DROP INDEX audit_log_target;
DROP INDEX audit_log_workspace;
