-- Each workspace's key policy (JSON: default expiry, maximum lifetime, whether
-- expiry may be edited, whether a scope is required, whether wildcard IP ranges
-- are allowed), checked by the domain on every create and edit. '{}' is no policy.
ALTER TABLE workspaces ADD COLUMN key_policy TEXT NOT NULL DEFAULT '{}';
