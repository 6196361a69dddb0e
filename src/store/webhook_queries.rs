//! The webhook queries, written once for both backends like the rest of
//! `queries.rs` (whose child module this is): endpoints, the outbox written in
//! the transaction of each change, deliveries claimed by one instance each, and
//! the once-per-key claim of a `key.expiring` announcement.

use super::{insert_audit, Db, This, SKIP_LOCKED};
use crate::store::sql::{UsedKeyRow, KEYS};
use crate::store::{
    AttemptOutcome, AttemptRecord, AuditRecord, DeliveryRecord, DueDelivery, KeyRecord, NextStep,
    StoreError, StoreResult, WebhookEventRecord, WebhookRecord, WebhookStore,
};

type Conn = <Db as sqlx::Database>::Connection;

const COLUMNS: &str = "id, workspace_id, url, description, events, sealed_secret, \
    sealed_previous, previous_until, master_key_id, failing_since, created_at, updated_at";

type Row = (
    String,
    Option<String>,
    String,
    String,
    String,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<i64>,
    String,
    Option<i64>,
    i64,
    i64,
);

fn record(row: Row) -> StoreResult<WebhookRecord> {
    let events = serde_json::from_str(&row.4)
        .map_err(|e| StoreError::Corrupt(format!("webhook {} events: {e}", row.0)))?;
    Ok(WebhookRecord {
        id: row.0,
        workspace_id: row.1,
        url: row.2,
        description: row.3,
        events,
        sealed_secret: row.5,
        sealed_previous: row.6,
        previous_until: row.7,
        master_key_id: row.8,
        failing_since: row.9,
        created_at: row.10,
        updated_at: row.11,
    })
}

/// Writes the event `audit` raises, if any, with a delivery for each endpoint
/// that wants it: in the caller's transaction, so an event exists exactly when
/// its change committed.
pub(super) async fn outbox(conn: &mut Conn, audit: &AuditRecord) -> StoreResult<()> {
    let Some(kind) = audit.action.webhook_event() else { return Ok(()) };
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhook_endpoints ORDER BY id"))
            .fetch_all(&mut *conn)
            .await?;
    let mut wanting = Vec::new();
    for row in rows {
        let endpoint = record(row)?;
        if endpoint.wants(kind, audit.workspace_id.as_deref()) {
            wanting.push(endpoint.id);
        }
    }
    if wanting.is_empty() {
        return Ok(());
    }
    let at = audit.at_us.div_euclid(1_000_000);
    let data = audit.event.clone().unwrap_or_else(|| {
        let mut data =
            serde_json::json!({"id": audit.target_id, "workspace_id": audit.workspace_id});
        if let (Some(data), Some(details)) = (data.as_object_mut(), audit.details.as_object()) {
            data.extend(details.clone());
        }
        data
    });
    let event = WebhookEventRecord {
        id: format!("msg_{}", crate::vocab::base62::random_base62(24)),
        kind: kind.to_string(),
        workspace_id: audit.workspace_id.clone(),
        at,
        body:
            serde_json::json!({"type": kind, "timestamp": crate::clock::rfc3339(at), "data": data})
                .to_string(),
    };
    insert_event(conn, &event).await?;
    for endpoint_id in wanting {
        insert_delivery(conn, &event.id, &endpoint_id, at).await?;
    }
    Ok(())
}

async fn insert_event(conn: &mut Conn, event: &WebhookEventRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_events (id, type, workspace_id, at, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(&event.workspace_id)
    .bind(event.at)
    .bind(&event.body)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_delivery(
    conn: &mut Conn,
    event_id: &str,
    endpoint_id: &str,
    at: i64,
) -> StoreResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, state, attempts, next_attempt_at, \
         lease_until, created_at) VALUES ($1, $2, 'pending', 0, $3, 0, $3) RETURNING id",
    )
    .bind(event_id)
    .bind(endpoint_id)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub(super) async fn insert(this: &This, w: &WebhookRecord, audit: &AuditRecord) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    let events = serde_json::to_string(&w.events).unwrap_or_default();
    let inserted = sqlx::query(&format!(
        "INSERT INTO webhook_endpoints ({COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12 WHERE $2 IS NULL OR EXISTS (SELECT 1 FROM workspaces WHERE id = $2)"
    ))
    .bind(&w.id)
    .bind(&w.workspace_id)
    .bind(&w.url)
    .bind(&w.description)
    .bind(events)
    .bind(&w.sealed_secret)
    .bind(&w.sealed_previous)
    .bind(w.previous_until)
    .bind(&w.master_key_id)
    .bind(w.failing_since)
    .bind(w.created_at)
    .bind(w.updated_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn list(
    this: &This,
    workspace_id: Option<&str>,
) -> StoreResult<Vec<WebhookRecord>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE $1 IS NULL OR workspace_id = $1 \
         ORDER BY created_at, id"
    ))
    .bind(workspace_id)
    .fetch_all(&this.pool)
    .await?;
    rows.into_iter().map(record).collect()
}

pub(super) async fn get(this: &This, id: &str) -> StoreResult<Option<WebhookRecord>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1"))
            .bind(id)
            .fetch_optional(&this.pool)
            .await?;
    row.map(record).transpose()
}

pub(super) async fn update(this: &This, w: &WebhookRecord, audit: &AuditRecord) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET url = $2, description = $3, events = $4, \
         sealed_secret = $5, sealed_previous = $6, previous_until = $7, master_key_id = $8, \
         updated_at = $9 WHERE id = $1",
    )
    .bind(&w.id)
    .bind(&w.url)
    .bind(&w.description)
    .bind(serde_json::to_string(&w.events).unwrap_or_default())
    .bind(&w.sealed_secret)
    .bind(&w.sealed_previous)
    .bind(w.previous_until)
    .bind(&w.master_key_id)
    .bind(w.updated_at)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn delete(this: &This, id: &str, audit: &AuditRecord) -> StoreResult<bool> {
    let mut tx = this.begin_tx().await?;
    // Its deliveries and attempts go with it; events nobody else awaits too.
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "DELETE FROM webhook_events WHERE NOT EXISTS \
         (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)",
    )
    .execute(&mut *tx)
    .await?;
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

/// A new event for one endpoint only (a test event), due at once.
pub(super) async fn enqueue(
    this: &This,
    endpoint_id: &str,
    event: &WebhookEventRecord,
) -> StoreResult<i64> {
    let mut tx = this.begin_tx().await?;
    insert_event(&mut tx, event).await?;
    let id = insert_delivery(&mut tx, &event.id, endpoint_id, event.at).await?;
    tx.commit().await?;
    Ok(id)
}

/// Sends delivery `delivery_id` of endpoint `endpoint_id` again: a new delivery
/// of the same event (same `webhook-id`), due at once.
pub(super) async fn resend(
    this: &This,
    endpoint_id: &str,
    delivery_id: i64,
    now: i64,
) -> StoreResult<Option<i64>> {
    let mut tx = this.begin_tx().await?;
    let event: Option<(String,)> = sqlx::query_as(
        "SELECT event_id FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2",
    )
    .bind(delivery_id)
    .bind(endpoint_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((event_id,)) = event else { return Ok(None) };
    let id = insert_delivery(&mut tx, &event_id, endpoint_id, now).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Claims up to `limit` due deliveries for this instance until `lease_until`:
/// no other instance takes them meanwhile.
pub(super) async fn claim(
    this: &This,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<DueDelivery>> {
    let claimed: Vec<(i64, i64, String, String)> = sqlx::query_as(&format!(
        "UPDATE webhook_deliveries SET lease_until = $1 WHERE id IN (SELECT id FROM \
         webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $2 AND \
         lease_until <= $2 ORDER BY next_attempt_at, id LIMIT $3{SKIP_LOCKED}) \
         RETURNING id, attempts, event_id, endpoint_id"
    ))
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&this.pool)
    .await?;
    let mut due = Vec::with_capacity(claimed.len());
    for (id, attempts, event_id, endpoint_id) in claimed {
        let body: Option<(String,)> =
            sqlx::query_as("SELECT body FROM webhook_events WHERE id = $1")
                .bind(&event_id)
                .fetch_optional(&this.pool)
                .await?;
        let (Some((body,)), Some(endpoint)) = (body, get(this, &endpoint_id).await?) else {
            continue; // deleted meanwhile
        };
        due.push(DueDelivery { id, attempts, event_id, body, endpoint });
    }
    Ok(due)
}

/// Records an attempt and what follows it.
pub(super) async fn finish(this: &This, o: &AttemptOutcome) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    // An endpoint deleted while its delivery was under way took the delivery
    // with it: the attempt has nothing left to record.
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, at, status, latency_ms, excerpt) \
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)",
    )
    .bind(o.delivery_id)
    .bind(o.at)
    .bind(o.status)
    .bind(o.latency_ms)
    .bind(&o.excerpt)
    .execute(&mut *tx)
    .await?;
    let (state, next) = match o.next {
        NextStep::Delivered => ("delivered", o.at),
        NextStep::RetryAt(at) => ("pending", at),
        NextStep::GiveUp => ("failed", o.at),
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, next_attempt_at = $3, \
         lease_until = 0 WHERE id = $1",
    )
    .bind(o.delivery_id)
    .bind(state)
    .bind(next)
    .execute(&mut *tx)
    .await?;
    let failing = match o.next {
        NextStep::Delivered => Some("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1"),
        NextStep::GiveUp => Some(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1",
        ),
        NextStep::RetryAt(_) => None,
    };
    if let Some(sql) = failing {
        sqlx::query(sql).bind(&o.endpoint_id).bind(o.at).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The latest `limit` deliveries of an endpoint, each with its attempts.
pub(super) async fn deliveries(
    this: &This,
    endpoint_id: &str,
    limit: i64,
) -> StoreResult<Vec<DeliveryRecord>> {
    let rows: Vec<(i64, String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT d.id, d.event_id, e.type, d.state, d.attempts, d.next_attempt_at, d.created_at \
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
         WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2",
    )
    .bind(endpoint_id)
    .bind(limit)
    .fetch_all(&this.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, event_id, event_type, state, attempts, next_attempt_at, created_at) in rows {
        let tries: Vec<(i64, Option<i64>, i64, String)> = sqlx::query_as(
            "SELECT at, status, latency_ms, excerpt FROM webhook_attempts WHERE delivery_id = $1 \
             ORDER BY id DESC",
        )
        .bind(id)
        .fetch_all(&this.pool)
        .await?;
        let tries = tries
            .into_iter()
            .map(|(at, status, latency_ms, excerpt)| AttemptRecord {
                at,
                status,
                latency_ms,
                excerpt,
            })
            .collect();
        out.push(DeliveryRecord {
            id,
            event_id,
            event_type,
            state,
            attempts,
            next_attempt_at,
            created_at,
            tries,
        });
    }
    Ok(out)
}

/// The keys (as [`KEYS`] reads them) of `conditions`, a statement's text after
/// `FROM`, bound to `numbers` in order.
async fn keys_where(
    this: &This,
    conditions: &str,
    numbers: [i64; 3],
) -> StoreResult<Vec<KeyRecord>> {
    let sql = format!("SELECT * FROM {KEYS} {conditions}");
    let mut query = sqlx::query_as::<_, UsedKeyRow>(&sql);
    for n in numbers {
        query = query.bind(n);
    }
    let rows = query.fetch_all(&this.pool).await?;
    rows.into_iter().map(KeyRecord::try_from).collect()
}

/// Claims a notice with `claim` (`key_id`, then `extra` when given, then the
/// time bound in order; `ON CONFLICT DO NOTHING`) and, when this call made the
/// claim, records `audit` in the same transaction.
async fn claim_notice(
    this: &This,
    claim: &str,
    key_id: &str,
    extra: Option<i64>,
    audit: &AuditRecord,
) -> StoreResult<bool> {
    let mut tx = this.begin_tx().await?;
    let mut query = sqlx::query(claim).bind(key_id);
    if let Some(extra) = extra {
        query = query.bind(extra);
    }
    let claimed = query.bind(audit.at_us.div_euclid(1_000_000)).execute(&mut *tx).await?;
    if claimed.rows_affected() == 0 {
        return Ok(false);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

#[async_trait::async_trait]
impl WebhookStore for This {
    async fn keys_grace_lapsed_in_use(
        &self,
        since: i64,
        now: i64,
        window: i64,
    ) -> StoreResult<Vec<KeyRecord>> {
        let sql = "WHERE status = 'active' AND previous_expires_at > $1 \
            AND previous_expires_at <= $2 AND previous_last_used_at >= previous_expires_at - $3 \
            AND NOT EXISTS (SELECT 1 FROM key_grace_notices n WHERE n.key_id = api_keys.id \
            AND n.grace_end = api_keys.previous_expires_at) ORDER BY previous_expires_at, id \
            LIMIT 100";
        keys_where(self, sql, [since, now, window]).await
    }

    async fn announce_grace_lapse(
        &self,
        key_id: &str,
        grace_end: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool> {
        let claim = "INSERT INTO key_grace_notices (key_id, grace_end, announced_at) \
            VALUES ($1, $2, $3) ON CONFLICT (key_id, grace_end) DO NOTHING";
        claim_notice(self, claim, key_id, Some(grace_end), audit).await
    }

    async fn keys_expiring_unannounced(
        &self,
        now: i64,
        until: i64,
        limit: i64,
    ) -> StoreResult<Vec<KeyRecord>> {
        let sql = "WHERE status = 'active' AND expires_at > $1 \
            AND expires_at <= $2 AND NOT EXISTS (SELECT 1 FROM key_expiry_notices n \
            WHERE n.key_id = api_keys.id) ORDER BY expires_at, id LIMIT $3";
        keys_where(self, sql, [now, until, limit]).await
    }

    async fn announce_expiry(&self, key_id: &str, audit: &AuditRecord) -> StoreResult<bool> {
        let claim = "INSERT INTO key_expiry_notices (key_id, announced_at) VALUES ($1, $2) \
            ON CONFLICT (key_id) DO NOTHING";
        claim_notice(self, claim, key_id, None, audit).await
    }

    async fn insert_webhook(&self, w: &WebhookRecord, audit: &AuditRecord) -> StoreResult<()> {
        insert(self, w, audit).await
    }

    async fn webhooks(&self, workspace_id: Option<&str>) -> StoreResult<Vec<WebhookRecord>> {
        list(self, workspace_id).await
    }

    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>> {
        get(self, id).await
    }

    async fn update_webhook(&self, w: &WebhookRecord, audit: &AuditRecord) -> StoreResult<()> {
        update(self, w, audit).await
    }

    async fn delete_webhook(&self, id: &str, audit: &AuditRecord) -> StoreResult<bool> {
        delete(self, id, audit).await
    }

    async fn enqueue_webhook_event(
        &self,
        endpoint_id: &str,
        event: &WebhookEventRecord,
    ) -> StoreResult<i64> {
        enqueue(self, endpoint_id, event).await
    }

    async fn resend_webhook_delivery(
        &self,
        endpoint_id: &str,
        delivery_id: i64,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        resend(self, endpoint_id, delivery_id, now).await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<DueDelivery>> {
        claim(self, now, lease_until, limit).await
    }

    async fn finish_webhook_attempt(&self, outcome: &AttemptOutcome) -> StoreResult<()> {
        finish(self, outcome).await
    }

    async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        deliveries(self, endpoint_id, limit).await
    }
}
