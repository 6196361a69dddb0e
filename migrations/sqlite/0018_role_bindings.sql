-- Role bindings: the rights people who sign in through the identity provider
-- get. A binding gives `role` to `subject` (group:<name> or email:<address>) in
-- one workspace, or in all (workspace_id NULL, platform admins only). A
-- workspace's bindings go with it.
CREATE TABLE role_bindings (
    id            TEXT PRIMARY KEY,          -- "rb_..."
    subject       TEXT NOT NULL,
    workspace_id  TEXT REFERENCES workspaces (id) ON DELETE CASCADE,
    role          TEXT NOT NULL
                  CHECK (role IN ('platform-admin', 'workspace-admin', 'read-only')),
    created_at_us INTEGER NOT NULL,   -- unix microseconds: listed in the order made
    created_by    TEXT NOT NULL
);
-- One binding per subject, workspace and role.
CREATE UNIQUE INDEX role_bindings_once
    ON role_bindings (subject, COALESCE(workspace_id, ''), role);
