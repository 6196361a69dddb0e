//! Upgrades that cannot strand a fleet, driven through the `keymint` binary: only
//! `serve` and `migrate` change the schema; a server runs on a schema one expand
//! ahead of it (a rolling upgrade) and refuses a contract; admin commands refuse
//! any schema but their own, naming both versions.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use keymint::store::schema::VERSION;

use crate::binary::keymint;
use crate::helpers::{Backend, TestDatabase};

crate::on_both_backends!(
    a_server_runs_on_one_more_expand_and_admin_commands_refuse_it,
    a_contract_newer_than_the_binary_stops_every_command,
    only_serve_and_migrate_upgrade_an_older_schema,
);

#[test]
fn the_version_names_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = keymint(dir.path()).arg("--version").output().unwrap();
    let expected = format!("keymint {} (schema {VERSION})\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// Runs `cmd` to its end (at most 60 s: a command that should refuse must not
/// serve instead).
fn finish(mut cmd: Command) -> Output {
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("runs");
    let started = Instant::now();
    while child.try_wait().expect("waits").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the command did not end: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn run(dir: &std::path::Path, db: &TestDatabase, args: &[&str]) -> Output {
    let mut cmd = keymint(dir);
    cmd.args(args).env("KEYMINT_DATABASE_URL", &db.url);
    finish(cmd)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Records a migration this keymint does not carry, as a newer release would: it
/// adds a table and says whether earlier releases still run on the schema.
async fn apply_future_migration(db: &TestDatabase, backend: Backend, expand: bool) {
    let next = VERSION + 1;
    let checksum = match backend {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "'\\x00'::bytea",
    };
    db.execute("CREATE TABLE future_feature (id TEXT PRIMARY KEY)").await;
    db.execute(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({next}, 'future feature', TRUE, {checksum}, 0)"
    ))
    .await;
    db.execute(&format!(
        "INSERT INTO schema_compatibility (version, expand) VALUES ({next}, {})",
        if expand { "TRUE" } else { "FALSE" }
    ))
    .await;
}

/// A migrated database and an admin key on it, made by the binary.
async fn migrated_with_admin(
    backend: Backend,
) -> (TestDatabase, tempfile::TempDir, String, String) {
    let db = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let migrated = run(dir.path(), &db, &["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert!(
        stderr(&migrated).contains(&format!("this keymint's schema: version {VERSION}")),
        "{}",
        stderr(&migrated)
    );
    let out = run(dir.path(), &db, &["bootstrap", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = creds["client_id"].as_str().unwrap().to_string();
    let secret = creds["client_secret"].as_str().unwrap().to_string();
    (db, dir, id, secret)
}

async fn a_server_runs_on_one_more_expand_and_admin_commands_refuse_it(backend: Backend) {
    let (db, dir, id, secret) = migrated_with_admin(backend).await;
    apply_future_migration(&db, backend, true).await;

    let mut serve = keymint(dir.path());
    serve.args(["serve", "--listen", "127.0.0.1:0"]).env("KEYMINT_DATABASE_URL", &db.url);
    let (_server, url) = crate::helpers::serve(serve);
    let response = crate::processes::token(&url, &id, &secret).await;
    assert_eq!(response.status(), 200, "the older release serves on the expanded schema");

    let next = VERSION + 1;
    for args in [&["keys", "list"][..], &["bootstrap"], &["usage"]] {
        let out = run(dir.path(), &db, args);
        assert!(!out.status.success(), "keymint {args:?} refuses a schema not its own");
        let message = stderr(&out);
        assert!(
            message.contains(&format!("schema is at version {next}, this keymint's is {VERSION}")),
            "keymint {args:?}: {message}"
        );
    }
}

async fn a_contract_newer_than_the_binary_stops_every_command(backend: Backend) {
    let (db, dir, _, _) = migrated_with_admin(backend).await;
    apply_future_migration(&db, backend, false).await;
    let next = VERSION + 1;
    for args in [&["serve", "--listen", "127.0.0.1:0"][..], &["migrate"], &["keys", "list"]] {
        let out = run(dir.path(), &db, args);
        assert!(!out.status.success(), "keymint {args:?} refuses a contract it does not know");
        let message = stderr(&out);
        assert!(
            message.contains(&format!(
                "schema is at version {next}, newer than this keymint's ({VERSION}), and \
                 migration {next} changed"
            )),
            "keymint {args:?}: {message}"
        );
    }
}

async fn only_serve_and_migrate_upgrade_an_older_schema(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let previous = VERSION - 1;
    crate::migrations::apply_migrations_up_to(&db, backend, previous).await;
    let version = || async {
        use sqlx::Connection;
        let query = "SELECT MAX(version) FROM _sqlx_migrations";
        match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query_scalar::<_, i64>(query).fetch_one(&mut conn).await.unwrap()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query_scalar::<_, i64>(query).fetch_one(&mut conn).await.unwrap()
            }
        }
    };
    let older = format!("schema is at version {previous}, older than this keymint's ({VERSION})");
    for args in [
        &["keys", "list"][..],
        &["bootstrap"],
        &["serve", "--no-migrate", "--listen", "127.0.0.1:0"],
    ] {
        let out = run(dir.path(), &db, args);
        assert!(!out.status.success(), "keymint {args:?} does not upgrade the schema");
        let message = stderr(&out);
        assert!(message.contains(&older), "keymint {args:?}: {message}");
        assert!(message.contains("keymint migrate"), "keymint {args:?}: {message}");
        assert_eq!(version().await, previous, "keymint {args:?} left the schema as it was");
    }
    let out = run(dir.path(), &db, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(version().await, VERSION);
    let out = run(dir.path(), &db, &["keys", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
