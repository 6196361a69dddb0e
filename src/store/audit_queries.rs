//! Writing the audit log, written once for both backends like the rest of
//! `queries.rs` (whose child module this is). Every management change calls
//! [`insert_audit`] in its own transaction: the audit event, the change feed's
//! row for other instances, and the webhook outbox are written with the change.

use super::{webhooks, Db, NOTIFY, SERIALIZE};
use crate::store::{AuditRecord, StoreResult};

pub(super) async fn insert_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    a: &AuditRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at_us, actor, actor_email, actor_ip, workspace_id, action, \
         target_type, target_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.at_us)
    .bind(&a.actor)
    .bind(&a.actor_email)
    .bind(&a.actor_ip)
    .bind(&a.workspace_id)
    .bind(a.action.as_str())
    .bind(a.action.target().as_str())
    .bind(&a.target_id)
    .bind(a.details.to_string())
    .execute(&mut *conn)
    .await?;
    webhooks::outbox(conn, a).await?;
    // Every audited change to a key, workspace or signing key is also a change other
    // instances must see ([`Action::announces_change`]).
    if a.action.announces_change() {
        announce(conn, a.action.target(), &a.target_id).await?;
    }
    Ok(())
}

/// Writes the change feed's row for `kind` `target`, in the caller's
/// transaction, for every instance to apply (and, on PostgreSQL, notifies them).
pub(super) async fn announce(
    conn: &mut <Db as sqlx::Database>::Connection,
    kind: crate::vocab::Target,
    target: &str,
) -> StoreResult<()> {
    if let Some(sql) = SERIALIZE {
        // Change ids must commit in order, or a reader could pass one by.
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    let at = crate::clock::wall_clock_millis();
    sqlx::query("INSERT INTO changes (at, kind, target) VALUES ($1, $2, $3)")
        .bind(at)
        .bind(kind.as_str())
        .bind(target)
        .execute(&mut *conn)
        .await?;
    if let Some(sql) = NOTIFY {
        sqlx::query(sql).bind(format!("{}:{target}", kind.as_str())).execute(&mut *conn).await?;
    }
    Ok(())
}
