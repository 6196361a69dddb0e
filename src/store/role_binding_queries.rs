//! The role binding queries, written once for both backends like the rest of
//! `queries.rs` (whose child module this is).

use super::{insert_audit, This};
use crate::store::sql::RoleBindingRow;
use crate::store::{AuditRecord, RoleBindingRecord, StoreError, StoreResult};

pub(super) async fn insert(
    this: &This,
    b: &RoleBindingRecord,
    audit: &AuditRecord,
) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    let inserted = sqlx::query(
        "INSERT INTO role_bindings (id, subject, workspace_id, role, created_at_us, created_by) \
         SELECT $1, $2, $3, $4, $5, $6 \
         WHERE $3 IS NULL OR EXISTS (SELECT 1 FROM workspaces WHERE id = $3)",
    )
    .bind(&b.id)
    .bind(b.subject.to_string())
    .bind(&b.workspace_id)
    .bind(b.role.as_str())
    .bind(b.created_at_us)
    .bind(&b.created_by)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        crate::store::sql::unique_violation(e, "this subject already has this role there")
    })?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn list(this: &This) -> StoreResult<Vec<RoleBindingRecord>> {
    let rows: Vec<RoleBindingRow> = sqlx::query_as(
        "SELECT id, subject, workspace_id, role, created_at_us, created_by FROM role_bindings \
         ORDER BY created_at_us, id",
    )
    .fetch_all(&this.pool)
    .await?;
    rows.into_iter().map(RoleBindingRecord::try_from).collect()
}

pub(super) async fn delete(this: &This, id: &str, audit: &AuditRecord) -> StoreResult<bool> {
    let mut tx = this.begin_tx().await?;
    let done =
        sqlx::query("DELETE FROM role_bindings WHERE id = $1").bind(id).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}
