-- Each workspace's scope catalog (JSON: the resources its APIs understand, with
-- their actions), from which the console offers scopes and the domain flags the
-- ones outside it. '{}' is no catalog.
ALTER TABLE workspaces ADD COLUMN scope_catalog TEXT NOT NULL DEFAULT '{}';
