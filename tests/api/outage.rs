//! A database outage, injected by cutting a TCP proxy between keymint and
//! PostgreSQL: discovery keeps being served, undecidable requests get 503 with
//! Retry-After (never 401 for a valid key, never 500), and service resumes by itself.

use keymint::store::{Granularity, UsageGroup, UsageQuery};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{start_instance, Backend, DbProxy, TestDatabase};
use crate::on_postgres_only;

async fn an_outage_degrades_safely_and_recovers_without_a_restart() {
    let mut db = TestDatabase::new(Backend::Postgres).await;
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let authority = admin_url.split("://").nth(1).unwrap().split('/').next().unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp).to_string();
    let target = if host_port.contains(':') { host_port } else { format!("{host_port}:5432") };
    let proxy = DbProxy::start(target).await;
    db.route_through(proxy.port);
    let mut app = start_instance(Arc::new(db), &[]).await;
    let revealed = app.app.bootstrap().await.unwrap();
    app.admin_id = revealed.key.id.clone();
    app.admin_secret =
        revealed.secret.as_ref().expect("an admin key has a secret").expose().to_string();
    let (warm, warm_secret) = app.new_client("warm", &[]).await;
    let (cold, cold_secret) = app.new_client("cold", &[]).await;
    assert_eq!(app.token_basic(&warm, &warm_secret, &[]).await.status(), StatusCode::OK);
    let admin = app.admin_token().await;

    proxy.cut();
    crate::helpers::wait_until(Duration::from_secs(10), "the outage is noticed", || async {
        reqwest::get(app.url("/readyz")).await.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    // Served from memory.
    assert_eq!(
        reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(reqwest::get(app.url("/healthz")).await.unwrap().status(), StatusCode::OK);
    // A key this instance knows is decided from memory; nothing can have changed it meanwhile.
    let warm_response = app.token_basic(&warm, &warm_secret, &[]).await;
    let status = warm_response.status();
    let body = warm_response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body} cache len {}", app.app.cache.len());
    // A key it does not know cannot be decided: 503, never 401 or 500.
    let cold_response = app.token_basic(&cold, &cold_secret, &[]).await;
    assert_eq!(cold_response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(cold_response.headers().contains_key("retry-after"));
    let management = app.get_with(&admin, "/v1/keys").await;
    assert_eq!(management.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(management.headers().contains_key("retry-after"));
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.restore();
    crate::helpers::wait_until(Duration::from_secs(15), "recovery", || async {
        let ready = reqwest::get(app.url("/readyz")).await.unwrap().status() == StatusCode::OK;
        ready && app.token_basic(&cold, &cold_secret, &[]).await.status() == StatusCode::OK
    })
    .await;
    assert_eq!(app.get_with(&admin, "/v1/keys").await.status(), StatusCode::OK);
    // Usage counted during the outage was kept and written after it.
    let now = app.app.clock.now();
    let query = UsageQuery {
        granularity: Granularity::Day,
        key_ids: vec![warm.clone()],
        workspace_id: None,
        owner: None,
        from: now - 86_400,
        to: now + 86_400,
    };
    let rows = app.app.store.usage(&query, UsageGroup::Bucket).await.unwrap();
    app.app.usage.settle().await.unwrap();
    let rows_after = app.app.store.usage(&query, UsageGroup::Bucket).await.unwrap();
    let issued = rows_after.iter().map(|r| r.tally.issued).sum::<i64>();
    assert!(issued >= 2, "{rows:?} {rows_after:?}");
}

/// An instance cut off from the database while another revokes a key: once the
/// database answers again it resyncs before it says it is ready, and refuses the key.
async fn an_instance_back_from_an_outage_resyncs_before_it_is_ready() {
    let db = Arc::new(TestDatabase::new(Backend::Postgres).await);
    let mut a = start_instance(db.clone(), &[]).await;
    let revealed = a.app.bootstrap().await.unwrap();
    a.admin_id = revealed.key.id.clone();
    a.admin_secret = revealed.secret.as_ref().unwrap().expose().to_string();
    // Instance B reaches the same database through a proxy the test can cut.
    let target = db.url.split('@').nth(1).unwrap().split('/').next().unwrap().to_string();
    let proxy = DbProxy::start(target).await;
    let mut proxied = TestDatabase::at(db.url.clone());
    proxied.route_through(proxy.port);
    std::fs::create_dir_all(proxied.dir().join("keys")).unwrap();
    std::fs::copy(db.dir().join("keys/master.key"), proxied.dir().join("keys/master.key")).unwrap();
    let b = start_instance(Arc::new(proxied), &[]).await;
    let (id, secret) = a.new_client("revoked-meanwhile", &["read:a"]).await;
    assert_eq!(b.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK, "B holds it");

    proxy.cut();
    crate::helpers::wait_until(Duration::from_secs(10), "B sees the outage", || async {
        reqwest::get(b.url("/readyz")).await.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let feed = b.app.clone();
    crate::helpers::wait_until(Duration::from_secs(10), "B's change feed loses sync", || {
        let feed = feed.clone();
        async move { !feed.feed_status.in_sync() }
    })
    .await;
    let admin = a.admin_token().await;
    let revoke = format!("/v1/keys/{id}/revoke");
    let revoked = a.post_with(&admin, &revoke, &serde_json::json!({})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    proxy.restore();
    crate::helpers::wait_until(Duration::from_secs(15), "B is ready again", || async {
        reqwest::get(b.url("/readyz")).await.unwrap().status() == StatusCode::OK
    })
    .await;
    let response = b.token_basic(&id, &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "B decides from the database's state");
}

on_postgres_only!(postgres:
    an_outage_degrades_safely_and_recovers_without_a_restart,
    an_instance_back_from_an_outage_resyncs_before_it_is_ready,
);
