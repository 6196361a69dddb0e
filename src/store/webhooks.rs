//! What the store keeps of webhooks: endpoints, the outbox of events and their
//! deliveries, and every attempt; and `WebhookStore`, the half of the store
//! trait that reads and writes them (and the once-only notices of expiring keys
//! and lapsed grace periods, which feed the outbox).

use async_trait::async_trait;

use super::{AuditRecord, KeyRecord, StoreResult};

/// A webhook endpoint. Its secrets are sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    /// `None`: events of every workspace (a platform admin's endpoint).
    pub workspace_id: Option<String>,
    pub url: String,
    pub description: String,
    /// Event types, or `*` for every one.
    pub events: Vec<String>,
    pub sealed_secret: Vec<u8>,
    /// The secret before the last rotation, signing beside the new one until
    /// `previous_until`.
    pub sealed_previous: Option<Vec<u8>>,
    pub previous_until: Option<i64>,
    pub master_key_id: String,
    /// When a delivery last gave up, until one succeeds again.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WebhookRecord {
    /// Whether the endpoint wants events of type `kind` from `workspace_id`.
    pub fn wants(&self, kind: &str, workspace_id: Option<&str>) -> bool {
        let workspace = self.workspace_id.is_none() || self.workspace_id.as_deref() == workspace_id;
        workspace && self.events.iter().any(|e| e == "*" || e == kind)
    }
}

/// An event of the outbox, as it is sent (`body` is `{type, timestamp, data}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEventRecord {
    /// `msg_...`, the `webhook-id` header.
    pub id: String,
    pub kind: String,
    pub workspace_id: Option<String>,
    pub at: i64,
    pub body: String,
}

/// A delivery that is due, claimed by this instance until its lease ends, with
/// what sending it needs.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub attempts: i64,
    pub event_id: String,
    pub body: String,
    pub endpoint: WebhookRecord,
}

/// How an attempt ended, and what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub delivery_id: i64,
    pub endpoint_id: String,
    pub at: i64,
    /// The HTTP status, when there was an answer.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// The start of the answer, or why there was none.
    pub excerpt: String,
    pub next: NextStep,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(i64),
    /// The last attempt failed: the delivery failed, the endpoint is failing.
    GiveUp,
}

/// A delivery as the endpoint's page lists it, newest attempt first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub tries: Vec<AttemptRecord>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub excerpt: String,
}

/// Webhooks: endpoints, the outbox and deliveries (`webhook_queries.rs`).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint (`NotFound` when its workspace does not exist).
    async fn insert_webhook(&self, w: &WebhookRecord, audit: &AuditRecord) -> StoreResult<()>;
    /// The endpoints of `workspace_id`, or every one.
    async fn webhooks(&self, workspace_id: Option<&str>) -> StoreResult<Vec<WebhookRecord>>;
    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>>;
    async fn update_webhook(&self, w: &WebhookRecord, audit: &AuditRecord) -> StoreResult<()>;
    /// Removes an endpoint with its deliveries; false when there was none.
    async fn delete_webhook(&self, id: &str, audit: &AuditRecord) -> StoreResult<bool>;
    /// An event for one endpoint only (a test event); the delivery's id.
    async fn enqueue_webhook_event(
        &self,
        endpoint_id: &str,
        event: &WebhookEventRecord,
    ) -> StoreResult<i64>;
    /// A new delivery of the event of `delivery_id`, due at `now`.
    async fn resend_webhook_delivery(
        &self,
        endpoint_id: &str,
        delivery_id: i64,
        now: i64,
    ) -> StoreResult<Option<i64>>;
    /// Due deliveries, leased to this instance until `lease_until`.
    async fn claim_webhook_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<DueDelivery>>;
    async fn finish_webhook_attempt(&self, outcome: &AttemptOutcome) -> StoreResult<()>;
    /// Active keys expiring after `now` and by `until` whose coming expiry was
    /// not announced yet (at most `limit`).
    async fn keys_expiring_unannounced(
        &self,
        now: i64,
        until: i64,
        limit: i64,
    ) -> StoreResult<Vec<KeyRecord>>;
    /// Claims the announcement of key `key_id`'s expiry and records `audit` (the
    /// `key.expiring` event) with it: false when it was announced already.
    async fn announce_expiry(&self, key_id: &str, audit: &AuditRecord) -> StoreResult<bool>;
    /// Active keys whose rotation grace ended after `since` and by `now` while
    /// the old secret was used in its last `window` seconds, not yet announced.
    async fn keys_grace_lapsed_in_use(
        &self,
        since: i64,
        now: i64,
        window: i64,
    ) -> StoreResult<Vec<KeyRecord>>;
    /// Claims the announcement of key `key_id`'s grace ending at `grace_end` and
    /// records `audit` with it: false when it was announced already.
    async fn announce_grace_lapse(
        &self,
        key_id: &str,
        grace_end: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// The latest deliveries of an endpoint, newest first, with their attempts.
    async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>>;
}
