//! The README's walk-through, run as a reader runs it: its shell blocks pasted
//! into `bash -euo pipefail` against a running `keymint`, with the PyJWT of the
//! interop suite. It must succeed twice in a row, stop at the first error, and
//! leave no admin key of its own behind either way.

use std::process::Command;

use serde_json::Value;

use crate::binary::keymint;

/// The README's walk-through: its `sh` blocks, in order, aimed at `base` and at
/// the binary under test.
fn walkthrough(base: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Walk-through").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut script = String::new();
    for block in section.split("```sh\n").skip(1) {
        script.push_str(block.split("```").next().unwrap());
    }
    assert!(script.contains("trap cleanup EXIT") && script.contains("bootstrap --json"));
    script
        .replace("http://127.0.0.1:8080", base)
        .replace("cargo run --release -q --", env!("CARGO_BIN_EXE_keymint"))
}

fn run(dir: &std::path::Path, script: &str) -> (bool, String, String) {
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/python/.venv/bin");
    let path = format!("{venv}:{}", std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("KEYMINT_DATABASE_URL")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The admin keys that are still active, by id.
fn active_admin_keys(dir: &std::path::Path) -> Vec<String> {
    let out = keymint(dir).args(["keys", "list", "--all", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "active" && k["name"].as_str().unwrap_or("").contains("admin"))
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(keymint_interop_installed),
    ignore = "walk-through skipped: run interop/install (PyJWT)"
)]
async fn the_readme_walkthrough_runs_twice_stops_at_an_error_and_leaves_no_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = keymint(dir.path());
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let (_server, base) = crate::helpers::serve(serve);
    let before = active_admin_keys(dir.path());
    assert_eq!(before.len(), 1, "the first start's admin key: {before:?}");

    for run_number in 1..=2 {
        let (ok, stdout, stderr) = run(dir.path(), &walkthrough(&base));
        assert!(ok, "run {run_number}:\n{stdout}\n{stderr}");
        assert!(stdout.contains("valid: "), "step 6 verified the token: {stdout}");
        assert!(stdout.contains("\"status\":\"revoked\""), "step 7 revoked the key: {stdout}");
        assert_eq!(active_admin_keys(dir.path()), before, "run {run_number} revoked its admin key");
    }

    // A step that fails ends the walk-through there, and the cleanup still runs.
    let broken = walkthrough(&base).replace("read:reports/**", "read:reports/[");
    let (ok, stdout, stderr) = run(dir.path(), &broken);
    assert!(!ok, "a refused key stops the walk-through");
    assert!(stderr.contains("returned error: 422"), "step 3 was refused: {stdout}\n{stderr}");
    assert!(!stdout.contains("valid: "), "nothing after the failing step ran: {stdout}");
    assert_eq!(active_admin_keys(dir.path()), before, "the failed run revoked its admin key too");
}
