//! Sends the outbox's deliveries. Every instance runs a dispatcher; each due
//! delivery is claimed by one of them (a lease, taken with `SKIP LOCKED` on
//! PostgreSQL) and sent with the endpoint's secrets, the outbound guards of
//! `jwks_uri` (https; public addresses only unless the operator allows private
//! ones; no redirects) and a 10-second limit, on tasks of their own: a slow or
//! dead endpoint never holds up the token path or `/v1`.
//!
//! A delivery that fails is tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h
//! and 10 h (Standard Webhooks' schedule, with ±10 % jitter): eight attempts over
//! more than a day. Then it has failed, and the endpoint is marked failing until a
//! delivery to it succeeds. A crash mid-send leaves the lease to expire: another
//! instance sends it again with the same `webhook-id`, so receivers deduplicate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{wall_clock_millis, Clock};
use crate::signing::Keyring;
use crate::store::{AttemptOutcome, DueDelivery, NextStep, Store};

/// How often each instance looks for due deliveries.
pub const TICK: Duration = Duration::from_millis(500);
/// How long a claimed delivery is this instance's to send.
pub const LEASE_SECONDS: i64 = 60;
/// The longest one attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Most deliveries claimed at once.
const BATCH: i64 = 32;
/// The waits before the 2nd to 8th attempts, in seconds.
pub const RETRY_AFTER: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
/// How much of an endpoint's answer is kept with the attempt.
const EXCERPT_BYTES: usize = 512;

/// Most attempts one instance has under way at once.
pub const IN_FLIGHT: usize = 256;

/// What a dispatcher needs.
#[derive(Clone)]
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    /// `--allow-private-webhook-urls`.
    pub allow_private: bool,
    /// Clients by endpoint host and address, reused with their connections.
    pub clients: Arc<crate::apikeys::jwks_uri::PinnedClients>,
}

impl Dispatcher {
    /// Claims and sends due deliveries every [`TICK`], forever: a full batch is
    /// followed by another at once, while fewer than [`IN_FLIGHT`] attempts are
    /// under way, so a burst drains at the pace endpoints answer.
    pub async fn run(self) {
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                let free = i64::try_from(slots.available_permits()).unwrap_or(0).min(BATCH);
                if free == 0 {
                    break;
                }
                let now = self.clock.now();
                let due = match self
                    .store
                    .claim_webhook_deliveries(now, now + LEASE_SECONDS, free)
                    .await
                {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::warn!(error = %crate::report::Chain(&e), "could not claim webhook deliveries; will retry");
                        break;
                    }
                };
                let full = i64::try_from(due.len()).unwrap_or(0) == free;
                for delivery in due {
                    let Ok(slot) = slots.clone().try_acquire_owned() else { break };
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.send(delivery).await;
                        drop(slot);
                    });
                }
                if !full {
                    break;
                }
            }
        }
    }

    /// One attempt, recorded with what follows it.
    async fn send(self, delivery: DueDelivery) {
        let started = Instant::now();
        let (status, excerpt) = match self.post(&delivery).await {
            Ok((status, excerpt)) => (Some(status), excerpt),
            Err(why) => (None, why),
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now();
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let next = if delivered {
            NextStep::Delivered
        } else {
            match usize::try_from(delivery.attempts).ok().and_then(|n| RETRY_AFTER.get(n)) {
                Some(wait) => NextStep::RetryAt(now + jittered(*wait)),
                None => NextStep::GiveUp,
            }
        };
        if next == NextStep::GiveUp {
            tracing::warn!(webhook = %delivery.endpoint.id, event = %delivery.event_id, "a webhook delivery failed for good; the endpoint is marked failing");
        }
        let outcome = AttemptOutcome {
            delivery_id: delivery.id,
            endpoint_id: delivery.endpoint.id.clone(),
            at: now,
            status,
            latency_ms,
            excerpt,
            next,
        };
        if let Err(e) = self.store.finish_webhook_attempt(&outcome).await {
            // The lease runs out and the delivery is sent again: at least once.
            tracing::warn!(error = %crate::report::Chain(&e), "could not record a webhook attempt");
        }
    }

    /// POSTs the event: the endpoint's status and the start of its answer, or
    /// why there was none.
    async fn post(&self, delivery: &DueDelivery) -> Result<(i64, String), String> {
        let endpoint = &delivery.endpoint;
        super::check_url(&endpoint.url, self.allow_private).map_err(|e| e.to_string())?;
        let url = reqwest::Url::parse(&endpoint.url).map_err(|e| e.to_string())?;
        let client =
            self.clients.client(&url, self.allow_private, TIMEOUT).await.map_err(str::to_string)?;
        let secrets = super::secrets_of(&self.keyring, endpoint, self.clock.now());
        if secrets.is_empty() {
            return Err("the endpoint's secret does not open under this master key".into());
        }
        // The receiver checks the timestamp against its own clock: the real one.
        let timestamp = wall_clock_millis() / 1000;
        let signature =
            super::sign::signature(&secrets, &delivery.event_id, timestamp, &delivery.body);
        let mut response = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("keymint/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {} s", TIMEOUT.as_secs())
                } else if e.is_connect() {
                    "could not connect".to_string()
                } else {
                    "the request failed".to_string()
                }
            })?;
        let status = i64::from(response.status().as_u16());
        let mut excerpt = Vec::new();
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        let text = String::from_utf8_lossy(&excerpt).chars().filter(|c| !c.is_control()).collect();
        Ok((status, text))
    }
}

/// `seconds`, give or take 10 %.
fn jittered(seconds: i64) -> i64 {
    let mut byte = [0u8; 1];
    aws_lc_rs::rand::fill(&mut byte).unwrap_or_default();
    let spread = seconds / 10;
    seconds - spread + (spread * 2 * i64::from(byte[0])) / 255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_span_more_than_a_day_with_jitter_within_a_tenth() {
        let total: i64 = RETRY_AFTER.iter().sum();
        assert!(total > 24 * 3600, "{total}");
        for _ in 0..100 {
            let wait = jittered(300);
            assert!((270..=330).contains(&wait), "{wait}");
        }
    }
}
