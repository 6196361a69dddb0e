//! `--config keymint.toml` through the binary: flags beat `KEYMINT_*` variables,
//! which beat the file, which beats the defaults; `serve` runs with the file's
//! settings and logs the effective configuration as JSON fields, secrets masked;
//! unknown keys and bad values are refused by name before anything starts.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::binary::keymint;

const MASTER_KEY: &str = "Zm9yIHRlc3RzIG9ubHksIHRoaXJ0eS10d28gYnl0ZXM=";

#[test]
fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keymint.toml"),
        "token-ttl = 300\nrequest-timeout = 20\nkey-cache-mb = 32\n\
         trusted-proxies = [\"10.0.0.0/8\"]\nmaster-key = \"secret-master-key\"\n",
    )
    .unwrap();
    let out = keymint(dir.path())
        .args(["--key-cache-mb", "16", "config", "check", "keymint.toml", "--json"])
        .env("KEYMINT_REQUEST_TIMEOUT", "30")
        .env("KEYMINT_KEY_CACHE_MB", "48")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let setting = |id: &str| {
        let s = &report["settings"][id];
        (s["value"].clone(), s["source"].as_str().unwrap().to_string())
    };
    assert_eq!(setting("token_ttl"), (300.into(), "file".into()));
    assert_eq!(setting("request_timeout"), (30.into(), "environment".into()));
    assert_eq!(setting("key_cache_mb"), (16.into(), "flag".into()));
    assert_eq!(setting("jwks_max_age"), (300.into(), "default".into()));
    assert_eq!(setting("trusted_proxies").0, serde_json::json!(["10.0.0.0/8"]));
    assert_eq!(setting("master_key"), ("<redacted>".into(), "file".into()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("secret-master-key"), "{text}");

    // The text form, as a person reads it.
    let out = keymint(dir.path()).args(["--config", "keymint.toml", "config", "check"]).output();
    let out = out.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("keymint.toml: valid\n"), "{text}");
    let line = text.lines().find(|l| l.starts_with("token-ttl ")).unwrap();
    assert!(line.ends_with("300  (file)"), "{line}");
    assert!(!text.contains("secret-master-key"), "{text}");
}

#[test]
fn unknown_keys_and_bad_values_stop_every_command_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "tokn-ttl = 300\ntoken-ttl = 5\n").unwrap();
    for args in [&["--config", "bad.toml", "serve"][..], &["config", "check", "bad.toml"]] {
        let out = keymint(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let message = String::from_utf8_lossy(&out.stderr);
        assert!(message.contains("unknown setting `tokn-ttl`"), "{message}");
        assert!(message.contains("`token-ttl`: invalid value '5'"), "{message}");
        assert!(!dir.path().join("keymint.db").exists(), "nothing started");
    }
    let out = keymint(dir.path()).args(["config", "check", "missing.toml"]).output().unwrap();
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("cannot read the configuration file missing.toml"), "{message}");
}

#[tokio::test]
async fn serve_runs_with_the_file_and_logs_the_effective_configuration_as_json_fields() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keymint.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\ntoken-ttl = 300\nlog-format = \"json\"\n\
             master-key = \"{MASTER_KEY}\"\n"
        ),
    )
    .unwrap();
    let mut child = keymint(dir.path())
        .args(["serve"])
        .env("KEYMINT_CONFIG", "keymint.toml")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = crate::helpers::stderr_lines(child.stderr.take().unwrap());
    let _running = crate::helpers::Running(child);
    let mut configuration = None;
    let addr = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("keymint logs");
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("JSON: {line}"));
        let fields = &event["fields"];
        assert!(!line.contains(MASTER_KEY), "the master key is never logged: {line}");
        if fields["message"] == "configuration" {
            configuration = Some(fields.clone());
        }
        if fields["message"] == "listening" {
            break fields["addr"].as_str().unwrap().to_string();
        }
    };
    let fields = configuration.expect("the configuration is logged before listening");
    assert_eq!(fields["token_ttl"], 300, "a number, from the file: {fields}");
    assert_eq!(fields["master_key"], "<redacted>");
    assert_eq!(fields["dpop_nonces"], false);
    assert_eq!(fields["database_url"], "sqlite://keymint.db");

    let creds = crate::helpers::printed_credentials(stdout);
    let base = format!("http://{addr}");
    let token = crate::processes::token(&base, &creds["client_id"], &creds["client_secret"]).await;
    let token: Value = token.json().await.unwrap();
    assert_eq!(token["expires_in"], 300, "tokens live as long as the file says");
}
