//! The admin commands as admins run them, each scenario in both modes: local (on
//! the database, as `cli`) and remote (`--server`, to a `keymint serve` on that
//! database, as a platform-admin key). The same commands must print the same and
//! fail the same in both.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::binary::{keymint, migrated_dir};
use crate::helpers::Running;

/// Where the CLI under test acts.
pub struct Cli {
    dir: tempfile::TempDir,
    server: Option<Server>,
}

/// A `keymint serve` on the test's database, and the admin key the CLI uses there.
struct Server {
    _process: Running,
    url: String,
    client_id: String,
    client_secret: String,
}

/// Starts `keymint serve` on port 0 in `dir`, with `args`: the process and its URL.
fn serve(dir: &std::path::Path, args: &[&str]) -> (Running, String) {
    let mut cmd = keymint(dir);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
    crate::helpers::serve(cmd)
}

impl Cli {
    /// Local mode on a migrated, empty database.
    pub fn local() -> Cli {
        Cli { dir: migrated_dir(), server: None }
    }

    /// Remote mode: a platform-admin key (from `bootstrap`) and a server.
    pub fn remote() -> Cli {
        let dir = migrated_dir();
        let out = keymint(dir.path()).args(["bootstrap", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let admin: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (process, url) = serve(dir.path(), &[]);
        let server = Server {
            _process: process,
            url,
            client_id: admin["client_id"].as_str().unwrap().into(),
            client_secret: admin["client_secret"].as_str().unwrap().into(),
        };
        Cli { dir, server: Some(server) }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The `keymint` command, pointed at the server in remote mode.
    pub fn command(&self) -> Command {
        let mut cmd = keymint(self.dir.path());
        if let Some(server) = &self.server {
            cmd.env("KEYMINT_SERVER", &server.url)
                .env("KEYMINT_CLIENT_ID", &server.client_id)
                .env("KEYMINT_CLIENT_SECRET", &server.client_secret);
        }
        cmd
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.command().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs a command: whether it succeeded, its stdout and its stderr.
    pub fn text(&self, args: &[&str]) -> (bool, String, String) {
        self.answering(args, "")
    }

    /// Runs a command that asks a question, answering `input` on its stdin.
    pub fn answering(&self, args: &[&str], input: &str) -> (bool, String, String) {
        run(self.command(), args, input)
    }

    /// Runs a command in the test's directory with no server or credentials in
    /// the environment (local mode, unless `keymint login` saved a server).
    pub fn plain(&self, args: &[&str], input: &str) -> (bool, String, String) {
        run(keymint(self.dir.path()), args, input)
    }

    /// Runs a command in the test's directory with exactly these `KEYMINT_*`
    /// variables (no server or credentials unless given).
    pub fn with(&self, vars: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
        let mut cmd = keymint(self.dir.path());
        cmd.envs(vars.iter().copied());
        run(cmd, args, "")
    }

    /// `keymint bootstrap --json`: a local command in both modes.
    pub fn bootstrap(&self) -> Value {
        let out = keymint(self.dir.path()).args(["bootstrap", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Who the audit log says acted: `cli` locally, the admin key remotely.
    pub fn actor(&self) -> &str {
        self.server.as_ref().map_or("cli", |s| s.client_id.as_str())
    }

    /// What an error tells the admin to check.
    pub fn place(&self) -> String {
        match &self.server {
            Some(server) => format!("--server {}", server.url),
            None => "--database-url sqlite://keymint.db".into(),
        }
    }
}

/// Runs `cmd` with `args`, answering `input` on its stdin: whether it succeeded, its
/// stdout and its stderr.
fn run(mut cmd: Command, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = cmd
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

/// Runs each scenario as two tests, `<scenario>::local` and `<scenario>::remote`.
macro_rules! in_both_modes {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn local() {
                super::$scenario(&super::Cli::local());
            }
            #[test]
            fn remote() {
                super::$scenario(&super::Cli::remote());
            }
        }
    )*};
}

in_both_modes!(
    the_cli_manages_the_whole_key_lifecycle_and_is_audited_as_its_caller,
    a_forced_workspace_delete_asks_first_and_never_removes_the_last_platform_admin,
    the_cli_sets_a_key_policy_that_refuses_a_key_without_expiry,
    lists_page_with_a_cursor_or_all_and_refuse_limits_out_of_range,
    key_commands_take_key_flags_only_and_server_settings_stay_with_serve,
    every_list_the_api_sets_the_cli_clears_and_show_prints_every_field,
    the_cli_creates_and_switches_keys_that_authenticate_with_public_keys,
    commands_that_change_nothing_say_so,
    cli_errors_speak_in_flags_and_name_the_value,
    each_subcommand_describes_every_flag_and_shows_an_example,
    whoami_says_where_commands_act_and_as_whom,
    audit_all_stops_at_ten_thousand_events_and_says_where_to_go_on,
    usage_tables_print_the_counts_the_api_answers,
    a_closed_stdout_ends_a_command_quietly,
    a_key_created_without_a_workspace_lands_in_the_default_one,
    role_bindings_are_made_listed_and_removed_from_the_cli,
    webhooks_are_managed_from_the_cli,
    keys_carry_an_owner_claims_and_federated_credentials_from_the_cli,
);

fn webhooks_are_managed_from_the_cli(cli: &Cli) {
    let create = [
        "webhooks",
        "create",
        "--url",
        "https://hooks.example.com/keymint",
        "--events",
        "key.revoked,key.created",
        "--workspace",
        "*",
        "--description",
        "on-call",
    ];
    let (ok, out, err) = cli.text(&create);
    assert!(ok, "{err}");
    let id = out
        .lines()
        .find(|line| line.starts_with("wh_"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("a row for the endpoint: {out}"))
        .to_string();
    assert!(out.contains("key.revoked,key.created") && out.contains("every workspace"), "{out}");
    let secret =
        out.lines().find_map(|l| l.split("shown once; verify deliveries with it): ").nth(1));
    assert!(secret.is_some_and(|s| s.starts_with("whsec_")), "the secret, once: {out}");
    let (ok, out, _) = cli.text(&["webhooks", "list"]);
    assert!(ok && out.contains(&id) && out.contains("healthy") && !out.contains("whsec_"), "{out}");
    let (ok, _, err) = cli.text(&[
        "webhooks",
        "create",
        "--url",
        "http://x.example",
        "--events",
        "*",
        "--workspace",
        "*",
    ]);
    assert!(!ok && err.contains("url") && err.contains("https"), "{err}");
    let (ok, _, err) = cli.text(&["webhooks", "update", &id, "--events", "key.teleported"]);
    assert!(!ok && err.contains("key.teleported"), "{err}");
    let updated = cli.json(&["webhooks", "update", &id, "--events", "*", "--json"]);
    assert_eq!(updated["events"], serde_json::json!(["*"]));
    let rotated = cli.json(&["webhooks", "rotate", &id, "--overlap-seconds", "60", "--json"]);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    let (ok, out, err) = cli.text(&["webhooks", "test", &id]);
    assert!(ok && out.starts_with("test event queued: delivery"), "{out}{err}");
    let (ok, out, _) = cli.text(&["webhooks", "deliveries", &id]);
    assert!(ok && out.contains("webhook.test") && out.contains("msg_"), "{out}");
    let (ok, out, err) = cli.text(&["webhooks", "delete", &id]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("deleted webhook endpoint {id}"));
    let events = cli.json(&["audit", "--action", "webhook.delete", "--json"]);
    assert_eq!(events["data"][0]["actor"], cli.actor(), "{events}");
}

fn role_bindings_are_made_listed_and_removed_from_the_cli(cli: &Cli) {
    let (ok, out, err) =
        cli.text(&["role-bindings", "create", "--subject", "group:support", "--role", "read-only"]);
    assert!(ok, "{err}");
    let made: Vec<&str> = out
        .lines()
        .find(|line| line.starts_with("rb_"))
        .unwrap_or_else(|| panic!("a row for the binding: {out}"))
        .split_whitespace()
        .collect();
    assert_eq!(made[1..4], ["group:support", "read-only", "every"], "{out}");
    let (ok, out, _) = cli.text(&["role-bindings", "list"]);
    assert!(ok && out.contains("group:support") && out.contains(made[0]), "{out}");
    let (ok, _, err) =
        cli.text(&["role-bindings", "create", "--subject", "support", "--role", "read-only"]);
    assert!(!ok && err.contains("group:<name> or email:<address>"), "{err}");
    let (ok, _, err) =
        cli.text(&["role-bindings", "create", "--subject", "group:x", "--role", "owner"]);
    assert!(!ok && err.contains("platform-admin, workspace-admin, read-only"), "{err}");
    let (ok, out, err) = cli.text(&["role-bindings", "delete", made[0]]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("deleted role binding {}", made[0]));
    let listed = cli.json(&["role-bindings", "list", "--json"]);
    assert_eq!(listed["data"], serde_json::json!([]));
    let events = cli.json(&["audit", "--action", "role_binding.delete", "--json"]);
    assert_eq!(events["data"][0]["actor"], cli.actor(), "{events}");
}

/// Locally, `cli` has no workspace of its own: the domain puts the key in the
/// `default` workspace, creating it (audited as `system`) on an empty database.
/// Remotely the admin key's own workspace is that same default one.
fn a_key_created_without_a_workspace_lands_in_the_default_one(cli: &Cli) {
    let (ok, out, err) = cli.text(&["keys", "create", "--name", "homeless", "--scope", "read:a"]);
    assert!(ok, "{err}");
    assert!(out.contains("homeless"), "{out}");
    let keys = cli.json(&["keys", "list", "--q", "homeless", "--json"]);
    let key = &keys["data"][0];
    let workspaces = cli.json(&["workspaces", "list", "--json"]);
    let data = workspaces["data"].as_array().expect("workspaces");
    let default = data
        .iter()
        .find(|w| w["name"] == "default")
        .unwrap_or_else(|| panic!("a default workspace: {workspaces}"));
    assert_eq!(key["workspace_id"], default["id"]);
    let events = cli.json(&["audit", "--action", "workspace.create", "--json"]);
    let made = events["data"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["target_id"] == default["id"])
        .unwrap_or_else(|| panic!("its creation is audited: {events}"));
    assert_eq!(made["actor"], "system");
}

/// Gets `n` tokens for a key, from the server the CLI talks to, or locally from a
/// `keymint serve` on the same database that writes its counts every second.
fn tokens(cli: &Cli, id: &str, secret: &str, n: usize) {
    let (_local_server, url) = match &cli.server {
        Some(server) => (None, server.url.clone()),
        None => {
            let (process, url) = serve(cli.dir(), &["--usage-flush-interval", "1"]);
            (Some(process), url)
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..n {
            let response = client
                .post(format!("{url}/oauth/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
        }
    });
    // Locally, the counts reach the database with the server's next flush.
    let started = std::time::Instant::now();
    while cli.json(&["keys", "usage", id, "--json"])["total"]["issued"] != n {
        assert!(started.elapsed() < Duration::from_secs(10), "the counts are written");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The cells of the table row of `text` whose first cell is `first`.
fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{text}"))
}

fn usage_tables_print_the_counts_the_api_answers(cli: &Cli) {
    let key = cli.json(&["keys", "create", "--name", "busy", "--json"]);
    let id = key["client_id"].as_str().unwrap();
    tokens(cli, id, key["client_secret"].as_str().unwrap(), 3);
    let json = cli.json(&["keys", "usage", id, "--json"]);
    let today = json["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["issued"], 3, "{json}");
    let start = today["start"].as_str().unwrap();

    let (ok, table, err) = cli.text(&["keys", "usage", id]);
    assert!(ok, "{err}");
    let header = row(&table, "START");
    let cells = row(&table, start);
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((cell("ISSUED"), cell("FAILED"), cell("VERIFIED")), ("3", "0", "0"), "{table}");

    // Across the workspace (remotely, the CLI's own admin tokens count too).
    let (ok, table, err) = cli.text(&["usage"]);
    assert!(ok, "{err}");
    let issued_today: i64 = row(&table, start)[1].parse().unwrap();
    assert!(issued_today >= 3, "{table}");
    let top = row(&table, id);
    assert_eq!(top[1..], ["busy", "3", "0"], "the top keys' counts: {table}");
}

fn a_closed_stdout_ends_a_command_quietly(cli: &Cli) {
    for i in 0..3 {
        cli.json(&["keys", "create", "--name", &format!("k{i}"), "--json"]);
    }
    for args in [&["audit", "--limit", "100"][..], &["keys", "list", "--status", "all"][..]] {
        // The reader is gone before the command writes a byte (`| head -0`).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = cli.command().args(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {err}", out.status);
        assert!(err.is_empty(), "{args:?} says nothing: {err}");
    }
}

fn audit_all_stops_at_ten_thousand_events_and_says_where_to_go_on(cli: &Cli) {
    // 10 050 events of one made-up key, written straight into the database.
    let url = format!("sqlite://{}", cli.dir().join("keymint.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10050) \
             INSERT INTO audit_log (at_us, actor, action, target_type, target_id, details) \
             SELECT (1700000000 + i) * 1000000, 'cli', 'key.update', 'key', 'AAAAAAAAAAAAAAAA', '{}' FROM n",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    let target = ["audit", "--target", "AAAAAAAAAAAAAAAA", "--all"];
    let first = cli.json(&[&target[..], &["--limit", "30", "--json"]].concat());
    let events = first["data"].as_array().unwrap().len();
    assert_eq!(events, 9990, "whole pages of 30, at most 10 000");
    let cursor = first["next_cursor"].as_str().expect("where to go on");
    let rest = cli.json(&[&target[..], &["--cursor", cursor, "--json"]].concat());
    assert_eq!(rest["data"].as_array().unwrap().len(), 60, "every event once");
    assert_eq!(rest["next_cursor"], Value::Null);
    let (ok, out, _) = cli.text(&target);
    assert!(
        ok && out
            .contains("(stopped after 10000 events, the most --all reads at once: add --cursor "),
        "{}",
        out.lines().last().unwrap_or_default()
    );
}

fn whoami_says_where_commands_act_and_as_whom(cli: &Cli) {
    let me = cli.json(&["whoami", "--json"]);
    assert_eq!(me["actor"], cli.actor(), "{me}");
    assert!(me["scopes"].to_string().contains("keymint:keys:write"), "{me}");
    let (ok, out, _) = cli.text(&["whoami"]);
    let expected = match &cli.server {
        None => "local: sqlite://keymint.db as cli".to_string(),
        Some(server) => format!(
            "remote: {} as {} (credentials from KEYMINT_CLIENT_ID and KEYMINT_CLIENT_SECRET)",
            server.url, server.client_id
        ),
    };
    assert!(ok && out.starts_with(&expected), "{out}");
}

fn the_cli_manages_the_whole_key_lifecycle_and_is_audited_as_its_caller(cli: &Cli) {
    let ws = cli.json(&["workspaces", "create", "tenant", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    let created = cli.json(&[
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
    ]);
    let id = created["client_id"].as_str().unwrap().to_string();
    let first_secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(first_secret.starts_with("km_test_"));

    let (ok, table, _) = cli.text(&["keys", "list"]);
    assert!(
        ok && table.contains("cli-key") && table.contains("ID") && table.contains("km_test_****"),
        "{table}"
    );
    assert!(!table.contains(&first_secret));

    let shown = cli.json(&["keys", "show", &id, "--json"]);
    assert_eq!(shown["allowed_cidrs"], serde_json::json!(["10.0.0.0/8"]));

    let updated = cli.json(&["keys", "update", &id, "--scope", "read:b", "--no-expiry", "--json"]);
    assert_eq!(updated["changes"]["scopes"]["to"], serde_json::json!(["read:b"]));
    assert_eq!(updated["expires_at"], Value::Null);

    let rotated = cli.json(&["keys", "rotate", &id, "--grace-seconds", "60", "--json"]);
    assert_ne!(rotated["client_secret"], first_secret.as_str());
    assert!(rotated["previous_secret_expires_at"].is_string());
    let ended = cli.json(&["keys", "end-grace", &id, "--json"]);
    assert_eq!(ended["previous_secret_expires_at"], serde_json::Value::Null);
    assert_eq!(cli.json(&["keys", "deactivate", &id, "--json"])["status"], "inactive");
    assert_eq!(cli.json(&["keys", "activate", &id, "--json"])["status"], "active");
    let usage = cli.json(&["keys", "usage", &id, "--granularity", "hour", "--json"]);
    assert_eq!(
        (usage["granularity"].as_str(), usage["total"]["issued"].as_i64()),
        (Some("hour"), Some(0))
    );
    assert_eq!(usage["data"].as_array().map(Vec::len), Some(24), "the last 24 hours, each shown");
    let all = cli.json(&[
        "usage",
        "--since",
        "2026-01-01T00:00:00Z",
        "--until",
        "2026-01-08T00:00:00Z",
        "--json",
    ]);
    assert_eq!(all["data"].as_array().map(Vec::len), Some(7));
    assert_eq!(all["top_keys"], serde_json::json!([]));
    let (ok, out, _) = cli.text(&["keys", "usage", &id]);
    assert!(
        ok && out.contains("newer ones are not counted here yet"),
        "says what it misses: {out}"
    );
    let hygiene = cli.json(&["keys", "hygiene", "--json"]);
    assert_eq!(hygiene["data"][0]["check"], "never-expires");
    assert!(hygiene["data"][0]["keys"].as_i64().is_some_and(|n| n >= 1), "{hygiene}");
    let (ok, _, err) =
        cli.text(&["usage", "--since", "2026-01-08T00:00:00Z", "--until", "2026-01-01T00:00:00Z"]);
    assert!(!ok && err.contains("--since: must be before --until"), "{err}");
    let (ok, _, err) = cli.answering(&["keys", "revoke", &id], "not-its-name\n");
    assert!(!ok && err.contains("not confirmed; nothing was changed"), "{err}");
    assert_eq!(cli.json(&["keys", "revoke", &id, "--yes", "--json"])["status"], "revoked");
    let (ok, out, _) = cli.text(&["keys", "revoke", &id]);
    assert!(ok && out.starts_with("no change:"), "a second revoke changes nothing: {out}");

    let (ok, _, err) = cli.text(&["keys", "activate", &id]);
    assert!(!ok && err.contains("revoked"), "an illegal transition fails with the reason: {err}");

    let (ok, _, err) = cli.text(&["keys", "delete", &id]);
    assert!(!ok && err.contains("Type the key name"), "asks first: {err}");
    let name = cli.json(&["keys", "show", &id, "--json"])["name"].as_str().unwrap().to_string();
    let (ok, out, _) = cli.answering(&["keys", "delete", &id], &format!("{name}\n"));
    assert!(ok && out.contains("deleted"));
    let (ok, _, err) = cli.text(&["workspaces", "delete", ws_id]);
    assert!(ok, "{err}");

    let audit = cli.json(&["audit", "--target", &id, "--json"]);
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
    assert!(events.iter().all(|e| e["actor"] == cli.actor()), "{audit}");
    let all = cli.command().args(["audit", "--limit", "100"]).output().unwrap();
    let all = String::from_utf8_lossy(&all.stdout);
    assert!(all.contains("key.create") && !all.contains(&first_secret));
}

fn a_forced_workspace_delete_asks_first_and_never_removes_the_last_platform_admin(cli: &Cli) {
    let admin = cli.bootstrap();
    let workspaces = cli.json(&["workspaces", "list", "--json"]);
    let default_id = workspaces["data"][0]["id"].as_str().unwrap().to_string();
    let ws = cli.json(&["workspaces", "create", "tenant", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    let key = cli.json(&["keys", "create", "--name", "k", "--workspace", ws_id, "--json"]);
    let key_id = key["client_id"].as_str().unwrap();

    // Without --yes, a wrong answer deletes nothing.
    let delete = ["workspaces", "delete", ws_id, "--force"];
    let (ok, _, err) = cli.answering(&delete, "not-the-name\n");
    assert!(!ok && err.contains("Type the workspace name"), "{err}");
    assert_eq!(cli.json(&["keys", "show", key_id, "--json"])["name"], "k");

    // Typing the name confirms.
    let (ok, _, err) = cli.answering(&delete, "tenant\n");
    assert!(ok, "{err}");
    let audit = cli.json(&["audit", "--target", key_id, "--json"]);
    assert_eq!(audit["data"][0]["action"], "key.delete", "{audit}");

    let delete_default = ["workspaces", "delete", &default_id, "--force", "--yes"];
    let admin_id = admin["client_id"].as_str().unwrap();
    match cli.server {
        // The default workspace holds every platform admin: refused, even with --yes.
        None => {
            let (ok, _, err) = cli.text(&delete_default);
            assert!(!ok && err.contains("last active platform-admin key"), "{err}");
        }
        // A remote caller is itself an active platform admin, kept outside any
        // workspace it may delete: a workspace holding another platform admin
        // goes, and its own workspace never does.
        Some(_) => {
            let ops = cli.json(&["workspaces", "create", "ops", "--json"]);
            let ops_id = ops["id"].as_str().unwrap();
            let other = cli.json(&[
                "keys",
                "create",
                "--name",
                "ops-admin",
                "--workspace",
                ops_id,
                "--scope",
                "keymint:workspaces:admin",
                "--json",
            ]);
            let (ok, _, err) = cli.text(&["workspaces", "delete", ops_id, "--force", "--yes"]);
            assert!(ok, "the caller remains a platform admin: {err}");
            let other_id = other["client_id"].as_str().unwrap();
            let (ok, _, _) = cli.text(&["keys", "show", other_id, "--json"]);
            assert!(!ok, "deleted with its workspace");
            let (ok, _, err) = cli.text(&delete_default);
            assert!(!ok && err.contains("a caller cannot delete its own workspace"), "{err}");
        }
    }
    assert_eq!(cli.json(&["keys", "show", admin_id, "--json"])["status"], "active");
    let listed = cli.json(&["workspaces", "list", "--json"]);
    assert!(listed["data"].as_array().unwrap().iter().any(|w| w["id"] == default_id.as_str()));
}

fn the_cli_sets_a_key_policy_that_refuses_a_key_without_expiry(cli: &Cli) {
    let ws = cli.json(&["workspaces", "create", "strict", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    let policy = cli.json(&[
        "workspaces",
        "policy",
        ws_id,
        "--max-lifetime-days",
        "30",
        "--require-scope",
        "true",
        "--json",
    ]);
    assert_eq!(policy, serde_json::json!({"max_lifetime_days": 30, "require_scope": true}));
    let (ok, _, err) = cli.text(&[
        "keys",
        "create",
        "--name",
        "forever",
        "--workspace",
        ws_id,
        "--scope",
        "read:a",
    ]);
    assert!(!ok && err.contains("max_lifetime_days: 30"), "the refusal names the policy: {err}");
    let key = cli.json(&[
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
    ]);
    assert!(key["expires_at"].is_string());
    let (ok, out, _) = cli.text(&["workspaces", "policy", ws_id, "--max-lifetime-days", "0"]);
    assert!(ok && out.contains("max_lifetime_days:     no limit"), "{out}");

    // A scope catalog: a typo is a warning, then a refusal once the policy says so.
    let catalog =
        cli.json(&["workspaces", "catalog", ws_id, "--resource", "agents=read,write", "--json"]);
    assert_eq!(catalog["resources"][0]["actions"], serde_json::json!(["read", "write"]));
    let typo =
        ["keys", "create", "--workspace", ws_id, "--expires-in", "7d", "--scope", "read:agnets/x"];
    let (ok, _, err) = cli.text(&[&typo[..], &["--name", "typo"]].concat());
    assert!(
        ok && err.contains(
            "warning: not in the workspace's scope catalog, perhaps a typo: read:agnets/x"
        ),
        "{err}"
    );
    cli.text(&["workspaces", "policy", ws_id, "--catalog-scopes-only", "true"]);
    let (ok, _, err) = cli.text(&[&typo[..], &["--name", "refused"]].concat());
    assert!(!ok && err.contains("catalog_scopes_only: true"), "{err}");
    let (ok, _, err) = cli.text(&["workspaces", "catalog", ws_id, "--resource", "a/*"]);
    assert!(!ok && err.contains("not a resource path"), "{err}");
    let cleared = cli.json(&["workspaces", "catalog", ws_id, "--clear", "--json"]);
    assert_eq!(cleared, serde_json::json!({"resources": []}));

    // A policy on the default workspace never locks out `bootstrap`, the way back in:
    // its key lives the maximum lifetime.
    cli.bootstrap();
    let all = cli.json(&["workspaces", "list", "--json"]);
    let default = all["data"].as_array().unwrap().iter().find(|w| w["name"] == "default").unwrap();
    let default_id = default["id"].as_str().unwrap();
    cli.json(&["workspaces", "policy", default_id, "--max-lifetime-days", "30", "--json"]);
    let admin = cli.bootstrap();
    let id = admin["client_id"].as_str().unwrap();
    let key = cli.json(&["keys", "show", id, "--json"]);
    assert!(key["expires_at"].is_string(), "{key}");
}

fn lists_page_with_a_cursor_or_all_and_refuse_limits_out_of_range(cli: &Cli) {
    let ws = cli.json(&["workspaces", "create", "paged", "--json"]);
    let ws = ws["id"].as_str().unwrap();
    for name in ["one", "two", "three"] {
        cli.json(&["keys", "create", "--name", name, "--workspace", ws, "--json"]);
    }
    let list = ["keys", "list", "--workspace", ws];
    let first = cli.json(&[&list[..], &["--limit", "2", "--json"]].concat());
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = cli.json(&[&list[..], &["--limit", "2", "--cursor", cursor, "--json"]].concat());
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
    let all = cli.json(&[&list[..], &["--limit", "1", "--all", "--json"]].concat());
    let mut every = names(&all);
    every.sort();
    assert_eq!(every, paged);
    let (ok, out, _) = cli.text(&[&list[..], &["--limit", "2"]].concat());
    assert!(ok && out.contains(&format!("--cursor {cursor}")), "the hint pages: {out}");
    assert!(
        out.lines().next().is_some_and(|h| h.contains("WORKSPACE") && h.contains("EXPIRES")),
        "{out}"
    );
    for limit in ["0", "101"] {
        let (ok, _, err) = cli.text(&["keys", "list", "--limit", limit]);
        assert!(
            !ok && err.contains(&format!("--limit {limit}: must be between 1 and 100")),
            "{err}"
        );
    }
    let (ok, _, err) = cli.text(&["audit", "--limit", "500"]);
    assert!(!ok && err.contains("--limit 500: must be between 1 and 100"), "{err}");
    let (ok, out, _) = cli.text(&["audit", "--limit", "2"]);
    assert!(ok && out.contains("--cursor "), "{out}");
    let events = cli.json(&["audit", "--all", "--limit", "1", "--json"]);
    assert!(events["data"].as_array().unwrap().len() >= 3, "{events}");
}

fn key_commands_take_key_flags_only_and_server_settings_stay_with_serve(cli: &Cli) {
    let key = cli.json(&[
        "keys",
        "create",
        "--name",
        "api",
        "--audience",
        "https://api.example.com",
        "--json",
    ]);
    assert_eq!(key["audiences"], serde_json::json!(["https://api.example.com"]), "the key's own");
    let (ok, _, err) = cli.text(&["--audience", "https://x.example", "keys", "list"]);
    assert!(!ok && err.contains("--audience is a server setting"), "{err}");
    let (ok, _, err) = cli.text(&["--listen", "127.0.0.1:1", "serve"]);
    assert!(!ok && err.contains("--listen goes after `serve`"), "never silently ignored: {err}");
    let (ok, _, err) = cli.text(&["keys", "list", "--listen", "127.0.0.1:1"]);
    assert!(!ok && err.contains("unexpected argument '--listen'"), "{err}");
    let (ok, help, _) = cli.text(&["keys", "create", "--help"]);
    assert!(ok && !help.contains("--listen") && !help.contains("--token-ttl"), "{help}");
    assert!(help.contains("--database-url"), "the shared settings stay: {help}");
    let (ok, help, _) = cli.text(&["serve", "--help"]);
    assert!(ok && help.contains("--listen") && help.contains("Server settings"), "{help}");
}

fn every_list_the_api_sets_the_cli_clears_and_show_prints_every_field(cli: &Cli) {
    let key = cli.json(&[
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
    ]);
    let id = key["id"].as_str().unwrap();
    let cleared =
        cli.json(&["keys", "update", id, "--no-scopes", "--no-cidrs", "--no-audiences", "--json"]);
    for list in ["scopes", "allowed_cidrs", "audiences"] {
        assert_eq!(cleared[list], serde_json::json!([]), "{list} cleared");
    }
    let (ok, _, err) = cli.text(&["keys", "update", id, "--no-cidrs", "--cidr", "10.0.0.0/8"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, out, _) = cli.text(&["keys", "show", id]);
    assert!(ok, "{out}");
    for field in
        ["description", "the whole key", "updated_at", "previous_secret_expires_at", "imported"]
    {
        assert!(out.contains(field), "{field} in: {out}");
    }
}

fn the_cli_creates_and_switches_keys_that_authenticate_with_public_keys(cli: &Cli) {
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    let file = cli.dir().join("client-jwks.json");
    std::fs::write(&file, jwks.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let key = cli.json(&["keys", "create", "--name", "signer", "--jwks-file", file, "--json"]);
    assert_eq!(key["token_endpoint_auth_method"], "private_key_jwt");
    assert!(key.get("client_secret").is_none(), "no secret: {key}");
    assert_eq!(key["jwks"], jwks);
    let id = key["id"].as_str().unwrap();
    let (ok, out, _) = cli.text(&["keys", "show", id]);
    assert!(ok && out.contains("private_key_jwt") && out.contains("\"kid\":\"k1\""), "{out}");
    let (ok, _, err) = cli.text(&["keys", "rotate", id]);
    assert!(!ok && err.contains("private_key_jwt"), "{err}");
    let back = cli.json(&["keys", "update", id, "--auth-method", "client_secret_basic", "--json"]);
    assert!(back["warnings"].to_string().contains("rotate"), "{back}");
    let (ok, out, _) = cli.text(&["keys", "rotate", id]);
    assert!(ok && out.contains("client_secret"), "{out}");
    std::fs::write(cli.dir().join("bad.json"), "{not json").unwrap();
    let bad = cli.dir().join("bad.json");
    let (ok, _, err) =
        cli.text(&["keys", "create", "--name", "x", "--jwks-file", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("--jwks-file") && err.contains("not JSON"), "{err}");
}

fn commands_that_change_nothing_say_so(cli: &Cli) {
    let id = cli.json(&["keys", "create", "--name", "steady", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out, _) = cli.text(&["keys", "update", &id]);
    assert!(ok && out.starts_with("no change to"), "{out}");
    let (ok, out, _) = cli.text(&["keys", "deactivate", &id]);
    assert!(ok && out.starts_with("deactivated"), "{out}");
    let (ok, out, _) = cli.text(&["keys", "deactivate", &id]);
    assert!(ok && out.starts_with("no change:"), "{out}");
    let deleted = cli.json(&["keys", "delete", &id, "--yes", "--json"]);
    assert_eq!(deleted, serde_json::json!({"id": id, "deleted": true}));
}

fn cli_errors_speak_in_flags_and_name_the_value(cli: &Cli) {
    let (ok, _, err) = cli.text(&[
        "keys",
        "create",
        "--name",
        "n",
        "--cidr",
        "10.0.0.0/8",
        "--cidr",
        "10.0.0.300",
    ]);
    assert!(!ok && err.contains("--cidr: ") && err.contains("10.0.0.300"), "{err}");
    assert!(!err.contains("allowed_cidrs"), "{err}");
    let (ok, _, err) = cli.text(&["keys", "show", "AAAAAAAAAAAAAAAA"]);
    assert!(!ok && err.contains("no key AAAAAAAAAAAAAAAA"), "{err}");
    assert!(err.contains(&cli.place()), "says where it looked: {err}");
    let ws = cli.json(&["workspaces", "create", "held", "--json"]);
    let ws_id = ws["id"].as_str().unwrap();
    cli.json(&["keys", "create", "--name", "k", "--workspace", ws_id, "--json"]);
    let (ok, _, err) = cli.text(&["workspaces", "delete", ws_id]);
    assert!(!ok && err.contains("pass --force") && !err.contains("force=true"), "{err}");
}

fn each_subcommand_describes_every_flag_and_shows_an_example(cli: &Cli) {
    cli.json(&["keys", "create", "--name", "searched", "--json"]);
    let found = cli.json(&["keys", "list", "--search", "search", "--json"]);
    assert_eq!(found["data"][0]["name"], "searched", "--search finds by name");
    for command in [
        &["keys", "create"][..],
        &["keys", "list"],
        &["keys", "update"],
        &["signing-keys", "rotate"],
    ] {
        let (ok, help, _) = cli.text(&[command, &["--help"]].concat());
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
    let (_, help, _) = cli.text(&["keys", "create", "--help"]);
    assert!(help.contains("Example: keymint keys create"), "{help}");
}

#[test]
fn both_modes_print_the_same_for_the_same_database() {
    let cli = Cli::remote();
    let ws = cli.json(&["workspaces", "create", "same", "--json"]);
    let ws = ws["id"].as_str().unwrap();
    let key = cli.json(&[
        "keys",
        "create",
        "--name",
        "printed",
        "--workspace",
        ws,
        "--scope",
        "read:a",
        "--cidr",
        "10.0.0.0/8",
        "--description",
        "shown both ways",
        "--json",
    ]);
    let id = key["id"].as_str().unwrap();
    cli.json(&["keys", "rotate", id, "--grace-seconds", "60", "--json"]);
    let range = ["--since", "2026-01-01T00:00:00Z", "--until", "2026-01-03T00:00:00Z"];
    let commands: Vec<Vec<&str>> = vec![
        vec!["keys", "list", "--workspace", ws],
        vec!["keys", "list", "--workspace", ws, "--json"],
        vec!["keys", "show", id],
        vec!["keys", "show", id, "--json"],
        vec!["keys", "hygiene", "--workspace", ws],
        vec!["workspaces", "list"],
        vec!["workspaces", "policy", ws],
        vec!["workspaces", "catalog", ws, "--json"],
        vec!["signing-keys", "list"],
        vec!["audit", "--target", id],
        vec!["audit", "--target", id, "--json"],
        [&["usage", "--workspace", ws][..], &range].concat(),
        [&["keys", "usage", id, "--granularity", "hour"][..], &range].concat(),
    ];
    for args in commands {
        let remote = cli.command().args(&args).output().unwrap();
        let local = keymint(cli.dir()).args(&args).output().unwrap();
        let (remote_out, local_out) = (
            String::from_utf8_lossy(&remote.stdout).into_owned(),
            String::from_utf8_lossy(&local.stdout).into_owned(),
        );
        assert!(remote.status.success() && local.status.success(), "{args:?}");
        assert!(remote_out.lines().count() >= 2, "{args:?} prints rows: {remote_out}");
        assert_eq!(remote_out, local_out, "{args:?}");
    }
}

#[test]
fn login_keeps_the_key_for_its_owner_only_and_the_server_becomes_the_default() {
    let cli = Cli::remote();
    let server = cli.server.as_ref().unwrap();
    let login = ["login", "--server", &server.url, "--client-id", &server.client_id];
    let (ok, out, err) = cli.plain(&login, "km_live_not_the_secret\n");
    assert!(!ok && err.contains("invalid_client") && err.contains("the secret given"), "{err}");
    let file = cli.dir().join("config/keymint/credentials.json");
    assert!(!file.exists(), "refused credentials are not saved");
    let client = cli.json(&["keys", "create", "--name", "client", "--scope", "read:a", "--json"]);
    let client_login =
        ["login", "--server", &server.url, "--client-id", client["id"].as_str().unwrap()];
    let secret = format!("{}\n", client["client_secret"].as_str().unwrap());
    let (ok, _, err) = cli.plain(&client_login, &secret);
    assert!(!ok && err.contains("holds no management scope"), "{err}");
    assert!(!file.exists(), "a key that cannot administer is not saved");

    let (ok, out_ok, err_ok) = cli.plain(&login, &format!("{}\n", server.client_secret));
    assert!(ok, "{err_ok}");
    assert!(out_ok.contains(&format!("logged in to {} as {}", server.url, server.client_id)));
    for said in [&out, &err, &out_ok, &err_ok] {
        assert!(!said.contains(&server.client_secret), "the secret is never shown: {said}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600, "the credentials file is its owner's only");
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }

    // A credentials file others may read is refused, as ssh refuses such a key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(&file, open).unwrap();
        let (ok, _, err) = cli.plain(&["keys", "list"], "");
        assert!(!ok && err.contains("other users may read it: run `chmod 600"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // With no --server and no --database-url, commands go to the logged-in server,
    // as the key; naming the database acts on it locally, as `cli`.
    let (ok, out, err) =
        cli.plain(&["keys", "create", "--name", "remote-by-default", "--json"], "");
    assert!(ok, "{err}");
    let remote_id =
        serde_json::from_str::<Value>(&out).unwrap()["id"].as_str().unwrap().to_string();
    let local = ["--database-url", "sqlite://keymint.db", "keys", "create", "--name", "here"];
    let (ok, out, err) = cli.plain(&[&local[..], &["--json"]].concat(), "");
    assert!(ok, "{err}");
    let local_id = serde_json::from_str::<Value>(&out).unwrap()["id"].as_str().unwrap().to_string();
    for (id, actor) in [(&remote_id, server.client_id.as_str()), (&local_id, "cli")] {
        let audit = cli.json(&["audit", "--target", id, "--json"]);
        assert_eq!(audit["data"][0]["actor"], actor, "{audit}");
    }

    let (ok, out, _) = cli.plain(&["logout"], "");
    assert!(ok && out.contains(&format!("logged out of {}", server.url)), "{out}");
    assert!(!file.exists());
    let (ok, out, _) = cli.plain(&["logout"], "");
    assert!(ok && out.starts_with("no change"), "{out}");
    // A damaged file is named, and `logout` clears it.
    std::fs::write(&file, "{not json").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, _, err) = cli.plain(&["keys", "list"], "");
    assert!(!ok && err.contains("not a keymint credentials file"), "{err}");
    let (ok, out, _) = cli.plain(&["logout"], "");
    assert!(ok && out.contains("could not be used") && !file.exists(), "{out}");
    let (ok, _, err) = cli.plain(&["--server", &server.url, "keys", "list"], "");
    assert!(!ok && err.contains(&format!("run `keymint login --server {}`", server.url)), "{err}");
}

#[test]
fn remote_mode_says_what_failed_and_what_to_do() {
    let cli = Cli::remote();
    let server = cli.server.as_ref().unwrap();
    let creds = [
        ("KEYMINT_CLIENT_ID", server.client_id.as_str()),
        ("KEYMINT_CLIENT_SECRET", "km_live_wrong"),
    ];
    let (ok, _, err) = cli.with(&creds, &["--server", &server.url, "keys", "list"]);
    assert!(
        !ok && err.contains("invalid_client")
            && err.contains("from KEYMINT_CLIENT_ID and KEYMINT_CLIENT_SECRET"),
        "names where the credentials came from: {err}"
    );
    let (ok, _, err) = cli.text(&["--server", "http://127.0.0.1:1", "keys", "list"]);
    assert!(!ok && err.contains("keymint at http://127.0.0.1:1 is unreachable"), "{err}");
    let (ok, _, err) = cli.text(&["--server", "http://keymint.example.com", "keys", "list"]);
    assert!(!ok && err.contains("use https://"), "{err}");
    let (ok, _, err) = cli.text(&["--database-url", "sqlite://keymint.db", "keys", "list"]);
    assert!(!ok && err.contains("not both"), "{err}");
    let (ok, _, err) = cli.text(&["bootstrap"]);
    assert!(!ok && err.contains("`keymint bootstrap` works on the database itself"), "{err}");
    let (ok, _, err) = cli.text(&["signing-keys", "rotate-master", "--new-master-key-file", "x"]);
    assert!(!ok && err.contains("run it where the database is"), "{err}");
    let (ok, _, err) = cli.with(&[("KEYMINT_CLIENT_ID", "x")], &["--server", &server.url, "audit"]);
    assert!(
        !ok && err.contains("neither KEYMINT_CLIENT_SECRET nor KEYMINT_CLIENT_KEY_FILE"),
        "{err}"
    );

    // A read-only admin key reads, and is told which scope a change needs.
    let reader =
        cli.json(&["keys", "create", "--name", "reader", "--scope", "keymint:keys:read", "--json"]);
    let reader = [
        ("KEYMINT_SERVER", server.url.as_str()),
        ("KEYMINT_CLIENT_ID", reader["client_id"].as_str().unwrap()),
        ("KEYMINT_CLIENT_SECRET", reader["client_secret"].as_str().unwrap()),
    ];
    let (ok, _, err) = cli.with(&reader, &["keys", "list"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli.with(&reader, &["keys", "create", "--name", "nope"]);
    assert!(!ok && err.contains("keymint:keys:write"), "{err}");
}

#[tokio::test]
async fn the_cli_renews_a_token_the_server_no_longer_accepts() {
    use keymint::cli::remote::{ClientProof, Credentials, Remote};
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let credentials = Credentials {
        client_id: app.admin_id.clone(),
        proof: ClientProof::Secret(keymint::apikeys::secret::Secret::new(app.admin_secret.clone())),
        origin: "the test".into(),
    };
    let remote = Remote::new(&app.base, credentials).unwrap();
    let get = || remote.send(reqwest::Method::GET, "/v1/keys?limit=1", None);
    let (status, _) = get().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK);
    // The server's clock moves past the token's ten minutes: the token the CLI holds
    // is refused, and the CLI gets a new one and sends the request again.
    app.clock.advance(11 * 60);
    let (status, body) = get().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let usage = format!("/v1/keys/{}/usage?granularity=hour", app.admin_id);
    let (_, body) = remote.send(reqwest::Method::GET, &usage, None).await.unwrap();
    let usage: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(usage["total"]["issued"], 2, "one token, then one more: {usage}");
}

/// A PKCS#8 PEM file of a new P-256 key, and the public JWK Set of it.
fn key_pair(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, Value) {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])}]});
    let b64 = STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem =
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    (path, jwks)
}

#[test]
fn an_admin_key_without_a_secret_runs_the_cli_with_its_private_key() {
    let cli = Cli::remote();
    let server = cli.server.as_ref().unwrap();
    let (pem, jwks) = key_pair(cli.dir(), "ci-admin.pem");
    std::fs::write(cli.dir().join("ci-admin.jwks"), jwks.to_string()).unwrap();
    let admin = cli.json(&[
        "keys",
        "create",
        "--name",
        "ci-admin",
        "--scope",
        "keymint:keys:read",
        "--scope",
        "keymint:keys:write",
        "--scope",
        "keymint:audit:read",
        "--jwks-file",
        "ci-admin.jwks",
        "--json",
    ]);
    let id = admin["id"].as_str().unwrap();
    assert!(admin.get("client_secret").is_none(), "no secret at all: {admin}");
    let pem = pem.to_str().unwrap();
    let env = [
        ("KEYMINT_SERVER", server.url.as_str()),
        ("KEYMINT_CLIENT_ID", id),
        ("KEYMINT_CLIENT_KEY_FILE", pem),
    ];
    let (ok, out, err) = cli.with(&env, &["keys", "create", "--name", "made-by-ci", "--json"]);
    assert!(ok, "{err}");
    let made: Value = serde_json::from_str(&out).unwrap();
    let audit = cli.json(&["audit", "--target", made["id"].as_str().unwrap(), "--json"]);
    assert_eq!(audit["data"][0]["actor"], id, "audited as the key: {audit}");

    // Another key's private key is refused, naming where the credentials came from.
    let (stranger, _) = key_pair(cli.dir(), "stranger.pem");
    let wrong = [env[0], env[1], ("KEYMINT_CLIENT_KEY_FILE", stranger.to_str().unwrap())];
    let (ok, _, err) = cli.with(&wrong, &["keys", "list"]);
    assert!(
        !ok && err.contains("invalid_client") && err.contains("KEYMINT_CLIENT_KEY_FILE"),
        "{err}"
    );
    std::fs::write(cli.dir().join("not-a-key.pem"), "hello").unwrap();
    let bad = [env[0], env[1], ("KEYMINT_CLIENT_KEY_FILE", "not-a-key.pem")];
    let (ok, _, err) = cli.with(&bad, &["keys", "list"]);
    assert!(!ok && err.contains("not a PEM `PRIVATE KEY` (PKCS#8)"), "{err}");
    let both = [env[0], env[1], env[2], ("KEYMINT_CLIENT_SECRET", "x")];
    let (ok, _, err) = cli.with(&both, &["keys", "list"]);
    assert!(!ok && err.contains("both set"), "{err}");

    // `login --key-file` keeps the path, not the key, and asks for no secret.
    let login = ["login", "--server", &server.url, "--client-id", id, "--key-file", "ci-admin.pem"];
    let (ok, out, err) = cli.plain(&login, "");
    assert!(ok, "{err}");
    assert!(out.contains(&format!("as {id}")), "{out}");
    let saved = std::fs::read_to_string(cli.dir().join("config/keymint/credentials.json")).unwrap();
    assert!(saved.contains("ci-admin.pem") && !saved.contains("PRIVATE KEY"), "{saved}");
    let (ok, _, err) = cli.plain(&["keys", "list"], "");
    assert!(ok, "{err}");
}

/// `keymint login` at a real terminal (a pseudo-terminal): the prompt shows, the
/// secret typed is never echoed back, and the login succeeds.
#[cfg(unix)]
#[test]
fn login_at_a_terminal_never_shows_the_secret() {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    use rustix::termios::{tcgetattr, LocalModes};
    use std::io::{Read, Write};

    let cli = Cli::remote();
    let server = cli.server.as_ref().unwrap();
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal =
        std::fs::OpenOptions::new().read(true).write(true).open(name.to_str().unwrap()).unwrap();
    let mut child = keymint(cli.dir())
        .args(["login", "--server", &server.url, "--client-id", &server.client_id])
        .stdin(terminal.try_clone().unwrap())
        .stdout(terminal.try_clone().unwrap())
        .stderr(terminal)
        .spawn()
        .unwrap();
    let master = std::fs::File::from(master);
    let mut reader = master.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        // Reading ends with EIO once the terminal's last user exits.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            let _ = tx.send(buf[..n].to_vec());
        }
    });
    let mut shown = String::new();
    while !shown.contains("client secret (not shown): ") {
        let chunk = rx.recv_timeout(Duration::from_secs(20)).expect("the prompt");
        shown.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The prompt is written just before the terminal stops echoing: wait for that.
    let started = std::time::Instant::now();
    while tcgetattr(&master).unwrap().local_modes.contains(LocalModes::ECHO) {
        assert!(started.elapsed() < Duration::from_secs(20), "echo is never turned off");
        std::thread::sleep(Duration::from_millis(10));
    }
    (&master).write_all(format!("{}\n", server.client_secret).as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "{shown}");
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(2)) {
        shown.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(shown.contains("logged in to"), "{shown}");
    assert!(!shown.contains(&server.client_secret), "the secret was shown: {shown}");
}

/// The binary as an operator stops it: SIGTERM while a usage flush waits on a lock
/// another program holds. The flush is let finish, and every token is counted.
#[test]
fn sigterm_during_a_stuck_usage_flush_loses_no_count() {
    let cli = Cli::local();
    let key = cli.json(&["keys", "create", "--name", "busy", "--json"]);
    let id = key["client_id"].as_str().unwrap().to_string();
    let secret = key["client_secret"].as_str().unwrap().to_string();
    let (mut server, url) = serve(cli.dir(), &["--usage-flush-interval", "1"]);
    let database = format!("sqlite://{}", cli.dir().join("keymint.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let lock = runtime.block_on(async {
        let lock = crate::helpers::TableLock::take(
            &crate::helpers::TestDatabase::at(database),
            "usage_log",
        )
        .await;
        let client = reqwest::Client::new();
        for _ in 0..20 {
            let response = client
                .post(format!("{url}/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
        }
        // Past the next flush tick: the flush holds the 20 tokens and waits.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lock
    });
    let pid = server.0.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.0.try_wait().unwrap().is_none(), "the shutdown waits for the flush");
    runtime.block_on(lock.release());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "a clean exit: {status:?}");
    let usage = cli.json(&["keys", "usage", &id, "--json"]);
    assert_eq!(usage["total"]["issued"], 20, "every token counted: {usage}");
}

fn keys_carry_an_owner_claims_and_federated_credentials_from_the_cli(cli: &Cli) {
    let github =
        "https://token.actions.githubusercontent.com repo:acme/api:ref:refs/heads/main keymint";
    let created = cli.json(&[
        "keys",
        "create",
        "--name",
        "acme-sync",
        "--owner",
        "cus_acme",
        "--claims",
        r#"{"tenant": "acme"}"#,
        "--federated-credential",
        github,
        "--json",
    ]);
    let id = created["client_id"].as_str().unwrap().to_string();
    let listed = cli.json(&["keys", "list", "--owner", "cus_acme", "--json"]);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (ok, out, _) = cli.text(&["keys", "show", &id]);
    assert!(ok);
    for shown in ["cus_acme", r#"{"tenant":"acme"}"#, "repo:acme/api:ref:refs/heads/main"] {
        assert!(out.contains(shown), "{shown} in: {out}");
    }
    let (ok, out, _) = cli.text(&["keys", "list", "--owner", "cus_acme"]);
    assert!(ok && out.contains("acme-sync") && out.contains("OWNER"), "{out}");
    let (ok, out, _) = cli.text(&["keys", "list", "--owner", "cus_nobody"]);
    assert!(ok && !out.contains("acme-sync"), "{out}");

    // The preview warns before claims change; refusals name the field.
    let (ok, out, _) =
        cli.text(&["keys", "update", &id, "--claims", r#"{"tenant": "globex"}"#, "--dry-run"]);
    assert!(
        ok && out.contains("claims") && out.contains("warning: the claims in its tokens change"),
        "{out}"
    );
    let (ok, _, err) = cli.text(&["keys", "update", &id, "--claims", r#"{"sub": "x"}"#]);
    assert!(!ok && err.contains("claims") && err.contains("'sub'"), "{err}");
    let (ok, _, err) = cli.text(&["keys", "update", &id, "--claims", "not json"]);
    assert!(!ok && err.contains("--claims is not JSON"), "{err}");
    let (ok, _, err) =
        cli.text(&["keys", "update", &id, "--federated-credential", "https://only.example"]);
    assert!(!ok && err.contains("ISSUER SUBJECT AUDIENCE"), "{err}");
    let cleared =
        cli.json(&["keys", "update", &id, "--no-federated-credentials", "--owner", "", "--json"]);
    assert_eq!(cleared["federated_credentials"], serde_json::json!([]));
    assert!(cleared["owner"].is_null(), "{cleared}");
    cli.json(&["keys", "update", &id, "--owner", "cus_acme", "--json"]);
    tokens(cli, &id, created["client_secret"].as_str().unwrap(), 2);
    let usage = cli.json(&["usage", "--owner", "cus_acme", "--json"]);
    assert_eq!(usage["total"]["issued"], 2, "{usage}");
    assert_eq!(cli.json(&["usage", "--owner", "cus_nobody", "--json"])["total"]["issued"], 0);
    let (ok, out, _) = cli.text(&["usage", "--owner", "cus_acme"]);
    assert!(ok && out.contains("EXCHANGED") && out.contains("acme-sync"), "{out}");
}
