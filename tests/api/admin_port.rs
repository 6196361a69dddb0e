//! `--admin-listen`: the binary serves `/metrics`, `/healthz` and `/readyz` on a
//! port of their own and no longer on the public one, and stops both on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::binary::keymint;

/// The value of `field=` in the first line of `lines` that has it.
fn logged(lines: &std::sync::mpsc::Receiver<String>, field: &str) -> String {
    loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("keymint logs {field}");
        if let Some(rest) = line.split(&format!(" {field}=")).nth(1) {
            return rest.split_whitespace().next().unwrap_or("").to_string();
        }
    }
}

#[tokio::test]
async fn operations_routes_move_to_the_admin_port_and_both_ports_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = keymint(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let creds = crate::helpers::printed_credentials(child.stdout.take().unwrap());
    let lines = crate::helpers::stderr_lines(child.stderr.take().unwrap());
    let public = format!("http://{}", logged(&lines, "addr"));
    let admin = format!("http://{}", logged(&lines, "admin_listen"));
    assert_ne!(public, admin);
    let mut running = crate::helpers::Running(child);

    let client = reqwest::Client::new();
    let token =
        crate::processes::token(&public, &creds["client_id"], &creds["client_secret"]).await;
    assert_eq!(token.status(), 200, "the public port serves tokens");
    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = client.get(format!("{public}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path} is not on the public port");
        let response = client.get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} is on the admin port");
    }
    let metrics = client.get(format!("{admin}/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("keymint_tokens_issued_total ") && !l.ends_with(" 0")),
        "the admin port reports the public port's tokens:\n{text}"
    );
    let ready: serde_json::Value =
        client.get(format!("{admin}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    for path in ["/oauth/token", "/v1/keys", "/.well-known/jwks.json"] {
        let response = client.get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path} is not on the admin port");
    }

    let pid = running.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(waited < Duration::from_secs(20), "keymint stops within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    assert!(status.success(), "a clean shutdown: {status}");
    for url in [&public, &admin] {
        assert!(client.get(format!("{url}/healthz")).send().await.is_err(), "{url} is closed");
    }
}
