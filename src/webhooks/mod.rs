//! Webhooks (docs/webhooks.md): endpoints that receive keymint's events, signed
//! as Standard Webhooks says (`sign`). Events are written to an outbox in the
//! transaction of the change they announce (`store::webhook_queries::outbox`)
//! and sent by `dispatch`, one instance per delivery, with retries.
//!
//! An endpoint belongs to one workspace (its events only) or, for a platform
//! admin, to every one (`workspace_id` null). Managing endpoints takes
//! `keymint:keys:write` in the workspace; reading them `keymint:keys:read`.

pub mod dispatch;
pub mod sign;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::apikeys::jwks_uri::check_uri;
use crate::apikeys::workspace_id_form;
use crate::clock::{rfc3339, Clock};
use crate::signing::Keyring;
use crate::store::{
    AuditRecord, DeliveryRecord, Store, StoreError, WebhookEventRecord, WebhookRecord,
};
use crate::vocab::base62::random_base62;
use crate::vocab::scope::ManagementScope;
use crate::vocab::{invalid, Action, Actor, ManageError};

/// The event types an endpoint may subscribe to (`*`: every one).
pub const EVENT_TYPES: [&str; 12] = [
    "key.created",
    "key.updated",
    "key.rotated",
    "key.grace_ended",
    "key.activated",
    "key.deactivated",
    "key.revoked",
    "key.deleted",
    "key.expiring",
    "key.leaked",
    "signing_key.rotated",
    "webhook.test",
];

/// How long a rotated secret keeps signing beside the new one by default.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;
/// Most endpoints per workspace.
const MAX_ENDPOINTS: usize = 20;

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where events are POSTed: https (private and loopback addresses are
    /// refused unless the operator allows them).
    #[schema(example = "https://hooks.example.com/keymint", max_length = 2000)]
    pub url: String,
    /// Event types (`key.created`, `key.revoked`, ...), or `["*"]` for all.
    #[schema(example = json!(["key.created", "key.revoked"]))]
    pub events: Vec<String>,
    /// The workspace whose events it receives; null or absent: the caller's own,
    /// or every workspace for a platform admin who says `"*"`.
    pub workspace_id: Option<String>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// The body of `PATCH /v1/webhooks/{id}`: what changes.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// The body of `POST /v1/webhooks/{id}/rotate`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// How long the old secret keeps signing beside the new one, in seconds
    /// (0-604800, default 86400).
    #[schema(minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<i64>,
}

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: String,
    /// `null`: every workspace.
    pub workspace_id: Option<String>,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    /// Since when deliveries give up (after a day of retries); `null` when healthy.
    pub failing_since: Option<String>,
    /// Until when the previous secret signs beside the current one.
    pub previous_secret_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&WebhookRecord> for WebhookView {
    fn from(w: &WebhookRecord) -> Self {
        WebhookView {
            id: w.id.clone(),
            workspace_id: w.workspace_id.clone(),
            url: w.url.clone(),
            description: w.description.clone(),
            events: w.events.clone(),
            failing_since: w.failing_since.map(rfc3339),
            previous_secret_until: w.previous_until.map(rfc3339),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

/// An endpoint with its new signing secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_...`: verify deliveries with it (Standard Webhooks). Shown once.
    pub secret: String,
}

/// One attempt to deliver.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub at: String,
    /// The endpoint's HTTP status; `null` when it did not answer.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// The start of its answer, or why there was none.
    pub excerpt: String,
}

/// A delivery of one event to the endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id` it is sent with.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    /// Newest first.
    pub tries: Vec<AttemptView>,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            state: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.state == "pending").then(|| rfc3339(d.next_attempt_at)),
            created_at: rfc3339(d.created_at),
            tries: d
                .tries
                .iter()
                .map(|t| AttemptView {
                    at: rfc3339(t.at),
                    status: t.status,
                    latency_ms: t.latency_ms,
                    excerpt: t.excerpt.clone(),
                })
                .collect(),
        }
    }
}

/// The webhook service, shared by `/v1/webhooks`, the CLI and the console.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
    allow_private: bool,
}

fn sealing_context(id: &str) -> String {
    format!("webhook secret {id}")
}

fn check_url(url: &str, allow_private: bool) -> Result<(), ManageError> {
    check_uri(url, allow_private).map_err(|why| {
        let why = why.replace("--allow-private-jwks-uri", "--allow-private-webhook-urls");
        invalid("url", why).into()
    })
}

fn check_events(events: &[String]) -> Result<Vec<String>, ManageError> {
    if events.is_empty() {
        return Err(invalid("events", "name at least one event type, or \"*\" for all").into());
    }
    let mut kept: Vec<String> = Vec::new();
    for e in events {
        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
            return Err(invalid(
                "events",
                format!("{e:?} is not an event type; use {} or \"*\"", EVENT_TYPES.join(", ")),
            )
            .into());
        }
        if !kept.contains(e) {
            kept.push(e.clone());
        }
    }
    Ok(kept)
}

fn check_description(text: Option<String>) -> Result<String, ManageError> {
    let text = text.unwrap_or_default();
    if text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(invalid("description", "at most 500 characters, no control characters").into());
    }
    Ok(text)
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        allow_private: bool,
    ) -> Self {
        Webhooks { store, keyring, clock, allow_private }
    }

    /// Creates an endpoint; its secret is in the answer, and only there.
    pub async fn create(
        &self,
        actor: &Actor,
        input: WebhookInput,
    ) -> Result<WebhookWithSecret, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let workspace_id = match input.workspace_id.as_deref() {
            Some("*") => {
                actor.require(ManagementScope::WorkspacesAdmin)?;
                None
            }
            Some(ws) if !workspace_id_form(ws) || !actor.reaches(ws) => {
                return Err(ManageError::NotFound("workspace"))
            }
            Some(ws) => Some(ws.to_string()),
            None => match &actor.workspace_id {
                Some(ws) => Some(ws.clone()),
                None => {
                    return Err(invalid(
                        "workspace_id",
                        "name a workspace, or \"*\" for every workspace",
                    )
                    .into())
                }
            },
        };
        check_url(&input.url, self.allow_private)?;
        let events = check_events(&input.events)?;
        let description = check_description(input.description)?;
        let existing = self.store.webhooks(workspace_id.as_deref()).await?;
        if existing.iter().filter(|w| w.workspace_id == workspace_id).count() >= MAX_ENDPOINTS {
            return Err(ManageError::Conflict(format!(
                "a workspace has at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        let id = format!("wh_{}", random_base62(16));
        let secret = sign::new_secret();
        let now = self.clock.now();
        let record = WebhookRecord {
            sealed_secret: self.seal(&id, &secret)?,
            id,
            workspace_id,
            url: input.url,
            description,
            events,
            sealed_previous: None,
            previous_until: None,
            master_key_id: self.keyring.master_key_id().to_string(),
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(actor, &record, Action::WebhookCreate);
        self.store.insert_webhook(&record, &audit).await.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("workspace"),
            e => e.into(),
        })?;
        Ok(WebhookWithSecret { webhook: WebhookView::from(&record), secret })
    }

    /// The endpoints the caller reaches: of `workspace_id`, or all it reaches.
    pub async fn list(
        &self,
        actor: &Actor,
        workspace_id: Option<String>,
    ) -> Result<Vec<WebhookView>, ManageError> {
        require_read(actor)?;
        if workspace_id.as_deref().is_some_and(|ws| !workspace_id_form(ws)) {
            return Err(ManageError::NotFound("workspace"));
        }
        let scope = actor.read_scope(workspace_id)?;
        let all = self.store.webhooks(scope.as_deref()).await?;
        Ok(all.iter().filter(|w| reaches(actor, w)).map(WebhookView::from).collect())
    }

    pub async fn get(&self, actor: &Actor, id: &str) -> Result<WebhookView, ManageError> {
        require_read(actor)?;
        Ok(WebhookView::from(&self.load(actor, id).await?))
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        change: WebhookChange,
    ) -> Result<WebhookView, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let mut record = self.load(actor, id).await?;
        if let Some(url) = change.url {
            check_url(&url, self.allow_private)?;
            record.url = url;
        }
        if let Some(events) = change.events {
            record.events = check_events(&events)?;
        }
        if change.description.is_some() {
            record.description = check_description(change.description)?;
        }
        record.updated_at = self.clock.now();
        let audit = self.audit(actor, &record, Action::WebhookUpdate);
        self.write(&record, &audit).await?;
        Ok(WebhookView::from(&record))
    }

    /// A new signing secret; the old one signs beside it for `overlap_seconds`.
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &str,
        input: RotateInput,
    ) -> Result<WebhookWithSecret, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let overlap = input.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
        if !(0..=7 * 24 * 3600).contains(&overlap) {
            return Err(invalid("overlap_seconds", "must be 0 to 604800 (a week)").into());
        }
        let mut record = self.load(actor, id).await?;
        let now = self.clock.now();
        let secret = sign::new_secret();
        record.sealed_previous = (overlap > 0).then(|| record.sealed_secret.clone());
        record.previous_until = (overlap > 0).then_some(now + overlap);
        record.sealed_secret = self.seal(&record.id, &secret)?;
        record.updated_at = now;
        let audit = self.audit(actor, &record, Action::WebhookRotate);
        self.write(&record, &audit).await?;
        Ok(WebhookWithSecret { webhook: WebhookView::from(&record), secret })
    }

    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let record = self.load(actor, id).await?;
        let audit = self.audit(actor, &record, Action::WebhookDelete);
        if self.store.delete_webhook(id, &audit).await? {
            Ok(())
        } else {
            Err(ManageError::NotFound("webhook"))
        }
    }

    /// Sends a `webhook.test` event to this endpoint only; the delivery.
    pub async fn test(&self, actor: &Actor, id: &str) -> Result<DeliveryView, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let record = self.load(actor, id).await?;
        let at = self.clock.now();
        let event = WebhookEventRecord {
            id: format!("msg_{}", random_base62(24)),
            kind: "webhook.test".into(),
            workspace_id: record.workspace_id.clone(),
            at,
            body: json!({"type": "webhook.test", "timestamp": rfc3339(at),
                "data": {"webhook_id": record.id, "requested_by": actor.id}})
            .to_string(),
        };
        let delivery = self.store.enqueue_webhook_event(&record.id, &event).await?;
        self.delivery(id, delivery).await
    }

    /// The latest deliveries of an endpoint (at most `limit`, 1-100), newest first.
    pub async fn deliveries(
        &self,
        actor: &Actor,
        id: &str,
        limit: Option<i64>,
    ) -> Result<Vec<DeliveryView>, ManageError> {
        require_read(actor)?;
        let limit = limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(invalid("limit", "must be 1 to 100").into());
        }
        self.load(actor, id).await?;
        let list = self.store.webhook_deliveries(id, limit).await?;
        Ok(list.iter().map(DeliveryView::from).collect())
    }

    /// Sends the event of delivery `delivery_id` again, as a new delivery.
    pub async fn resend(
        &self,
        actor: &Actor,
        id: &str,
        delivery_id: i64,
    ) -> Result<DeliveryView, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        self.load(actor, id).await?;
        let now = self.clock.now();
        let delivery = self
            .store
            .resend_webhook_delivery(id, delivery_id, now)
            .await?
            .ok_or(ManageError::NotFound("delivery"))?;
        self.delivery(id, delivery).await
    }

    async fn delivery(&self, id: &str, delivery: i64) -> Result<DeliveryView, ManageError> {
        let list = self.store.webhook_deliveries(id, 100).await?;
        list.iter()
            .find(|d| d.id == delivery)
            .map(DeliveryView::from)
            .ok_or(ManageError::NotFound("delivery"))
    }

    /// The endpoint `id`, if the caller reaches it (else not found, as elsewhere).
    async fn load(&self, actor: &Actor, id: &str) -> Result<WebhookRecord, ManageError> {
        // Only an id of keymint's own form reaches the database.
        let well_formed = id.strip_prefix("wh_").is_some_and(|rest| {
            rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !well_formed {
            return Err(ManageError::NotFound("webhook"));
        }
        match self.store.webhook(id).await? {
            Some(w) if reaches(actor, &w) => Ok(w),
            _ => Err(ManageError::NotFound("webhook")),
        }
    }

    async fn write(&self, record: &WebhookRecord, audit: &AuditRecord) -> Result<(), ManageError> {
        self.store.update_webhook(record, audit).await.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("webhook"),
            e => e.into(),
        })
    }

    fn seal(&self, id: &str, secret: &str) -> Result<Vec<u8>, ManageError> {
        self.keyring
            .seal(&sealing_context(id), secret.as_bytes())
            .map_err(|e| ManageError::Internal(Box::new(e)))
    }

    fn audit(&self, actor: &Actor, w: &WebhookRecord, action: Action) -> AuditRecord {
        AuditRecord::by(
            actor,
            self.clock.now_micros(),
            action,
            &w.id,
            w.workspace_id.as_deref(),
            json!({"url": w.url, "events": w.events}),
        )
    }
}

/// The secrets an endpoint signs with at `now`: the current one, and the one
/// before while its overlap lasts.
pub fn secrets_of(keyring: &Keyring, w: &WebhookRecord, now: i64) -> Vec<String> {
    let context = sealing_context(&w.id);
    let open =
        |sealed: &[u8]| keyring.open(&context, sealed).and_then(|b| String::from_utf8(b).ok());
    let mut secrets: Vec<String> = open(&w.sealed_secret).into_iter().collect();
    if let (Some(previous), Some(until)) = (&w.sealed_previous, w.previous_until) {
        if now < until {
            secrets.extend(open(previous));
        }
    }
    secrets
}

fn require_read(actor: &Actor) -> Result<(), ManageError> {
    actor.require(ManagementScope::KeysRead).or_else(|_| actor.require(ManagementScope::KeysWrite))
}

/// Whether the caller reaches an endpoint: its workspace, or (for every
/// workspace's endpoints) only a platform admin.
fn reaches(actor: &Actor, w: &WebhookRecord) -> bool {
    match &w.workspace_id {
        Some(ws) => actor.reaches(ws),
        None => actor.holds(ManagementScope::WorkspacesAdmin),
    }
}
