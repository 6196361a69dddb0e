//! JWKS, RFC 8414 metadata, health and readiness.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;

async fn jwks_publishes_public_members_only_with_cache_control(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    for member in ["kid", "kty", "crv", "x", "y", "use", "alg"] {
        assert!(key.contains_key(member), "missing {member}");
    }
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "ES256");
    assert!(!key.contains_key("d"), "private member published");
    assert_eq!(key["kid"], app.app.keyring.current().kid());
}

async fn metadata_is_served_at_both_well_known_paths(backend: Backend) {
    let app = spawn_app(backend).await;
    let rfc8414: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oidc: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414, oidc);
    assert_eq!(rfc8414["issuer"], app.base.as_str());
    assert_eq!(rfc8414["token_endpoint"], app.url("/oauth/token"));
    assert_eq!(rfc8414["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(
        rfc8414["grant_types_supported"],
        serde_json::json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ])
    );
    assert_eq!(
        rfc8414["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"])
    );
    assert_eq!(
        rfc8414["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!([
            "ES256", "ES384", "EdDSA", "Ed25519", "RS256", "RS384", "RS512", "PS256", "PS384",
            "PS512"
        ]),
        "asymmetric only: never none, never HMAC"
    );
    assert!(rfc8414["response_types_supported"].is_array());
    // The endpoints it names are live.
    let jwks = reqwest::get(rfc8414["jwks_uri"].as_str().unwrap()).await.unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
}

async fn health_and_readiness_report_their_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["signing_key"], app.app.keyring.current().kid());
}

async fn unknown_paths_are_problem_documents(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = reqwest::get(app.url("/v1/nothing-here")).await.unwrap();
    crate::helpers::assert_problem(response, StatusCode::NOT_FOUND, "not-found").await;
}

/// The discovery documents are served apart from the API's layers, and answer like
/// the rest of it: a method they do not take is a problem document, and each
/// request's latency is in the metrics under its route.
async fn discovery_documents_answer_like_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = reqwest::Client::new();
    let posted = client.post(app.url("/.well-known/jwks.json")).send().await.unwrap();
    crate::helpers::assert_problem(posted, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed")
        .await;
    for path in ["/.well-known/jwks.json", "/.well-known/openid-configuration"] {
        assert_eq!(reqwest::get(app.url(path)).await.unwrap().status(), StatusCode::OK);
    }
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    for route in ["/.well-known/jwks.json", "/.well-known/openid-configuration"] {
        let count = format!("endpoint=\"{route}\"}} ");
        let line = metrics.lines().find(|l| l.contains("_count{") && l.contains(&count));
        let line = line.unwrap_or_else(|| panic!("no latency count for {route}:\n{metrics}"));
        assert!(!line.ends_with(" 0"), "{line}");
    }
}

on_both_backends!(
    jwks_publishes_public_members_only_with_cache_control,
    metadata_is_served_at_both_well_known_paths,
    health_and_readiness_report_their_state,
    unknown_paths_are_problem_documents,
    discovery_documents_answer_like_the_api,
);
