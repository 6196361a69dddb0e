//! What token exchange costs next to the secret exchange: tokens per second on
//! 32 concurrent clients against a real keymint on SQLite, for the
//! client-credentials exchange with a secret, delegation (RFC 8693: a keymint
//! token traded for a narrower one) and workload federation (a platform token,
//! the issuer's keys already fetched), measured in alternating turns. Writes its
//! section of docs/performance.md.
//!
//! `cargo bench --bench exchange` (`scripts/bench` runs it); `-- --seconds N`
//! sets the length of each turn.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

#[path = "shared/keymint.rs"]
mod keymint;
#[path = "shared/section.rs"]
mod section;

use keymint::{Keymint, Res};

const START: &str = "<!-- exchange: start (written by benches/exchange.rs) -->";
const END: &str = "<!-- exchange: end -->";
/// The target: each exchange at least this share of the secret exchange's rate.
const TARGET: f64 = 0.5;
const ROUNDS: usize = 3;
const CONNECTIONS: usize = 32;
const SUBJECT: &str = "system:serviceaccount:bench:worker";

/// A platform issuer serving discovery and its JWKS; a token it signed.
async fn platform() -> Res<(String, String)> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| "no key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "no key")?;
    let point = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "p1", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let jwks = json!({"keys": [jwk]});
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    #[expect(
        clippy::disallowed_methods,
        reason = "the platform signs by the wall clock keymint runs on"
    )]
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims =
        json!({"iss": issuer, "sub": SUBJECT, "aud": "keymint", "iat": now, "exp": now + 3600});
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!("{}.{}", encode(&json!({"alg": "ES256", "kid": "p1"})), encode(&claims));
    let signature =
        pair.sign(&SystemRandom::new(), input.as_bytes()).map_err(|_| "no signature")?;
    Ok((issuer, format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))))
}

/// One request of a kind: credentials (Basic, when a secret is given) and form.
#[derive(Clone)]
struct Request {
    basic: Option<(String, String)>,
    form: Vec<(&'static str, String)>,
}

/// Tokens per second over `turn` for `request`, on `CONNECTIONS` clients.
async fn rate(server: &Keymint, request: &Request, turn: Duration) -> Res<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + turn;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url) = (reqwest::Client::new(), format!("{}/oauth/token", server.base));
        let (request, done, failed) = (request.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let mut call = http.post(&url).form(&request.form);
                if let Some((id, secret)) = &request.basic {
                    call = call.basic_auth(id, Some(secret));
                }
                let counter = match call.send().await {
                    Ok(answer) if answer.status().is_success() => &done,
                    _ => &failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    if failed.load(Ordering::Relaxed) > 0 {
        return Err(format!("{} requests refused", failed.load(Ordering::Relaxed)).into());
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn create(server: &Keymint, admin: &str, body: Value) -> Res<Value> {
    Ok(server
        .http
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await?
        .json()
        .await?)
}

async fn run(turn: Duration) -> Res<String> {
    let dir = tempfile::tempdir()?;
    let server = Keymint::start(dir.path(), &[("KEYMINT_ALLOW_PRIVATE_JWKS_URI", "true")]).await?;
    let admin = server.admin_token().await?;
    let (issuer, platform_token) = platform().await?;
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let client = server.new_key(&admin, "client", &["read:a/*"]).await?;
    let gateway = server.new_key(&admin, "gateway", &["read:a/*"]).await?;
    let workload = create(&server, &admin, json!({"name": "workload", "scopes": ["read:a/*"],
        "federated_credentials": [{"issuer": issuer, "subject": SUBJECT, "audiences": ["keymint"]}]}))
    .await?;
    let subject = server.token(&client.0, &client.1).await?;
    let grant = ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_string());
    let kinds = [
        (
            "client credentials, secret",
            Request {
                basic: Some(client.clone()),
                form: vec![("grant_type", "client_credentials".into())],
            },
        ),
        (
            "delegation (token exchange)",
            Request {
                basic: Some(gateway),
                form: vec![
                    grant.clone(),
                    ("subject_token", subject),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token".into()),
                ],
            },
        ),
        (
            "federation (platform token)",
            Request {
                basic: None,
                form: vec![
                    grant,
                    ("client_id", text(&workload, "client_id")),
                    ("subject_token", platform_token),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".into()),
                ],
            },
        ),
    ];
    for (_, request) in &kinds {
        rate(&server, request, Duration::from_secs(1)).await?; // warm-up
    }
    let mut rates = vec![Vec::new(); kinds.len()];
    for _ in 0..ROUNDS {
        for (i, (_, request)) in kinds.iter().enumerate() {
            rates[i].push(rate(&server, request, turn).await?);
        }
    }
    let medians: Vec<f64> = rates.into_iter().map(section::median).collect();
    let mut rows = String::new();
    for (i, (name, _)) in kinds.iter().enumerate() {
        let ratio = medians[i] / medians[0];
        let verdict = match i {
            0 => "(the reference)".to_string(),
            _ if ratio >= TARGET => format!("**{ratio:.2}**: met"),
            _ => format!("**{ratio:.2}**: not met"),
        };
        rows.push_str(&format!("| {name} | {:.0}/s | {verdict} |\n", medians[i]));
    }
    Ok(format!(
        "{START}\n## Token exchange\n\n\
         Measured by `benches/exchange.rs` (`cargo bench --bench exchange`, run by `scripts/bench`): \
         tokens per second on {CONNECTIONS} concurrent clients against a real keymint on SQLite; \
         medians of {ROUNDS} turns of {:.0} s each, taken in alternation. Target for each \
         exchange: at least {TARGET} of the secret exchange.\n\n\
         | request | tokens per second | share of the secret exchange |\n|---|---:|---|\n{rows}\n\
         What bounds them: each verifies one ES256 signature on top of the signing every \
         exchange pays (delegation the subject token's, after the calling key's secret; \
         federation the platform token's, with no secret to check), and an ECDSA P-256 \
         verification costs more than a signature; revocations and the issuer's keys are held \
         in memory, so neither asks the database. A verification bounds them near half of the \
         secret exchange, as it bounds the token endpoint's signed exchanges (compared above \
         with a ceiling that also verifies one signature).\n{END}\n",
        turn.as_secs_f64(),
    ))
}

fn main() -> Res<()> {
    section::main(5, run, START, END)
}
