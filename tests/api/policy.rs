//! Token policy at the token endpoint: scopes, audiences, IP allowlists behind
//! trusted proxies, brute-force limits and request hygiene.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, Backend};
use crate::on_both_backends;
use crate::token::verify_with_jwks;

async fn granted_scope_is_exactly_what_was_asked_when_covered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) =
        app.new_client("scoped", &["write:agents/**", "read:prompts/*", "*:*"]).await;
    let response =
        app.token_basic(&id, &secret, &[("scope", "read:agents/a/b write:agents/x")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read:agents/a/b write:agents/x");
    let claims =
        verify_with_jwks(&app, body["access_token"].as_str().unwrap(), "https://api.example.test")
            .await;
    assert_eq!(claims["scope"], "read:agents/a/b write:agents/x");

    // A wildcard grant never yields a management scope.
    let escalation = app.token_basic(&id, &secret, &[("scope", "keymint:keys:read")]).await;
    assert_oauth_error(escalation, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let malformed = app.token_basic(&id, &secret, &[("scope", "read:agents//x")]).await;
    assert_oauth_error(malformed, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let (narrow, narrow_secret) = app.new_client("narrow", &["read:prompts/*"]).await;
    let too_deep = app.token_basic(&narrow, &narrow_secret, &[("scope", "read:prompts/a/b")]).await;
    assert_oauth_error(too_deep, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let write = app.token_basic(&narrow, &narrow_secret, &[("scope", "write:prompts/a")]).await;
    assert_oauth_error(write, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

async fn audiences_come_from_resource_and_audience_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_key(json!({"name": "aud", "audiences": ["https://a.example", "https://b.example"]}))
        .await;
    let (id, secret) =
        (created["id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let token = |params: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move { app.token_basic(id, secret, &params).await }
    };

    let default: Value = token(vec![]).await.json().await.unwrap();
    let claims =
        verify_with_jwks(&app, default["access_token"].as_str().unwrap(), "https://a.example")
            .await;
    assert_eq!(claims["aud"], "https://a.example", "the key's first audience is its default");

    let both: Value =
        token(vec![("resource", "https://a.example"), ("resource", "https://b.example")])
            .await
            .json()
            .await
            .unwrap();
    let claims =
        verify_with_jwks(&app, both["access_token"].as_str().unwrap(), "https://b.example").await;
    assert_eq!(claims["aud"], json!(["https://a.example", "https://b.example"]));

    let by_audience: Value =
        token(vec![("audience", "https://b.example")]).await.json().await.unwrap();
    let claims =
        verify_with_jwks(&app, by_audience["access_token"].as_str().unwrap(), "https://b.example")
            .await;
    assert_eq!(claims["aud"], "https://b.example");

    assert_oauth_error(
        token(vec![("resource", "https://evil.example")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;
    assert_oauth_error(
        token(vec![("audience", "https://api.example.test")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;

    // A key without audiences gets the server's default, never an empty aud.
    let (plain, plain_secret) = app.new_client("plain", &[]).await;
    let t = app.access_token(&plain, &plain_secret).await;
    assert_eq!(
        verify_with_jwks(&app, &t, "https://api.example.test").await["aud"],
        "https://api.example.test"
    );
}

async fn allowlists_use_the_peer_or_the_rightmost_untrusted_forwarded_address(backend: Backend) {
    let app = spawn_app_with(backend, &["--trusted-proxies", "127.0.0.1/32,10.9.0.0/16"]).await;
    let created = app
        .create_key(json!({"name": "office", "allowed_cidrs": ["203.0.113.0/24", "2001:db8::/32"]}))
        .await;
    let (id, secret) =
        (created["id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let exchange = |xff: Option<&'static str>| {
        let app = &app;
        async move {
            let mut req = app
                .client
                .post(app.url("/oauth/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")]);
            if let Some(xff) = xff {
                req = req.header("x-forwarded-for", xff);
            }
            req.send().await.unwrap().status()
        }
    };
    assert_eq!(exchange(None).await, StatusCode::UNAUTHORIZED, "the proxy itself is not allowed");
    assert_eq!(exchange(Some("203.0.113.5")).await, StatusCode::OK);
    assert_eq!(
        exchange(Some("203.0.113.5, 10.9.1.1")).await,
        StatusCode::OK,
        "trusted hops are skipped"
    );
    assert_eq!(exchange(Some("2001:db8::7")).await, StatusCode::OK);
    assert_eq!(
        exchange(Some("203.0.113.5, 198.51.100.1")).await,
        StatusCode::UNAUTHORIZED,
        "a spoofed leftmost value never helps"
    );
    let forwarded = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("forwarded", "for=198.51.100.1, for=203.0.113.9")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), StatusCode::OK);

    // The refusal's real reason is in the audit log.
    let admin = app.admin_token().await;
    let audit: Value = app
        .get_with(&admin, &format!("/v1/audit?target_id={id}&action=token.refused"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["details"]["reason"], "address not allowed", "{audit}");
}

async fn a_spoofed_header_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let created =
        app.create_key(json!({"name": "office", "allowed_cidrs": ["203.0.113.0/24"]})).await;
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(created["id"].as_str().unwrap(), created["client_secret"].as_str())
        .header("x-forwarded-for", "203.0.113.5")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

async fn repeated_failures_are_throttled_per_key_without_slowing_other_keys(backend: Backend) {
    let app = spawn_app_with(backend, &["--auth-failures-per-key", "3"]).await;
    // An imported (possibly weak) secret is what guessing could find.
    let created =
        app.create_key(json!({"name": "target", "secret": "imported-legacy-secret-1"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    let (other, other_secret) = app.new_client("bystander", &[]).await;
    for _ in 0..3 {
        let status = app.token_post(&id, "wrong-secret-value-123", &[]).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let throttled = app.token_post(&id, "imported-legacy-secret-1", &[]).await;
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_oauth_error(throttled, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable").await;
    assert_eq!(app.token_basic(&other, &other_secret, &[]).await.status(), StatusCode::OK);

    app.clock.advance(61);
    let later = app.token_post(&id, "imported-legacy-secret-1", &[]).await;
    assert_eq!(later.status(), StatusCode::OK, "the window ended");
}

async fn a_stranger_cannot_lock_out_a_generated_key(backend: Backend) {
    let app = spawn_app_with(backend, &["--auth-failures-per-key", "3"]).await;
    let (id, secret) = app.new_client("public-id", &[]).await;
    // Well-formed but wrong secrets for a known client_id: 190-bit guesses need no limit.
    for _ in 0..10 {
        let forged = keymint::apikeys::secret::generate(&id, "production");
        let status = app.token_basic(&id, forged.expose(), &[]).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
}

async fn repeated_failures_are_throttled_per_address(backend: Backend) {
    let app = spawn_app_with(backend, &["--auth-failures-per-ip", "4"]).await;
    let (id, secret) = app.new_client("victim", &[]).await;
    for i in 0..4 {
        let fake = format!("{i:0>16}");
        app.token_post(&fake, "nope-nope-nope-nope", &[]).await;
    }
    let throttled = app.token_basic(&id, &secret, &[]).await;
    assert_oauth_error(throttled, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable").await;
}

async fn oversized_and_overlong_requests_are_refused_in_the_oauth_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let form = "application/x-www-form-urlencoded";
    let huge = format!("grant_type=client_credentials&x={}", "a".repeat(70 * 1024));
    assert_oauth_error(
        app.token_raw(form, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
    )
    .await;
    let long = format!("grant_type=client_credentials&scope={}", "a".repeat(5000));
    assert_oauth_error(
        app.token_raw(form, &long).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let many: String =
        (0..40).map(|i| format!("p{i}=1&")).collect::<String>() + "grant_type=client_credentials";
    assert_oauth_error(
        app.token_raw(form, &many).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;

    // Nothing the client sent can put CR/LF or non-ASCII into the answer.
    let injected = app.token_raw(form, "grant_type=x%0D%0ASet-Cookie:%20a=b%C3%A9").await;
    assert!(injected.headers().get("set-cookie").is_none());
    let body =
        assert_oauth_error(injected, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    let description = body["error_description"].as_str().unwrap();
    assert!(!description.contains('\r') && !description.contains('\n') && description.is_ascii());
}

async fn a_client_that_stalls_mid_body_gets_408_in_the_oauth_shape(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(backend, &["--request-timeout", "1"]).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /oauth/token HTTP/1.1\r\nHost: keymint\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
                grant_type=cli";
    stream.write_all(head.as_bytes()).await.unwrap();
    // The rest of the body never comes.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 5 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""error":"invalid_request""#), "{text}");
}

on_both_backends!(
    a_client_that_stalls_mid_body_gets_408_in_the_oauth_shape,
    granted_scope_is_exactly_what_was_asked_when_covered,
    audiences_come_from_resource_and_audience_parameters,
    allowlists_use_the_peer_or_the_rightmost_untrusted_forwarded_address,
    a_spoofed_header_from_an_untrusted_peer_is_ignored,
    repeated_failures_are_throttled_per_key_without_slowing_other_keys,
    repeated_failures_are_throttled_per_address,
    a_stranger_cannot_lock_out_a_generated_key,
    oversized_and_overlong_requests_are_refused_in_the_oauth_shape,
);
