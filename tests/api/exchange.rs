//! Token exchange (RFC 8693) and the JWT bearer grant (RFC 7523): delegation of a
//! keymint token to the next hop, and workload federation from a platform issuer
//! that serves discovery and a JWKS and signs tokens shaped like Kubernetes'
//! service account tokens and GitHub Actions' OIDC tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::assertions::ClientKey;
use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, Backend, TestApp};
use crate::introspection::Introspector;

crate::on_both_backends!(
    a_service_narrows_a_token_it_received_for_the_next_hop,
    bound_tokens_stay_bound_actor_tokens_are_the_callers_and_chains_stop_at_four,
    delegation_never_widens_and_dies_with_its_subject_token,
    a_workload_gets_its_keys_token_with_a_platform_token_and_no_secret,
    platform_tokens_that_break_a_rule_are_refused,
);

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A token request from `id:secret` (Basic) with `params`.
async fn exchange(
    app: &TestApp,
    id: &str,
    secret: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let url = app.url("/oauth/token");
    app.client.post(url).basic_auth(id, Some(secret)).form(params).send().await.unwrap()
}

async fn key(app: &TestApp, name: &str, body: Value) -> (String, String) {
    let mut body = body;
    body["name"] = json!(name);
    let created = app.create_key(body).await;
    (
        created["client_id"].as_str().unwrap().into(),
        created["client_secret"].as_str().unwrap_or_default().into(),
    )
}

async fn a_service_narrows_a_token_it_received_for_the_next_hop(backend: Backend) {
    let app = spawn_app(backend).await;
    let billing = "https://billing.example.test";
    let (client, client_secret) = key(
        &app,
        "mobile-app",
        json!({
        "scopes": ["read:invoices/*", "write:invoices/*"],
        "audiences": ["https://gateway.example.test", billing], "claims": {"tenant": "acme"}}),
    )
    .await;
    let (gateway, gateway_secret) = key(
        &app,
        "gateway",
        json!({
        "scopes": ["read:invoices/*"], "audiences": [billing]}),
    )
    .await;
    let response = app
        .token_basic(
            &client,
            &client_secret,
            &[("audience", "https://gateway.example.test"), ("audience", billing)],
        )
        .await;
    let subject =
        response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();

    let response = exchange(
        &app,
        &gateway,
        &gateway_secret,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("scope", "read:invoices/42"),
            ("audience", billing),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read:invoices/42");
    let derived = body["access_token"].as_str().unwrap();
    let (theirs, ours) = (payload(&subject), payload(derived));
    assert_eq!(ours["sub"], client.as_str(), "the subject stays the subject");
    assert_eq!(ours["client_id"], gateway.as_str(), "the client is the caller");
    assert_eq!(ours["act"], json!({"sub": gateway}));
    assert_eq!(ours["aud"], billing);
    assert_eq!(ours["tenant"], "acme", "the subject key's claims carry over");
    assert!(ours["exp"].as_i64() <= theirs["exp"].as_i64());

    // Introspection says who acts, and the chain nests one hop further.
    let rs = Introspector::new(&app).await;
    let answer = rs.active(&app, derived).await;
    assert_eq!((&answer["active"], &answer["act"]["sub"]), (&json!(true), &json!(gateway)));
    let (next, next_secret) =
        key(&app, "ledger", json!({"scopes": ["read:invoices/*"], "audiences": [billing]})).await;
    let response = exchange(
        &app,
        &next,
        &next_secret,
        &[("grant_type", EXCHANGE), ("subject_token", derived), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let hop: Value = response.json().await.unwrap();
    let act = &payload(hop["access_token"].as_str().unwrap())["act"];
    assert_eq!(act, &json!({"sub": next, "act": {"sub": gateway}}));
    assert_eq!(hop["scope"], "read:invoices/42", "no wider than what it came from");
}

async fn delegation_never_widens_and_dies_with_its_subject_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, client_secret) = key(&app, "client", json!({"scopes": ["read:a/*"]})).await;
    let (gateway, gateway_secret) =
        key(&app, "gateway", json!({"scopes": ["read:a/*", "write:a/*"]})).await;
    let (narrow, narrow_secret) = key(&app, "narrow", json!({"scopes": ["read:b/*"]})).await;
    let subject = app.access_token(&client, &client_secret).await;
    let ask = |scope: &'static str, subject: String| {
        let app = &app;
        let (gateway, gateway_secret) = (gateway.clone(), gateway_secret.clone());
        async move {
            let mut params = vec![
                ("grant_type", EXCHANGE.to_string()),
                ("subject_token", subject),
                ("subject_token_type", ACCESS.to_string()),
            ];
            if !scope.is_empty() {
                params.push(("scope", scope.to_string()));
            }
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(app, &gateway, &gateway_secret, &params).await
        }
    };
    // Wider than the subject token: invalid_scope, as RFC 6749 names it.
    assert_oauth_error(
        ask("write:a/1", subject.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    // Nothing the caller may delegate.
    let response = exchange(
        &app,
        &narrow,
        &narrow_secret,
        &[("grant_type", EXCHANGE), ("subject_token", &subject), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    // An audience the subject token does not carry: invalid_target.
    let response = exchange(
        &app,
        &gateway,
        &gateway_secret,
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("audience", "https://elsewhere.test"),
        ],
    )
    .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_target").await;
    // Not a token of ours, a widened one, an expired one: invalid_request (RFC 8693 2.2.2).
    let mut claims = payload(&subject);
    claims["scope"] = json!("write:a/*");
    let parts: Vec<&str> = subject.split('.').collect();
    let widened =
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    for bad in ["junk".to_string(), widened] {
        assert_oauth_error(ask("", bad).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let missing = exchange(
        &app,
        &gateway,
        &gateway_secret,
        &[("grant_type", EXCHANGE), ("subject_token", &subject)],
    )
    .await;
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let wrong_secret = exchange(
        &app,
        &gateway,
        "km_live_wrong",
        &[("grant_type", EXCHANGE), ("subject_token", &subject), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_oauth_error(wrong_secret, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // A derived token dies with its subject token.
    let response = ask("", subject.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let derived =
        response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let rs = Introspector::new(&app).await;
    assert_eq!(rs.active(&app, &derived).await["active"], true);
    let revoked = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client, Some(&client_secret))
        .form(&[("token", subject.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(rs.active(&app, &derived).await["active"], false, "derived from a revoked token");
    assert_oauth_error(ask("", subject).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    let usage = app.get_json(&app.admin_token().await, &format!("/v1/keys/{gateway}/usage")).await;
    assert_eq!(usage["total"]["exchanged"], 1, "{usage}");
}

async fn bound_tokens_stay_bound_actor_tokens_are_the_callers_and_chains_stop_at_four(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (client, client_secret) = key(&app, "client", json!({"scopes": ["read:a/*"]})).await;
    let (gateway, gateway_secret) = key(&app, "gateway", json!({"scopes": ["read:a/*"]})).await;
    let url = app.url("/oauth/token");
    let proof = |key: &ClientKey| {
        let claims = json!({"jti": keymint::apikeys::secret::random_base62(22), "htm": "POST",
            "htu": url, "iat": app.clock_now()});
        key.sign_raw(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}), &claims)
    };
    // A DPoP-bound subject token is exchanged only with a proof, which binds the new one.
    let client_key = ClientKey::new(None);
    let bound = app
        .client
        .post(&url)
        .basic_auth(&client, Some(&client_secret))
        .header("DPoP", proof(&client_key))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", bound.as_str()),
        ("subject_token_type", ACCESS),
    ];
    let unbound = exchange(&app, &gateway, &gateway_secret, &form).await;
    assert_oauth_error(unbound, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let gateway_key = ClientKey::new(None);
    let response = app
        .client
        .post(&url)
        .basic_auth(&gateway, Some(&gateway_secret))
        .header("DPoP", proof(&gateway_key))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let jkt = payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"].clone();
    assert_eq!(jkt, json!(crate::dpop::thumbprint(&gateway_key.jwk)), "bound to the caller's key");

    // An actor token must be the caller's own.
    let subject = app.access_token(&client, &client_secret).await;
    let own = app.access_token(&gateway, &gateway_secret).await;
    let with_actor = |actor: String| {
        let (app, gateway, gateway_secret, subject) =
            (&app, &gateway, &gateway_secret, subject.clone());
        async move {
            exchange(
                app,
                gateway,
                gateway_secret,
                &[
                    ("grant_type", EXCHANGE),
                    ("subject_token", &subject),
                    ("subject_token_type", ACCESS),
                    ("actor_token", &actor),
                    ("actor_token_type", ACCESS),
                ],
            )
            .await
        }
    };
    assert_eq!(with_actor(own).await.status(), StatusCode::OK);
    let others = app.access_token(&client, &client_secret).await;
    assert_oauth_error(with_actor(others).await, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Four actors at most: the fifth hop is refused.
    let mut token = subject;
    for hop in 1..=5 {
        let (id, secret) = key(&app, &format!("hop-{hop}"), json!({"scopes": ["read:a/*"]})).await;
        let response = exchange(
            &app,
            &id,
            &secret,
            &[("grant_type", EXCHANGE), ("subject_token", &token), ("subject_token_type", ACCESS)],
        )
        .await;
        if hop == 5 {
            assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
            break;
        }
        assert_eq!(response.status(), StatusCode::OK, "hop {hop}");
        token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().into();
    }
    let mut depth = 0;
    let claims = payload(&token);
    let mut act = claims.get("act");
    while let Some(a) = act {
        depth += 1;
        act = a.get("act");
    }
    assert_eq!(depth, 4);
}

/// A platform issuer: discovery and a JWKS over HTTP, and tokens it signs.
pub struct Platform {
    pub issuer: String,
    pub key: ClientKey,
}

impl Platform {
    pub async fn start() -> Platform {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = ClientKey::new(Some("platform-1"));
        let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/openid/v1/jwks")});
        let jwks = key.jwks();
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route("/openid/v1/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Platform { issuer, key }
    }

    /// A token shaped like a Kubernetes projected service account token.
    pub fn token(&self, sub: &str, aud: &str, now: i64, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = json!({"iss": self.issuer, "sub": sub, "aud": [aud], "iat": now, "nbf": now,
            "exp": now + 3600, "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"}}});
        edit(&mut claims);
        self.key.sign(&claims)
    }
}

pub const SUBJECT: &str = "system:serviceaccount:payments:api";

async fn federated_app(backend: Backend) -> (TestApp, Platform, String) {
    let app = spawn_app_with(backend, &["--allow-private-jwks-uri"]).await;
    let platform = Platform::start().await;
    let created = app.create_key(json!({"name": "payments-api", "scopes": ["read:ledger/*"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": ClientKey::new(None).jwks(),
        "federated_credentials": [{"issuer": platform.issuer, "subject": SUBJECT, "audiences": ["keymint"]}]})).await;
    let id = created["client_id"].as_str().unwrap().to_string();
    (app, platform, id)
}

async fn federated(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url("/oauth/token")).form(params).send().await.unwrap()
}

async fn a_workload_gets_its_keys_token_with_a_platform_token_and_no_secret(backend: Backend) {
    let (app, platform, id) = federated_app(backend).await;
    let now = app.clock_now();
    let token = platform.token(SUBJECT, "keymint", now, |c| c["exp"] = json!(now + 300));
    // As a token-exchange subject token, twice (platforms reuse theirs), and as
    // an RFC 7523 assertion.
    for _ in 0..2 {
        let response = federated(
            &app,
            &[
                ("grant_type", EXCHANGE),
                ("client_id", &id),
                ("subject_token", &token),
                ("subject_token_type", JWT),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!((&claims["sub"], &claims["scope"]), (&json!(id), &json!("read:ledger/*")));
        assert!(claims["exp"].as_i64().unwrap() <= now + 300, "never outlives the platform token");
        assert_eq!(body["expires_in"], 300);
    }
    let response =
        federated(&app, &[("grant_type", JWT_BEARER), ("client_id", &id), ("assertion", &token)])
            .await;
    assert_eq!(response.status(), StatusCode::OK);
    let usage = app.get_json(&app.admin_token().await, &format!("/v1/keys/{id}/usage")).await;
    assert_eq!(usage["total"]["exchanged"], 3, "{usage}");
    let metadata = app.public_json("/.well-known/oauth-authorization-server").await;
    let grants = metadata["grant_types_supported"].to_string();
    assert!(grants.contains(EXCHANGE) && grants.contains(JWT_BEARER), "{grants}");
}

async fn platform_tokens_that_break_a_rule_are_refused(backend: Backend) {
    let (app, platform, id) = federated_app(backend).await;
    let now = app.clock_now();
    let stranger = ClientKey::new(Some("platform-1"));
    let forged = json!({"iss": platform.issuer, "sub": SUBJECT, "aud": "keymint", "exp": now + 60});
    let foreign = stranger.sign(&forged);
    let header =
        |alg: &str| URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "platform-1"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(forged.to_string());
    let none = format!("{}.{body}.", header("none"));
    // The classic confusion: HMAC keyed with the issuer's public key, as published.
    let input = format!("{}.{body}", header("HS256"));
    let published = platform.key.jwk.to_string();
    let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, published.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&mac, input.as_bytes());
    let hmac = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let cases = [
        (
            "wrong subject",
            platform.token("system:serviceaccount:payments:other", "keymint", now, |_| {}),
        ),
        ("wrong audience", platform.token(SUBJECT, "vault", now, |_| {})),
        ("expired", platform.token(SUBJECT, "keymint", now, |c| c["exp"] = json!(now - 120))),
        (
            "exp missing",
            platform.token(SUBJECT, "keymint", now, |c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "exp far ahead",
            platform.token(SUBJECT, "keymint", now, |c| c["exp"] = json!(now + 7 * 86_400)),
        ),
        ("not yet valid", platform.token(SUBJECT, "keymint", now, |c| c["nbf"] = json!(now + 600))),
        (
            "unknown issuer",
            platform.token(SUBJECT, "keymint", now, |c| c["iss"] = json!("https://other.example")),
        ),
        ("foreign key", foreign),
        ("alg none", none),
        ("HMAC", hmac),
    ];
    for (why, token) in &cases {
        let response = federated(
            &app,
            &[("grant_type", JWT_BEARER), ("client_id", &id), ("assertion", token)],
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{why}: RFC 7523's code");
        let response = federated(
            &app,
            &[
                ("grant_type", EXCHANGE),
                ("client_id", &id),
                ("subject_token", token),
                ("subject_token_type", JWT),
            ],
        )
        .await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    // A good token for a key that is deactivated gets nothing either.
    let admin = app.admin_token().await;
    let response = app.post_with(&admin, &format!("/v1/keys/{id}/deactivate"), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Each refusal is counted by /metrics, as every token request is.
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("keymint_tokens_refused_total{reason=\"invalid_grant\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert_eq!(refused, Some(2.0 * cases.len() as f64), "{metrics}");
    let good = platform.token(SUBJECT, "keymint", now, |_| {});
    let response =
        federated(&app, &[("grant_type", JWT_BEARER), ("client_id", &id), ("assertion", &good)])
            .await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
}
