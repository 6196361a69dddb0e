//! The management API accepts only keymint's own `at+jwt` tokens, verified with the
//! published key and its pinned algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, Backend, TestApp};
use crate::on_both_backends;

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims, it.next().unwrap().to_string())
}

fn assemble(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", B64.encode(header.to_string()), B64.encode(claims.to_string()))
}

async fn refused(app: &TestApp, token: &str, why: &str) -> Value {
    let response = app.get_with(token, "/v1/keys").await;
    let challenge =
        response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    assert!(
        challenge.as_deref().is_some_and(|c| c.contains(r#"error="invalid_token""#)),
        "{why}: {challenge:?}"
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid-token").await
}

/// Refused for `reason` (the problem's detail): a token signed by keymint's own
/// current key, so the signature is not what refuses it.
async fn refused_for(app: &TestApp, header: &Value, claims: &Value, reason: &str) {
    let key = app.app.keyring.current();
    let token = key.sign_with_header(header, claims.to_string().as_bytes()).unwrap();
    let problem = refused(app, &token, reason).await;
    assert_eq!(problem["detail"], reason, "{problem}");
}

async fn forged_and_confused_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let real = app.admin_token().await;
    assert_eq!(app.get_with(&real, "/v1/keys").await.status(), StatusCode::OK);
    let (header, claims, signature) = parts(&real);

    let mut none = header.clone();
    none["alg"] = json!("none");
    refused(&app, &assemble(&none, &claims, ""), "alg none").await;

    // HS256 keyed with the published public key (algorithm confusion).
    let jwks = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().text().await.unwrap();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = header["kid"].as_str().map(str::to_string);
    hs.typ = Some("at+jwt".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(jwks.as_bytes()),
    )
    .unwrap();
    refused(&app, &confused, "HS256 with the public key").await;

    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("not-a-published-kid");
    refused(&app, &assemble(&unknown_kid, &claims, &signature), "unknown kid").await;

    // The real key signing the same header and claims again is accepted: what
    // refuses each variant below is the check it names.
    let key = app.app.keyring.current();
    let resigned = key.sign_with_header(&header, claims.to_string().as_bytes()).unwrap();
    assert_eq!(app.get_with(&resigned, "/v1/keys").await.status(), StatusCode::OK);
    for (name, value) in
        [("jku", "https://evil.example/jwks.json"), ("x5u", "https://evil.example/cert.pem")]
    {
        let mut h = header.clone();
        h[name] = json!(value);
        refused_for(&app, &h, &claims, "key-location headers are not accepted").await;
    }

    let mut jwt_typ = header.clone();
    jwt_typ["typ"] = json!("JWT");
    refused_for(&app, &jwt_typ, &claims, "token type must be at+jwt").await;

    let mut escalated = claims.clone();
    escalated["scope"] = json!("keymint:workspaces:admin");
    refused(&app, &assemble(&header, &escalated, &signature), "tampered claims").await;

    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://elsewhere.example");
    refused_for(&app, &header, &other_issuer, "token rejected: wrong issuer").await;
}

on_both_backends!(forged_and_confused_tokens_are_refused);
