//! Signing keys: the scheduled lifecycle on the service clock, rotation on demand,
//! emergency rotation, every algorithm.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: JwkSet =
        reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    jwks.keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect()
}

fn kid_of(token: &str) -> String {
    decode_header(token).unwrap().kid.unwrap()
}

/// Verifies with the served JWKS and the key's own (pinned) algorithm.
pub async fn verifies(app: &TestApp, token: &str) -> bool {
    let jwks: JwkSet =
        reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let header = decode_header(token).unwrap();
    let Some(jwk) = jwks.find(header.kid.as_deref().unwrap()) else {
        return false;
    };
    let alg = match jwk.common.key_algorithm.unwrap() {
        jsonwebtoken::jwk::KeyAlgorithm::ES256 => Algorithm::ES256,
        jsonwebtoken::jwk::KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        jsonwebtoken::jwk::KeyAlgorithm::RS256 => Algorithm::RS256,
        other => panic!("unexpected {other:?}"),
    };
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&app.issuer]);
    validation.validate_aud = false;
    validation.validate_exp = false;
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_ok()
}

const SCHEDULE: &[&str] =
    &["--signing-key-rotation", "3600", "--jwks-max-age", "300", "--token-ttl", "600"];

async fn keys_rotate_on_schedule_published_before_they_sign(backend: Backend) {
    let app = spawn_app_with(backend, SCHEDULE).await;
    let (id, secret) = app.new_client("client", &[]).await;
    let first = app.app.keyring.current().kid().to_string();
    let old_token = app.access_token(&id, &secret).await;

    // Not yet due.
    app.clock.advance(3600 - 301);
    assert!(!app.app.keyring.tick(app.clock_now()).await.unwrap());
    // One max-age before the rotation, the next key is published but does not sign.
    app.clock.advance(1);
    assert!(app.app.keyring.tick(app.clock_now()).await.unwrap());
    let kids = jwks_kids(&app).await;
    assert_eq!(kids.len(), 2);
    let next = kids.iter().find(|k| **k != first).unwrap().clone();
    assert_eq!(kid_of(&app.access_token(&id, &secret).await), first);

    app.clock.advance(299);
    app.app.keyring.tick(app.clock_now()).await.unwrap();
    assert_eq!(app.app.keyring.current().kid(), first, "published for less than one max-age");
    app.clock.advance(1);
    assert!(app.app.keyring.tick(app.clock_now()).await.unwrap());
    let new_token = app.access_token(&id, &secret).await;
    assert_eq!(kid_of(&new_token), next, "the next key signs after one max-age");
    assert!(verifies(&app, &old_token).await, "the retired key is still published");
    assert!(verifies(&app, &new_token).await);

    // Once every token the retired key signed has expired (ttl + leeway), it leaves the JWKS.
    app.clock.advance(600);
    app.app.keyring.tick(app.clock_now()).await.unwrap();
    assert_eq!(jwks_kids(&app).await.len(), 2);
    app.clock.advance(120);
    assert!(app.app.keyring.tick(app.clock_now()).await.unwrap());
    assert_eq!(jwks_kids(&app).await, vec![next]);

    let admin = app.admin_token().await;
    let audit: Value = app.get_json(&admin, "/v1/audit?limit=100").await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("signing_key."))
        .collect();
    assert_eq!(
        actions,
        ["signing_key.remove", "signing_key.rotate", "signing_key.create", "signing_key.create"]
    );
}

async fn rotation_on_demand_publishes_first_and_emergency_replaces_at_once(backend: Backend) {
    let app = spawn_app_with(backend, SCHEDULE).await;
    let admin = app.admin_token().await;
    let first = app.app.keyring.current().kid().to_string();

    let listed: Value = app.get_json(&admin, "/v1/signing-keys").await;
    assert_eq!(listed["data"][0]["state"], "current");
    let (reader, reader_secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let reader_token = app.access_token(&reader, &reader_secret).await;
    assert_problem(
        app.get_with(&reader_token, "/v1/signing-keys").await,
        StatusCode::FORBIDDEN,
        "insufficient-scope",
    )
    .await;

    let outcome: Value =
        app.post_with(&admin, "/v1/signing-keys/rotate", &json!({})).await.json().await.unwrap();
    assert_eq!(outcome["outcome"], "scheduled");
    let next = outcome["kid"].as_str().unwrap().to_string();
    assert!(jwks_kids(&app).await.contains(&next));
    assert_eq!(app.app.keyring.current().kid(), first);
    app.clock.advance(300);
    app.app.keyring.tick(app.clock_now()).await.unwrap();
    assert_eq!(app.app.keyring.current().kid(), next);

    // Emergency: the compromised key leaves the JWKS at once; its tokens stop working.
    let admin = app.admin_token().await;
    assert_eq!(kid_of(&admin), next);
    let outcome: Value = app
        .post_with(&admin, "/v1/signing-keys/rotate", &json!({"emergency": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["outcome"], "replaced");
    let replacement = outcome["kid"].as_str().unwrap();
    let kids = jwks_kids(&app).await;
    assert!(!kids.contains(&next) && kids.contains(&replacement.to_string()), "{kids:?}");
    assert_problem(
        app.get_with(&admin, "/v1/keys").await,
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    let fresh = app.admin_token().await;
    assert_eq!(kid_of(&fresh), replacement);
    assert_eq!(app.get_with(&fresh, "/v1/keys").await.status(), StatusCode::OK);
}

async fn every_algorithm_signs_tokens_a_stock_library_verifies(backend: Backend) {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let app = spawn_app_with(backend, &["--signing-alg", alg]).await;
        let (id, secret) = app.new_client("client", &[]).await;
        let token = app.access_token(&id, &secret).await;
        assert_eq!(format!("{:?}", decode_header(&token).unwrap().alg), alg);
        assert!(verifies(&app, &token).await, "{alg}");
        let jwks: Value =
            reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
        assert_eq!(jwks["keys"][0]["alg"], alg);
    }
}

async fn kids_and_keys_survive_restarts_with_no_new_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = jwks_kids(&app).await;
    let app = app.restart().await;
    assert_eq!(jwks_kids(&app).await, before);
}

on_both_backends!(
    keys_rotate_on_schedule_published_before_they_sign,
    rotation_on_demand_publishes_first_and_emergency_replaces_at_once,
    every_algorithm_signs_tokens_a_stock_library_verifies,
    kids_and_keys_survive_restarts_with_no_new_key,
);
