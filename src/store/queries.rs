//! The queries, written once for both backends. `sqlite.rs` and `postgres.rs` each
//! compile this file as a module of their own, naming their store (`This`), its
//! database (`Db`) and what differs (`BACKEND`, `NOTIFY`, `SERIALIZE`); the SQL
//! is plain code, so rustfmt, clippy and editors read it.
//!
//! Both backends accept the same SQL here: `$N` placeholders, `RETURNING`,
//! `ON CONFLICT ... DO UPDATE`, BIGINT/INTEGER instants and JSON stored as text.

use super::{json_rows, Db, This, BACKEND, NOTIFY, SERIALIZE, SKIP_LOCKED};
use crate::store::sql::{unique_violation, AuditRow, SigningKeyRow, WorkspaceRow};
use crate::store::{
    AuditEntry, AuditFilter, AuditRecord, Change, DeviceDecision, DeviceGrantRecord, Fold,
    KeyFilter, KeyRecord, PersonRecord, RoleBindingRecord, SessionRecord, SigningKeyRecord, Store,
    StoreError, StoreResult, UsageRow, UsedJti, WorkspaceRecord,
};
use crate::store::{UsageBatch, UsageGroup, UsageQuery, WorkspaceSetting};
use crate::vocab::{Action, Target};

#[path = "audit_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod audit;
#[path = "guard_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod guards;
#[path = "key_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod keys;
#[path = "people_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod people;
#[path = "role_binding_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod role_bindings;
#[path = "session_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod sessions;
#[path = "usage_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod usage;
#[path = "webhook_queries.rs"]
#[expect(clippy::duplicate_mod, reason = "compiled once for each backend, as its parent is")]
mod webhooks;

use audit::insert_audit;
pub(super) use keys::prepare_key_loads;

async fn insert_signing_key_row(
    conn: &mut <Db as sqlx::Database>::Connection,
    k: &SigningKeyRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private, \
         master_key_id, created_at, activated_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&k.kid)
    .bind(k.alg.name())
    .bind(k.state.as_str())
    .bind(&k.public_jwk)
    .bind(&k.sealed_private)
    .bind(&k.master_key_id)
    .bind(k.created_at)
    .bind(k.activated_at)
    .bind(k.retired_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for This {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        // A write, not a read: a full disk or a read-only server is not ready.
        sqlx::query(
            "INSERT INTO readiness (id, at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(crate::clock::wall_clock_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close(&self) {
        self.close_pool().await
    }

    async fn insert_workspace(&self, ws: &WorkspaceRecord, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&ws.id)
            .bind(&ws.name)
            .bind(ws.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "a workspace with this name exists"))?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_workspace(&self, id: &str) -> StoreResult<WorkspaceRecord> {
        let row: WorkspaceRow =
            sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.into())
    }

    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<WorkspaceRecord>> {
        let row: Option<WorkspaceRow> =
            sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<WorkspaceRecord>> {
        let rows: Vec<WorkspaceRow> =
            sqlx::query_as("SELECT id, name, created_at FROM workspaces ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn rename_workspace(&self, id: &str, name: &str, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        let done = sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_violation(e, "a workspace with this name exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_workspace(
        &self,
        id: &str,
        force: bool,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        let (keys,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE workspace_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if keys > 0 && !force {
            return Err(StoreError::Conflict("the workspace still holds keys"));
        }
        let deleted: Vec<(String, String)> =
            sqlx::query_as("DELETE FROM api_keys WHERE workspace_id = $1 RETURNING id, name")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        for (key_id, name) in deleted {
            let event = AuditRecord {
                action: Action::KeyDelete,
                target_id: key_id,
                details: serde_json::json!({"name": name, "with_workspace": id}),
                ..audit.clone()
            };
            insert_audit(&mut tx, &event).await?;
        }
        let done =
            sqlx::query("DELETE FROM workspaces WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_key(&self, k: &KeyRecord, audit: &AuditRecord) -> StoreResult<()> {
        keys::insert_key(self, k, audit).await
    }

    async fn find_key(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        keys::find_key(self, id).await
    }

    async fn find_keys(&self, ids: &[String]) -> StoreResult<(Vec<KeyRecord>, i64)> {
        keys::find_keys(self, ids).await
    }

    async fn find_keys_by_lookup(&self, lookup: &str) -> StoreResult<Vec<String>> {
        keys::find_keys_by_lookup(self, lookup).await
    }

    async fn set_secret_lookup(&self, id: &str, lookup: &str) -> StoreResult<()> {
        keys::set_secret_lookup(self, id, lookup).await
    }

    async fn list_keys(&self, f: &KeyFilter) -> StoreResult<Vec<KeyRecord>> {
        keys::list_keys(self, f).await
    }

    async fn count_keys(&self, f: &KeyFilter) -> StoreResult<i64> {
        keys::count_keys(self, f).await
    }

    async fn update_key(&self, k: &KeyRecord, audit: &AuditRecord) -> StoreResult<()> {
        keys::update_key(self, k, audit).await
    }

    async fn delete_key(&self, id: &str, audit: &AuditRecord) -> StoreResult<()> {
        keys::delete_key(self, id, audit).await
    }

    async fn append_audit(&self, audit: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        insert_audit(&mut tx, audit).await?;
        Ok(tx.commit().await?)
    }

    async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut q = sqlx::QueryBuilder::<Db>::new(
            "SELECT id, at_us, actor, actor_email, actor_ip, workspace_id, action, target_type, \
             target_id, details FROM audit_log WHERE 1 = 1",
        );
        if let Some(ws) = &f.workspace_id {
            q.push(" AND workspace_id = ").push_bind(ws.clone());
        }
        if let Some(t) = &f.target_id {
            q.push(" AND target_id = ").push_bind(t.clone());
        }
        if let Some(a) = &f.actor {
            q.push(" AND actor = ").push_bind(a.clone());
        }
        if let Some(a) = &f.action {
            q.push(" AND action = ").push_bind(a.clone());
        }
        if let Some(ip) = &f.actor_ip {
            q.push(" AND actor_ip = ").push_bind(ip.clone());
        }
        if let Some(from) = f.from {
            q.push(" AND at_us >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND at_us < ").push_bind(to);
        }
        if let Some((at, id)) = f.before {
            q.push(" AND (at_us < ").push_bind(at);
            q.push(" OR (at_us = ").push_bind(at);
            q.push(" AND id < ").push_bind(id);
            q.push("))");
        }
        q.push(" ORDER BY at_us DESC, id DESC LIMIT ").push_bind(f.limit);
        let rows: Vec<AuditRow> = q.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, alg, state, public_jwk, sealed_private, master_key_id, \
             created_at, activated_at, retired_at FROM signing_keys \
             ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SigningKeyRecord::try_from).collect()
    }

    async fn insert_signing_key(
        &self,
        k: &SigningKeyRecord,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        insert_signing_key_row(&mut tx, k).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_signing_keys(
        &self,
        current: &str,
        next: &str,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tx().await?;
        let retired = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1 \
             WHERE kid = $2 AND state = 'current'",
        )
        .bind(at)
        .bind(current)
        .execute(&mut *tx)
        .await?;
        if retired.rows_affected() == 0 {
            return Ok(false);
        }
        let promoted = sqlx::query(
            "UPDATE signing_keys SET state = 'current', activated_at = $1 \
             WHERE kid = $2 AND state = 'next'",
        )
        .bind(at)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        if promoted.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn replace_current_signing_key(
        &self,
        old: &str,
        k: &SigningKeyRecord,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_tx().await?;
        let removed = sqlx::query("DELETE FROM signing_keys WHERE kid = $1 AND state = 'current'")
            .bind(old)
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        insert_signing_key_row(&mut tx, k).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_signing_key(&self, kid: &str, audit: &AuditRecord) -> StoreResult<bool> {
        let mut tx = self.begin_tx().await?;
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn reseal_signing_keys(
        &self,
        resealed: &[SigningKeyRecord],
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        for k in resealed {
            sqlx::query(
                "UPDATE signing_keys SET sealed_private = $1, master_key_id = $2 WHERE kid = $3",
            )
            .bind(&k.sealed_private)
            .bind(&k.master_key_id)
            .bind(&k.kid)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, at, kind, target FROM changes WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at, kind, target)| Change {
                id,
                at_millis: at,
                kind: Target::parse(&kind),
                target,
            })
            .collect())
    }

    async fn latest_change(&self) -> StoreResult<i64> {
        let (id,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(id) FROM changes").fetch_one(&self.pool).await?;
        Ok(id.unwrap_or(0))
    }

    async fn prune_changes(&self, before_millis: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM changes WHERE at < $1")
            .bind(before_millis)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn wait_for_change(&self, timeout: std::time::Duration) -> StoreResult<bool> {
        self.wait_for_notification(timeout).await
    }

    async fn revoke_token(
        &self,
        jti: &str,
        key_id: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, key_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(key_id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        audit::announce(&mut tx, Target::Token, jti).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoked_tokens(&self, now: i64, limit: i64) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= $1 \
             ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    async fn use_jtis(&self, ids: &[UsedJti]) -> StoreResult<Vec<bool>> {
        guards::use_jtis(self, ids).await
    }

    async fn purge_jtis(&self, before: i64) -> StoreResult<()> {
        guards::purge_jtis(self, before).await
    }

    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()> {
        usage::record_usage(self, batch).await
    }

    async fn fold_usage(&self, fold: Fold) -> StoreResult<bool> {
        usage::fold_usage(self, fold).await
    }

    async fn count_failures(
        &self,
        failures: &[(String, i64)],
        now: i64,
        window: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        guards::count_failures(self, failures, now, window).await
    }

    async fn purge_failures(&self, before: i64) -> StoreResult<()> {
        guards::purge_failures(self, before).await
    }

    async fn purge_usage(&self, hours_before: i64, days_before: i64) -> StoreResult<()> {
        usage::purge_usage(self, hours_before, days_before).await
    }

    async fn address_usage(&self, key_id: &str, from: i64) -> StoreResult<Vec<(String, i64)>> {
        usage::address_usage(self, key_id, from).await
    }

    async fn usage(&self, query: &UsageQuery, group: UsageGroup) -> StoreResult<Vec<UsageRow>> {
        usage::usage(self, query, group).await
    }

    async fn insert_role_binding(
        &self,
        binding: &RoleBindingRecord,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        role_bindings::insert(self, binding, audit).await
    }

    async fn list_role_bindings(&self) -> StoreResult<Vec<RoleBindingRecord>> {
        role_bindings::list(self).await
    }

    async fn delete_role_binding(&self, id: &str, audit: &AuditRecord) -> StoreResult<bool> {
        role_bindings::delete(self, id, audit).await
    }

    async fn workspace_setting(
        &self,
        workspace_id: &str,
        setting: WorkspaceSetting,
    ) -> StoreResult<String> {
        let sql = format!("SELECT {} FROM workspaces WHERE id = $1", setting.column());
        let (value,): (String,) =
            sqlx::query_as(&sql).bind(workspace_id).fetch_one(&self.pool).await?;
        Ok(value)
    }

    async fn set_workspace_setting(
        &self,
        workspace_id: &str,
        setting: WorkspaceSetting,
        value: &str,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        let sql = format!("UPDATE workspaces SET {} = $1 WHERE id = $2", setting.column());
        let done = sqlx::query(&sql).bind(value).bind(workspace_id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_session(
        &self,
        session: &SessionRecord,
        audit: &AuditRecord,
        idle_before: i64,
        created_before: i64,
    ) -> StoreResult<()> {
        sessions::insert(self, session, audit, idle_before, created_before).await
    }

    async fn find_session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        sessions::find(self, id_hash).await
    }

    async fn touch_session(&self, id_hash: &str, at: i64) -> StoreResult<()> {
        sessions::touch(self, id_hash, at).await
    }

    async fn delete_session(
        &self,
        id_hash: &str,
        audit: Option<&AuditRecord>,
    ) -> StoreResult<bool> {
        sessions::delete(self, id_hash, audit).await
    }

    async fn delete_person_sessions(
        &self,
        person_id: &str,
        audit: &AuditRecord,
    ) -> StoreResult<u64> {
        people::delete_sessions(self, person_id, audit).await
    }

    async fn record_person(&self, person: &PersonRecord) -> StoreResult<PersonRecord> {
        people::record(self, person).await
    }

    async fn find_person(&self, id: &str) -> StoreResult<Option<PersonRecord>> {
        people::find(self, id).await
    }

    async fn list_people(&self) -> StoreResult<Vec<PersonRecord>> {
        people::list(self).await
    }

    async fn insert_sso_login(
        &self,
        id_hash: &str,
        sealed: &[u8],
        at: i64,
        expired_before: i64,
    ) -> StoreResult<()> {
        people::insert_login(self, id_hash, sealed, at, expired_before).await
    }

    async fn take_sso_login(&self, id_hash: &str) -> StoreResult<Option<(Vec<u8>, i64)>> {
        people::take_login(self, id_hash).await
    }

    async fn insert_device_grant(&self, grant: &DeviceGrantRecord, now: i64) -> StoreResult<()> {
        people::insert_device(self, grant, now).await
    }

    async fn find_device_grant(&self, user_code: &str) -> StoreResult<Option<DeviceGrantRecord>> {
        people::find_device(self, user_code).await
    }

    async fn decide_device_grant(
        &self,
        user_code: &str,
        decision: DeviceDecision,
        person_id: &str,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        people::decide_device(self, user_code, decision, person_id, audit).await
    }

    async fn poll_device_grant(
        &self,
        device_hash: &str,
        at: i64,
    ) -> StoreResult<Option<DeviceGrantRecord>> {
        people::poll_device(self, device_hash, at).await
    }

    async fn delete_device_grant(&self, device_hash: &str) -> StoreResult<bool> {
        people::delete_device(self, device_hash).await
    }

    async fn put_reveal(
        &self,
        id_hash: &str,
        key_id: &str,
        sealed: &[u8],
        at: i64,
    ) -> StoreResult<()> {
        sessions::put_reveal(self, id_hash, key_id, sealed, at).await
    }

    async fn take_reveal(&self, id_hash: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
        sessions::take_reveal(self, id_hash).await
    }
}
