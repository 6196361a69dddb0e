//! Every refusal of an existing key is counted and audited, whatever was wrong with
//! the secret, at the token endpoint and at raw-key verification alike, and the
//! audit log lists it where it happened.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, spawn_app, Backend, TestApp};
use crate::on_both_backends;

/// `secret` with its last checksum character changed: keymint's format and the
/// key's own id, but not a secret keymint ever issued.
fn with_wrong_checksum(secret: &str) -> String {
    let (body, last) = secret.split_at(secret.len() - 1);
    format!("{body}{}", if last == "A" { "B" } else { "A" })
}

/// The `token.refused` events about `key_id`, newest first.
async fn refusals(app: &TestApp, admin: &str, key_id: &str) -> Vec<Value> {
    let path = format!("/v1/audit?action=token.refused&target_id={key_id}");
    let page: Value = app.get_json(admin, &path).await;
    page["data"].as_array().unwrap().clone()
}

async fn wrong_secrets(app: &TestApp, admin: &str, key_id: &str) -> Value {
    let path = format!("/v1/keys/{key_id}/usage");
    let usage: Value = app.get_json(admin, &path).await;
    usage["total"]["refused"]["wrong_secret"].clone()
}

async fn wrong_keymint_secrets_are_audited_like_any_wrong_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, a_secret) = app.new_client("a", &["read:a"]).await;
    let (_, b_secret) = app.new_client("b", &["read:a"]).await;
    for (secret, why) in [
        (b_secret.clone(), "another key's secret"),
        (with_wrong_checksum(&a_secret), "a checksum that fails"),
        ("plainly-wrong".to_string(), "a value in no format"),
    ] {
        let response = app.token_basic(&a, &secret, &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    }
    let admin = app.admin_token().await;
    let events = refusals(&app, &admin, &a).await;
    let mut reasons: Vec<&str> =
        events.iter().map(|e| e["details"]["reason"].as_str().unwrap()).collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["malformed secret", "secret belongs to another key id", "wrong secret"],
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["actor_ip"] == "127.0.0.1"), "{events:?}");
    assert_eq!(wrong_secrets(&app, &admin, &a).await, 3);
    assert!(!serde_json::to_string(&events).unwrap().contains(&b_secret[10..]));
}

async fn raw_key_verification_counts_a_mistyped_secret_as_the_token_endpoint_does(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (gateway, gateway_secret) = app.new_client("gateway", &["keymint:introspect"]).await;
    let (a, a_secret) = app.new_client("a", &["read:a"]).await;
    let mistyped = with_wrong_checksum(&a_secret);
    let answer: Value = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&gateway, Some(&gateway_secret))
        .form(&[("token", mistyped.as_str()), ("token_type_hint", "api_key")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({"active": false}));
    let admin = app.admin_token().await;
    let at_introspection =
        (wrong_secrets(&app, &admin, &a).await, refusals(&app, &admin, &a).await);
    assert_eq!(at_introspection.0, 1, "counted against the key the value names");
    assert_eq!(at_introspection.1.len(), 1, "{:?}", at_introspection.1);

    let response = app.token_basic(&a, &mistyped, &[]).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(wrong_secrets(&app, &admin, &a).await, 2, "the same rule at the token endpoint");
    let events = refusals(&app, &admin, &a).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["details"], events[1]["details"], "one reason at both doors");
}

async fn events_within_one_second_are_listed_in_the_order_they_happened(backend: Backend) {
    let app = spawn_app(backend).await;
    let (k, _) = app.new_client("k", &["read:a"]).await;
    let admin = app.admin_token().await;
    // The service clock stands still: both happen within one second. The refusal
    // waits in memory and reaches the log after the revoke.
    let response = app.token_basic(&k, "a-wrong-secret", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let revoked = app.post_with(&admin, &format!("/v1/keys/{k}/revoke"), &json!({})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let page: Value = app.get_json(&admin, &format!("/v1/audit?target_id={k}")).await;
    let actions: Vec<&str> =
        page["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["key.revoke", "token.refused", "key.create"], "newest first: {page}");
}

on_both_backends!(
    wrong_keymint_secrets_are_audited_like_any_wrong_secret,
    raw_key_verification_counts_a_mistyped_secret_as_the_token_endpoint_does,
    events_within_one_second_are_listed_in_the_order_they_happened,
);
