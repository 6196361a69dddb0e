//! The test harness: `spawn_app` starts keymint on a real port with a fresh database
//! (a SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set),
//! bootstraps an admin key and returns a [`TestApp`] with one method per endpoint.
//! Logs of every app in this process are captured so tests can prove that no
//! secret is ever logged.
//!
//! `db` holds the databases (and the lock and proxy that injure them), `app` the
//! running keymint and its requests, `logs` the captured logs, `process` the
//! child processes of the tests that drive the binary.

mod app;
mod db;
pub mod idp;
mod logs;
mod process;

pub use app::{spawn_app, spawn_app_at, spawn_app_with, start_instance, TestApp};
pub use db::{DbProxy, TableLock, TestDatabase};
pub use logs::captured_logs;
pub use process::{logged_address, printed_credentials, serve, stderr_lines, Running};

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Runs each listed `async fn name(backend: Backend)` once per backend: the
/// PostgreSQL run is reported as ignored when `TEST_DATABASE_URL` is unset.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(keymint_postgres_tests), ignore = "PostgreSQL run skipped: TEST_DATABASE_URL is not set")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Tests that only PostgreSQL can run (several instances, outages, its locks):
/// each `async fn name()` of the file becomes a test in module `$module`, ignored
/// unless `TEST_DATABASE_URL` is set.
#[macro_export]
macro_rules! on_postgres_only {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(keymint_postgres_tests), ignore = "PostgreSQL run skipped: TEST_DATABASE_URL is not set")]
                async fn $name() {
                    super::$name().await
                }
            )*
        }
    };
}

/// [`on_both_backends!`] for tests that also need something installed: each run
/// is ignored, with `$why` (`$why_pg` on PostgreSQL), unless `$cfg` holds.
#[macro_export]
macro_rules! on_both_backends_when {
    ($cfg:meta, $why:literal, $why_pg:literal, $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not($cfg), ignore = $why)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(all($cfg, keymint_postgres_tests)), ignore = $why_pg)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Asserts an RFC 6749 error response: status, `error`, and no-store caching.
pub async fn assert_oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(response.status(), status, "status for {error}");
    assert_eq!(
        response.headers().get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body: Value = response.json().await.expect("RFC 6749 errors are JSON");
    assert_eq!(body["error"], error, "body: {body}");
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(description.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'));
    body
}

/// Asserts an RFC 9457 problem response with the given status and type suffix.
pub async fn assert_problem(response: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers().get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["type"], format!("urn:keymint:problem:{kind}"), "body: {body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

/// How long a change may take to reach another instance in a test: the product
/// promises a second (a 250 ms poll, or a `NOTIFY`); the rest is room for a busy
/// two-core machine, so a slow run is not a failed one.
pub const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(5);

/// Polls `check` every 20 ms until it holds; fails the test after `limit`, naming
/// `what`. Returns how long it took.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    limit: std::time::Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
