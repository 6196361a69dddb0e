//! Raw-key verification: a gateway that still receives raw API keys asks RFC 7662
//! introspection whether a key is good, under the token endpoint's rules.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;

/// A gateway: a key holding `keymint:introspect`.
struct Gateway {
    id: String,
    secret: String,
}

impl Gateway {
    async fn new(app: &TestApp) -> Self {
        let (id, secret) = app.new_client("gateway", &["keymint:introspect"]).await;
        Gateway { id, secret }
    }

    /// Introspects `value` with these extra parameters; the answer's status and body.
    async fn check(&self, app: &TestApp, value: &str, params: &[(&str, &str)]) -> Value {
        let response = self.send(app, value, params).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    async fn send(&self, app: &TestApp, value: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("token", value)];
        form.extend_from_slice(params);
        app.client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&self.id, Some(&self.secret))
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

const LEGACY: &str = "legacy-Secret-value-0123456789";

async fn raw_keys_are_verified_under_the_token_endpoints_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let gateway = Gateway::new(&app).await;
    let generated = app
        .create_key(
            json!({"name": "generated", "scopes": ["read:a", "write:a"], "type": "service"}),
        )
        .await;
    let imported = app
        .create_key(json!({"name": "imported", "scopes": ["read:b"], "secret": LEGACY,
            "expires_in": "30d"}))
        .await;

    // A generated key is recognised by its format; nothing else needs saying.
    let body = gateway.check(&app, generated["client_secret"].as_str().unwrap(), &[]).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "api_key");
    assert_eq!(body["client_id"], generated["id"]);
    assert_eq!(body["scope"], "read:a write:a");
    assert_eq!(body["workspace_id"], generated["workspace_id"]);
    assert_eq!(body["environment"], generated["environment"]);
    assert_eq!(body["key_type"], "service");
    assert!(body.get("exp").is_none(), "a key without expiry has no exp: {body}");

    // An imported value carries no key id: it is found by value alone.
    let body = gateway.check(&app, LEGACY, &[("token_type_hint", "api_key")]).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], imported["id"]);
    assert_eq!(body["scope"], "read:b");
    let expires_at = time::OffsetDateTime::parse(
        imported["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(body["exp"], expires_at.unix_timestamp(), "the key's own expiry");

    // Wrong, unknown and malformed values are inactive, and say nothing more.
    let mut wrong = generated["client_secret"].as_str().unwrap().to_string();
    wrong.replace_range(20..21, if &wrong[20..21] == "a" { "b" } else { "a" });
    for value in [wrong.as_str(), "legacy-Secret-value-0123456788", "km_live_short"] {
        let body = gateway.check(&app, value, &[("token_type_hint", "api_key")]).await;
        assert_eq!(body, json!({"active": false}), "{value}");
    }

    // A rotation with a grace period: the old imported value still works until the
    // grace ends, then it does not.
    let admin = app.admin_token().await;
    let path = format!("/v1/keys/{}/rotate", imported["id"].as_str().unwrap());
    let rotated = app.post_json(&admin, &path, &json!({"grace_seconds": 60})).await;
    assert_eq!(gateway.check(&app, LEGACY, &[]).await["active"], true, "in grace");
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(gateway.check(&app, new_secret, &[]).await["client_id"], imported["id"]);
    app.clock.advance(61);
    assert_eq!(gateway.check(&app, LEGACY, &[]).await, json!({"active": false}), "grace over");

    // A revoked key is inactive.
    let path = format!("/v1/keys/{}/revoke", generated["id"].as_str().unwrap());
    assert!(app.post_with(&admin, &path, &json!({})).await.status().is_success());
    let body = gateway.check(&app, generated["client_secret"].as_str().unwrap(), &[]).await;
    assert_eq!(body, json!({"active": false}), "revoked");

    // Only a caller holding keymint:introspect may ask.
    let (id, secret) = app.new_client("not-a-gateway", &["read:a"]).await;
    let outsider = Gateway { id, secret };
    let response = outsider.send(&app, new_secret, &[]).await;
    assert_oauth_error(response, StatusCode::FORBIDDEN, "insufficient_scope").await;

    // Usage counts each verification as its own outcome, and the refusals by reason.
    let usage = app
        .get_with(&admin, &format!("/v1/keys/{}/usage", imported["id"].as_str().unwrap()))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(usage["total"]["verified"], 3, "{}", usage["total"]);
    assert_eq!(usage["total"]["issued"], 0);
    assert_eq!(usage["total"]["refused"]["wrong_secret"], 1, "the value after its grace");
    let key = app
        .get_with(&admin, &format!("/v1/keys/{}", imported["id"].as_str().unwrap()))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert!(key["last_used_at"].is_string(), "a verification is a use: {key}");
}

async fn the_allowlist_is_checked_against_the_address_the_gateway_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let gateway = Gateway::new(&app).await;
    let key = app
        .create_key(json!({"name": "office", "scopes": ["read:a"], "secret": LEGACY,
            "allowed_cidrs": ["10.0.0.0/8"]}))
        .await;
    let inside = gateway.check(&app, LEGACY, &[("client_ip", "10.1.2.3")]).await;
    assert_eq!(inside["client_id"], key["id"], "{inside}");
    let outside = gateway.check(&app, LEGACY, &[("client_ip", "192.0.2.7")]).await;
    assert_eq!(outside, json!({"active": false}));
    // Without an address the allowlist cannot be satisfied: closed, not open.
    assert_eq!(gateway.check(&app, LEGACY, &[]).await, json!({"active": false}));
    let response = gateway.send(&app, LEGACY, &[("client_ip", "10.1.2.300")]).await;
    let body = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body["error_description"].as_str().unwrap().contains("client_ip"), "{body}");
}

async fn failed_verifications_count_for_the_address_limit(backend: Backend) {
    let app = spawn_app_with(backend, &["--auth-failures-per-ip", "3"]).await;
    let gateway = Gateway::new(&app).await;
    app.create_key(json!({"name": "good", "scopes": ["read:a"], "secret": LEGACY})).await;
    let attacker = [("client_ip", "198.51.100.9")];
    for i in 0..3 {
        let guess = format!("guessed-legacy-value-{i:04}-abcdefgh");
        assert_eq!(gateway.check(&app, &guess, &attacker).await, json!({"active": false}));
    }
    // The address is now over its limit: even a good value from it is refused...
    assert_eq!(gateway.check(&app, LEGACY, &attacker).await, json!({"active": false}));
    // ...while the same key from elsewhere is unaffected.
    let elsewhere = gateway.check(&app, LEGACY, &[("client_ip", "198.51.100.10")]).await;
    assert_eq!(elsewhere["active"], true, "{elsewhere}");
}

async fn keys_imported_before_lookups_are_found_after_their_next_exchange(backend: Backend) {
    let app = spawn_app(backend).await;
    let gateway = Gateway::new(&app).await;
    let key = app.create_key(json!({"name": "old", "scopes": ["read:a"], "secret": LEGACY})).await;
    let id = key["id"].as_str().unwrap();
    // As a key imported before lookups existed (or under another master key) is:
    // a fresh instance has no memory of it, and the row has no lookup.
    let mut record = app.app.store.find_key(id).await.unwrap().unwrap();
    if let keymint::store::Credential::Secret { current: Some(current), .. } =
        &mut record.credential
    {
        current.lookup = None;
    }
    let audit = keymint::store::AuditRecord {
        id: 0,
        at_us: app.clock_now() * 1_000_000,
        actor: "test".into(),
        actor_email: None,
        actor_ip: None,
        workspace_id: None,
        action: keymint::vocab::Action::KeyUpdate,
        target_id: id.into(),
        details: json!({}),
        event: None,
    };
    app.app.store.update_key(&record, &audit).await.unwrap();
    let app = app.restart().await;
    assert_eq!(gateway.check(&app, LEGACY, &[]).await, json!({"active": false}));
    // One token exchange with the secret indexes it.
    app.access_token(id, LEGACY).await;
    assert_eq!(gateway.check(&app, LEGACY, &[]).await["client_id"], id);
}

on_both_backends!(
    raw_keys_are_verified_under_the_token_endpoints_rules,
    the_allowlist_is_checked_against_the_address_the_gateway_names,
    failed_verifications_count_for_the_address_limit,
    keys_imported_before_lookups_are_found_after_their_next_exchange,
);
