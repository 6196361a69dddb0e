//! The real `keymint` binary: first start on an empty directory, and `bootstrap --json`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn keymint(dir: &std::path::Path) -> Command {
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
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let rx = crate::helpers::logged_address(child.stderr.take().unwrap());
    let mut creds = std::collections::HashMap::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some((k, v)) = line.trim().split_once(": ") {
            creds.insert(k.trim().to_string(), v.trim().to_string());
        }
        if creds.contains_key("client_secret") {
            break;
        }
    }
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
fn migrated_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run_text(dir.path(), &["migrate"]);
    assert!(ok, "{err}");
    dir
}

fn run_json(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = keymint(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn run_text(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = keymint(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that asks a question, answering `input` on its stdin.
fn run_answering(dir: &std::path::Path, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = keymint(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_manages_the_whole_key_lifecycle_and_is_audited_as_cli() {
    let dir = migrated_dir();
    let d = dir.path();
    let ws = run_json(d, &["workspaces", "create", "tenant", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    let created = run_json(
        d,
        &[
            "keys",
            "create",
            "--name",
            "cli-key",
            "--workspace",
            ws_id,
            "--scope",
            "read:a/*",
            "--cidr",
            "10.0.0.0/8",
            "--environment",
            "staging",
            "--expires-in",
            "30d",
            "--json",
        ],
    );
    let id = created["client_id"].as_str().unwrap().to_string();
    let first_secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(first_secret.starts_with("km_test_"));

    let (ok, table, _) = run_text(d, &["keys", "list"]);
    assert!(
        ok && table.contains("cli-key") && table.contains("ID") && table.contains("km_test_****"),
        "{table}"
    );
    assert!(!table.contains(&first_secret));

    let shown = run_json(d, &["keys", "show", &id, "--json"]);
    assert_eq!(shown["allowed_cidrs"], serde_json::json!(["10.0.0.0/8"]));

    let updated =
        run_json(d, &["keys", "update", &id, "--scope", "read:b", "--no-expiry", "--json"]);
    assert_eq!(updated["changes"]["scopes"]["to"], serde_json::json!(["read:b"]));
    assert_eq!(updated["expires_at"], Value::Null);

    let rotated = run_json(d, &["keys", "rotate", &id, "--grace-seconds", "60", "--json"]);
    assert_ne!(rotated["client_secret"], first_secret.as_str());
    assert!(rotated["previous_secret_expires_at"].is_string());
    let ended = run_json(d, &["keys", "end-grace", &id, "--json"]);
    assert_eq!(ended["previous_secret_expires_at"], serde_json::Value::Null);
    assert_eq!(run_json(d, &["keys", "deactivate", &id, "--json"])["status"], "inactive");
    assert_eq!(run_json(d, &["keys", "activate", &id, "--json"])["status"], "active");
    let usage = run_json(d, &["keys", "usage", &id, "--granularity", "hour", "--json"]);
    assert_eq!(
        (usage["granularity"].as_str(), usage["total"]["issued"].as_i64()),
        (Some("hour"), Some(0))
    );
    assert_eq!(usage["data"].as_array().map(Vec::len), Some(24), "the last 24 hours, each shown");
    let all = run_json(
        d,
        &["usage", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-08T00:00:00Z", "--json"],
    );
    assert_eq!(all["data"].as_array().map(Vec::len), Some(7));
    assert_eq!(all["top_keys"], serde_json::json!([]));
    let (ok, out, _) = run_text(d, &["keys", "usage", &id]);
    assert!(
        ok && out.contains("newer ones are not counted here yet"),
        "says what it misses: {out}"
    );
    let hygiene = run_json(d, &["keys", "hygiene", "--json"]);
    assert_eq!(hygiene["data"][0]["check"], "never-expires");
    assert!(hygiene["data"][0]["keys"].as_i64().is_some_and(|n| n >= 1), "{hygiene}");
    let (ok, _, err) = run_text(
        d,
        &["usage", "--since", "2026-01-08T00:00:00Z", "--until", "2026-01-01T00:00:00Z"],
    );
    assert!(!ok && err.contains("--since: must be before --until"), "{err}");
    let (ok, _, err) = run_answering(d, &["keys", "revoke", &id], "not-its-name\n");
    assert!(!ok && err.contains("not confirmed; nothing was changed"), "{err}");
    assert_eq!(run_json(d, &["keys", "revoke", &id, "--yes", "--json"])["status"], "revoked");
    let (ok, out, _) = run_text(d, &["keys", "revoke", &id]);
    assert!(ok && out.starts_with("no change:"), "a second revoke changes nothing: {out}");

    let (ok, _, err) = run_text(d, &["keys", "activate", &id]);
    assert!(!ok && err.contains("revoked"), "an illegal transition fails with the reason: {err}");

    let (ok, _, err) = run_text(d, &["keys", "delete", &id]);
    assert!(!ok && err.contains("Type the key name"), "asks first: {err}");
    let name = run_json(d, &["keys", "show", &id, "--json"])["name"].as_str().unwrap().to_string();
    let (ok, out, _) = run_answering(d, &["keys", "delete", &id], &format!("{name}\n"));
    assert!(ok && out.contains("deleted"));
    let (ok, _, err) = run_text(d, &["workspaces", "delete", ws_id]);
    assert!(ok, "{err}");

    let audit = run_json(d, &["audit", "--target", &id, "--json"]);
    let events = audit["data"].as_array().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "key.delete",
            "key.revoke",
            "key.activate",
            "key.deactivate",
            "key.end_grace",
            "key.rotate",
            "key.update",
            "key.create"
        ]
    );
    assert!(events.iter().all(|e| e["actor"] == "cli"));
    let all = keymint(d).args(["audit", "--limit", "100"]).output().unwrap();
    let all = String::from_utf8_lossy(&all.stdout);
    assert!(all.contains("key.create") && !all.contains(&first_secret));
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
fn a_forced_workspace_delete_asks_first_and_never_removes_the_last_platform_admin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = run_json(d, &["bootstrap", "--json"]);
    let workspaces = run_json(d, &["workspaces", "list", "--json"]);
    let default_id = workspaces["data"][0]["id"].as_str().unwrap().to_string();
    let ws = run_json(d, &["workspaces", "create", "tenant", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    let key = run_json(d, &["keys", "create", "--name", "k", "--workspace", ws_id, "--json"]);
    let key_id = key["client_id"].as_str().unwrap();

    // Without --yes, a wrong answer deletes nothing.
    let delete = ["workspaces", "delete", ws_id, "--force"];
    let (ok, _, err) = run_answering(d, &delete, "not-the-name\n");
    assert!(!ok && err.contains("Type the workspace name"), "{err}");
    assert_eq!(run_json(d, &["keys", "show", key_id, "--json"])["name"], "k");

    // Typing the name confirms.
    let (ok, _, err) = run_answering(d, &delete, "tenant\n");
    assert!(ok, "{err}");
    let audit = run_json(d, &["audit", "--target", key_id, "--json"]);
    assert_eq!(audit["data"][0]["action"], "key.delete", "{audit}");

    // The default workspace holds the only platform admin: refused, even with --yes.
    let (ok, _, err) = run_text(d, &["workspaces", "delete", &default_id, "--force", "--yes"]);
    assert!(!ok && err.contains("last active platform-admin key"), "{err}");
    let admin_id = admin["client_id"].as_str().unwrap();
    assert_eq!(run_json(d, &["keys", "show", admin_id, "--json"])["status"], "active");
}

#[test]
fn the_cli_sets_a_key_policy_that_refuses_a_key_without_expiry() {
    let dir = migrated_dir();
    let d = dir.path();
    let ws = run_json(d, &["workspaces", "create", "strict", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    let policy = run_json(
        d,
        &[
            "workspaces",
            "policy",
            ws_id,
            "--max-lifetime-days",
            "30",
            "--require-scope",
            "true",
            "--json",
        ],
    );
    assert_eq!(policy, serde_json::json!({"max_lifetime_days": 30, "require_scope": true}));
    let (ok, _, err) = run_text(
        d,
        &["keys", "create", "--name", "forever", "--workspace", ws_id, "--scope", "read:a"],
    );
    assert!(!ok && err.contains("max_lifetime_days: 30"), "the refusal names the policy: {err}");
    let key = run_json(
        d,
        &[
            "keys",
            "create",
            "--name",
            "ok",
            "--workspace",
            ws_id,
            "--scope",
            "read:a",
            "--expires-in",
            "7d",
            "--json",
        ],
    );
    assert!(key["expires_at"].is_string());
    let (ok, out, _) = run_text(d, &["workspaces", "policy", ws_id, "--max-lifetime-days", "0"]);
    assert!(ok && out.contains("max_lifetime_days:     no limit"), "{out}");

    // A scope catalog: a typo is a warning, then a refusal once the policy says so.
    let catalog =
        run_json(d, &["workspaces", "catalog", ws_id, "--resource", "agents=read,write", "--json"]);
    assert_eq!(catalog["resources"][0]["actions"], serde_json::json!(["read", "write"]));
    let typo =
        ["keys", "create", "--workspace", ws_id, "--expires-in", "7d", "--scope", "read:agnets/x"];
    let (ok, _, err) = run_text(d, &[&typo[..], &["--name", "typo"]].concat());
    assert!(
        ok && err.contains(
            "warning: not in the workspace's scope catalog, perhaps a typo: read:agnets/x"
        ),
        "{err}"
    );
    run_text(d, &["workspaces", "policy", ws_id, "--catalog-scopes-only", "true"]);
    let (ok, _, err) = run_text(d, &[&typo[..], &["--name", "refused"]].concat());
    assert!(!ok && err.contains("catalog_scopes_only: true"), "{err}");
    let (ok, _, err) = run_text(d, &["workspaces", "catalog", ws_id, "--resource", "a/*"]);
    assert!(!ok && err.contains("not a resource path"), "{err}");
    let cleared = run_json(d, &["workspaces", "catalog", ws_id, "--clear", "--json"]);
    assert_eq!(cleared, serde_json::json!({"resources": []}));

    // A policy on the default workspace never locks out `bootstrap`, the way back in:
    // its key lives the maximum lifetime.
    run_json(d, &["bootstrap", "--json"]);
    let all = run_json(d, &["workspaces", "list", "--json"]);
    let default = all["data"].as_array().unwrap().iter().find(|w| w["name"] == "default").unwrap();
    let default_id = default["id"].as_str().unwrap();
    run_json(d, &["workspaces", "policy", default_id, "--max-lifetime-days", "30", "--json"]);
    let admin = run_json(d, &["bootstrap", "--json"]);
    let id = admin["client_id"].as_str().unwrap();
    let key = run_json(d, &["keys", "show", id, "--json"]);
    assert!(key["expires_at"].is_string(), "{key}");
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
    let mut child = keymint(dir.path())
        .args(["serve", "--listen", "localhost:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = crate::helpers::logged_address(child.stderr.take().unwrap());
    let addr = rx.recv_timeout(Duration::from_secs(30));
    child.kill().ok();
    child.wait().ok();
    let addr = addr.expect("the server reports its address");
    assert!(addr.starts_with("127.0.0.1:") || addr.starts_with("[::1]:"), "{addr}");
}

#[test]
fn lists_page_with_a_cursor_or_all_and_refuse_limits_out_of_range() {
    let dir = migrated_dir();
    let d = dir.path();
    for name in ["one", "two", "three"] {
        run_json(d, &["keys", "create", "--name", name, "--json"]);
    }
    let first = run_json(d, &["keys", "list", "--limit", "2", "--json"]);
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = run_json(d, &["keys", "list", "--limit", "2", "--cursor", cursor, "--json"]);
    assert_eq!(rest["next_cursor"], Value::Null);
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    let mut paged = [names(&first), names(&rest)].concat();
    paged.sort();
    assert_eq!(paged, ["one", "three", "two"], "each key once across the pages");
    let all = run_json(d, &["keys", "list", "--limit", "1", "--all", "--json"]);
    let mut every = names(&all);
    every.sort();
    assert_eq!(every, paged);
    let (ok, out, _) = run_text(d, &["keys", "list", "--limit", "2"]);
    assert!(ok && out.contains(&format!("--cursor {cursor}")), "the hint pages: {out}");
    assert!(
        out.lines().next().is_some_and(|h| h.contains("WORKSPACE") && h.contains("EXPIRES")),
        "{out}"
    );
    for limit in ["0", "101"] {
        let (ok, _, err) = run_text(d, &["keys", "list", "--limit", limit]);
        assert!(
            !ok && err.contains(&format!("--limit {limit}: must be between 1 and 100")),
            "{err}"
        );
    }
    let (ok, _, err) = run_text(d, &["audit", "--limit", "500"]);
    assert!(!ok && err.contains("--limit 500: must be between 1 and 100"), "{err}");
    let (ok, out, _) = run_text(d, &["audit", "--limit", "2"]);
    assert!(ok && out.contains("--cursor "), "{out}");
    let events = run_json(d, &["audit", "--all", "--limit", "1", "--json"]);
    assert!(events["data"].as_array().unwrap().len() >= 3, "{events}");
}

#[test]
fn key_commands_take_key_flags_only_and_server_settings_stay_with_serve() {
    let dir = migrated_dir();
    let d = dir.path();
    let key = run_json(
        d,
        &["keys", "create", "--name", "api", "--audience", "https://api.example.com", "--json"],
    );
    assert_eq!(key["audiences"], serde_json::json!(["https://api.example.com"]), "the key's own");
    let (ok, _, err) = run_text(d, &["--audience", "https://x.example", "keys", "list"]);
    assert!(!ok && err.contains("--audience is a server setting"), "{err}");
    let (ok, _, err) = run_text(d, &["--listen", "127.0.0.1:1", "serve"]);
    assert!(!ok && err.contains("--listen goes after `serve`"), "never silently ignored: {err}");
    let (ok, _, err) = run_text(d, &["keys", "list", "--listen", "127.0.0.1:1"]);
    assert!(!ok && err.contains("unexpected argument '--listen'"), "{err}");
    let (ok, help, _) = run_text(d, &["keys", "create", "--help"]);
    assert!(ok && !help.contains("--listen") && !help.contains("--token-ttl"), "{help}");
    assert!(help.contains("--database-url"), "the shared settings stay: {help}");
    let (ok, help, _) = run_text(d, &["serve", "--help"]);
    assert!(ok && help.contains("--listen") && help.contains("Server settings"), "{help}");
}

#[test]
fn every_list_the_api_sets_the_cli_clears_and_show_prints_every_field() {
    let dir = migrated_dir();
    let d = dir.path();
    let key = run_json(
        d,
        &[
            "keys",
            "create",
            "--name",
            "full",
            "--description",
            "the whole key",
            "--scope",
            "read:a",
            "--cidr",
            "10.0.0.0/8",
            "--audience",
            "https://api.example.com",
            "--json",
        ],
    );
    let id = key["id"].as_str().unwrap();
    let cleared = run_json(
        d,
        &["keys", "update", id, "--no-scopes", "--no-cidrs", "--no-audiences", "--json"],
    );
    for list in ["scopes", "allowed_cidrs", "audiences"] {
        assert_eq!(cleared[list], serde_json::json!([]), "{list} cleared");
    }
    let (ok, _, err) = run_text(d, &["keys", "update", id, "--no-cidrs", "--cidr", "10.0.0.0/8"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, out, _) = run_text(d, &["keys", "show", id]);
    assert!(ok, "{out}");
    for field in
        ["description", "the whole key", "updated_at", "previous_secret_expires_at", "imported"]
    {
        assert!(out.contains(field), "{field} in: {out}");
    }
}

#[test]
fn the_cli_creates_and_switches_keys_that_authenticate_with_public_keys() {
    let dir = migrated_dir();
    let d = dir.path();
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    let file = d.join("client-jwks.json");
    std::fs::write(&file, jwks.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let key = run_json(d, &["keys", "create", "--name", "signer", "--jwks-file", file, "--json"]);
    assert_eq!(key["token_endpoint_auth_method"], "private_key_jwt");
    assert!(key.get("client_secret").is_none(), "no secret: {key}");
    assert_eq!(key["jwks"], jwks);
    let id = key["id"].as_str().unwrap();
    let (ok, out, _) = run_text(d, &["keys", "show", id]);
    assert!(ok && out.contains("private_key_jwt") && out.contains("\"kid\":\"k1\""), "{out}");
    let (ok, _, err) = run_text(d, &["keys", "rotate", id]);
    assert!(!ok && err.contains("private_key_jwt"), "{err}");
    let back =
        run_json(d, &["keys", "update", id, "--auth-method", "client_secret_basic", "--json"]);
    assert!(back["warnings"].to_string().contains("rotate"), "{back}");
    let (ok, out, _) = run_text(d, &["keys", "rotate", id]);
    assert!(ok && out.contains("client_secret"), "{out}");
    std::fs::write(d.join("bad.json"), "{not json").unwrap();
    let bad = d.join("bad.json");
    let (ok, _, err) =
        run_text(d, &["keys", "create", "--name", "x", "--jwks-file", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("--jwks-file") && err.contains("not JSON"), "{err}");
}

#[test]
fn commands_that_change_nothing_say_so() {
    let dir = migrated_dir();
    let d = dir.path();
    let id = run_json(d, &["keys", "create", "--name", "steady", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out, _) = run_text(d, &["keys", "update", &id]);
    assert!(ok && out.starts_with("no change to"), "{out}");
    let (ok, out, _) = run_text(d, &["keys", "deactivate", &id]);
    assert!(ok && out.starts_with("deactivated"), "{out}");
    let (ok, out, _) = run_text(d, &["keys", "deactivate", &id]);
    assert!(ok && out.starts_with("no change:"), "{out}");
    let deleted = run_json(d, &["keys", "delete", &id, "--yes", "--json"]);
    assert_eq!(deleted, serde_json::json!({"id": id, "deleted": true}));
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
    let started = Instant::now();
    let closed = "postgres://postgres@127.0.0.1:1/keymint";
    let (ok, _, err) = run_text(d, &["keys", "list", "--database-url", closed]);
    assert!(!ok && err.contains("the connection to 127.0.0.1:1 was refused"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4), "no pool timeout: {:?}", started.elapsed());
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("PostgreSQL part skipped: TEST_DATABASE_URL is not set");
        return;
    };
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

#[test]
fn cli_errors_speak_in_flags_and_name_the_value() {
    let dir = migrated_dir();
    let d = dir.path();
    let (ok, _, err) = run_text(
        d,
        &["keys", "create", "--name", "n", "--cidr", "10.0.0.0/8", "--cidr", "10.0.0.300"],
    );
    assert!(!ok && err.contains("--cidr: ") && err.contains("10.0.0.300"), "{err}");
    assert!(!err.contains("allowed_cidrs"), "{err}");
    let (ok, _, err) = run_text(d, &["keys", "show", "AAAAAAAAAAAAAAAA"]);
    assert!(!ok && err.contains("no key AAAAAAAAAAAAAAAA"), "{err}");
    let ws = run_json(d, &["workspaces", "create", "held", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    run_json(d, &["keys", "create", "--name", "k", "--workspace", ws_id, "--json"]);
    let (ok, _, err) = run_text(d, &["workspaces", "delete", ws_id]);
    assert!(!ok && err.contains("pass --force") && !err.contains("force=true"), "{err}");
}

#[test]
fn each_subcommand_describes_every_flag_and_shows_an_example() {
    let dir = migrated_dir();
    let d = dir.path();
    run_json(d, &["keys", "create", "--name", "searched", "--json"]);
    let found = run_json(d, &["keys", "list", "--search", "search", "--json"]);
    assert_eq!(found["data"][0]["name"], "searched", "--search finds by name");
    for command in [
        &["keys", "create"][..],
        &["keys", "list"],
        &["keys", "update"],
        &["signing-keys", "rotate"],
    ] {
        let (ok, help, _) = run_text(d, &[command, &["--help"]].concat());
        assert!(ok, "{command:?}");
        let own = help.split("Shared settings").next().unwrap();
        let lines: Vec<&str> = own.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let flag = line.trim_start();
            if flag.starts_with("--")
                && !flag.starts_with("--help")
                && !flag.starts_with("--version")
            {
                // The description follows on the same line (after two spaces) or below.
                let same_line = flag.split("  ").skip(1).any(|part| !part.trim().is_empty());
                let below = lines.get(i + 1).is_some_and(|next| {
                    let next = next.trim();
                    !next.is_empty() && !next.starts_with("--") && !next.starts_with("-h")
                });
                let described = same_line || below;
                assert!(described, "{command:?}: {flag} has no description:\n{own}");
            }
        }
    }
    let (_, help, _) = run_text(d, &["keys", "create", "--help"]);
    assert!(help.contains("Example: keymint keys create"), "{help}");
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
    let mut request_lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        if line.contains("path=/healthz") {
            request_lines.push(line);
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(request_lines.len(), 1, "{request_lines:?}");
    assert!(request_lines[0].contains("status=200") && request_lines[0].contains("latency="));
}
