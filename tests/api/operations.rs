//! Metrics, and SQLite under concurrent admin writes and token traffic.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

async fn metrics_report_tokens_latency_cache_and_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("measured", &[]).await;
    app.access_token(&id, &secret).await;
    app.access_token(&id, &secret).await;
    app.token_post(&id, "wrong-secret-for-sure", &[]).await;
    let response = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert!(value("keymint_tokens_issued_total") >= 3.0, "two for the client, one for the admin");
    assert_eq!(value("keymint_tokens_refused_total{reason=\"wrong secret\"}"), 1.0);
    assert!(value("keymint_key_cache_hits_total") >= 1.0);
    assert!(value("keymint_key_cache_misses_total") >= 1.0);
    assert!(value("keymint_signing_key_age_seconds") >= 0.0);
    assert!(value("keymint_http_connections_open") >= 1.0, "this request's own connection");
    assert!(
        text.contains(
            "keymint_http_request_duration_seconds_bucket{le=\"0.005\",endpoint=\"/oauth/token\"}"
        ) || text.contains(
            "keymint_http_request_duration_seconds_bucket{endpoint=\"/oauth/token\",le=\"0.005\"}"
        ),
        "{text}"
    );
    assert!(text.contains("keymint_change_feed_lag_seconds"));
    assert!(text.contains("keymint_database_errors_total"));
}

async fn concurrent_admin_writes_and_token_traffic_never_fail(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, secret) = app.new_client("traffic", &[]).await;
    let writers = (0..20).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            let created = app.post_with(admin, "/v1/keys", &json!({"name": format!("w{i}")})).await;
            assert_eq!(created.status(), StatusCode::CREATED);
            let body: serde_json::Value = created.json().await.unwrap();
            let key = body["id"].as_str().unwrap();
            let edited = app
                .patch_with(admin, &format!("/v1/keys/{key}"), &json!({"description": "x"}))
                .await;
            assert_eq!(edited.status(), StatusCode::OK);
        }
    });
    let readers = (0..60).map(|_| {
        let (app, id, secret) = (&app, &id, &secret);
        async move {
            let status = app.token_basic(id, secret, &[]).await.status();
            assert_eq!(status, StatusCode::OK);
        }
    });
    futures::future::join(futures::future::join_all(writers), futures::future::join_all(readers))
        .await;
    app.app.usage.flush().await.unwrap();
    // This instance's own count, not the process-wide log other tests write to.
    assert_eq!(app.app.metrics.database_errors.get(), 0, "no request met a locked database");
}

on_both_backends!(
    metrics_report_tokens_latency_cache_and_keys,
    concurrent_admin_writes_and_token_traffic_never_fail,
);
