//! Webhooks, tried as their users would: a receiver on a port of its own gets
//! each event once, and every delivery is verified with Standard Webhooks' own
//! Python library (`standardwebhooks` from PyPI, installed by `interop/install`),
//! never with keymint's signer alone.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, start_instance, Backend, TestApp};

crate::on_both_backends_when!(
    keymint_interop_installed,
    "webhook tests skipped: run interop/install",
    "webhook or PostgreSQL run skipped: interop/install not run or TEST_DATABASE_URL not set",
    every_key_lifecycle_event_arrives_once_signed,
    a_failing_receiver_gets_the_retries_then_the_endpoint_is_failing,
    two_instances_deliver_each_event_exactly_once,
    a_crash_between_commit_and_delivery_loses_nothing,
    a_key_expiring_within_a_week_is_announced_once,
    a_grace_that_runs_out_while_the_old_secret_is_used_is_announced,
);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver: records what it gets, and answers 500 to the first
/// `fail_first` requests, 204 after.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<Mutex<usize>>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Receiver::serve(listener, fail_first).await
    }

    /// A receiver on a port chosen before, that answers 204 to everything.
    async fn on(listener: std::net::TcpListener) -> Receiver {
        Receiver::serve(listener, 0).await
    }

    async fn serve(listener: std::net::TcpListener, fail_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failures = Arc::new(Mutex::new(fail_first));
        let (seen, fail) = (got.clone(), failures.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (seen, fail) = (seen.clone(), fail.clone());
                async move {
                    let headers = headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    seen.lock().unwrap().push(Received { headers, body });
                    let mut left = fail.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        (AxumStatus::INTERNAL_SERVER_ERROR, "receiver down for maintenance")
                    } else {
                        (AxumStatus::NO_CONTENT, "")
                    }
                }
            }),
        );
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got, fail_first: failures }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 15 s) until `count` requests arrived; what arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..150 {
            if self.received().len() >= count {
                // A moment more, so a duplicate would show.
                tokio::time::sleep(Duration::from_millis(700)).await;
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{count} deliveries expected, {} arrived", self.received().len());
    }
}

/// Verifies every delivery with the `standardwebhooks` package: the number it
/// verified (it fails on the first it cannot).
fn verified_by_standard_webhooks(secret: &str, deliveries: &[Received]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            json!({"body": d.body, "headers": {
                "webhook-id": d.header("webhook-id"),
                "webhook-timestamp": d.header("webhook-timestamp"),
                "webhook-signature": d.header("webhook-signature")}})
        })
        .collect();
    let path = dir.path().join("deliveries.json");
    std::fs::write(&path, json!({"secret": secret, "deliveries": cases}).to_string()).unwrap();
    let script = "import json, sys\n\
        from standardwebhooks.webhooks import Webhook\n\
        given = json.load(open(sys.argv[1]))\n\
        hook = Webhook(given['secret'])\n\
        for d in given['deliveries']:\n\
        \x20   hook.verify(d['body'], d['headers'])\n\
        print(len(given['deliveries']))\n";
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/python/.venv/bin/python");
    let output =
        std::process::Command::new(python).arg("-c").arg(script).arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "standardwebhooks refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &["--allow-private-webhook-urls"]).await
}

/// Creates an endpoint for every event of the admin's workspace: (id, secret).
async fn subscribe(app: &TestApp, url: &str, events: Value) -> (String, String) {
    let token = app.admin_token().await;
    let body = json!({"url": url, "events": events, "workspace_id": "*", "description": "ops"});
    let response = app.post_with(&token, "/v1/webhooks", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    (created["id"].as_str().unwrap().to_string(), secret)
}

async fn every_key_lifecycle_event_arrives_once_signed(backend: Backend) {
    let app = app(backend).await;
    let receiver = Receiver::start(0).await;
    let (webhook, secret) = subscribe(&app, &receiver.url, json!(["*"])).await;
    let token = app.admin_token().await;
    let created = app.create_key(json!({"name": "announced", "scopes": ["read:agents/*"]})).await;
    let id = created["client_id"].as_str().unwrap();
    let key_secret = created["client_secret"].as_str().unwrap();
    let path = format!("/v1/keys/{id}");
    let ok = |r: reqwest::Response| assert!(r.status().is_success(), "{}", r.status());
    ok(app.patch_with(&token, &path, &json!({"description": "edited"})).await);
    ok(app.post_with(&token, &format!("{path}/rotate"), &json!({})).await);
    ok(app.post_with(&token, &format!("{path}/deactivate"), &json!({})).await);
    ok(app.post_with(&token, &format!("{path}/activate"), &json!({})).await);
    ok(app.post_with(&token, &format!("{path}/revoke"), &json!({})).await);
    ok(app.delete_with(&token, &path).await);
    let emergency = json!({"emergency": true}); // at once, not after the publication delay
    ok(app.post_with(&token, "/v1/signing-keys/rotate", &emergency).await);

    let got = receiver.wait_for(8).await;
    let mut types: Vec<String> =
        got.iter().map(|d| d.json()["type"].as_str().unwrap().to_string()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "key.activated",
            "key.created",
            "key.deactivated",
            "key.deleted",
            "key.revoked",
            "key.rotated",
            "key.updated",
            "signing_key.rotated"
        ],
        "each event once (in no promised order: each carries its time)"
    );
    assert_eq!(verified_by_standard_webhooks(&secret, &got), 8);
    let mut ids: Vec<&str> = got.iter().map(|d| d.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8, "each event its own webhook-id");
    let first = got.iter().find(|d| d.json()["type"] == "key.created").unwrap().json();
    assert_eq!(first["data"]["id"], id, "the key as /v1 shows it");
    assert_eq!(first["data"]["scopes"], json!(["read:agents/*"]));
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    for d in &got {
        assert!(!d.body.contains(key_secret), "no secret");
        assert!(d.json()["data"].get("client_secret").is_none(), "no secret field");
    }

    // The deliveries are listed with their attempts (a new token: the emergency
    // rotation ended the old one).
    let token = app.admin_token().await;
    let listed = app.get_json(&token, &format!("/v1/webhooks/{webhook}/deliveries")).await;
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 8);
    assert!(data.iter().all(|d| d["state"] == "delivered" && d["tries"][0]["status"] == 204));

    // A wrong secret is refused by the library: the check is not vacuous.
    let other = subscribe(&app, &receiver.url, json!(["key.created"])).await.1;
    let refused = std::panic::catch_unwind(|| verified_by_standard_webhooks(&other, &got[..1]));
    assert!(refused.is_err(), "another endpoint's secret does not verify");
}

async fn a_failing_receiver_gets_the_retries_then_the_endpoint_is_failing(backend: Backend) {
    let app = app(backend).await;
    let receiver = Receiver::start(2).await;
    let (webhook, secret) = subscribe(&app, &receiver.url, json!(["key.created"])).await;
    let token = app.admin_token().await;
    let test = app.post_with(&token, &format!("/v1/webhooks/{webhook}/test"), &json!({})).await;
    assert_eq!(test.status(), StatusCode::ACCEPTED);
    receiver.wait_for(1).await;
    // Retried after 5 s (give or take 10 %), then after 5 minutes.
    app.clock.advance(6);
    receiver.wait_for(2).await;
    app.clock.advance(331);
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "two failures, then a success");
    let ids: Vec<&str> = got.iter().map(|d| d.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "a retry is the same message");
    assert_eq!(verified_by_standard_webhooks(&secret, &got), 3);
    let listed = app.get_json(&token, &format!("/v1/webhooks/{webhook}/deliveries")).await;
    let delivery = &listed["data"][0];
    assert_eq!(delivery["state"], "delivered");
    let statuses: Vec<i64> = delivery["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [204, 500, 500], "newest first");
    assert!(delivery["tries"][1]["excerpt"].as_str().unwrap().contains("maintenance"));

    // A receiver that never recovers: eight attempts over more than a day.
    *receiver.fail_first.lock().unwrap() = usize::MAX;
    let test = app.post_with(&token, &format!("/v1/webhooks/{webhook}/test"), &json!({})).await;
    let delivery_id = test.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    receiver.wait_for(4).await;
    for (n, wait) in [5, 300, 1800, 7200, 18_000, 36_000, 36_000].iter().enumerate() {
        app.clock.advance(wait + wait / 10 + 1);
        receiver.wait_for(5 + n).await;
    }
    let token = app.admin_token().await; // the day of retries outlived the last one
    let endpoint = app.get_json(&token, &format!("/v1/webhooks/{webhook}")).await;
    assert!(endpoint["failing_since"].is_string(), "{endpoint}");
    let listed = app.get_json(&token, &format!("/v1/webhooks/{webhook}/deliveries")).await;
    assert_eq!(listed["data"][0]["state"], "failed");
    assert_eq!(listed["data"][0]["attempts"], 8);

    // Resent once the receiver is back: delivered, and the endpoint is healthy.
    *receiver.fail_first.lock().unwrap() = 0;
    let path = format!("/v1/webhooks/{webhook}/deliveries/{delivery_id}/resend");
    assert_eq!(app.post_with(&token, &path, &json!({})).await.status(), StatusCode::ACCEPTED);
    let got = receiver.wait_for(12).await;
    assert_eq!(got[11].header("webhook-id"), got[3].header("webhook-id"));
    let endpoint = app.get_json(&token, &format!("/v1/webhooks/{webhook}")).await;
    assert!(endpoint["failing_since"].is_null(), "{endpoint}");
}

async fn two_instances_deliver_each_event_exactly_once(backend: Backend) {
    let app = app(backend).await;
    let other = start_instance(app.db.clone(), &["--allow-private-webhook-urls"]).await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = subscribe(&app, &receiver.url, json!(["key.created"])).await;
    for i in 0..12 {
        app.create_key(json!({"name": format!("k{i}"), "scopes": []})).await;
    }
    let got = receiver.wait_for(12).await;
    assert_eq!(got.len(), 12, "each event once, though two dispatchers ran");
    let mut ids: Vec<&str> = got.iter().map(|d| d.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert_eq!(verified_by_standard_webhooks(&secret, &got), 12);
    drop(other);
}

async fn a_key_expiring_within_a_week_is_announced_once(backend: Backend) {
    let app = app(backend).await;
    let other = start_instance(app.db.clone(), &["--allow-private-webhook-urls"]).await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = subscribe(&app, &receiver.url, json!(["key.expiring"])).await;
    let now = app.clock_now();
    let at = |days: i64| keymint::clock::rfc3339(now + days * 86_400);
    let soon = app.create_key(json!({"name": "soon", "scopes": [], "expires_at": at(3)})).await;
    let later = app.create_key(json!({"name": "later", "scopes": [], "expires_at": at(30)})).await;
    app.create_key(json!({"name": "never", "scopes": []})).await;
    let (id, key_secret) = (later["client_id"].as_str().unwrap(), later["client_secret"].as_str());
    assert_eq!(app.token_basic(id, key_secret.unwrap(), &[]).await.status(), StatusCode::OK);
    app.app.usage.settle().await.unwrap();
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "only the key expiring within a week");
    assert_eq!(got[0].json()["type"], "key.expiring");
    assert_eq!(got[0].json()["data"]["id"], soon["client_id"]);
    // Three weeks on, the second comes within a week of its end; the first is
    // not announced again, by either instance.
    app.clock.advance(24 * 86_400);
    other.clock.advance(24 * 86_400);
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["data"]["name"], "later");
    assert!(got[1].json()["data"]["last_used_at"].is_string(), "the key as /v1 shows it");
    tokio::time::sleep(keymint::app::SCHEDULE_INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 2, "each key once");
    assert_eq!(verified_by_standard_webhooks(&secret, &got), 2);
    let token = app.admin_token().await;
    let audit = app.get_json(&token, "/v1/audit?action=key.expiring").await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 2);
    assert_eq!(audit["data"][0]["actor"], "system");
}

async fn a_grace_that_runs_out_while_the_old_secret_is_used_is_announced(backend: Backend) {
    let app = app(backend).await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = subscribe(&app, &receiver.url, json!(["key.grace_ended"])).await;
    let token = app.admin_token().await;
    let (used, used_old) = app.new_client("still-used", &[]).await;
    let (idle, _) = app.new_client("moved-on", &[]).await;
    for id in [&used, &idle] {
        let path = format!("/v1/keys/{id}/rotate");
        let rotated = app.post_with(&token, &path, &json!({"grace_seconds": 3600})).await;
        assert_eq!(rotated.status(), StatusCode::OK);
    }
    // Late in the grace, one caller still uses the old secret.
    app.clock.advance(3000);
    assert_eq!(app.token_basic(&used, &used_old, &[]).await.status(), StatusCode::OK);
    app.app.usage.settle().await.unwrap();
    app.clock.advance(700);
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "only the rotation whose old secret was still in use");
    let event = got[0].json();
    assert_eq!(event["type"], "key.grace_ended");
    assert_eq!(event["data"]["id"], used);
    assert!(event["data"]["previous_secret_last_used_at"].is_string(), "{event}");
    tokio::time::sleep(keymint::app::SCHEDULE_INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1, "announced once");
    assert_eq!(verified_by_standard_webhooks(&secret, &got), 1);
    let token = app.admin_token().await;
    let audit = app.get_json(&token, "/v1/audit?action=key.grace_lapsed").await;
    assert_eq!(audit["data"][0]["target_id"], used);
    assert_eq!(audit["data"][0]["details"]["still_in_use"], true);
}

async fn a_crash_between_commit_and_delivery_loses_nothing(backend: Backend) {
    use crate::processes::{bootstrap, serve_with, token};
    let db = crate::helpers::TestDatabase::new(backend).await;
    let master = "V2ViaG9va3NTdXJ2aXZlQUtpbGxOaW5lSGVyZTEyMyE=";
    let (admin_id, admin_secret) = bootstrap(&db, master);
    let allow = [("KEYMINT_ALLOW_PRIVATE_WEBHOOK_URLS", "true")];
    let first = serve_with(&db, master, &allow).await;
    let admin = |base: String| async move {
        let answer: Value = token(&base, &admin_id, &admin_secret).await.json().await.unwrap();
        answer["access_token"].as_str().unwrap().to_string()
    };
    let bearer = admin(first.base.clone()).await;
    // The receiver's port, with nothing listening on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/v1/webhooks", first.base))
        .bearer_auth(&bearer)
        .json(&json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["key.created"],
            "workspace_id": "*"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (webhook, secret) =
        (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap().to_string());
    let key = http
        .post(format!("{}/v1/keys", first.base))
        .bearer_auth(&bearer)
        .json(&json!({"name": "committed", "scopes": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), StatusCode::CREATED);
    // Committed, tried once (refused: nobody listens), not delivered.
    let deliveries = format!("{}/v1/webhooks/{webhook}/deliveries", first.base);
    crate::helpers::wait_until(Duration::from_secs(15), "a first attempt", || async {
        let listed: Value =
            http.get(&deliveries).bearer_auth(&bearer).send().await.unwrap().json().await.unwrap();
        listed["data"][0]["attempts"] == 1 && listed["data"][0]["state"] == "pending"
    })
    .await;
    drop(first); // SIGKILL: no clean shutdown

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let receiver = Receiver::on(listener).await;
    let _second = serve_with(&db, master, &allow).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "key.created");
    assert_eq!(got[0].json()["data"]["name"], "committed");
    assert_eq!(verified_by_standard_webhooks(&secret, &got), 1);
}

/// What the API refuses and who reaches what: no receiver needed.
mod checks {
    use super::*;

    crate::on_both_backends!(endpoints_are_checked_and_reached_like_keys);

    async fn endpoints_are_checked_and_reached_like_keys(backend: Backend) {
        let strict = crate::helpers::spawn_app(backend).await;
        let token = strict.admin_token().await;
        let refuse =
            |url: &str, events: Value| json!({"url": url, "events": events, "workspace_id": "*"});
        for (body, field) in [
            (refuse("http://hooks.example.com/x", json!(["*"])), "url"),
            (refuse("https://127.0.0.1/x", json!(["*"])), "url"),
            (refuse("https://10.0.0.8/x", json!(["*"])), "url"),
            (refuse("not a url", json!(["*"])), "url"),
            (refuse("https://hooks.example.com/\u{0}x", json!(["*"])), "url"),
            (refuse("https://hooks.example.com/x", json!([])), "events"),
            (refuse("https://hooks.example.com/x", json!(["key.teleported"])), "events"),
        ] {
            let response = strict.post_with(&token, "/v1/webhooks", &body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let problem: Value = response.json().await.unwrap();
            assert!(problem.to_string().contains(field), "{problem}");
        }
        let refused: Value = strict
            .post_with(&token, "/v1/webhooks", &refuse("https://127.0.0.1/x", json!(["*"])))
            .await
            .json()
            .await
            .unwrap();
        assert!(refused.to_string().contains("--allow-private-webhook-urls"), "{refused}");

        let (id, _) =
            subscribe(&strict, "https://hooks.example.com/keymint", json!(["key.revoked"])).await;
        let shown = strict.get_json(&token, &format!("/v1/webhooks/{id}")).await;
        assert!(shown.get("secret").is_none(), "the secret is shown once only");
        assert_eq!(shown["events"], json!(["key.revoked"]));
        let rotated: Value = strict
            .post_with(
                &token,
                &format!("/v1/webhooks/{id}/rotate"),
                &json!({"overlap_seconds": 600}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
        assert!(rotated["previous_secret_until"].is_string());

        // A key of a workspace neither sees nor changes every workspace's endpoints.
        let (reader, reader_secret) = strict.new_client("ws-admin", &["keymint:keys:write"]).await;
        let theirs = strict.access_token(&reader, &reader_secret).await;
        let listed = strict.get_json(&theirs, "/v1/webhooks").await;
        assert_eq!(listed["data"], json!([]));
        let response = strict.get_with(&theirs, &format!("/v1/webhooks/{id}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let everywhere = refuse("https://hooks.example.com/y", json!(["*"]));
        let response = strict.post_with(&theirs, "/v1/webhooks", &everywhere).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // Its own workspace's endpoint is its own.
        let mine = json!({"url": "https://hooks.example.com/z", "events": ["key.created"]});
        let response = strict.post_with(&theirs, "/v1/webhooks", &mine).await;
        assert_eq!(response.status(), StatusCode::CREATED);

        // Ids and filters that are not keymint's form never reach the database.
        for path in [
            "/v1/webhooks?workspace_id=%F0%BD%BD%86n%00",
            "/v1/webhooks/wh_%00x",
            "/v1/webhooks/wh_%00x/deliveries",
        ] {
            let response = strict.get_with(&token, path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
        for delivery in ["nine", "999999"] {
            let path = format!("/v1/webhooks/{id}/deliveries/{delivery}/resend");
            let response = strict.post_with(&token, &path, &json!({})).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{delivery}");
            assert_eq!(response.headers()["content-type"], "application/problem+json");
        }

        let audit = strict.get_json(&token, "/v1/audit?action=webhook.rotate").await;
        assert_eq!(audit["data"][0]["target_id"], id);
        assert_eq!(
            strict.delete_with(&token, &format!("/v1/webhooks/{id}")).await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            strict.get_with(&token, &format!("/v1/webhooks/{id}")).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
