//! A running keymint on a real port, with one method per endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use keymint::app::App;
use keymint::cli::Cli;
use keymint::clock::ManualClock;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::logs::init_logs;
use super::{Backend, TestDatabase};

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

    /// `GET path` of a public document (discovery, the JWKS): its JSON body.
    pub async fn public_json(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.expect("request");
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
    /// (nothing read from this instance's memory): the counters, and the usage log
    /// every flush appends to, folded first.
    pub async fn stored_issued(&self, key_id: &str) -> i64 {
        let fold = keymint::store::Fold::Now { at: self.clock_now() };
        self.app.store.fold_usage(fold).await.expect("fold the usage log");
        self.folded_issued(key_id).await
    }

    /// Tokens issued to `key_id` in the last day in the counters alone: what the
    /// folds so far have added up.
    pub async fn folded_issued(&self, key_id: &str) -> i64 {
        let now = self.clock_now();
        let query = keymint::store::UsageQuery {
            granularity: keymint::store::Granularity::Hour,
            key_ids: vec![key_id.to_string()],
            workspace_id: None,
            owner: None,
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
