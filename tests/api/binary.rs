//! The real `keymint` binary: first start on an empty directory, `bootstrap --json`,
//! help, settings and database errors. The admin commands' scenarios are in `cli`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn keymint(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keymint"));
    // The user's own `keymint login` never reaches a test: config lives in `dir`.
    cmd.current_dir(dir).env_remove("RUST_LOG").env("XDG_CONFIG_HOME", dir.join("config"));
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
    let rx = crate::helpers::logged_address(child.stderr.take().unwrap());
    let creds = crate::helpers::printed_credentials(child.stdout.take().unwrap());
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("server reports its address");
    let (id, secret) = (&creds["client_id"], &creds["client_secret"]);
    assert!(secret.starts_with("km_live_"));

    let master = dir.path().join("keys/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&master).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(dir.path().join("keymint.db").exists(), "SQLite file in the working directory");

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
    let out = keymint(dir.path()).args(["bootstrap", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    assert!(obj["client_secret"].as_str().unwrap().starts_with("km_live_"));
    assert_eq!(obj["client_id"].as_str().unwrap().len(), 16);
    // A second bootstrap is how an operator recovers: another, distinct admin key.
    let again = keymint(dir.path()).args(["bootstrap", "--json"]).output().unwrap();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(again["client_id"], body["client_id"]);
    let out = keymint(dir.path()).args(["keys", "list", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(obj["client_secret"].as_str().unwrap()));
}

/// A directory holding a migrated, empty keymint database (admin commands open
/// only an existing one).
pub fn migrated_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run_text(dir.path(), &["migrate"]);
    assert!(ok, "{err}");
    dir
}

pub fn run_text(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = keymint(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["bootstrap", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["workspaces", "--help"],
        vec!["audit", "--help"],
        vec!["migrate", "--help"],
    ] {
        let (ok, out, _) = run_text(dir.path(), &args);
        assert!(ok && out.contains("Usage:"), "{args:?}");
    }
    let (_, out, _) = run_text(dir.path(), &["--help"]);
    for flag in [
        "--listen",
        "--database-url",
        "--issuer",
        "--audience",
        "--master-key-file",
        "--token-ttl",
        "--trusted-proxies",
    ] {
        assert!(out.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn admin_commands_never_create_a_database_and_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        vec!["keys", "list"],
        vec!["--database-url", "sqlite://kaymint.db", "keys", "list"],
        vec!["audit"],
        vec!["workspaces", "create", "x"],
    ] {
        let (ok, out, err) = run_text(d, &args);
        assert!(!ok && out.is_empty(), "{args:?} must fail, printing no table: {out}");
        assert!(err.contains("no keymint database at sqlite://"), "{args:?}: {err}");
        assert!(err.contains("--database-url"), "says what to check: {err}");
    }
    let files: Vec<_> = std::fs::read_dir(d).unwrap().collect();
    assert!(files.is_empty(), "nothing was created: {files:?}");
    let (ok, _, err) = run_text(d, &["migrate"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run_text(d, &["keys", "list"]);
    assert!(ok, "an existing database opens: {err}");
}

#[test]
fn serve_listens_on_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = keymint(dir.path());
    cmd.args(["serve", "--listen", "localhost:0"]);
    let (_server, url) = crate::helpers::serve(cmd);
    assert!(url.starts_with("http://127.0.0.1:") || url.starts_with("http://[::1]:"), "{url}");
}

#[test]
fn a_bad_master_key_is_reported_where_it_was_given() {
    let dir = migrated_dir();
    let d = dir.path();
    let short = "c2hvcnQ="; // 5 bytes
    let (ok, _, err) = run_text(d, &["keys", "list", "--master-key", short]);
    assert!(!ok && err.contains("invalid master key in --master-key"), "{err}");
    assert!(!err.contains("KEYMINT_MASTER_KEY:"), "{err}");
    let out = keymint(d).args(["keys", "list"]).env("KEYMINT_MASTER_KEY", short).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("invalid master key in KEYMINT_MASTER_KEY"),
        "{err}"
    );
}

#[test]
fn database_errors_say_what_failed_once_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let closed = "postgres://postgres@127.0.0.1:1/keymint";
    let (ok, _, err) = run_text(d, &["keys", "list", "--database-url", closed]);
    // Said at once: waiting out the pool would end in "pool timed out" instead.
    assert!(!ok && err.contains("the connection to 127.0.0.1:1 was refused"), "{err}");
    assert!(!err.contains("timed out"), "{err}");
}

#[test]
#[cfg_attr(
    not(keymint_postgres_tests),
    ignore = "PostgreSQL run skipped: TEST_DATABASE_URL is not set"
)]
fn a_missing_postgres_database_is_named_once_with_the_command_that_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = std::env::var("TEST_DATABASE_URL").unwrap();
    let base = admin.split('?').next().unwrap();
    let missing = format!("{}/keymint_no_such_database", &base[..base.rfind('/').unwrap()]);
    let (ok, _, err) = run_text(d, &["keys", "list", "--database-url", &missing]);
    assert!(!ok && err.contains("createdb keymint_no_such_database"), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "said once: {err}");
    // A migrated database opens without PostgreSQL's notices on the terminal.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(crate::helpers::TestDatabase::new(crate::helpers::Backend::Postgres));
    for _ in 0..2 {
        let (ok, _, err) = run_text(d, &["migrate", "--database-url", &db.url]);
        assert!(ok && !err.contains("_sqlx_migrations"), "{err}");
    }
    let (ok, _, err) = run_text(d, &["keys", "list", "--database-url", &db.url]);
    assert!(ok && !err.contains("INFO sqlx"), "{err}");
    runtime.block_on(async move { drop(db) });
}

#[tokio::test]
async fn request_logs_are_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = keymint(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info,tower_http=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server starts");
        if let Some(addr) = line.split("addr=").nth(1) {
            break addr.split_whitespace().next().unwrap().to_string();
        }
    };
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    // A request's line is written before its answer leaves, so a second request's
    // line marks the end of the first's.
    let marker = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(marker.status(), reqwest::StatusCode::OK);
    let mut request_lines = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the marker's line");
        if line.contains("path=/readyz") {
            break;
        }
        if line.contains("path=/healthz") {
            request_lines.push(line);
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(request_lines.len(), 1, "{request_lines:?}");
    assert!(request_lines[0].contains("status=200") && request_lines[0].contains("latency="));
}

#[test]
fn serve_refuses_sign_in_settings_that_cannot_work_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str]| {
        let out = keymint(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, err) = serve(&["--console-key-sign-in", "false"]);
    assert!(!ok && err.contains("--console-key-sign-in false needs --sso-issuer"), "{err}");
    let sso = ["--sso-client-id", "keymint", "--sso-client-secret", "s3cret-value"];
    let (ok, err) = serve(&[&["--sso-issuer", "http://idp.example.com"][..], &sso].concat());
    assert!(!ok && err.contains("must be https (http only on a loopback address)"), "{err}");
    assert!(!err.contains("s3cret-value"), "the client secret is never echoed: {err}");
    let (ok, err) = serve(&["--sso-issuer", "https://idp.example.com", "--sso-client-id", "k"]);
    assert!(!ok && err.contains("needs --sso-client-secret or --sso-client-secret-file"), "{err}");
}

#[test]
fn the_allocator_hands_freed_memory_back_from_a_thread_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    // jemalloc prints the options it read, and from where, when asked to confirm.
    let out = keymint(dir.path()).arg("--version").env("MALLOC_CONF", "confirm_conf:true").output();
    let out = out.unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    let built_in = said
        .lines()
        .find(|l| l.contains("malloc_conf") && l.contains("--with-malloc-conf"))
        .unwrap_or_else(|| panic!("no compiled-in options confirmed: {said}"));
    for option in ["background_thread:true", "dirty_decay_ms:1000", "muzzy_decay_ms:0"] {
        assert!(built_in.contains(option), "{option} missing from {built_in}");
    }
}
