//! The real `keymint` binary: first start on an empty directory, and `bootstrap --json`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn keymint(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keymint"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYMINT_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

#[tokio::test]
async fn first_start_creates_master_key_signing_key_and_admin_key_with_no_setup() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = keymint(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let mut creds = std::collections::HashMap::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some((k, v)) = line.trim().split_once(": ") {
            creds.insert(k.trim().to_string(), v.trim().to_string());
        }
        if creds.contains_key("client_secret") {
            break;
        }
    }
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server reports its address");
    let (id, secret) = (&creds["client_id"], &creds["client_secret"]);
    assert!(secret.starts_with("km_live_"));

    let master = dir.path().join("keys/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&master).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        dir.path().join("keymint.db").exists(),
        "SQLite file in the working directory"
    );

    let started = Instant::now();
    let client = reqwest::Client::new();
    let response = loop {
        let attempt = client
            .post(format!("http://{addr}/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        match attempt {
            Ok(response) => break response,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the server did not answer: {e}"),
        }
    };
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bootstrap_json_prints_only_the_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = keymint(dir.path())
        .args(["bootstrap", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    assert!(obj["client_secret"]
        .as_str()
        .unwrap()
        .starts_with("km_live_"));
    assert_eq!(obj["client_id"].as_str().unwrap().len(), 16);
    // A second bootstrap is how an operator recovers: another, distinct admin key.
    let again = keymint(dir.path())
        .args(["bootstrap", "--json"])
        .output()
        .unwrap();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(again["client_id"], body["client_id"]);
    let out = keymint(dir.path())
        .args(["keys", "list", "--json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(obj["client_secret"].as_str().unwrap()));
}
