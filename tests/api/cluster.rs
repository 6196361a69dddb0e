//! Several instances on one database: changes reach every instance within a second,
//! signing key rotation never leaves a token unverifiable, and instances starting
//! together agree on one set of keys.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    spawn_app, spawn_app_with, start_instance, wait_until, Backend, TestApp, TestDatabase,
    PROPAGATION,
};
use crate::on_both_backends;
use crate::signing::verifies;

async fn a_revoke_on_one_instance_is_refused_on_another_within_a_second(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.spawn_peer().await;
    let (id, secret) = a.new_client("shared", &["read:a"]).await;
    // B has the key in its cache.
    assert_eq!(b.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    let admin = a.admin_token().await;
    assert_eq!(
        a.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await.status(),
        StatusCode::OK
    );
    wait_until(PROPAGATION, "the revoke reaches B", || async {
        b.token_basic(&id, &secret, &[]).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;

    // Edits, rotations and deletes travel the same way.
    let (id2, secret2) = a.new_client("edited", &["read:a", "read:b"]).await;
    assert_eq!(
        b.token_basic(&id2, &secret2, &[("scope", "read:b")]).await.status(),
        StatusCode::OK
    );
    a.patch_with(&admin, &format!("/v1/keys/{id2}"), &json!({"scopes": ["read:a"]})).await;
    wait_until(PROPAGATION, "the change reaches the other instance", || async {
        b.token_basic(&id2, &secret2, &[("scope", "read:b")]).await.status()
            == StatusCode::BAD_REQUEST
    })
    .await;
    let rotated: Value = a
        .post_with(&admin, &format!("/v1/keys/{id2}/rotate"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    wait_until(PROPAGATION, "the change reaches the other instance", || async {
        b.token_basic(&id2, &secret2, &[]).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(
        b.token_basic(&id2, rotated["client_secret"].as_str().unwrap(), &[]).await.status(),
        StatusCode::OK
    );
}

/// Two instances count one key's tokens; with no read to ask for it, the
/// background folds both instances' flushes once a minute (of either one's clock),
/// and either instance then reports the sum and the last use.
async fn usage_counted_on_two_instances_is_folded_once_in_the_background(backend: Backend) {
    let a = spawn_app_with(backend, &["--usage-flush-interval", "1"]).await;
    let b = a.spawn_peer().await;
    let (id, secret) = a.new_client("busy", &["read:a"]).await;
    for (instance, n) in [(&a, 3), (&b, 2)] {
        for _ in 0..n {
            assert_eq!(instance.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
        }
    }
    // Each instance folded as it started: the next fold is due a minute on.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(a.folded_issued(&id).await, 0, "flushed to the log, not folded before it is due");
    a.clock.advance(61);
    b.clock.advance(61);
    wait_until(std::time::Duration::from_secs(10), "a background fold", || async {
        a.folded_issued(&id).await == 5
    })
    .await;
    let key = a.app.store.find_key(&id).await.unwrap().unwrap();
    assert!(key.last_used_at.is_some(), "the last use reached the key");
    let admin = b.admin_token().await;
    let usage: Value = b.get_json(&admin, &format!("/v1/keys/{id}/usage?granularity=hour")).await;
    assert_eq!(usage["total"]["issued"], 5, "{usage}");
}

async fn tokens_from_either_instance_verify_against_either_jwks_through_a_rotation(
    backend: Backend,
) {
    let a = spawn_app(backend).await;
    let b = a.spawn_peer().await;
    let (id, secret) = a.new_client("busy", &[]).await;
    let admin = a.admin_token().await;
    let check = |tokens: &[String]| {
        let tokens = tokens.to_vec();
        let (a, b) = (&a, &b);
        async move {
            for t in &tokens {
                assert!(
                    verifies(a, t).await && verifies(b, t).await,
                    "a token does not verify on both"
                );
            }
        }
    };
    let mut tokens = vec![a.access_token(&id, &secret).await, b.access_token(&id, &secret).await];
    check(&tokens).await;
    let outcome: Value =
        a.post_with(&admin, "/v1/signing-keys/rotate", &json!({})).await.json().await.unwrap();
    let next = outcome["kid"].as_str().unwrap().to_string();
    // B publishes the next key too, quickly.
    wait_until(PROPAGATION, "the change reaches the other instance", || async {
        reqwest::get(b.url("/.well-known/jwks.json"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains(&next)
    })
    .await;
    for _ in 0..5 {
        tokens.push(a.access_token(&id, &secret).await);
        tokens.push(b.access_token(&id, &secret).await);
    }
    check(&tokens).await;
    // A promotes the next key; B adopts it; both keep verifying everything.
    a.clock.advance(300);
    assert!(a.app.keyring.tick(a.clock_now()).await.unwrap());
    for _ in 0..5 {
        tokens.push(a.access_token(&id, &secret).await);
        tokens.push(b.access_token(&id, &secret).await);
        check(&tokens).await;
    }
    wait_until(PROPAGATION, "the change reaches the other instance", || async {
        b.app.keyring.current().kid() == next
    })
    .await;
    let from_b = b.access_token(&id, &secret).await;
    assert_eq!(jsonwebtoken::decode_header(&from_b).unwrap().kid.as_deref(), Some(next.as_str()));
    let jwks_a = reqwest::get(a.url("/.well-known/jwks.json")).await.unwrap().text().await.unwrap();
    let jwks_b = reqwest::get(b.url("/.well-known/jwks.json")).await.unwrap().text().await.unwrap();
    assert_eq!(jwks_a, jwks_b);
}

async fn instances_starting_together_on_an_empty_database_agree(backend: Backend) {
    let db = Arc::new(TestDatabase::new(backend).await);
    let starts = (0..3).map(|_| start_instance(db.clone(), &[]));
    let apps: Vec<TestApp> = futures::future::join_all(starts).await;
    let records = apps[0].app.store.list_signing_keys().await.unwrap();
    assert_eq!(
        records.iter().filter(|r| r.state == keymint::store::SigningKeyState::Current).count(),
        1,
        "{records:?}"
    );
    let jwks: Vec<String> = {
        let mut out = Vec::new();
        for app in &apps {
            out.push(
                reqwest::get(app.url("/.well-known/jwks.json"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
            );
        }
        out
    };
    assert!(jwks.windows(2).all(|w| w[0] == w[1]), "identical JWKS everywhere");
    let bootstrapped: Vec<_> =
        futures::future::join_all(apps.iter().map(|app| app.app.bootstrap_if_empty())).await;
    assert_eq!(
        bootstrapped.into_iter().filter(|r| matches!(r, Ok(Some(_)))).count(),
        1,
        "one first admin key"
    );
    let migrations: i64 = match backend {
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    };
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(migrations, files as i64, "each migration applied once");
}

/// A newer keymint on the same database may announce a change this version has no
/// word for: whatever it is about, nothing cached may outlive it.
async fn a_change_of_a_kind_this_version_does_not_know_drops_every_cached_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.new_client("cached", &["read:a"]).await;
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    assert!(!app.app.cache.is_empty(), "the key is held");
    // Committed now, as every change is: an old one could be pruned before it is read.
    let at = keymint::clock::wall_clock_millis();
    app.db
        .execute(&format!(
            "INSERT INTO changes (at, kind, target) VALUES ({at}, 'a_future_kind', 'x')"
        ))
        .await;
    let cache = app.app.cache.clone();
    wait_until(PROPAGATION, "the feed drops every cached key", || {
        let cache = cache.clone();
        async move { cache.is_empty() }
    })
    .await;
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK, "read again");
}

/// Revoked tokens are held in memory; a revocation through one instance reaches
/// the others by the change feed, and a restart reads them back.
async fn a_token_revoked_on_one_instance_is_inactive_on_another_within_a_second(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.spawn_peer().await;
    let (id, secret) = a.new_client("client", &["read:a"]).await;
    let (rs, rs_secret) = a.new_client("resource-server", &["keymint:introspect"]).await;
    let token = a.access_token(&id, &secret).await;
    async fn active(app: &crate::helpers::TestApp, rs: &(String, String), token: &str) -> bool {
        let answer: Value = app
            .client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&rs.0, Some(&rs.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["active"] == true
    }
    let rs = (rs, rs_secret);
    assert!(active(&b, &rs, &token).await, "B held nothing against it");
    let revoked = a
        .client
        .post(a.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(!active(&a, &rs, &token).await, "at once where it was revoked");
    wait_until(PROPAGATION, "the revocation reaches B", || async {
        !active(&b, &rs, &token).await
    })
    .await;
    let b = b.restart().await;
    assert!(!active(&b, &rs, &token).await, "read back at start");
}

on_both_backends!(
    usage_counted_on_two_instances_is_folded_once_in_the_background,
    a_token_revoked_on_one_instance_is_inactive_on_another_within_a_second,
    a_change_of_a_kind_this_version_does_not_know_drops_every_cached_key,
    a_revoke_on_one_instance_is_refused_on_another_within_a_second,
    tokens_from_either_instance_verify_against_either_jwks_through_a_rotation,
    instances_starting_together_on_an_empty_database_agree,
);
