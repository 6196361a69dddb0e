//! GitHub's secret-scanning partner endpoint, driven as GitHub drives it: a
//! report in GitHub's documented format, signed with an ECDSA P-256 key the test
//! generates and publishes in a keys document of GitHub's shape. True positives
//! are handled by each key's workspace policy; forged or unsigned reports change
//! nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::webhooks::Receiver;

crate::on_both_backends!(a_signed_github_report_is_answered_and_each_workspace_responds_its_way);

/// The DER prefix of a P-256 SubjectPublicKeyInfo.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A signing key of "GitHub".
pub struct Signer(EcdsaKeyPair);

impl Signer {
    pub fn new() -> Signer {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        Signer(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap())
    }

    fn pem(&self) -> String {
        let der = [&SPKI_PREFIX[..], self.0.public_key().as_ref()].concat();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(der))
    }

    pub fn sign(&self, body: &str) -> String {
        STANDARD.encode(self.0.sign(&SystemRandom::new(), body.as_bytes()).unwrap().as_ref())
    }
}

/// Serves GitHub's keys document shape; counts its fetches.
pub async fn keys_document(signer: &Signer, id: &str) -> (String, Arc<AtomicUsize>) {
    let document = json!({"public_keys": [
        {"key_identifier": id, "key": signer.pem(), "is_current": true}]});
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let app = axum::Router::new().route(
        "/meta/public_keys/secret_scanning",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/meta/public_keys/secret_scanning", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fetches)
}

pub async fn report(
    app: &TestApp,
    body: &str,
    key_id: Option<&str>,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/secret-scanning/github")).body(body.to_string());
    if let Some(id) = key_id {
        request = request.header("Github-Public-Key-Identifier", id);
    }
    if let Some(signature) = signature {
        request = request.header("Github-Public-Key-Signature", signature);
    }
    request.header("content-type", "application/json").send().await.unwrap()
}

async fn status_of(app: &TestApp, token: &str, id: &str) -> String {
    app.get_json(token, &format!("/v1/keys/{id}")).await["status"].as_str().unwrap().to_string()
}

/// A key in a new workspace whose policy answers a leak with `on_leak`.
async fn key_in_workspace_with(app: &TestApp, admin: &str, on_leak: &str) -> (String, String) {
    let ws: Value = app
        .post_with(admin, "/v1/workspaces", &json!({"name": on_leak}))
        .await
        .json()
        .await
        .unwrap();
    let ws = ws["id"].as_str().unwrap();
    let set = app
        .client
        .put(app.url(&format!("/v1/workspaces/{ws}/key-policy")))
        .bearer_auth(admin)
        .json(&json!({"on_leak": on_leak}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success(), "{}", set.text().await.unwrap());
    let key = app.create_key(json!({"name": format!("in-{on_leak}"), "workspace_id": ws})).await;
    (
        key["client_id"].as_str().unwrap().to_string(),
        key["client_secret"].as_str().unwrap().to_string(),
    )
}

async fn a_signed_github_report_is_answered_and_each_workspace_responds_its_way(backend: Backend) {
    let github = Signer::new();
    let key_id = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
    let (url, fetches) = keys_document(&github, key_id).await;
    let app = spawn_app_with(
        backend,
        &["--github-secret-scanning-keys-url", &url, "--allow-private-webhook-urls"],
    )
    .await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start(0).await;
    let hook = json!({"url": receiver.url, "events": ["key.leaked"], "workspace_id": "*"});
    assert_eq!(app.post_with(&admin, "/v1/webhooks", &hook).await.status(), StatusCode::CREATED);

    let (revoked_id, revoked_secret) = app.new_client("pushed-to-github", &["read:a"]).await;
    let (deactivated_id, deactivated_secret) =
        key_in_workspace_with(&app, &admin, "deactivate").await;
    let (notified_id, notified_secret) = key_in_workspace_with(&app, &admin, "notify").await;
    let mut forged_checksum = revoked_secret.clone();
    forged_checksum.pop();
    forged_checksum.push('x');
    let found = "https://github.com/octocat/Hello-World/blob/12345600b9cbe38a219f39a9941c9319b600c002/foo/bar.txt";
    let body = json!([
        {"token": revoked_secret, "type": "keymint_api_key", "url": found, "source": "content"},
        {"token": deactivated_secret, "type": "keymint_api_key", "url": found, "source": "commit"},
        {"token": notified_secret, "type": "keymint_api_key", "url": found, "source": "content"},
        {"token": forged_checksum, "type": "keymint_api_key", "url": found, "source": "content"},
        {"token": "km_live_not-a-real-one", "type": "keymint_api_key", "url": found, "source": "content"},
    ])
    .to_string();

    // Unsigned, forged, or by an unknown key: refused, and nothing changes.
    let unsigned = report(&app, &body, None, None).await;
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unsigned.headers()["content-type"], "application/problem+json");
    let forged = Signer::new().sign(&body);
    assert_eq!(
        report(&app, &body, Some(key_id), Some(forged)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the keys were fetched once");
    let unknown = report(&app, &body, Some("another-key"), Some(github.sign(&body))).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "not again within a minute");
    let tampered = body.replace("commit", "comment");
    let signed_other = report(&app, &tampered, Some(key_id), Some(github.sign(&body))).await;
    assert_eq!(signed_other.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&app, &admin, &revoked_id).await, "active", "nothing changed yet");

    let answer = report(&app, &body, Some(key_id), Some(github.sign(&body))).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let text = answer.text().await.unwrap();
    assert!(!text.contains(&revoked_secret), "a reported secret is never echoed");
    let labels: Value = serde_json::from_str(&text).unwrap();
    let labels: Vec<&str> =
        labels.as_array().unwrap().iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        ["true_positive", "true_positive", "true_positive", "false_positive", "false_positive"]
    );
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(first[0]["token_hash"], keymint::apikeys::hashing::sha256_hex(&revoked_secret));
    assert_eq!(first[0]["token_type"], "keymint_api_key");

    // Each workspace answered its way.
    assert_eq!(status_of(&app, &admin, &revoked_id).await, "revoked");
    assert_eq!(status_of(&app, &admin, &deactivated_id).await, "inactive");
    assert_eq!(status_of(&app, &admin, &notified_id).await, "active");
    assert_eq!(
        app.token_basic(&revoked_id, &revoked_secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let audit =
        app.get_json(&admin, &format!("/v1/audit?action=key.leaked&target_id={revoked_id}")).await;
    let event = &audit["data"][0];
    assert_eq!(event["actor"], "github");
    assert_eq!(event["details"]["url"], found);
    assert_eq!(event["details"]["source"], "content");
    assert_eq!(event["details"]["response"], "revoke");
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "one key.leaked webhook per true positive");
    assert!(got.iter().all(|d| d.json()["type"] == "key.leaked"));

    // Malformed, though signed: refused.
    let junk = "{\"not\": \"a list\"}";
    assert_eq!(
        report(&app, junk, Some(key_id), Some(github.sign(junk))).await.status(),
        StatusCode::BAD_REQUEST
    );
    // An unknown key identifier a minute later fetches the keys again, once.
    app.clock.advance(61);
    let unknown = report(&app, &body, Some("another-key"), Some(github.sign(&body))).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}
