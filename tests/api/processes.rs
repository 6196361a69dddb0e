//! Two real `keymint` processes on one database: a revoke (of a key, or of a
//! token) through one is refused by the other within a second, and both serve the
//! same JWKS.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, Running, TestDatabase};

/// A `keymint serve` child process, killed on drop (SIGKILL: no clean shutdown).
pub struct Process {
    _child: Running,
    pub base: String,
}

async fn serve(db: &TestDatabase, master_key: &str) -> Process {
    serve_with(db, master_key, &[]).await
}

/// `keymint serve` on `db` with these `KEYMINT_*` variables too.
pub async fn serve_with(db: &TestDatabase, master_key: &str, vars: &[(&str, &str)]) -> Process {
    // Port 0: the process binds a free port itself and logs it (a port found free
    // here could be taken by another test before the child binds it).
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keymint"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url])
        .args(["--issuer", "http://keymint.test"])
        .env("KEYMINT_MASTER_KEY", master_key)
        .env("RUST_LOG", "warn,keymint::cli::serve=info")
        .envs(vars.iter().copied())
        .current_dir(db.dir());
    let (child, base) = crate::helpers::serve(cmd);
    crate::helpers::wait_until(Duration::from_secs(30), "keymint starts", || async {
        reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    Process { _child: child, base }
}

pub async fn token(base: &str, id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// `keymint bootstrap` on `db`: the platform admin's (client_id, client_secret).
pub fn bootstrap(db: &TestDatabase, master_key: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keymint"))
        .args(["bootstrap", "--json", "--database-url", &db.url])
        .env("KEYMINT_MASTER_KEY", master_key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = |k: &str| admin[k].as_str().unwrap().to_string();
    (text("client_id"), text("client_secret"))
}

async fn a_revoke_through_one_process_is_refused_by_another_within_a_second(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let master = "UHJvY2Vzc2VzU2hhcmVPbmVNYXN0ZXJLZXlIZXJlISE=";
    let (admin_id, admin_secret) = bootstrap(&db, master);
    let (admin_id, admin_secret) = (admin_id.as_str(), admin_secret.as_str());
    let (a, b) = (serve(&db, master).await, serve(&db, master).await);

    let admin_token: Value = token(&a.base, admin_id, admin_secret).await.json().await.unwrap();
    let admin_token = admin_token["access_token"].as_str().unwrap();
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/v1/keys", a.base))
        .bearer_auth(admin_token)
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) =
        (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    assert_eq!(token(&b.base, id, secret).await.status(), StatusCode::OK, "B caches the key");

    let revoked = client
        .post(format!("{}/v1/keys/{id}/revoke", a.base))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    crate::helpers::wait_until(
        crate::helpers::PROPAGATION,
        "B refuses the revoked key",
        || async { token(&b.base, id, secret).await.status() == StatusCode::UNAUTHORIZED },
    )
    .await;

    let jwks_a = reqwest::get(format!("{}/.well-known/jwks.json", a.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks_b = reqwest::get(format!("{}/.well-known/jwks.json", b.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(jwks_a, jwks_b);

    // A token revoked through A (RFC 7009) stops opening /v1 on B: B holds
    // revocations in memory, fed by the change feed.
    let second: Value = token(&a.base, admin_id, admin_secret).await.json().await.unwrap();
    let second = second["access_token"].as_str().unwrap();
    let keys_on_b = || client.get(format!("{}/v1/keys", b.base)).bearer_auth(second).send();
    assert_eq!(keys_on_b().await.unwrap().status(), StatusCode::OK);
    let revoked = client
        .post(format!("{}/oauth/revoke", a.base))
        .basic_auth(admin_id, Some(admin_secret))
        .form(&[("token", second)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    crate::helpers::wait_until(
        crate::helpers::PROPAGATION,
        "B refuses the revoked token",
        || async { keys_on_b().await.unwrap().status() == StatusCode::UNAUTHORIZED },
    )
    .await;
}

crate::on_both_backends!(a_revoke_through_one_process_is_refused_by_another_within_a_second);
