//! How fast a resource server verifies keymint's tokens with the `keymint-verify`
//! library (warm JWKS cache), compared with a bare ES256 signature verification
//! with the same key: the physics of the check. One thread (tokens per second per
//! core), the two measured in turns so a noisy machine skews both alike. Writes
//! its section of docs/performance.md (between its markers, below the part the
//! token benchmark rewrites).
//!
//! `cargo bench --bench verify` (`scripts/bench` runs it after the token
//! benchmark); `-- --seconds N` sets the length of each turn.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keymint_verify::jwk::PublicKeys;
use keymint_verify::verifier::Verifier;
use serde_json::Value;

#[path = "shared/keymint.rs"]
mod keymint;
#[path = "shared/section.rs"]
mod section;

use keymint::{Keymint, Res};

const START: &str = "<!-- verify: start (written by benches/verify.rs) -->";
const END: &str = "<!-- verify: end -->";
/// The target: the library within this factor of a bare signature verification.
const TARGET: f64 = 1.2;
const ROUNDS: usize = 5;

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

async fn run(turn: Duration) -> Res<String> {
    let dir = tempfile::tempdir()?;
    let server = Keymint::start(dir.path(), &[]).await?;
    let admin = server.admin_token().await?;
    let (id, secret) = server.new_key(&admin, "bench", &["read:agents/*"]).await?;
    let token = server.token(&id, &secret).await?;
    let issuer = server.base.clone();
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
    let (lib, bare) = (section::median(with_library), section::median(bare_rates));
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

fn main() -> Res<()> {
    // `cargo test --benches` probes; the benchmark runs under `cargo bench`.
    let Some(turn) = section::turn_from_args(3) else { return Ok(()) };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let text = runtime.block_on(run(turn))?;
    print!("{text}");
    section::write(&text, START, END)
}
