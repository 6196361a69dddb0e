//! The token endpoint benchmark: starts the release `keymint` binary on SQLite and
//! PostgreSQL with 1 000, 100 000 and 1 000 000 keys (and 10 000 000 on PostgreSQL),
//! drives it with concurrent keep-alive HTTP/1.1 clients on the same machine, and
//! compares every figure with a ceiling measured in the same run: a minimal server on
//! the same HTTP stack that parses the same form, checks a SHA-256 secret (or verifies
//! one ES256 signature), signs an ES256 JWT with a key parsed once and answers the
//! same JSON, with no database and no policy.
//!
//! `cargo bench --bench token_endpoint` (or `scripts/bench`) writes the results to
//! docs/performance.md. Options (after `--`): `--sizes 1000,100000`, `--backends
//! sqlite,postgres`, `--flush-sizes 100000`, `--seconds 5`, `--connections 64`, `--out
//! PATH`, `--profile postgres,1000000` (the configuration profiled). PostgreSQL is
//! reached through `KEYMINT_BENCH_DATABASE_URL` or `TEST_DATABASE_URL`.

use std::collections::HashMap;

/// The allocator keymint's binary uses, so the ceiling (this process, `--ceiling`)
/// runs on the same stack.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use base64::Engine as _;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use keymint::apikeys::hashing::sha256_hex;
use keymint::apikeys::secret;

#[path = "token/profile.rs"]
mod profile;
#[path = "token/signed.rs"]
mod signed;
#[path = "flush/usage_flush.rs"]
mod usage_flush;

type Fail = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Fail>;

// ---------------------------------------------------------------- options

struct Options {
    sizes: Vec<usize>,
    /// Active keys for the usage flush measurements.
    flush_sizes: Vec<usize>,
    backends: Vec<String>,
    seconds: u64,
    connections: usize,
    out: String,
    /// The configuration whose paths are profiled: backend and key count.
    profile: (String, usize),
}

fn options() -> Options {
    let mut o = Options {
        sizes: vec![1_000, 100_000, 1_000_000, 10_000_000],
        flush_sizes: vec![1_000, 100_000, 1_000_000],
        backends: vec!["sqlite".into(), "postgres".into()],
        seconds: 5,
        connections: 64,
        out: concat!(env!("CARGO_MANIFEST_DIR"), "/docs/performance.md").into(),
        profile: ("postgres".into(), 1_000_000),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => o.sizes = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--flush-sizes" => {
                o.flush_sizes = value.split(',').filter_map(|s| s.parse().ok()).collect()
            }
            "--backends" => o.backends = value.split(',').map(str::to_string).collect(),
            "--seconds" => o.seconds = value.parse().unwrap_or(5),
            "--connections" => o.connections = value.parse().unwrap_or(64),
            "--out" => o.out = value,
            "--profile" => {
                if let Some((backend, size)) = value.split_once(',') {
                    o.profile = (backend.to_string(), size.parse().unwrap_or(0));
                }
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

// ---------------------------------------------------------------- load generator

/// What one scenario measured.
#[derive(Clone)]
struct Run {
    ok: u64,
    other: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_op: Option<f64>,
    /// Server resident set size after the scenario, MB.
    rss_mb: f64,
    /// Every request's latency, in microseconds.
    latencies: Histogram<u64>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    /// This run and `later` as one: their requests over their summed time.
    fn and(mut self, later: Run) -> Res<Run> {
        let ops = |r: &Run| (r.ok + r.other) as f64;
        let cpu = |r: &Run| r.cpu_us_per_op.map(|c| c * ops(r));
        self.cpu_us_per_op =
            cpu(&self).zip(cpu(&later)).map(|(a, b)| (a + b) / (ops(&self) + ops(&later)).max(1.0));
        self.latencies.add(&later.latencies)?;
        self.ok += later.ok;
        self.other += later.other;
        self.seconds += later.seconds;
        self.p50_ms = self.latencies.value_at_quantile(0.50) as f64 / 1000.0;
        self.p99_ms = self.latencies.value_at_quantile(0.99) as f64 / 1000.0;
        self.rss_mb = later.rss_mb;
        Ok(self)
    }
}

/// Makes the `n`th request of connection `conn`; `None` ends that connection.
type MakeRequest = Arc<dyn Fn(usize, u64) -> Option<Request<Full<Bytes>>> + Send + Sync>;

async fn drive(
    addr: SocketAddr,
    connections: usize,
    limit: Duration,
    make: MakeRequest,
) -> Res<Run> {
    // Every connection is open before the clock starts.
    let mut senders = Vec::new();
    for _ in 0..connections {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        senders.push(sender);
    }
    let deadline = Instant::now() + limit;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (conn, mut sender) in senders.into_iter().enumerate() {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (mut ok, mut other) = (0u64, 0u64);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let Some(request) = make(conn, n) else { break };
                n += 1;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                hist.record(sent.elapsed().as_micros().max(1) as u64).ok();
                if status == StatusCode::OK {
                    ok += 1;
                } else {
                    other += 1;
                }
            }
            Ok::<_, Fail>((hist, ok, other))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut other) = (0, 0);
    for task in tasks {
        let (h, o, x) = task.await??;
        hist.add(h)?;
        ok += o;
        other += x;
    }
    Ok(Run {
        ok,
        other,
        seconds: started.elapsed().as_secs_f64(),
        p50_ms: hist.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        cpu_us_per_op: None,
        rss_mb: 0.0,
        latencies: hist,
    })
}

fn form_request(body: String, client_ip: &str) -> Request<Full<Bytes>> {
    post("/oauth/token", body, client_ip, &[])
}

/// A form POST to `path` from `client_ip`, with extra headers.
fn post(
    path: &str,
    body: String,
    client_ip: &str,
    headers: &[(&str, &str)],
) -> Request<Full<Bytes>> {
    let mut request = Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", client_ip);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Full::new(Bytes::from(body))).expect("request")
}

/// Each prepared body once, shared across connections, with `headers(i)`.
fn prepared(
    path: &'static str,
    bodies: Arc<Vec<String>>,
    headers: impl Fn(usize) -> Vec<(String, String)> + Send + Sync + 'static,
) -> MakeRequest {
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |conn, _| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let body = bodies.get(i)?.clone();
        let extra = headers(i);
        let extra: Vec<(&str, &str)> =
            extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Some(post(path, body, &format!("198.18.2.{}", conn % 250 + 1), &extra))
    })
}

fn token_body(id: &str, secret: &str) -> String {
    format!("grant_type=client_credentials&client_id={id}&client_secret={}", urlencode(secret))
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Clients cycle through `creds`, each connection from its own address.
fn cycling(creds: Arc<Vec<(String, String)>>) -> MakeRequest {
    Arc::new(move |conn, n| {
        let (id, secret) = &creds[(conn * 7919 + n as usize * 64 + conn) % creds.len()];
        Some(form_request(token_body(id, secret), &format!("198.18.0.{}", conn % 250 + 1)))
    })
}

/// Every credential once, for each start of the server.
fn each_once_after_start(creds: &[(String, String)]) -> impl Fn() -> MakeRequest {
    let creds = Arc::new(creds.to_vec());
    move || each_once(creds.clone())
}

/// Every credential once, shared across connections.
fn each_once(creds: Arc<Vec<(String, String)>>) -> MakeRequest {
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |conn, _| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (id, secret) = creds.get(i)?;
        Some(form_request(token_body(id, secret), &format!("198.18.1.{}", conn % 250 + 1)))
    })
}

fn get(path: &'static str) -> MakeRequest {
    Arc::new(move |_, _| {
        Some(
            Request::get(path)
                .header("host", "127.0.0.1")
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
    })
}

// ---------------------------------------------------------------- processes

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// utime + stime of the server process, in microseconds.
    fn cpu_us(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after_comm = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        ticks * 1_000_000.0 / 100.0
    }

    /// Peak resident set size (VmHWM), in MB.
    fn peak_rss_mb(&self) -> f64 {
        self.rss_mb("VmHWM:")
    }

    fn rss_mb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    async fn measure(&self, connections: usize, limit: Duration, make: MakeRequest) -> Res<Run> {
        // Let the previous scenario's background work (usage writes) settle first.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = self.cpu_us();
        let mut run = drive(self.addr, connections, limit, make).await?;
        let ops = (run.ok + run.other).max(1) as f64;
        run.cpu_us_per_op = Some((self.cpu_us() - before) / ops);
        run.rss_mb = self.rss_mb("VmRSS:");
        Ok(run)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_ready(addr: SocketAddr, path: &str) -> Res<()> {
    let started = Instant::now();
    loop {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let request =
                Request::get(path).header("host", "127.0.0.1").body(Full::new(Bytes::new()))?;
            if let Ok(response) = sender.send_request(request).await {
                if response.status() == StatusCode::OK {
                    return Ok(());
                }
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("server did not become ready".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const MASTER_KEY: &str = "S2V5bWludEJlbmNobWFya01hc3RlcktleTMyQnl0ZSE=";

async fn start_keymint(database_url: &str) -> Res<Server> {
    let port = free_port()?;
    let child = Command::new(env!("CARGO_BIN_EXE_keymint"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
        .args(["--trusted-proxies", "127.0.0.1/32", "--auth-failures-per-ip", "50"])
        .env("KEYMINT_MASTER_KEY", MASTER_KEY)
        .env("RUST_LOG", "warn")
        // To compare allocators: e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2.
        .env("LD_PRELOAD", std::env::var("KEYMINT_BENCH_SERVER_PRELOAD").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
    wait_ready(server.addr, "/readyz").await?;
    Ok(server)
}

async fn start_ceiling(creds_file: &str, point_file: &str) -> Res<Server> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["--ceiling", &port.to_string(), creds_file, point_file])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
    wait_ready(server.addr, "/static").await?;
    Ok(server)
}

// ---------------------------------------------------------------- the ceiling server

/// The minimal server: same HTTP stack (axum on tokio), same form, a SHA-256 check,
/// an ES256 signature with a key parsed once, the same JSON. No database, no policy.
/// Its signed route checks one ES256 signature (a client assertion, by the public
/// key in `point_file`) instead of the SHA-256.
fn run_ceiling(port: u16, creds_file: &str, point_file: &str) -> Res<()> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    use axum::routing::{get, post};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    let hashes: HashMap<String, String> = std::fs::read_to_string(creds_file)?
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect();
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "keygen")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
        .map_err(|_| "parse")?;
    let header = B64.encode(r#"{"alg":"ES256","kid":"ceiling","typ":"at+jwt"}"#);
    let client_key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, std::fs::read(point_file)?);
    let state = Arc::new((hashes, pair, header));
    let signed_state = state.clone();
    let jwks = Bytes::from(format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"ceiling","use":"sig","alg":"ES256","x":"{}","y":"{}"}}]}}"#,
        "x".repeat(43),
        "y".repeat(43)
    ));
    let app = axum::Router::new()
        .route(
            "/static",
            get(move || {
                let jwks = jwks.clone();
                async move { ([("content-type", "application/json")], jwks) }
            }),
        )
        .route(
            "/oauth/token",
            post(move |body: Bytes| {
                let state = state.clone();
                async move {
                    let (hashes, pair, header) = &*state;
                    let form: HashMap<String, String> =
                        form_urlencoded::parse(&body).into_owned().collect();
                    let (Some(id), Some(secret)) =
                        (form.get("client_id"), form.get("client_secret"))
                    else {
                        return (StatusCode::BAD_REQUEST, "").into_response_tuple();
                    };
                    if hashes.get(id).map(String::as_str) != Some(sha256_hex(secret).as_str()) {
                        return (StatusCode::UNAUTHORIZED, "").into_response_tuple();
                    }
                    ceiling_token(pair, header, id)
                }
            }),
        )
        .route(
            "/oauth/token-signed",
            post(move |body: Bytes| {
                let state = signed_state.clone();
                async move {
                    let (_, pair, header) = &*state;
                    let form: HashMap<String, String> =
                        form_urlencoded::parse(&body).into_owned().collect();
                    let Some((input, signature)) =
                        form.get("client_assertion").and_then(|a| a.rsplit_once('.'))
                    else {
                        return (StatusCode::BAD_REQUEST, "").into_response_tuple();
                    };
                    let claims = input.split('.').nth(1).and_then(|c| B64.decode(c).ok());
                    let sub = claims
                        .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok())
                        .and_then(|c| c["sub"].as_str().map(str::to_string));
                    let verified = B64
                        .decode(signature)
                        .is_ok_and(|s| client_key.verify(input.as_bytes(), &s).is_ok());
                    match sub {
                        Some(sub) if verified => ceiling_token(pair, header, &sub),
                        _ => (StatusCode::UNAUTHORIZED, "").into_response_tuple(),
                    }
                }
            }),
        );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app).await?;
        Ok::<_, Fail>(())
    })
}

/// The ceiling's token answer for client `id`: the same claims and JSON as keymint's.
fn ceiling_token(
    pair: &aws_lc_rs::signature::EcdsaKeyPair,
    header: &str,
    id: &str,
) -> (StatusCode, [(&'static str, &'static str); 2], String) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1", "sub": id, "client_id": id, "aud": "http://127.0.0.1",
        "iat": 1, "nbf": 1, "exp": 601, "jti": secret::random_base62(22), "scope": "",
        "workspace_id": "ws", "environment": "production", "key_type": "access",
    });
    let mut token = format!("{header}.{}", B64.encode(claims.to_string()));
    let signature =
        pair.sign(&aws_lc_rs::rand::SystemRandom::new(), token.as_bytes()).expect("sign");
    token.push('.');
    token.push_str(&B64.encode(signature.as_ref()));
    let body = serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 600, "scope": ""});
    (StatusCode::OK, body.to_string()).into_response_tuple()
}

trait IntoResponseTuple {
    fn into_response_tuple(self) -> (StatusCode, [(&'static str, &'static str); 2], String);
}

impl IntoResponseTuple for (StatusCode, &'static str) {
    fn into_response_tuple(self) -> (StatusCode, [(&'static str, &'static str); 2], String) {
        (
            self.0,
            [("content-type", "application/json"), ("cache-control", "no-store")],
            self.1.to_string(),
        )
    }
}

impl IntoResponseTuple for (StatusCode, String) {
    fn into_response_tuple(self) -> (StatusCode, [(&'static str, &'static str); 2], String) {
        (self.0, [("content-type", "application/json"), ("cache-control", "no-store")], self.1)
    }
}

// ---------------------------------------------------------------- seeding

enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    async fn exec(&self, sql: &str) -> Res<()> {
        match self {
            Db::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?,
            Db::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?,
        }
        Ok(())
    }
}

/// Credentials the scenarios use; every other key exists but is never presented.
struct Seeded {
    warm: Vec<(String, String)>,
    victims: Vec<(String, String)>,
    imported: Vec<(String, String)>,
    /// A key holding `keymint:introspect` (one of `warm`).
    gateway: (String, String),
    /// Keys that authenticate with `private_key_jwt`, all with `signer`'s key.
    jwt_clients: Vec<String>,
    signer: signed::Signer,
}

/// Most `private_key_jwt` keys seeded.
const JWT_KEYS: usize = 1_000;
/// Signed requests prepared for each signed scenario.
const SIGNED_REQUESTS: usize = 60_000;

/// The largest key count measured on SQLite: larger fleets run PostgreSQL.
const SQLITE_MAX_SIZE: usize = 1_000_000;

/// How many keys the warm and cold scenarios present.
const PRESENTED: usize = 20_000;
/// The fewest first exchanges the cold scenario measures: with fewer keys than
/// this, the server is started again until it has.
const COLD_EXCHANGES: usize = 5_000;
const VICTIMS: usize = 500;
const IMPORTED: usize = 200;

/// Creates and migrates the database at `url` with the real binary.
fn migrate(url: &str) -> Res<()> {
    let status = Command::new(env!("CARGO_BIN_EXE_keymint"))
        .args(["migrate", "--database-url", url])
        .env("RUST_LOG", "warn")
        .status()?;
    if !status.success() {
        return Err("keymint migrate failed".into());
    }
    Ok(())
}

async fn seed(url: &str, total: usize) -> Res<Seeded> {
    migrate(url)?;
    let db = if url.starts_with("sqlite:") {
        Db::Sqlite(sqlx::SqlitePool::connect(url).await?)
    } else {
        Db::Postgres(sqlx::PgPool::connect(url).await?)
    };
    db.exec("INSERT INTO workspaces (id, name, created_at) VALUES ('ws_bench', 'bench', 0)")
        .await?;
    let presented = PRESENTED.min(total.saturating_sub(VICTIMS + IMPORTED)).max(1);
    let mut seeded = Seeded {
        warm: Vec::new(),
        victims: Vec::new(),
        imported: Vec::new(),
        gateway: (String::new(), String::new()),
        jwt_clients: Vec::new(),
        signer: signed::Signer::new(),
    };
    // Imported secrets: argon2id, each with its own salt (computed on every core).
    let imported: Vec<(String, String, String)> = {
        let per = IMPORTED.div_ceil(2);
        let handles: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
                    (t * per..((t + 1) * per).min(IMPORTED))
                        .map(|i| {
                            let secret = format!("legacy-bench-secret-{i:04}-xyz");
                            let phc = argon2::Argon2::default()
                                .hash_password(secret.as_bytes(), &SaltString::generate(&mut OsRng))
                                .expect("argon2")
                                .to_string();
                            (secret::new_key_id(), secret, phc)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    };
    let mut rows: Vec<String> = Vec::with_capacity(10_000);
    let flush = |rows: &mut Vec<String>| {
        let sql = format!(
            "BEGIN; INSERT INTO api_keys (id, workspace_id, name, name_lower, description, environment, \
             key_type, scopes, allowed_cidrs, audiences, status, secret_hash, masked_secret, imported, \
             created_at, created_by, updated_at, version) VALUES {}; COMMIT;",
            rows.join(",")
        );
        rows.clear();
        sql
    };
    let row = |id: &str, n: usize, hash: &str, imported: bool| {
        format!(
            "('{id}', 'ws_bench', 'key-{n}', 'key-{n}', '', 'production', 'access', '[]', '[]', '[]', \
             'active', '{hash}', 'km_live_****', {}, {n}, 'bench', {n}, 1)",
            i32::from(imported)
        )
    };
    // The keys the scenarios present, then the rest: on PostgreSQL the rest go
    // through COPY (10 000 000 keys in minutes, not an hour of INSERTs).
    let named = (presented + VICTIMS + IMPORTED).min(total);
    for n in 0..named {
        let id = secret::new_key_id();
        let (hash, imported) = if n < presented + VICTIMS {
            let s = secret::generate(&id, "production");
            let hash = sha256_hex(s.expose());
            if n < presented {
                seeded.warm.push((id.clone(), s.expose().to_string()));
            } else {
                seeded.victims.push((id.clone(), s.expose().to_string()));
            }
            (hash, false)
        } else {
            let (_, secret, phc) = &imported[n - presented - VICTIMS];
            seeded.imported.push((id.clone(), secret.clone()));
            (phc.clone(), true)
        };
        rows.push(row(&id, n, &hash, imported));
        if rows.len() >= 10_000 {
            db.exec(&flush(&mut rows)).await?;
        }
    }
    if !rows.is_empty() {
        db.exec(&flush(&mut rows)).await?;
    }
    let filler =
        (named..total).map(|n| (n, secret::new_key_id(), sha256_hex(&secret::random_base62(32))));
    match &db {
        Db::Postgres(pool) => {
            use sqlx::postgres::PgPoolCopyExt;
            let mut copy = pool
                .copy_in_raw(
                    "COPY api_keys (id, workspace_id, name, name_lower, description, environment, \
                     key_type, scopes, allowed_cidrs, audiences, status, secret_hash, masked_secret, \
                     imported, created_at, created_by, updated_at, version) FROM STDIN",
                )
                .await?;
            let mut chunk = String::with_capacity(8 << 20);
            for (n, id, hash) in filler {
                let _ = writeln!(
                    chunk,
                    "{id}\tws_bench\tkey-{n}\tkey-{n}\t\tproduction\taccess\t[]\t[]\t[]\tactive\t{hash}\tkm_live_****\t0\t{n}\tbench\t{n}\t1"
                );
                if chunk.len() >= 8 << 20 {
                    copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
                }
            }
            copy.send(chunk.into_bytes()).await?;
            copy.finish().await?;
            sqlx::raw_sql("ANALYZE api_keys").execute(pool).await?;
        }
        Db::Sqlite(_) => {
            for (n, id, hash) in filler {
                rows.push(row(&id, n, &hash, false));
                if rows.len() >= 10_000 {
                    db.exec(&flush(&mut rows)).await?;
                }
            }
            if !rows.is_empty() {
                db.exec(&flush(&mut rows)).await?;
            }
        }
    }
    // Some presented keys authenticate by assertion instead, and one is a gateway.
    let jwt_count = (seeded.warm.len() / 3).min(JWT_KEYS);
    let jwt = seeded.warm.split_off(seeded.warm.len() - jwt_count);
    seeded.jwt_clients = jwt.into_iter().map(|(id, _)| id).collect();
    let ids: Vec<String> = seeded.jwt_clients.iter().map(|id| format!("'{id}'")).collect();
    db.exec(&format!(
        "UPDATE api_keys SET token_endpoint_auth_method = 'private_key_jwt', jwks = '{}', \
         secret_hash = 'none', masked_secret = '' WHERE id IN ({})",
        seeded.signer.jwks(),
        ids.join(",")
    ))
    .await?;
    seeded.gateway = seeded.warm[0].clone();
    db.exec(&format!(
        "UPDATE api_keys SET scopes = '[\"keymint:introspect\"]' WHERE id = '{}'",
        seeded.gateway.0
    ))
    .await?;
    match db {
        Db::Sqlite(p) => p.close().await,
        Db::Postgres(p) => p.close().await,
    }
    Ok(seeded)
}

// ---------------------------------------------------------------- scenarios

struct Measured {
    label: String,
    total_keys: usize,
    rows: Vec<(&'static str, Run)>,
    peak_rss_mb: f64,
    seed_seconds: f64,
    profiles: Vec<profile::Profile>,
}

async fn bench_keymint(url: &str, total: usize, o: &Options, profiled: bool) -> Res<Measured> {
    let seeding = Instant::now();
    let seeded = Arc::new(seed(url, total).await?);
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let secs = Duration::from_secs(o.seconds);
    let mut server = start_keymint(url).await?;
    let mut rows = Vec::new();

    let first_exchanges = each_once_after_start(&seeded.warm);
    let mut cold =
        server.measure(o.connections, Duration::from_secs(20), first_exchanges()).await?;
    // A small fleet has too few keys for one start's first exchanges to be a rate
    // rather than a moment: start again, and again, until enough are measured.
    let mut earlier_peaks: f64 = 0.0;
    while cold.ok + cold.other < COLD_EXCHANGES as u64 {
        earlier_peaks = earlier_peaks.max(server.peak_rss_mb());
        drop(server);
        server = start_keymint(url).await?;
        let again =
            server.measure(o.connections, Duration::from_secs(20), first_exchanges()).await?;
        cold = cold.and(again)?;
    }
    rows.push(("cold exchanges (first after start)", cold));
    let warm = server.measure(o.connections, secs, cycling(Arc::new(seeded.warm.clone()))).await?;
    rows.push(("warm exchanges", warm));
    let imported_first = server
        .measure(
            o.connections,
            Duration::from_secs(30),
            each_once(Arc::new(seeded.imported.clone())),
        )
        .await?;
    rows.push(("imported (argon2id) keys, first exchange", imported_first));
    let imported_later =
        server.measure(o.connections, secs, cycling(Arc::new(seeded.imported.clone()))).await?;
    rows.push(("imported keys, later exchanges", imported_later));

    // Raw-key verification at introspection: a gateway checks the keys its callers
    // present (generated ones, then imported ones found by their lookup, indexed by
    // their first exchange above).
    let (gw_id, gw_secret) = &seeded.gateway;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{gw_id}:{gw_secret}"))
    );
    for (name, creds) in [
        ("raw-key verification, generated keys (warm)", seeded.warm.clone()),
        ("raw-key verification, imported keys (warm)", seeded.imported.clone()),
    ] {
        let basic = basic.clone();
        let make: MakeRequest = Arc::new(move |conn, n| {
            let (_, secret) = &creds[(conn * 7919 + n as usize * 64 + conn) % creds.len()];
            let body = format!("token_type_hint=api_key&token={}", urlencode(secret));
            let ip = format!("198.18.3.{}", conn % 250 + 1);
            Some(post("/oauth/introspect", body, &ip, &[("authorization", &basic)]))
        });
        rows.push((name, server.measure(o.connections, secs, make).await?));
    }

    // private_key_jwt: each request a fresh ES256 assertion (signed beforehand); a
    // first pass loads the keys.
    let issuer = format!("http://{}", server.addr);
    let now = unix_now();
    let signer = &seeded.signer;
    let clients = &seeded.jwt_clients;
    let warmup = signer.assertion_bodies(clients, &issuer, now, clients.len(), "warmup");
    server
        .measure(o.connections, secs, prepared("/oauth/token", Arc::new(warmup), |_| vec![]))
        .await?;
    let bodies = Arc::new(signer.assertion_bodies(clients, &issuer, now, SIGNED_REQUESTS, "bench"));
    let jwt =
        server.measure(o.connections, secs, prepared("/oauth/token", bodies, |_| vec![])).await?;
    rows.push(("private_key_jwt exchanges (ES256 assertions)", jwt));

    // DPoP: warm secret keys, each request with a fresh ES256 proof.
    let proofs = Arc::new(signer.proofs(
        &format!("{issuer}/oauth/token"),
        unix_now(),
        SIGNED_REQUESTS,
        "bench",
    ));
    let dpop = server.measure(o.connections, secs, dpop_requests(&seeded, proofs)).await?;
    rows.push(("DPoP exchanges (warm secret keys, ES256 proofs)", dpop));

    // A flood of wrong secrets and unknown ids from many addresses, measured together
    // with the warm rate of other keys.
    let victims = Arc::new(seeded.victims.clone());
    let flood: MakeRequest = Arc::new(move |conn, n| {
        let ip = format!("203.0.{}.{}", (n / 250) % 250, n % 250 + 1);
        let body = if n % 2 == 0 {
            let (id, _) = &victims[(conn + n as usize) % victims.len()];
            token_body(id, secret::generate(id, "production").expose())
        } else {
            let id = secret::new_key_id();
            token_body(&id, secret::generate(&id, "production").expose())
        };
        Some(form_request(body, &ip))
    });
    let half = (o.connections / 2).max(1);
    let baseline = server.measure(half, secs, cycling(Arc::new(seeded.warm.clone()))).await?;
    rows.push(("warm exchanges on half the connections, no flood", baseline));
    let flood_task = {
        let addr = server.addr;
        tokio::spawn(async move { drive(addr, half, secs, flood).await })
    };
    let during = server.measure(half, secs, cycling(Arc::new(seeded.warm.clone()))).await?;
    let flood_run = flood_task.await??;
    rows.push(("warm exchanges during a wrong-secret flood", during));
    rows.push(("the flood itself (answered 401/429)", Run { ok: flood_run.other, ..flood_run }));

    // Junk that used to buy argon2 work: unknown ids with secrets not in keymint's
    // format, each from another address (a botnet, or many addresses behind a
    // trusted proxy). Four connections make about 100 requests a second, since each
    // answer takes as long as an argon2id verification.
    let junk: MakeRequest = Arc::new(move |_, n| {
        let ip = format!("100.64.{}.{}", (n / 250) % 250, n % 250 + 1);
        let id = secret::new_key_id();
        Some(form_request(token_body(&id, &format!("legacy-junk-{n}")), &ip))
    });
    let junk_task = {
        let addr = server.addr;
        tokio::spawn(async move { drive(addr, 4, secs, junk).await })
    };
    let during = server.measure(half, secs, cycling(Arc::new(seeded.warm.clone()))).await?;
    let junk_run = junk_task.await??;
    rows.push(("warm exchanges during a junk flood", during));
    rows.push((
        "the junk flood itself (unknown ids, non-format secrets)",
        Run { ok: junk_run.other, ..junk_run },
    ));

    let jwks = server.measure(o.connections, secs, get("/.well-known/jwks.json")).await?;
    rows.push(("GET /.well-known/jwks.json", jwks));
    let peak_rss_mb = server.peak_rss_mb().max(earlier_peaks);

    // Each path again, with perf attached, once its figures are taken.
    let mut profiles = Vec::new();
    if profiled {
        let data = std::env::temp_dir().join(format!("keymint-bench-{}.perf", std::process::id()));
        let assertions =
            signer.assertion_bodies(clients, &issuer, unix_now(), SIGNED_REQUESTS, "profile");
        let proofs = Arc::new(signer.proofs(
            &format!("{issuer}/oauth/token"),
            unix_now(),
            SIGNED_REQUESTS,
            "profile",
        ));
        let paths: Vec<(&'static str, MakeRequest)> = vec![
            ("warm secret exchange", cycling(Arc::new(seeded.warm.clone()))),
            (
                "private_key_jwt exchange",
                prepared("/oauth/token", Arc::new(assertions), |_| vec![]),
            ),
            ("DPoP exchange", dpop_requests(&seeded, proofs)),
            ("GET /.well-known/jwks.json", get("/.well-known/jwks.json")),
        ];
        for (path, make) in paths {
            let perf = match profile::start(server.child.id(), &data) {
                Ok(perf) => perf,
                Err(e) => {
                    eprintln!("  not profiled (perf: {e})");
                    break;
                }
            };
            server.measure(o.connections, secs, make).await?;
            profiles.push(profile::stop(perf, &data, path)?);
        }
        let _ = std::fs::remove_file(&data);
    }
    Ok(Measured {
        label: String::new(),
        total_keys: total,
        rows,
        peak_rss_mb,
        seed_seconds,
        profiles,
    })
}

/// Token requests of warm secret keys, each with the next of `proofs` as its DPoP header.
fn dpop_requests(seeded: &Seeded, proofs: Arc<Vec<String>>) -> MakeRequest {
    let warm = &seeded.warm;
    let bodies: Vec<String> = (0..proofs.len())
        .map(|i| {
            let (id, secret) = &warm[(i * 7919) % warm.len()];
            token_body(id, secret)
        })
        .collect();
    prepared("/oauth/token", Arc::new(bodies), move |i| {
        vec![("dpop".to_string(), proofs[i].clone())]
    })
}

fn unix_now() -> i64 {
    keymint::clock::wall_clock_millis() / 1000
}

// ---------------------------------------------------------------- report

/// Everything from this line on in docs/performance.md is kept when the benchmark
/// rewrites the measurements above it.
const ANALYSIS_MARKER: &str = "<!-- analysis: kept when the benchmark rewrites this file -->";

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem:.0} GiB memory, load generator on the same cores")
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--ceiling") {
        let usage = "--ceiling PORT CREDENTIALS CLIENT_KEY";
        let port = args.get(2).and_then(|p| p.parse().ok()).ok_or(usage)?;
        return run_ceiling(port, args.get(3).ok_or(usage)?, args.get(4).ok_or(usage)?);
    }
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return Ok(()); // `cargo test --benches` probes; the benchmark runs under `cargo bench`.
    }
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(o))
}

async fn run(o: Options) -> Res<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let secs = Duration::from_secs(o.seconds);

    // The ceiling, measured first, with credentials of the same shape.
    let ceiling_creds: Vec<(String, String)> = (0..1000)
        .map(|_| {
            let id = secret::new_key_id();
            let s = secret::generate(&id, "production");
            (id, s.expose().to_string())
        })
        .collect();
    let creds_file = dir.path().join("ceiling-creds");
    std::fs::write(
        &creds_file,
        ceiling_creds.iter().map(|(id, s)| format!("{id} {}\n", sha256_hex(s))).collect::<String>(),
    )?;
    let client = signed::Signer::new();
    let point_file = dir.path().join("ceiling-client-key");
    std::fs::write(&point_file, client.public_point())?;
    let ceiling =
        start_ceiling(&creds_file.display().to_string(), &point_file.display().to_string()).await?;
    let ceiling_token =
        ceiling.measure(o.connections, secs, cycling(Arc::new(ceiling_creds))).await?;
    let assertions = client.assertion_bodies(
        &["ceiling-client".to_string()],
        "http://127.0.0.1",
        unix_now(),
        2 * SIGNED_REQUESTS,
        "ceiling",
    );
    let ceiling_signed = ceiling
        .measure(
            o.connections,
            secs,
            prepared("/oauth/token-signed", Arc::new(assertions), |_| vec![]),
        )
        .await?;
    if ceiling_signed.other > 0 {
        return Err("the signed ceiling refused assertions".into());
    }
    let ceiling_static = ceiling.measure(o.connections, secs, get("/static")).await?;
    drop(ceiling);
    eprintln!(
        "ceiling: {:.0} tokens/s, signed {:.0} tokens/s, static {:.0} req/s",
        ceiling_token.rate(),
        ceiling_signed.rate(),
        ceiling_static.rate()
    );

    let pg_url = std::env::var("KEYMINT_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .ok();
    let mut results: Vec<Measured> = Vec::new();
    let mut skipped = Vec::new();
    for backend in &o.backends {
        for &size in &o.sizes {
            if backend == "sqlite" && size > SQLITE_MAX_SIZE {
                continue;
            }
            let url = match fresh_database(backend, &format!("bench-{size}"), dir.path(), &pg_url)
                .await?
            {
                Ok(url) => url,
                Err(skip) => {
                    skipped.push(skip);
                    break;
                }
            };
            eprintln!("{backend} with {size} keys ...");
            let profiled = o.profile.0 == *backend && o.profile.1 == size;
            let mut m = bench_keymint(&url, size, &o, profiled).await?;
            m.label = backend.clone();
            for (name, run) in &m.rows {
                eprintln!(
                    "  {name}: {:.0}/s p50 {:.2} ms p99 {:.2} ms",
                    run.rate(),
                    run.p50_ms,
                    run.p99_ms
                );
            }
            results.push(m);
        }
    }
    let mut flushes: Vec<(String, usage_flush::FlushTimes)> = Vec::new();
    for backend in &o.backends {
        for &keys in &o.flush_sizes {
            let url = match fresh_database(backend, &format!("flush-{keys}"), dir.path(), &pg_url)
                .await?
            {
                Ok(url) => url,
                Err(_) => break,
            };
            eprintln!("{backend}: usage flush of {keys} keys ...");
            let times = usage_flush::measure(&url, keys).await?;
            eprintln!(
                "  flush {:.2} s, first fold {:.2} s, next fold {:.2} s",
                times.flush, times.first_fold, times.next_fold
            );
            flushes.push((backend.clone(), times));
        }
    }
    let mut report = report(
        &o,
        &ceiling_token,
        &ceiling_signed,
        &ceiling_static,
        &results,
        &skipped,
        started.elapsed(),
    );
    report.push_str(&flush_report(&flushes));
    for m in &results {
        report.push_str(&profile::report(
            &m.profiles,
            &format!("{} with {} keys", m.label, m.total_keys),
        ));
    }
    // A hand-written analysis below the marker survives regeneration.
    let analysis = std::fs::read_to_string(&o.out)
        .ok()
        .and_then(|old| old.find(ANALYSIS_MARKER).map(|at| old[at..].to_string()))
        .unwrap_or_else(|| format!("{ANALYSIS_MARKER}\n"));
    std::fs::write(&o.out, format!("{report}\n{analysis}"))?;
    eprintln!("wrote {}", o.out);
    Ok(())
}

/// A new empty database for `backend` named after `name`: a file under `dir`, or a
/// PostgreSQL database next to `pg_url`. `Ok(Err(why))` when PostgreSQL is skipped.
async fn fresh_database(
    backend: &str,
    name: &str,
    dir: &std::path::Path,
    pg_url: &Option<String>,
) -> Res<Result<String, String>> {
    match backend {
        "sqlite" => Ok(Ok(format!("sqlite://{}", dir.join(format!("{name}.db")).display()))),
        "postgres" => match pg_url {
            Some(admin) => {
                use sqlx::Connection;
                let name = format!("keymint_{}", name.replace('-', "_"));
                let Ok(mut conn) = sqlx::PgConnection::connect(admin).await else {
                    return Ok(Err("PostgreSQL (its server does not answer)".to_string()));
                };
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
                let base = admin.split('?').next().unwrap_or(admin);
                Ok(Ok(format!("{}/{name}", &base[..base.rfind('/').ok_or("URL has no path")?])))
            }
            None => Ok(Err(
                "PostgreSQL (set KEYMINT_BENCH_DATABASE_URL or TEST_DATABASE_URL)".to_string()
            )),
        },
        other => Err(format!("unknown backend {other}").into()),
    }
}

/// Seconds between flushes: `--usage-flush-interval`'s default.
const FLUSH_INTERVAL: u32 = 10;

/// The usage flush section of the report.
fn flush_report(flushes: &[(String, usage_flush::FlushTimes)]) -> String {
    let mut out = String::new();
    if flushes.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "
## Usage flush
"
    );
    let _ = writeln!(out, "A flush, every {} s on each instance, appends what it counted since the last to the usage log: per key one row with its hourly counters and last use, and a client address for as many keys as a flush carries ({} at most), in one transaction (one `COPY` on PostgreSQL) that reads nothing and locks no shared row. A fold, at most every {} s across all instances (and before a usage read), adds the log up into the hourly rows (days are summed from hours when read) and the client addresses, one row per key and hour however many instances flushed, and each key's last use into a table of its own (never the key's row, which an admin may be changing; uses of a rotated key's old secret reach the key in transactions of {} keys). Measured after every key was used: the first fold inserts the rows; the next, of two instances' flushes, adds to them. Target: one flush of 1 000 000 active keys on PostgreSQL within 5 s.
", FLUSH_INTERVAL, keymint::usage::MAX_PENDING_ADDRESSES, keymint::usage::FOLD_EVERY, keymint::store::PREVIOUS_USE_CHUNK);
    let _ = writeln!(
        out,
        "| backend | active keys | flush | first fold | next fold (two flushes) | fold per key |\n|---|---:|---:|---:|---:|---:|"
    );
    for (backend, t) in flushes {
        let _ = writeln!(
            out,
            "| {backend} | {} | {:.2} s | {:.2} s | {:.2} s | {:.1} µs |",
            t.keys,
            t.flush,
            t.first_fold,
            t.next_fold,
            t.first_fold.max(t.next_fold) / t.keys as f64 * 1e6
        );
    }
    if let Some((_, t)) = flushes.iter().find(|(b, t)| b == "postgres" && t.keys == 1_000_000) {
        let _ = writeln!(
            out,
            "\nOne flush of 1 000 000 active keys on PostgreSQL: {:.1} s (target 5 s): **{}**.",
            t.flush,
            if t.flush <= 5.0 { "met" } else { "not met" }
        );
        let fold_per_key = t.first_fold.max(t.next_fold) / t.keys as f64;
        let flush_per_key = t.flush / t.keys as f64;
        let interval = FLUSH_INTERVAL as f64;
        let _ = writeln!(
            out,
            "\nWhat one PostgreSQL sustains, from these costs: the fold is one connection's work, and keeps up while it takes less than its {} s, so up to **{:.1} million distinct active keys** a minute, however many instances flush them (it grows with the keys used, not with the instances). Each instance's flush costs {:.1} µs per key it saw, on a connection of its own: an instance would need **{:.1} million active keys** to keep its connection busy through the {} s interval, and the flushes of different instances run side by side.",
            keymint::usage::FOLD_EVERY,
            keymint::usage::FOLD_EVERY as f64 / fold_per_key / 1e6,
            flush_per_key * 1e6,
            interval / flush_per_key / 1e6,
            interval
        );
    }
    out
}

fn report(
    o: &Options,
    ceiling: &Run,
    signed_ceiling: &Run,
    static_bytes: &Run,
    results: &[Measured],
    skipped: &[String],
    took: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Performance\n");
    let _ = writeln!(out, "Measured by `benches/token_endpoint.rs`. Reproduce with:\n\n```sh\nscripts/bench\n# or: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench token_endpoint -- --seconds {} --connections {}\n```\n", o.seconds, o.connections);
    let _ =
        writeln!(out, "Machine: {}. The whole run took {:.0} s.\n", machine(), took.as_secs_f64());
    let _ = writeln!(out, "Every keymint figure is a ratio to the **ceiling** measured in the same run: a minimal server on the same HTTP stack (axum on tokio) that parses the same form, checks a SHA-256 secret, signs an ES256 JWT with a key parsed once and answers the same JSON, with no database and no policy. Exchanges authenticated by a signature (`private_key_jwt`, DPoP) are compared with the **signed ceiling**, the same server verifying one ES256 signature (a client assertion, with the public key parsed once) instead of the SHA-256 check: the least such an exchange must do. The JWKS is compared with a bare static-bytes endpoint. Ratios measured side by side hold on a noisy machine; absolute numbers do not.\n");
    let _ = writeln!(out, "Each size presents up to {PRESENTED} of its keys. Cold exchanges are each presented key's first exchange after the server starts; a size with fewer than {COLD_EXCHANGES} keys to present is started again until that many first exchanges are measured, and its cold row adds up those starts.\n");
    let _ = writeln!(
        out,
        "| ceiling | rate | p50 | p99 | server CPU per request |\n|---|---:|---:|---:|---:|"
    );
    for (name, r) in [
        ("token (SHA-256 + ES256)", ceiling),
        ("signed token (ES256 verification + ES256)", signed_ceiling),
        ("static bytes", static_bytes),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.0}/s | {:.2} ms | {:.2} ms | {:.0} µs |",
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.cpu_us_per_op.unwrap_or(0.0)
        );
    }
    let _ = writeln!(out);
    for m in results {
        let _ = writeln!(out, "## {} with {} keys\n", m.label, m.total_keys);
        let _ = writeln!(out, "Seeded in {:.0} s. Peak server RSS over all scenarios: **{:.0} MB**. {} connections.\n", m.seed_seconds, m.peak_rss_mb, o.connections);
        let _ = writeln!(out,"| scenario | rate | vs ceiling (signed exchanges: vs the signed ceiling; JWKS and raw keys: vs static bytes) | p50 | p99 | server CPU per request | non-200 | RSS after |\n|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, r) in &m.rows {
            // Answers that sign nothing are compared with the static-bytes floor.
            let base = if name.starts_with("GET") || name.starts_with("raw-key") {
                static_bytes.rate()
            } else if name.starts_with("private_key_jwt") || name.starts_with("DPoP") {
                signed_ceiling.rate()
            } else {
                ceiling.rate()
            };
            let _ = writeln!(
                out,
                "| {name} | {:.0}/s | {:.0}% | {:.2} ms | {:.2} ms | {:.0} µs | {} | {:.0} MB |",
                r.rate(),
                100.0 * r.rate() / base,
                r.p50_ms,
                r.p99_ms,
                r.cpu_us_per_op.unwrap_or(0.0),
                r.other,
                r.rss_mb
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(out, "{}", targets(ceiling, signed_ceiling, static_bytes, results));
    for s in skipped {
        let _ = writeln!(out, "\nSkipped: {s}.");
    }
    out
}

fn find<'a>(m: &'a Measured, prefix: &str) -> Option<&'a Run> {
    m.rows.iter().find(|(n, _)| n.starts_with(prefix)).map(|(_, r)| r)
}

fn targets(
    ceiling: &Run,
    signed_ceiling: &Run,
    static_bytes: &Run,
    results: &[Measured],
) -> String {
    let mut out = String::from("| target | measured | met |\n|---|---|---|\n");
    let mut line = |target: String, measured: String, met: bool| {
        let _ = writeln!(out, "| {target} | {measured} | {} |", if met { "yes" } else { "**no**" });
    };
    for m in results {
        let tag = format!("{} {}", m.label, m.total_keys);
        if let Some(w) = find(m, "warm exchanges") {
            let ratio = w.rate() / ceiling.rate();
            line(
                format!("{tag}: warm >= 90% of ceiling"),
                format!("{:.0}%", ratio * 100.0),
                ratio >= 0.9,
            );
            line(
                format!("{tag}: warm p99 <= 5 ms"),
                format!("{:.2} ms", w.p99_ms),
                w.p99_ms <= 5.0,
            );
            if let Some(c) = find(m, "cold") {
                let r = c.rate() / w.rate();
                line(format!("{tag}: cold >= 60% of warm"), format!("{:.0}%", r * 100.0), r >= 0.6);
            }
            if let Some(i) = find(m, "imported keys, later") {
                let r = i.rate() / w.rate();
                line(
                    format!("{tag}: imported later at the warm rate (>= 90%)"),
                    format!("{:.0}%", r * 100.0),
                    r >= 0.9,
                );
            }
            // Raw-key verification beside the secret exchange; signed exchanges
            // beside the ceiling that also verifies one ES256 signature.
            for (what, prefix, floor) in [
                ("raw-key verification (generated)", "raw-key verification, generated", 0.9),
                ("raw-key verification (imported)", "raw-key verification, imported", 0.9),
            ] {
                if let Some(x) = find(m, prefix) {
                    let r = x.rate() / w.rate();
                    line(
                        format!("{tag}: {what} >= {:.0}% of the secret exchange", floor * 100.0),
                        format!("{:.0}%", r * 100.0),
                        r >= floor,
                    );
                }
            }
            for (what, prefix) in
                [("private_key_jwt exchange", "private_key_jwt"), ("DPoP exchange", "DPoP")]
            {
                if let Some(x) = find(m, prefix) {
                    let r = x.rate() / signed_ceiling.rate();
                    line(
                        format!("{tag}: {what} >= 80% of the signed ceiling"),
                        format!("{:.0}%", r * 100.0),
                        r >= 0.8,
                    );
                }
            }
            // The same warm clients, without and with a flood beside them.
            for (flood, during) in [
                ("a flood", "warm exchanges during a wrong"),
                ("a junk flood", "warm exchanges during a junk"),
            ] {
                if let (Some(d), Some(b)) = (find(m, during), find(m, "warm exchanges on half")) {
                    let r = d.rate() / b.rate();
                    line(
                        format!("{tag}: warm rate during {flood} >= 80% of unloaded"),
                        format!("{:.0}%", r * 100.0),
                        r >= 0.8,
                    );
                }
            }
        }
        if let Some(j) = find(m, "GET") {
            let r = j.rate() / static_bytes.rate();
            line(
                format!("{tag}: JWKS >= 90% of static bytes"),
                format!("{:.0}%", r * 100.0),
                r >= 0.9,
            );
        }
        let bound = if m.total_keys > 1_000_000 { 150.0 } else { 100.0 };
        line(
            format!("{tag}: peak RSS < {bound:.0} MB"),
            format!("{:.0} MB", m.peak_rss_mb),
            m.peak_rss_mb < bound,
        );
    }
    for backend in ["sqlite", "postgres"] {
        let warm = |size: usize| {
            results
                .iter()
                .find(|m| m.label == backend && m.total_keys == size)
                .and_then(|m| find(m, "warm exchanges"))
                .map(Run::rate)
        };
        for big_size in [1_000_000, 10_000_000] {
            if let (Some(small), Some(big)) = (warm(1_000), warm(big_size)) {
                let r = big / small;
                line(
                    format!("{backend}: {big_size} keys >= 90% of 1000 keys"),
                    format!("{:.0}%", r * 100.0),
                    r >= 0.9,
                );
            }
        }
    }
    for size in [1_000, 100_000, 1_000_000] {
        let warm = |b: &str| {
            results
                .iter()
                .find(|m| m.label == b && m.total_keys == size)
                .and_then(|m| find(m, "warm exchanges"))
                .map(Run::rate)
        };
        if let (Some(s), Some(p)) = (warm("sqlite"), warm("postgres")) {
            let r = p / s;
            line(
                format!("{size} keys: PostgreSQL within 10% of SQLite"),
                format!("{:.0}%", r * 100.0),
                (0.9..=1.1).contains(&r),
            );
        }
    }
    out
}
