//! `/healthz` (the process is alive) and `/readyz` (database and signing key ready).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = crate::http::openapi::schemas::Health)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics in the Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<Arc<App>>) -> impl axum::response::IntoResponse {
    let m = &app.metrics;
    m.signing_key_age_seconds.set(app.clock.now() - app.keyring.current_since());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], m.render())
}

/// `GET /readyz`: 200 when the database accepts a write, a signing key is loaded
/// and this instance's memory follows the change feed; else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = crate::http::openapi::schemas::Readiness), (status = 503, description = "Not ready: the database does not accept writes, or the instance is resyncing after an outage", body = crate::http::openapi::schemas::Readiness)))]
pub async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, Json<Value>) {
    let database = tokio::time::timeout(std::time::Duration::from_secs(2), app.store.ping()).await;
    let database_ok = matches!(database, Ok(Ok(())));
    if !database_ok {
        app.metrics.database_errors.inc();
    }
    let in_sync = app.feed_status.in_sync();
    let ready = database_ok && in_sync;
    let kid = app.keyring.current().kid().to_string();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": if database_ok { "ok" } else { "unavailable" },
            "change_feed": if in_sync { "in sync" } else { "resyncing" },
            "signing_key": kid,
        })),
    )
}
