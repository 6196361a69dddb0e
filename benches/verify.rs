//! How fast a resource server verifies keymint's tokens with the `keymint-verify`
//! library (warm JWKS cache), compared with a bare ES256 signature verification
//! with the same key: the physics of the check. One thread (tokens per second per
//! core), the two measured in turns so a noisy machine skews both alike. Writes
//! its section of docs/performance.md (between its markers, below the part the
//! token benchmark rewrites).
//!
//! `cargo bench --bench verify` (`scripts/bench` runs it after the token
//! benchmark); `-- --seconds N` sets the length of each turn.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keymint_verify::jwk::PublicKeys;
use keymint_verify::verifier::Verifier;
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const START: &str = "<!-- verify: start (written by benches/verify.rs) -->";
const END: &str = "<!-- verify: end -->";
/// The target: the library within this factor of a bare signature verification.
const TARGET: f64 = 1.2;
const ROUNDS: usize = 5;

/// Kills the server when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A keymint on SQLite in `dir` and a token for `read:agents/*` from it.
async fn keymint_token(dir: &std::path::Path) -> Res<(Server, String, String)> {
    let bin = env!("CARGO_BIN_EXE_keymint");
    let port = free_port()?;
    let issuer = format!("http://127.0.0.1:{port}");
    let database = format!("sqlite://{}/keymint.db", dir.display());
    let env = [
        ("KEYMINT_DATABASE_URL", database.as_str()),
        ("KEYMINT_MASTER_KEY_FILE", &format!("{}/master.key", dir.display())),
        ("KEYMINT_LISTEN", &format!("127.0.0.1:{port}")),
        ("KEYMINT_ISSUER", issuer.as_str()),
        ("RUST_LOG", "warn"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let bootstrap = Command::new(bin).args(["bootstrap", "--json"]).envs(env.clone()).output()?;
    if !bootstrap.status.success() {
        return Err(String::from_utf8_lossy(&bootstrap.stderr).into_owned().into());
    }
    let admin: Value = serde_json::from_slice(&bootstrap.stdout)?;
    let child = Command::new(bin)
        .arg("serve")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let server = Server(child);
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{issuer}/readyz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("keymint did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = |id: String, secret: String| {
        let http = http.clone();
        let url = format!("{issuer}/oauth/token");
        async move {
            let answer: Value = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await?
                .json()
                .await?;
            Ok::<String, reqwest::Error>(answer["access_token"].as_str().unwrap_or("").to_string())
        }
    };
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let admin_token = token(text(&admin, "client_id"), text(&admin, "client_secret")).await?;
    let key: Value = http
        .post(format!("{issuer}/v1/keys"))
        .bearer_auth(admin_token)
        .json(&json!({"name": "bench", "scopes": ["read:agents/*"]}))
        .send()
        .await?
        .json()
        .await?;
    let access = token(text(&key, "client_id"), text(&key, "client_secret")).await?;
    Ok((server, issuer, access))
}

/// Runs `one` for `turn` and returns how many it did per second.
async fn rate<F: std::future::Future<Output = bool>>(turn: Duration, one: impl Fn() -> F) -> f64 {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < turn {
        for _ in 0..100 {
            assert!(one().await, "a verification failed");
        }
        done += 100;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run(turn: Duration) -> Res<String> {
    let dir = tempfile::tempdir()?;
    let (_server, issuer, token) = keymint_token(dir.path()).await?;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap_or(""))?)?;
    let audience = match &claims["aud"] {
        Value::Array(list) => list.first().and_then(Value::as_str).unwrap_or("").to_string(),
        other => other.as_str().unwrap_or("").to_string(),
    };
    let verifier = Verifier::discover(&issuer, &audience).await?;
    verifier.verify(&token).await?; // warm: the JWKS is held from here on

    // The bare check: the same key, the same signature, nothing else.
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap_or(""))?)?;
    let jwks: Value = reqwest::get(format!("{issuer}/.well-known/jwks.json")).await?.json().await?;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .ok_or("the token's key is not in the JWKS")?;
    let alg = jsonwebtoken::Algorithm::ES256;
    let key = PublicKeys::one(jwk)?.candidates(alg, None).pop().ok_or("no ES256 key")?;
    let (message, signature) = token.rsplit_once('.').ok_or("not a JWT")?;

    let library = || async {
        match verifier.verify(&token).await {
            Ok(claims) => claims.require("read:agents/42").is_ok(),
            Err(_) => false,
        }
    };
    let bare = || async {
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg).unwrap_or(false)
    };
    let (mut with_library, mut bare_rates) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        with_library.push(rate(turn, library).await);
        bare_rates.push(rate(turn, bare).await);
    }
    let (lib, bare) = (median(with_library), median(bare_rates));
    let factor = bare / lib;
    let met = if factor <= TARGET { "met" } else { "not met" };
    Ok(format!(
        "{START}\n## Resource servers: verifying a token\n\n\
         Measured by `benches/verify.rs` (`cargo bench --bench verify`, run by `scripts/bench`): \
         one thread, a keymint ES256 token, the `keymint-verify` library's `Verifier::verify` with \
         a warm JWKS cache plus `Claims::require`, against a bare ES256 signature verification \
         (`jsonwebtoken::crypto::verify`) with the same key; medians of {ROUNDS} turns of \
         {:.0} s each, taken in alternation.\n\n\
         | check | tokens per second per core | per token |\n|---|---:|---:|\n\
         | `keymint-verify` (header, key lookup, signature, claims, scope) | {lib:.0}/s | {:.1} µs |\n\
         | bare signature verification | {bare:.0}/s | {:.1} µs |\n\n\
         The library costs **{factor:.2}x** a bare verification (target: at most {TARGET}x): \
         **{met}**.\n{END}\n",
        turn.as_secs_f64(),
        1e6 / lib,
        1e6 / bare,
    ))
}

fn write(section: &str) -> Res<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/performance.md");
    let page = std::fs::read_to_string(path)?;
    let page = match (page.find(START), page.find(END)) {
        (Some(start), Some(end)) => {
            format!(
                "{}{}{}",
                &page[..start],
                section,
                &page[end + END.len()..].trim_start_matches('\n')
            )
        }
        _ => {
            let marker = "<!-- analysis: kept when the benchmark rewrites this file -->\n";
            let at = page.find(marker).map_or(page.len(), |i| i + marker.len());
            format!("{}\n{}\n{}", &page[..at], section, &page[at..])
        }
    };
    std::fs::write(path, page)?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return Ok(()); // `cargo test --benches` probes; the benchmark runs under `cargo bench`.
    }
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let section = runtime.block_on(run(Duration::from_secs(seconds)))?;
    print!("{section}");
    write(&section)
}
