//! The test harness: `spawn_app` starts keymint on a real port with a fresh database
//! (a SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set),
//! bootstraps an admin key and returns a [`TestApp`] with one method per endpoint.
//! Logs of every app in this process are captured so tests can prove that no
//! secret is ever logged.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use clap::Parser;
use keymint::app::App;
use keymint::cli::Cli;
use keymint::clock::ManualClock;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything logged by any app in this test process.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,h2=info,reqwest=info,rustls=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
}

/// Everything logged so far by every app in this process.
pub fn captured_logs() -> String {
    init_logs();
    let logs =
        LOGS.get().map(|l| l.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
    String::from_utf8_lossy(&logs).into_owned()
}

/// A database for one test, dropped (PostgreSQL) when the test ends.
pub struct TestDatabase {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.path().join("keymint.db").display()),
                pg: None,
                _dir: dir,
            },
            Backend::Postgres => {
                use sqlx::Connection;
                let admin_url =
                    std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL is set");
                let name = format!(
                    "keymint_test_{}",
                    keymint::apikeys::secret::random_base62(12).to_lowercase()
                );
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                conn.close().await.ok();
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!("{}/{name}", &base[..base.rfind('/').expect("URL has a path")]);
                TestDatabase { url, pg: Some((admin_url, name)), _dir: dir }
            }
        }
    }

    /// The database at `url`, owned by someone else (nothing is dropped with it).
    pub fn at(url: String) -> TestDatabase {
        TestDatabase { url, pg: None, _dir: tempfile::tempdir().expect("temp dir") }
    }

    /// Sends this database's connections through 127.0.0.1:`port` (a [`DbProxy`]).
    pub fn route_through(&mut self, port: u16) {
        let (scheme, rest) = self.url.split_once("://").expect("URL has a scheme");
        let (authority, path) = rest.split_once('/').expect("URL has a path");
        let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
        self.url = format!("{scheme}://{user}127.0.0.1:{port}/{path}");
    }

    pub fn dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Runs one SQL statement on this database from a connection of its own, as
    /// another program (or another keymint version) would.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect("statement");
            conn.close().await.ok();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect("statement");
            conn.close().await.ok();
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A running keymint.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    /// The `iss` of this instance's tokens (shared by peers on the same database).
    pub issuer: String,
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    pub admin_id: String,
    pub admin_secret: String,
    pub db: Arc<TestDatabase>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    extra_args: Vec<String>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts an app with extra command-line settings, e.g. `["--trusted-proxies", "127.0.0.1/32"]`.
pub async fn spawn_app_with(backend: Backend, extra_args: &[&str]) -> TestApp {
    let db = Arc::new(TestDatabase::new(backend).await);
    bootstrapped(start(db, extra_args.iter().map(|s| s.to_string()).collect(), None).await).await
}

/// `app` with its first platform-admin key.
async fn bootstrapped(mut app: TestApp) -> TestApp {
    let revealed = app.app.bootstrap().await.expect("bootstrap");
    app.admin_id = revealed.key.id.clone();
    app.admin_secret =
        revealed.secret.as_ref().expect("an admin key has a secret").expose().to_string();
    app
}

/// Starts a bootstrapped app whose issuer (as clients reach it) is `issuer`, e.g.
/// an https URL in front of this plain-http test server.
pub async fn spawn_app_at(backend: Backend, issuer: &str) -> TestApp {
    let db = Arc::new(TestDatabase::new(backend).await);
    bootstrapped(start(db, vec![], Some(issuer.to_string())).await).await
}

/// Starts an instance on `db` without bootstrapping (for instances that start together).
pub async fn start_instance(db: Arc<TestDatabase>, extra_args: &[&str]) -> TestApp {
    start(db, extra_args.iter().map(|s| s.to_string()).collect(), None).await
}

async fn start(db: Arc<TestDatabase>, extra_args: Vec<String>, issuer: Option<String>) -> TestApp {
    init_logs();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let issuer = issuer.unwrap_or_else(|| base.clone());
    let master = db.dir().join("keys/master.key");
    let mut args: Vec<String> = vec![
        "keymint".into(),
        "--listen".into(),
        addr.to_string(),
        "--database-url".into(),
        db.url.clone(),
        "--master-key-file".into(),
        master.display().to_string(),
        "--issuer".into(),
        issuer.clone(),
        "--audience".into(),
        "https://api.example.test".into(),
    ];
    args.extend(extra_args.iter().cloned());
    let cli = Cli::try_parse_from(&args).expect("valid test arguments");
    let clock = ManualClock::new();
    let app = App::open(cli.settings().into_config(), clock.clone()).await.expect("app opens");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keymint::http::serve_until(app.clone(), listener, async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base,
        issuer,
        app,
        clock,
        client: reqwest::Client::new(),
        admin_id: String::new(),
        admin_secret: String::new(),
        db,
        shutdown: Some(tx),
        server: Some(server),
        extra_args,
    }
}

impl TestApp {
    /// The service clock's "now".
    pub fn clock_now(&self) -> i64 {
        keymint::clock::Clock::now(self.clock.as_ref())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server (finishing in-flight requests) and starts a new process-like
    /// instance on the same database, master key and issuer. It listens on a port
    /// of its own: the one just released may be taken by another test meanwhile.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let mut next =
            start(self.db.clone(), self.extra_args.clone(), Some(self.issuer.clone())).await;
        next.admin_id = std::mem::take(&mut self.admin_id);
        next.admin_secret = std::mem::take(&mut self.admin_secret);
        next
    }

    /// Another instance on the same database and master key, on its own port.
    pub async fn spawn_peer(&self) -> TestApp {
        let mut peer =
            start(self.db.clone(), self.extra_args.clone(), Some(self.issuer.clone())).await;
        peer.admin_id = self.admin_id.clone();
        peer.admin_secret = self.admin_secret.clone();
        peer
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// `POST /oauth/token` with `client_secret_basic` (RFC 6749 appendix B encoding).
    pub async fn token_basic(&self, id: &str, secret: &str, params: &[(&str, &str)]) -> Response {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(params);
        self.client
            .post(self.url("/oauth/token"))
            .basic_auth(enc(id), Some(enc(secret)))
            .form(&form)
            .send()
            .await
            .expect("request")
    }

    /// `POST /oauth/token` with `client_secret_post`.
    pub async fn token_post(&self, id: &str, secret: &str, params: &[(&str, &str)]) -> Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        form.extend_from_slice(params);
        self.client.post(self.url("/oauth/token")).form(&form).send().await.expect("request")
    }

    /// `POST /oauth/token` with a raw body and content type, no client auth header.
    pub async fn token_raw(&self, content_type: &str, body: &str) -> Response {
        self.client
            .post(self.url("/oauth/token"))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }

    /// An access token for `id`/`secret`, asserting success.
    pub async fn access_token(&self, id: &str, secret: &str) -> String {
        let response = self.token_basic(id, secret, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "token exchange failed");
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("access_token").to_string()
    }

    /// A token of the bootstrap platform admin.
    pub async fn admin_token(&self) -> String {
        self.access_token(&self.admin_id, &self.admin_secret).await
    }

    pub async fn get_with(&self, token: &str, path: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    /// `GET path` with `token`, which must succeed: its JSON body.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.get_with(token, path).await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert!(status.is_success(), "GET {path}: {status} {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub async fn post_with(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `POST` as `token`, asserting a 2xx answer; returns its JSON body.
    pub async fn post_json(&self, token: &str, path: &str, body: &Value) -> Value {
        let response = self.post_with(token, path, body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    pub async fn patch_with(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete_with(&self, token: &str, path: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    /// Creates a key as the bootstrap admin; returns the create response body.
    pub async fn create_key(&self, body: Value) -> Value {
        let token = self.admin_token().await;
        let response = self.post_with(&token, "/v1/keys", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create failed: {:?}",
            response.text().await
        );
        response.json().await.expect("json")
    }

    /// Tokens issued to `key_id` in the last day, as the database holds them
    /// (nothing read from this instance's memory).
    pub async fn stored_issued(&self, key_id: &str) -> i64 {
        let now = self.clock_now();
        let query = keymint::store::UsageQuery {
            granularity: keymint::store::Granularity::Hour,
            key_ids: vec![key_id.to_string()],
            workspace_id: None,
            from: now - 86_400,
            to: now + 3_600,
        };
        let rows = self.app.store.usage(&query, keymint::store::UsageGroup::Bucket).await;
        rows.expect("usage rows").iter().map(|r| r.tally.issued).sum()
    }

    /// Creates a key named `name` with `scopes`; returns `(client_id, client_secret)`.
    pub async fn new_client(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let body = self.create_key(json!({"name": name, "scopes": scopes})).await;
        (
            body["client_id"].as_str().unwrap().to_string(),
            body["client_secret"].as_str().unwrap().to_string(),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
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

/// Reads a `keymint serve` child's stderr on a thread of its own and hands over the
/// address it logs as `listening addr=...` (it binds port 0 itself).
/// A child process (a `keymint serve`), killed and reaped when dropped: a failed
/// test leaves no server behind.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn logged_address(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    rx
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

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, to inject a
/// database outage.
pub struct DbProxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    cuts: tokio::sync::watch::Sender<u64>,
}

impl DbProxy {
    /// Proxies 127.0.0.1:<port> to `target` (host:port).
    pub async fn start(target: String) -> DbProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let (up2, cuts2) = (up.clone(), cuts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = cuts2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {} // cut: both sockets drop
                    }
                });
            }
        });
        DbProxy { port, up, cuts }
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A write lock held by another session, as a long transaction, a migration or a
/// backup holds one: keymint's writes to the locked table wait until it is released.
pub enum TableLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl TableLock {
    /// Locks `table` of `db` against writes (on SQLite, the whole file: SQLite
    /// has one writer at a time).
    pub async fn take(db: &TestDatabase, table: &str) -> TableLock {
        use sqlx::Connection;
        if db.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("lock");
            TableLock::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query("BEGIN").execute(&mut conn).await.expect("begin");
            sqlx::query(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
                .execute(&mut conn)
                .await
                .expect("lock");
            TableLock::Postgres(conn)
        }
    }

    /// Ends the transaction, releasing the lock.
    pub async fn release(self) {
        use sqlx::Connection;
        match self {
            TableLock::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("release");
                conn.close().await.ok();
            }
            TableLock::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.expect("release");
                conn.close().await.ok();
            }
        }
    }
}
