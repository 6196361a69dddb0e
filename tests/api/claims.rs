//! A key's `claims` (copied into its tokens) and `owner` (an external id): set
//! and refused by `/v1/keys`, carried by tokens and introspection (raw keys too),
//! found by owner in listings and usage, and audited when they change.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, TestApp};
use crate::introspection::Introspector;

crate::on_both_backends!(
    claims_and_owner_reach_tokens_introspection_listings_and_usage,
    claims_that_keymint_sets_or_that_are_too_big_are_refused_by_name,
    changing_claims_is_previewed_with_a_warning_and_audited,
);

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn key_with(app: &TestApp, name: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": name, "scopes": ["read:agents/*"]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = app.create_key(body).await;
    (
        created["client_id"].as_str().unwrap().into(),
        created["client_secret"].as_str().unwrap().into(),
    )
}

async fn claims_and_owner_reach_tokens_introspection_listings_and_usage(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = json!({"tenant": "acme", "tier": 3, "features": ["beta"]});
    let (id, secret) =
        key_with(&app, "acme-sync", json!({"claims": claims, "owner": "cus_acme"})).await;
    let (other, other_secret) = key_with(&app, "globex-sync", json!({"owner": "cus_globex"})).await;

    let admin = app.admin_token().await;
    let key = app.get_json(&admin, &format!("/v1/keys/{id}")).await;
    assert_eq!(key["claims"], claims);
    assert_eq!(key["owner"], "cus_acme");

    // Every token of the key carries the claims at the top level.
    let token = app.access_token(&id, &secret).await;
    let body = payload(&token);
    assert_eq!(
        (&body["tenant"], &body["tier"], &body["features"]),
        (&json!("acme"), &json!(3), &json!(["beta"]))
    );
    assert_eq!(body["sub"], id.as_str(), "keymint's own claims stay");
    assert!(payload(&app.access_token(&other, &other_secret).await).get("tenant").is_none());

    // Introspection returns the owner and the claims, for tokens and raw keys.
    let rs = Introspector::new(&app).await;
    let answer = rs.active(&app, &token).await;
    assert_eq!((&answer["owner"], &answer["tenant"]), (&json!("cus_acme"), &json!("acme")));
    let raw = rs.active(&app, &secret).await;
    assert_eq!(raw["token_type"], "api_key");
    assert_eq!((&raw["owner"], &raw["tier"]), (&json!("cus_acme"), &json!(3)));
    assert_eq!(raw["client_id"], id.as_str());

    // Listings and usage by owner.
    let listed = app.get_json(&admin, "/v1/keys?owner=cus_acme").await;
    let ids: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()]);
    let usage = app.get_json(&admin, "/v1/usage?owner=cus_acme").await;
    assert_eq!(usage["owner"], "cus_acme");
    assert_eq!(usage["total"]["issued"], 1, "one token for acme's key: {usage}");
    assert_eq!(usage["top_keys"][0]["key_id"], id.as_str());
    let globex = app.get_json(&admin, "/v1/usage?owner=cus_globex").await;
    assert_eq!(globex["total"]["issued"], 1);
    let nobody = app.get_json(&admin, "/v1/usage?owner=cus_nobody").await;
    assert_eq!(nobody["total"]["issued"], 0);
}

async fn claims_that_keymint_sets_or_that_are_too_big_are_refused_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let refused = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let response = app.post_with(&admin, "/v1/keys", &body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
            response.json::<Value>().await.unwrap()
        }
    };
    for name in ["sub", "aud", "exp", "scope", "client_id", "cnf", "act", "workspace_id", "active"]
    {
        let problem = refused(json!({"name": "k", "claims": {name: "x"}})).await;
        let detail = problem.to_string();
        assert!(detail.contains("claims") && detail.contains(&format!("'{name}'")), "{problem}");
    }
    let problem = refused(json!({"name": "k", "claims": {"blob": "x".repeat(2100)}})).await;
    assert!(problem.to_string().contains("2048"), "{problem}");
    let problem = refused(json!({"name": "k", "claims": ["not", "an", "object"]})).await;
    assert!(problem.to_string().contains("JSON object"), "{problem}");
    let problem = refused(json!({"name": "k", "owner": "x".repeat(201)})).await;
    assert!(problem.to_string().contains("owner"), "{problem}");
    let problem = refused(json!({"name": "k", "federated_credentials": [
        {"issuer": "http://platform.example", "subject": "s", "audiences": ["keymint"]}]}))
    .await;
    assert!(problem.to_string().contains("https"), "{problem}");
}

async fn changing_claims_is_previewed_with_a_warning_and_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, _) = key_with(&app, "k", json!({"claims": {"tier": 1}})).await;
    let admin = app.admin_token().await;
    let path = format!("/v1/keys/{id}");
    let change = json!({"claims": {"tier": 2}, "owner": "team-payments"});
    let response = app.patch_with(&admin, &format!("{path}?dry_run=true"), &change).await;
    assert_eq!(response.status(), StatusCode::OK);
    let preview: Value = response.json().await.unwrap();
    assert_eq!(preview["changes"]["claims"], json!({"from": {"tier": 1}, "to": {"tier": 2}}));
    let warnings = preview["warnings"].to_string();
    assert!(warnings.contains("claims in its tokens change"), "{warnings}");
    assert_eq!(app.get_json(&admin, &path).await["claims"], json!({"tier": 1}), "nothing saved");

    let response = app.patch_with(&admin, &path, &change).await;
    assert_eq!(response.status(), StatusCode::OK);
    let audit = app.get_json(&admin, &format!("/v1/audit?target_id={id}&action=key.update")).await;
    let details = &audit["data"][0]["details"];
    assert_eq!(details["claims"]["to"], json!({"tier": 2}), "{audit}");
    assert_eq!(details["owner"], json!({"from": null, "to": "team-payments"}));
}
