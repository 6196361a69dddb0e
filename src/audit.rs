//! Reading the audit log. Events are written by the services, in the same
//! transaction as the change they record; they never hold a secret.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apikeys::{validate_filter, validate_instant as instant, validate_limit};
use crate::clock::rfc3339;
use crate::store::{AuditEntry, AuditFilter, Store};
use crate::usage::Usage;
use crate::vocab::{Actor, ManageError};

/// Filters of `GET /v1/audit` (newest first).
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only events of this workspace (platform admins; others always see their own).
    pub workspace_id: Option<String>,
    /// Only events about this key, workspace or signing key id.
    pub target_id: Option<String>,
    /// Only events by this actor (a key id, a person's id, `cli`, `bootstrap` or `system`).
    pub actor: Option<String>,
    /// Only this action, e.g. `key.revoke`.
    pub action: Option<String>,
    /// Only events from this client address, e.g. `203.0.113.7`.
    pub actor_ip: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Only events before this time (RFC 3339).
    pub to: Option<String>,
    /// 1-100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One audit event as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    /// A key id, a person's id (`p_...`), `cli`, `bootstrap` or `system`.
    pub actor: String,
    /// The person's email when a person acted (as it was then); `null` for a key.
    pub actor_email: Option<String>,
    pub actor_ip: Option<String>,
    pub workspace_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<&AuditEntry> for AuditEvent {
    fn from(r: &AuditEntry) -> Self {
        AuditEvent {
            id: r.id,
            at: rfc3339(r.at_us.div_euclid(1_000_000)),
            actor: r.actor.clone(),
            actor_email: r.actor_email.clone(),
            actor_ip: r.actor_ip.clone(),
            workspace_id: r.workspace_id.clone(),
            action: r.action.clone(),
            target_type: r.target_type.clone(),
            target_id: r.target_id.clone(),
            details: r.details.clone(),
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// The audit log reader.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn Store>,
    usage: Arc<Usage>,
}

impl Audit {
    /// `usage` holds the events gathered on the token path; reads flush it first.
    pub fn new(store: Arc<dyn Store>, usage: Arc<Usage>) -> Self {
        Audit { store, usage }
    }

    /// A page of events the caller may see (`keymint:audit:read`).
    pub async fn list(&self, actor: &Actor, query: &AuditQuery) -> Result<AuditPage, ManageError> {
        actor.require(crate::vocab::scope::ManagementScope::AuditRead)?;
        let limit = validate_limit(query.limit)?;
        let workspace_id =
            actor.read_scope(validate_filter("workspace_id", query.workspace_id.as_deref())?)?;
        let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let filter = AuditFilter {
            workspace_id,
            target_id: validate_filter("target_id", query.target_id.as_deref())?,
            actor: validate_filter("actor", query.actor.as_deref())?,
            action: validate_filter("action", query.action.as_deref())?,
            actor_ip: validate_filter("actor_ip", query.actor_ip.as_deref())?,
            from: instant_micros("from", query.from.as_deref())?,
            to: instant_micros("to", query.to.as_deref())?,
            before,
            limit: limit + 1,
        };
        self.usage.flush().await?;
        let mut rows = self.store.list_audit(&filter).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| format!("{}.{}", r.at_us, r.id))
        } else {
            None
        };
        Ok(AuditPage { data: rows.iter().map(Into::into).collect(), next_cursor })
    }
}

/// The position a cursor names: `at.id` of the last event of the previous page.
/// A time filter in unix microseconds, checked as every door's times are.
fn instant_micros(field: &str, value: Option<&str>) -> Result<Option<i64>, ManageError> {
    instant(field, value)?;
    Ok(value.filter(|v| !v.is_empty()).and_then(crate::clock::parse_rfc3339_micros))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64), crate::vocab::FieldError> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)))
        .ok_or_else(|| crate::vocab::FieldError {
            field: "cursor".into(),
            reason: "is not a cursor returned by this API".into(),
        })
}

/// Most events one export holds.
pub const EXPORT_MAX: usize = 10_000;

impl Audit {
    /// Every event the filters select, newest first, up to [`EXPORT_MAX`]: the
    /// rows of a CSV export.
    pub async fn export(
        &self,
        actor: &Actor,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, ManageError> {
        let mut query = AuditQuery { limit: Some(100), cursor: None, ..query.clone() };
        let mut events = Vec::new();
        loop {
            let page = self.list(actor, &query).await?;
            events.extend(page.data);
            match page.next_cursor {
                Some(next) if events.len() < EXPORT_MAX => query.cursor = Some(next),
                _ => break,
            }
        }
        events.truncate(EXPORT_MAX);
        Ok(events)
    }
}
