//! A prefix per deployment, from the binary as an operator runs it: new secrets
//! carry `--secret-prefix`, secrets under a retired prefix keep working, others
//! are refused, and `keymint secret-scanning pattern` matches exactly this
//! deployment's secrets (checked with Python's `re`, not ours).

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestDatabase};
use crate::processes::{bootstrap, serve_with, token};

crate::on_both_backends!(secrets_carry_the_deployments_prefix_and_retired_ones_keep_working);

const MASTER: &str = "U2VjcmV0UHJlZml4ZXNQZXJEZXBsb3ltZW50MTIzNDU=";

/// The pattern `keymint secret-scanning pattern` prints for these settings.
fn pattern(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keymint"))
        .args(["secret-scanning", "pattern"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CRC-32"), "the checksum rule is said: {stderr}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Which of `texts` Python's `re` finds `pattern` in.
fn matched(pattern: &str, texts: &[&str]) -> Vec<bool> {
    let script = "import json, re, sys\n\
        p = re.compile(sys.argv[1])\n\
        print(json.dumps([bool(p.search(t)) for t in json.loads(sys.argv[2])]))";
    let out = Command::new("python3")
        .args(["-c", script, pattern, &json!(texts).to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn secrets_carry_the_deployments_prefix_and_retired_ones_keep_working(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    // Bootstrapped under the default prefix, then served under a new one.
    let (admin_id, old_secret) = bootstrap(&db, MASTER);
    assert!(old_secret.starts_with("km_live_"));
    let vars = [("KEYMINT_SECRET_PREFIX", "acme"), ("KEYMINT_RETIRED_SECRET_PREFIXES", "km")];
    let server = serve_with(&db, MASTER, &vars).await;
    let answer = token(&server.base, &admin_id, &old_secret).await;
    assert_eq!(answer.status(), StatusCode::OK, "a retired prefix keeps working");
    let admin: Value = answer.json().await.unwrap();
    let created: Value = reqwest::Client::new()
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .json(&json!({"name": "new-style", "scopes": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = created["client_secret"].as_str().unwrap();
    let new_id = created["client_id"].as_str().unwrap();
    assert!(new_secret.starts_with("acme_live_"), "{new_secret}");
    assert!(created["masked_secret"].as_str().unwrap().starts_with("acme_live_****"));
    assert_eq!(token(&server.base, new_id, new_secret).await.status(), StatusCode::OK);

    let mine = pattern(&["--secret-prefix", "acme", "--retired-secret-prefixes", "km"]);
    let text = format!("config: API_KEY={new_secret}\n");
    let other = new_secret.replacen("acme_", "zeta_", 1);
    assert_eq!(
        matched(&mine, &[&text, &old_secret, &other, "acme_live_short", "sk_live_xyz"]),
        [true, true, false, false, false]
    );
    let only_new = pattern(&["--secret-prefix", "acme"]);
    assert_eq!(matched(&only_new, &[new_secret, &old_secret]), [true, false]);
    drop(server);

    // Without the retired prefix, the old secret is no longer this deployment's.
    let strict = serve_with(&db, MASTER, &[("KEYMINT_SECRET_PREFIX", "acme")]).await;
    let refused = token(&strict.base, &admin_id, &old_secret).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(token(&strict.base, new_id, new_secret).await.status(), StatusCode::OK);
}
