//! A refused client authentication is answered no sooner than the configured delay
//! after it began, so a connection flooding wrong secrets gets a few answers a
//! second; successes, and raw-key verdicts asked by a resource server, never wait.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_oauth_error, spawn_app_with, Backend, TestApp};
use crate::on_both_backends;

const DELAY: Duration = Duration::from_millis(1_500);

/// What `request` answered and how long it took.
async fn timed<T>(request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let response = request.await;
    (response, started.elapsed())
}

fn stranger() -> (String, String) {
    let id = keymint::apikeys::secret::new_key_id();
    let secret = keymint::apikeys::secret::generate(&id, "production").expose().to_string();
    (id, secret)
}

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, &["--auth-failure-delay", "1500", "--auth-failures-per-ip", "2"]).await
}

async fn refusals_wait_out_the_delay_and_nothing_else_does(backend: Backend) {
    let app = spawn(backend).await;
    let (id, secret) = app.new_client("service", &["read:a"]).await;

    // A wrong secret for a key that exists, and an id that does not.
    let (wrong, took) = timed(app.token_basic(&id, "km_wrong_secret_value_0123456789", &[])).await;
    assert_oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert!(took >= DELAY, "a wrong secret was answered after {took:?}");
    let (unknown_id, forged) = stranger();
    let (unknown, took) = timed(app.token_basic(&unknown_id, &forged, &[])).await;
    assert_oauth_error(unknown, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert!(took >= DELAY, "an unknown id was answered after {took:?}");

    // The address is over its limit: the refusal unchecked waits too.
    let (unknown_id, forged) = stranger();
    let (throttled, took) = timed(app.token_basic(&unknown_id, &forged, &[])).await;
    assert_oauth_error(throttled, StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable").await;
    assert!(took >= DELAY, "a throttled attempt was answered after {took:?}");

    // A client that authenticates does not wait, even while a refusal is pending
    // on another connection.
    let pending = {
        let (client, url) = (app.client.clone(), app.url("/oauth/token"));
        let (unknown_id, forged) = stranger();
        tokio::spawn(async move {
            client
                .post(url)
                .basic_auth(unknown_id, Some(forged))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let (ok, took) = timed(app.token_basic(&id, &secret, &[])).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(took < DELAY, "a good secret was answered after {took:?}");
    assert!(!pending.is_finished(), "the refusal answered before its delay");
    assert_eq!(pending.await.unwrap(), StatusCode::TOO_MANY_REQUESTS);
}

async fn raw_key_verdicts_are_not_delayed(backend: Backend) {
    let app = spawn(backend).await;
    let (gateway, gateway_secret) = app.new_client("gateway", &["keymint:introspect"]).await;
    let (id, _) = app.new_client("service", &["read:a"]).await;
    let wrong = keymint::apikeys::secret::generate(&id, "production");
    let (response, took) = timed(
        app.client
            .post(app.url("/oauth/introspect"))
            .basic_auth(&gateway, Some(&gateway_secret))
            .form(&[("token", wrong.expose()), ("client_ip", "198.51.100.7")])
            .send(),
    )
    .await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"active": false}));
    assert!(took < DELAY, "a raw-key verdict was answered after {took:?}");
}

on_both_backends!(
    refusals_wait_out_the_delay_and_nothing_else_does,
    raw_key_verdicts_are_not_delayed
);
