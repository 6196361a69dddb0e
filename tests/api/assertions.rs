//! `private_key_jwt` client authentication (RFC 7523 section 2.2): keys that carry
//! public keys and prove themselves with signed assertions instead of secrets.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, assert_problem, spawn_app, Backend, TestApp};
use crate::on_both_backends;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's P-256 key pair: the private half signs, the public half is its JWK.
pub struct ClientKey {
    encoding: EncodingKey,
    pub jwk: Value,
}

impl ClientKey {
    pub fn new(kid: Option<&str>) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let mut jwk = json!({"kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        ClientKey { encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk }
    }

    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// An ES256 JWT with exactly this header (as JSON) and these claims.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::ES256).unwrap();
        format!("{input}.{signature}")
    }

    /// An ES256 assertion with these claims (the header names this key's `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.jwk["kid"].as_str().map(str::to_string);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The claims a stock client sends: `iss` = `sub` = the client, `aud`, an hour.
pub fn claims(app: &TestApp, client_id: &str, aud: &str) -> Value {
    let now = app.clock_now();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 3600,
        "jti": keymint::apikeys::secret::random_base62(22)})
}

pub async fn token_with(app: &TestApp, assertion: &str) -> Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

async fn refused(app: &TestApp, assertion: &str, why: &str) {
    let response = token_with(app, assertion).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{why}: {body}");
}

async fn a_key_with_public_keys_authenticates_with_signed_assertions(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = ClientKey::new(Some("k1"));
    let created = app
        .create_key(json!({"name": "signer", "scopes": ["read:a"], "jwks": client.jwks()}))
        .await;
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none(), "no secret: {created}");
    assert_eq!(created["masked_secret"], "");
    assert_eq!(created["jwks"]["keys"][0]["kid"], "k1");
    let id = created["client_id"].as_str().unwrap();
    let token_endpoint = app.url("/oauth/token");

    // The token endpoint and the issuer are both accepted as the audience.
    for aud in [token_endpoint.as_str(), app.issuer.as_str()] {
        let response = token_with(&app, &client.sign(&claims(&app, id, aud))).await;
        assert_eq!(response.status(), StatusCode::OK, "aud {aud}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "read:a");
    }

    // Each assertion works once.
    let once = client.sign(&claims(&app, id, &token_endpoint));
    assert_eq!(token_with(&app, &once).await.status(), StatusCode::OK);
    refused(&app, &once, "a replayed assertion").await;

    // Every claim is checked.
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let base = || claims(&app, id, &token_endpoint);
    let mut c = base();
    c["aud"] = json!("https://elsewhere.example");
    cases.push((c, "another audience"));
    let mut c = base();
    c["aud"] = json!(app.url("/oauth/introspect"));
    cases.push((c, "an endpoint other than the token endpoint"));
    let mut c = base();
    c["exp"] = json!(app.clock_now() - 60);
    cases.push((c, "expired"));
    let mut c = base();
    c["exp"] = json!(app.clock_now() + 7200);
    cases.push((c, "living longer than an hour"));
    let mut c = base();
    c["iat"] = json!(app.clock_now() + 600);
    cases.push((c, "issued in the future"));
    let mut c = base();
    c["iss"] = json!("someone-else");
    cases.push((c, "iss differs from sub"));
    let mut c = base();
    c.as_object_mut().unwrap().remove("jti");
    cases.push((c, "no jti"));
    for (c, why) in cases {
        refused(&app, &client.sign(&c), why).await;
    }

    // Keys and algorithms: a foreign key, an unknown kid, alg none, HMAC keyed with
    // the public key.
    let stranger = ClientKey::new(Some("k1"));
    refused(&app, &stranger.sign(&base()), "signed by a foreign key").await;
    let unknown_kid = ClientKey { encoding: client.encoding.clone(), jwk: json!({"kid": "k9"}) };
    refused(&app, &unknown_kid.sign(&base()), "an unknown kid").await;
    let no_kid = ClientKey { encoding: client.encoding.clone(), jwk: json!({}) };
    let response = token_with(&app, &no_kid.sign(&base())).await;
    assert_eq!(response.status(), StatusCode::OK, "no kid: each of the key's keys is tried");
    let payload = URL_SAFE_NO_PAD.encode(base().to_string());
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    refused(&app, &none, "alg none").await;
    let hmac_key = EncodingKey::from_secret(client.jwk.to_string().as_bytes());
    let hmac = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &base(), &hmac_key).unwrap();
    refused(&app, &hmac, "HMAC keyed with the public key").await;

    // A key without a secret refuses every secret.
    let response = app.token_post(id, "km_live_guess", &[]).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // Usage counts the refusals against the key: all but the one whose iss named
    // someone else (it names no key).
    let admin = app.admin_token().await;
    let usage: Value = app.get_json(&admin, &format!("/v1/keys/{id}/usage")).await;
    assert_eq!(usage["total"]["issued"], 4, "{}", usage["total"]);
    assert_eq!(usage["total"]["refused"]["wrong_secret"], 12, "{}", usage["total"]);
}

async fn malformed_assertion_requests_get_the_right_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = ClientKey::new(None);
    let created = app.create_key(json!({"name": "signer", "jwks": client.jwks()})).await;
    let id = created["client_id"].as_str().unwrap();
    let assertion = client.sign(&claims(&app, id, &app.url("/oauth/token")));
    let send = |form: Vec<(&'static str, String)>| {
        let request = app.client.post(app.url("/oauth/token")).form(&form);
        async move { request.send().await.unwrap() }
    };
    let grant = ("grant_type", "client_credentials".to_string());
    let kind = ("client_assertion_type", ASSERTION_TYPE.to_string());
    let body = ("client_assertion", assertion.clone());
    for (form, why) in [
        (vec![grant.clone(), body.clone()], "no client_assertion_type"),
        (vec![grant.clone(), kind.clone()], "no client_assertion"),
        (
            vec![grant.clone(), ("client_assertion_type", "urn:x".into()), body.clone()],
            "another assertion type",
        ),
        (
            vec![grant.clone(), kind.clone(), body.clone(), ("client_secret", "x".into())],
            "a secret as well",
        ),
        (
            vec![
                grant.clone(),
                kind.clone(),
                body.clone(),
                ("client_id", "AAAAAAAAAAAAAAAA".into()),
            ],
            "another client_id",
        ),
    ] {
        let response = send(form).await;
        let error = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(error["error_description"].is_string(), "{why}: {error}");
    }
    let response =
        send(vec![grant.clone(), kind.clone(), ("client_assertion", "junk".into())]).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // The same assertion, well formed, still works (nothing above consumed it).
    let response = send(vec![grant, kind, body, ("client_id", id.to_string())]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn hostile_public_keys_are_refused_naming_the_member(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let good = ClientKey::new(None).jwk;
    let x = good["x"].clone();
    let y = good["y"].clone();
    for (jwks, field) in [
        (json!({"keys": [{"kty": "EC", "crv": "Ed25519", "x": x, "y": y}]}), "jwks.keys[0].crv"),
        (
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "d": x}]}),
            "jwks.keys[0].d",
        ),
        (json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), "jwks.keys[0].k"),
        (
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "HS256"}]}),
            "jwks.keys[0].alg",
        ),
        (json!({"keys": []}), "jwks.keys"),
        (json!({"keys": [good.clone()]}), "secret"),
    ] {
        let mut body = json!({"name": "hostile", "jwks": jwks});
        if field == "secret" {
            body["secret"] = json!("legacy-Secret-value-0123456789");
        }
        let response = app.post_with(&admin, "/v1/keys", &body).await;
        let problem =
            assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let response = app
        .post_with(
            &admin,
            "/v1/keys",
            &json!({"name": "m", "token_endpoint_auth_method": "private_key_jwt"}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(problem["errors"][0]["field"], "jwks");
}

async fn a_key_switches_between_secret_and_assertions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (id, secret) = app.new_client("switcher", &["read:a"]).await;
    let path = format!("/v1/keys/{id}");
    let first = ClientKey::new(Some("one"));
    let response = app
        .patch_with(
            &admin,
            &path,
            &json!({"token_endpoint_auth_method": "private_key_jwt",
            "jwks": first.jwks()}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["changes"]["token_endpoint_auth_method"]["to"], "private_key_jwt");
    assert_eq!(edited["masked_secret"], "");
    let response = app.token_basic(&id, &secret, &[]).await;
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let aud = app.url("/oauth/token");
    assert_eq!(
        token_with(&app, &first.sign(&claims(&app, &id, &aud))).await.status(),
        StatusCode::OK
    );

    // A rotation is refused: there is no secret; the public keys change by an edit.
    let response = app.post_with(&admin, &format!("{path}/rotate"), &json!({})).await;
    assert_problem(response, StatusCode::CONFLICT, "conflict").await;
    let second = ClientKey::new(Some("two"));
    let response = app.patch_with(&admin, &path, &json!({"jwks": second.jwks()})).await;
    assert_eq!(response.status(), StatusCode::OK);
    refused(&app, &first.sign(&claims(&app, &id, &aud)), "the replaced public key").await;
    assert_eq!(
        token_with(&app, &second.sign(&claims(&app, &id, &aud))).await.status(),
        StatusCode::OK
    );

    // And back: no secret until a rotation gives one.
    let response = app
        .patch_with(&admin, &path, &json!({"token_endpoint_auth_method": "client_secret_basic"}))
        .await;
    let edited: Value = response.json().await.unwrap();
    assert!(edited["jwks"].is_null(), "{edited}");
    let warnings = edited["warnings"].to_string();
    assert!(warnings.contains("rotate"), "{warnings}");
    refused(&app, &second.sign(&claims(&app, &id, &aud)), "assertions after the switch back").await;
    let rotated = app.post_json(&admin, &format!("{path}/rotate"), &json!({})).await;
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(app.token_basic(&id, new_secret, &[]).await.status(), StatusCode::OK);
}

async fn assertions_authenticate_introspection_and_revocation(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = ClientKey::new(None);
    let gateway = app
        .create_key(
            json!({"name": "gateway", "scopes": ["keymint:introspect"], "jwks": key.jwks()}),
        )
        .await;
    let gateway_id = gateway["client_id"].as_str().unwrap();
    let (id, secret) = app.new_client("caller", &["read:a"]).await;
    let token = app.access_token(&id, &secret).await;
    let aud = app.url("/oauth/token");
    let call = |path: &'static str, assertion: String, token: String| {
        let request = app.client.post(app.url(path)).form(&[
            ("token", token),
            ("client_assertion_type", ASSERTION_TYPE.to_string()),
            ("client_assertion", assertion),
        ]);
        async move { request.send().await.unwrap() }
    };
    let response =
        call("/oauth/introspect", key.sign(&claims(&app, gateway_id, &aud)), token.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], id.as_str());

    // A client revokes its own token with an assertion.
    let own = key.sign(&claims(&app, gateway_id, &aud));
    let gateway_token = token_with(&app, &own).await.json::<Value>().await.unwrap();
    let gateway_token = gateway_token["access_token"].as_str().unwrap().to_string();
    let response =
        call("/oauth/revoke", key.sign(&claims(&app, gateway_id, &aud)), gateway_token.clone())
            .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response =
        call("/oauth/introspect", key.sign(&claims(&app, gateway_id, &aud)), gateway_token).await;
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"active": false}));
}

async fn an_assertion_replayed_on_another_instance_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let peer = app.spawn_peer().await;
    let key = ClientKey::new(None);
    let created = app.create_key(json!({"name": "signer", "jwks": key.jwks()})).await;
    let id = created["client_id"].as_str().unwrap();
    let assertion = key.sign(&claims(&app, id, &app.url("/oauth/token")));
    assert_eq!(token_with(&app, &assertion).await.status(), StatusCode::OK);
    // The peer has its own address, but the same issuer, so the audience holds.
    refused(&peer, &assertion, "replayed on the other instance").await;
}

async fn one_assertion_sent_many_times_at_once_gets_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = ClientKey::new(None);
    let created = app.create_key(json!({"name": "signer", "jwks": key.jwks()})).await;
    let id = created["client_id"].as_str().unwrap();
    // Sent together, the copies miss the key cache together and their JWT ids
    // reach the register together: the key loads once for all, and one use wins.
    let assertion = key.sign(&claims(&app, id, &app.url("/oauth/token")));
    let sent = (0..8).map(|_| token_with(&app, &assertion));
    let statuses: Vec<StatusCode> =
        futures::future::join_all(sent).await.iter().map(Response::status).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!((ok, refused), (1, 7), "{statuses:?}");
    // A fresh assertion of the same key still works: the key was found, not refused.
    let fresh = key.sign(&claims(&app, id, &app.url("/oauth/token")));
    assert_eq!(token_with(&app, &fresh).await.status(), StatusCode::OK);
}

/// A client's web server publishing its JWK Set: what it serves, and how often
/// it was asked.
struct Publisher {
    url: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Publisher {
    async fn start(initial: &Value) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let body = Arc::new(Mutex::new(initial.to_string()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (body.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                counted.fetch_add(1, Ordering::SeqCst);
                async move { ([("content-type", "application/json")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Publisher { url, body, fetches }
    }

    fn publish(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn keys_published_at_a_jwks_uri_verify_assertions(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, &["--allow-private-jwks-uri"]).await;
    let first = ClientKey::new(Some("first"));
    let publisher = Publisher::start(&first.jwks()).await;
    let created = app.create_key(json!({"name": "publisher", "jwks_uri": publisher.url})).await;
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(created["jwks_uri"], publisher.url.as_str());
    assert!(created["jwks"].is_null());
    let id = created["client_id"].as_str().unwrap();
    let aud = app.url("/oauth/token");
    for _ in 0..3 {
        let response = token_with(&app, &first.sign(&claims(&app, id, &aud))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(publisher.fetches(), 1, "fetched once, then kept");

    // The client rotates: a new kid is fetched for, but not more than once in 10 s.
    let second = ClientKey::new(Some("second"));
    publisher.publish(second.jwks().to_string());
    refused(&app, &second.sign(&claims(&app, id, &aud)), "fetched moments ago").await;
    app.clock.advance(11);
    let response = token_with(&app, &second.sign(&claims(&app, id, &aud))).await;
    assert_eq!(response.status(), StatusCode::OK, "the new kid is fetched");
    assert_eq!(publisher.fetches(), 2);
    refused(&app, &first.sign(&claims(&app, id, &aud)), "the retired key").await;
    assert_eq!(publisher.fetches(), 2, "an unknown kid within 10 s fetches nothing");

    // What the publisher answers is outside input: too large, or a private key.
    for (body, why) in [
        (format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(70_000)), "over 64 KiB"),
        (json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string(), "a symmetric key"),
    ] {
        publisher.publish(body);
        app.clock.advance(301);
        refused(&app, &second.sign(&claims(&app, id, &aud)), why).await;
    }
}

async fn a_jwks_uri_on_loopback_is_refused_unless_the_operator_allows_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    for (uri, why) in [
        ("http://client.example.com/jwks.json", "https"),
        ("https://127.0.0.1/jwks.json", "loopback"),
        ("https://[::1]:8443/jwks.json", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "private"),
    ] {
        let response =
            app.post_with(&admin, "/v1/keys", &json!({"name": "x", "jwks_uri": uri})).await;
        let problem =
            assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(problem["errors"][0]["field"], "jwks_uri", "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains(why), "{uri}: {problem}");
    }
    // A name is checked when it is resolved: localhost is never fetched.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let uri = format!("https://localhost:{port}/jwks.json");
    let created = app.create_key(json!({"name": "sneaky", "jwks_uri": uri})).await;
    let id = created["client_id"].as_str().unwrap();
    let key = ClientKey::new(None);
    refused(&app, &key.sign(&claims(&app, id, &app.url("/oauth/token"))), "resolves to loopback")
        .await;
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept());
    assert!(accepted.await.is_err(), "keymint never connected to the loopback address");
}

on_both_backends!(
    keys_published_at_a_jwks_uri_verify_assertions,
    a_jwks_uri_on_loopback_is_refused_unless_the_operator_allows_it,
    a_key_with_public_keys_authenticates_with_signed_assertions,
    malformed_assertion_requests_get_the_right_error,
    hostile_public_keys_are_refused_naming_the_member,
    a_key_switches_between_secret_and_assertions,
    assertions_authenticate_introspection_and_revocation,
    an_assertion_replayed_on_another_instance_is_refused,
    one_assertion_sent_many_times_at_once_gets_one_token,
);
