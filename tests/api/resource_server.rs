//! A resource server verifying keymint's tokens with the `keymint-verify` crate,
//! against a real keymint: what it accepts, and each forgery or mistake it
//! refuses with the RFC 6750 error it maps to.

use base64::Engine;
use keymint::clock::Clock;
use keymint_verify::verifier::{Error, Verifier};
use serde_json::{json, Value};

use crate::helpers::{start_instance, Backend, TestApp};

crate::on_both_backends!(
    a_token_with_the_right_scope_is_accepted_and_others_refused,
    forged_tokens_are_refused,
    an_unknown_kid_fetches_the_keys_again_at_a_bounded_rate,
    the_keys_held_keep_verifying_while_keymint_is_down,
    introspection_answers_are_kept_briefly_and_raw_keys_can_be_refused,
);

const AUDIENCE: &str = "https://api.example.test";

async fn verifier(app: &TestApp, audience: &str) -> Verifier {
    let clock = app.clock.clone();
    Verifier::discover(&app.issuer, audience)
        .await
        .expect("discovery and JWKS")
        .with_clock(move || clock.now())
}

async fn token(app: &TestApp, scopes: &[&str]) -> String {
    let (id, secret) = app.new_client("agents-api-client", scopes).await;
    app.access_token(&id, &secret).await
}

fn invalid(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::InvalidToken(why)) => why,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

async fn a_token_with_the_right_scope_is_accepted_and_others_refused(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let token = token(&app, &["read:agents/*", "write:prompts/**"]).await;
    let verifier = verifier(&app, AUDIENCE).await;

    let claims = verifier.verify(&token).await.expect("a keymint token verifies");
    assert!(claims.client_id.len() > 8);
    claims.require("read:agents/42").expect("read:agents/* covers read:agents/42");
    claims.require("read:prompts/a/b").expect("write implies read, ** spans levels");
    assert_eq!(
        claims.require("write:agents/42"),
        Err(Error::InsufficientScope("write:agents/42".into())),
        "insufficient_scope names the scope needed"
    );
    assert!(matches!(claims.require("read:agents/42/logs"), Err(Error::InsufficientScope(_))));

    // For another API.
    let elsewhere = self::verifier(&app, "https://other-api.example.test").await;
    assert!(invalid(elsewhere.verify(&token).await).contains("InvalidAudience"));

    // From another issuer with the same signing keys (another instance's URL).
    let other = start_instance(app.db.clone(), &[]).await;
    let (id, secret) = app.new_client("second", &["read:agents/*"]).await;
    let foreign = other.access_token(&id, &secret).await;
    assert!(invalid(verifier.verify(&foreign).await).contains("InvalidIssuer"));

    // Expired, past the minute of leeway.
    app.clock.advance(600 + 61);
    assert_eq!(invalid(verifier.verify(&token).await), "token expired");
}

/// A token with `header` and `claims`, signed by `sign` over its first two parts.
fn forge(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let head =
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = sign(head.as_bytes());
    format!("{head}.{}", b64(&signature))
}

async fn forged_tokens_are_refused(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let token = token(&app, &["read:agents/*"]).await;
    let verifier = verifier(&app, AUDIENCE).await;
    let parts: Vec<&str> = token.split('.').collect();
    let decode = |p: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap())
            .unwrap()
    };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    let kid = header["kid"].as_str().unwrap();
    let jwks = app.public_json("/.well-known/jwks.json").await;
    let public = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap().clone();

    let none = forge(json!({"alg": "none", "typ": "at+jwt", "kid": kid}), &claims, |_| vec![]);
    assert!(verifier.verify(&none).await.is_err(), "alg none");
    // HMAC keyed with the public key, the classic confusion.
    let hmac = forge(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}), &claims, |data| {
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.to_string().as_bytes());
        aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec()
    });
    assert_eq!(invalid(verifier.verify(&hmac).await), "algorithm does not match the signing key");
    // A changed claim under the genuine signature.
    let mut widened = claims.clone();
    widened["scope"] = json!("admin:*");
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let tampered = format!("{}.{}.{}", parts[0], b64(&widened), parts[2]);
    assert!(invalid(verifier.verify(&tampered).await).contains("InvalidSignature"));
    // Not an access token (typ), and a key named by URL.
    let mut jwt = header.clone();
    jwt["typ"] = json!("JWT");
    let retyped = format!("{}.{}.{}", b64(&jwt), parts[1], parts[2]);
    assert_eq!(invalid(verifier.verify(&retyped).await), "token type must be at+jwt");
    let mut located = header.clone();
    located["jku"] = json!("https://evil.example/jwks.json");
    let relocated = format!("{}.{}.{}", b64(&located), parts[1], parts[2]);
    assert_eq!(invalid(verifier.verify(&relocated).await), "key-location headers are not accepted");
    assert_eq!(invalid(verifier.verify("not.a.token").await), "malformed token");
    assert!(verifier.verify(&token).await.is_ok(), "the genuine token still verifies");
}

async fn an_unknown_kid_fetches_the_keys_again_at_a_bounded_rate(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let token = token(&app, &["read:agents/*"]).await;
    let verifier = verifier(&app, AUDIENCE).await;
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(verifier.jwks_fetches(), 1, "the first verification read the keys");
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unknown = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "made-up"})),
        parts[1],
        parts[2]
    );
    assert_eq!(invalid(verifier.verify(&unknown).await), "unknown signing key");
    assert_eq!(verifier.jwks_fetches(), 1, "the keys were read moments ago: not again");
    app.clock.advance(10);
    assert_eq!(invalid(verifier.verify(&unknown).await), "unknown signing key");
    assert_eq!(verifier.jwks_fetches(), 2, "one fetch for the unknown kid");
    for _ in 0..20 {
        assert!(verifier.verify(&unknown).await.is_err());
    }
    assert_eq!(verifier.jwks_fetches(), 2, "no more within 10 seconds");
    app.clock.advance(10);
    assert!(verifier.verify(&unknown).await.is_err());
    assert_eq!(verifier.jwks_fetches(), 3);
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(verifier.jwks_fetches(), 3, "a known kid is served from the cache");
}

async fn the_keys_held_keep_verifying_while_keymint_is_down(backend: Backend) {
    let mut app = crate::helpers::spawn_app(backend).await;
    let token = token(&app, &["read:agents/*"]).await;
    let verifier = verifier(&app, AUDIENCE).await;
    assert!(verifier.verify(&token).await.is_ok());
    app.stop().await;
    assert!(verifier.verify(&token).await.is_ok());
    // Past the JWKS's max-age: the fetch fails, the keys held still verify.
    app.clock.advance(301);
    assert!(verifier.verify(&token).await.is_ok(), "stale keys serve while keymint is down");
    assert_eq!(verifier.jwks_fetches(), 2, "it tried once");
}

async fn introspection_answers_are_kept_briefly_and_raw_keys_can_be_refused(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, secret) = app.new_client("agents-api", &["keymint:introspect"]).await;
    let (client, client_secret) = app.new_client("caller", &["read:agents/*"]).await;
    let token = app.access_token(&client, &client_secret).await;
    let verifier = verifier(&app, AUDIENCE).await.with_introspection(&id, &secret).unwrap();
    assert!(verifier.verify(&token).await.is_ok());
    let raw = verifier.verify(&client_secret).await.expect("a raw key, through introspection");
    assert!(raw.raw_key);
    assert_eq!(raw.client_id, client);
    assert_eq!(raw.scope, "read:agents/*");

    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client, Some(&client_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    assert!(verifier.verify(&token).await.is_ok(), "the answer is kept 10 s");
    app.clock.advance(11);
    assert_eq!(invalid(verifier.verify(&token).await), "the token is no longer active");

    let tokens_only = self::verifier(&app, AUDIENCE)
        .await
        .with_introspection(&id, &secret)
        .unwrap()
        .with_raw_keys(false);
    assert_eq!(invalid(tokens_only.verify(&client_secret).await), "malformed token");

    // A key without keymint:introspect cannot introspect: unavailable, not a bad token.
    let unable =
        self::verifier(&app, AUDIENCE).await.with_introspection(&client, &client_secret).unwrap();
    let fresh = app.access_token(&client, &client_secret).await;
    assert!(matches!(unable.verify(&fresh).await, Err(Error::Unavailable(_))));
}

#[tokio::test]
async fn a_keymint_that_cannot_be_reached_is_unavailable_not_a_bad_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let result = Verifier::discover(&format!("http://{addr}"), AUDIENCE).await;
    assert!(matches!(result, Err(Error::Unavailable(_))), "{result:?}");
}
