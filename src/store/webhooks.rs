//! What the store keeps of webhooks: endpoints, the outbox of events and their
//! deliveries, and every attempt.

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
