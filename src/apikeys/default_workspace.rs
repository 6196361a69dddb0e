//! The `default` workspace: where a key goes when its create names no workspace
//! and its creator has none of its own (the local CLI, the first platform-admin
//! key). Made the first time it is needed, by whichever door needs it.

use serde_json::json;

use super::secret::random_base62;
use crate::clock::Clock;
use crate::store::{AuditRecord, Store, StoreError, WorkspaceRecord};
use crate::vocab::{Action, Actor, ManageError};

/// Its name.
pub const DEFAULT_WORKSPACE: &str = "default";

/// The default workspace, if it exists yet.
pub async fn find(store: &dyn Store) -> Result<Option<WorkspaceRecord>, ManageError> {
    Ok(store.find_workspace_by_name(DEFAULT_WORKSPACE).await?)
}

/// The default workspace, created (and audited, by `system`) if missing.
pub async fn ensure(store: &dyn Store, clock: &dyn Clock) -> Result<WorkspaceRecord, ManageError> {
    if let Some(ws) = find(store).await? {
        return Ok(ws);
    }
    let ws = WorkspaceRecord {
        id: format!("ws_{}", random_base62(12)),
        name: DEFAULT_WORKSPACE.into(),
        created_at: clock.now(),
    };
    let system = Actor { id: "system".into(), ..Actor::cli() };
    let details = json!({"name": ws.name});
    let at_us = clock.now_micros();
    let audit =
        AuditRecord::by(&system, at_us, Action::WorkspaceCreate, &ws.id, Some(&ws.id), details);
    match store.insert_workspace(&ws, &audit).await {
        Ok(()) => Ok(ws),
        // Created concurrently by another instance.
        Err(StoreError::Conflict(_)) => {
            find(store).await?.ok_or(ManageError::NotFound("workspace"))
        }
        Err(e) => Err(e.into()),
    }
}
