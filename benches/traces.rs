//! What tracing costs when it is off: token exchanges per second against this
//! build's keymint (OpenTelemetry compiled in, no `OTEL_*` variable set) and
//! against a build without the `otel` feature, in alternating turns. Writes its
//! section of docs/performance.md.
//!
//! `cargo bench --bench traces` (`scripts/bench` runs it); `-- --seconds N` sets
//! the length of each turn. The build without the feature goes to
//! `target/without-otel` (built once, then reused while the sources are unchanged).

use std::time::Duration;

#[path = "shared/keymint.rs"]
mod keymint;
#[path = "shared/section.rs"]
mod section;

use keymint::{Keymint, Res};

const START: &str = "<!-- traces: start (written by benches/traces.rs) -->";
const END: &str = "<!-- traces: end -->";
/// The target: with tracing compiled in but off, at least this share of without.
const TARGET: f64 = 0.98;
const ROUNDS: usize = 6;
const CONNECTIONS: usize = 32;

/// The keymint binary built without the `otel` feature.
fn without_otel() -> Res<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let target = format!("{root}/target/without-otel");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "--bin", "keymint", "--no-default-features"])
        .args(["--target-dir", &target])
        .current_dir(root)
        .status()?;
    if !status.success() {
        return Err("building keymint without the otel feature failed".into());
    }
    Ok(format!("{target}/release/keymint"))
}

async fn run(turn: Duration) -> Res<String> {
    let bare = without_otel()?;
    let (with_dir, without_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut servers = Vec::new();
    for this_build in [true, false] {
        let server = if this_build {
            Keymint::start(with_dir.path(), &[]).await?
        } else {
            Keymint::start_binary(&bare, without_dir.path(), &[]).await?
        };
        let admin = server.admin_token().await?;
        let (id, secret) = server.new_key(&admin, "exchanging", &[]).await?;
        server.exchange_rate(&id, &secret, Duration::from_secs(2), CONNECTIONS).await?; // warm-up
        servers.push((server, id, secret));
    }
    let (mut compiled_in, mut without) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (i, (server, id, secret)) in servers.iter().enumerate() {
            let rate = server.exchange_rate(id, secret, turn, CONNECTIONS).await?;
            if i == 0 {
                compiled_in.push(rate)
            } else {
                without.push(rate)
            }
        }
    }
    let (compiled_in, without) = (section::median(compiled_in), section::median(without));
    let ratio = compiled_in / without;
    let met = if ratio >= TARGET { "met" } else { "not met" };
    Ok(format!(
        "{START}\n## Tracing when it is off\n\n\
         Measured by `benches/traces.rs` (`cargo bench --bench traces`, run by `scripts/bench`): \
         token exchanges per second on {CONNECTIONS} concurrent clients against two keymints on \
         SQLite, one of this build (OpenTelemetry compiled in, no `OTEL_*` variable set) and one \
         built without the `otel` feature; medians of {ROUNDS} turns of {:.0} s each, taken in \
         alternation (each build first in every other round).\n\n\
         | build | exchanges per second |\n|---|---:|\n\
         | without the `otel` feature | {without:.0}/s |\n\
         | with it, traces off | {compiled_in:.0}/s |\n\n\
         Compiled in but off, tracing keeps **{:.3}** of the rate (target: at least {TARGET}): \
         **{met}**. Off, a request gets the span it had before (method and path), and the token \
         path's step spans are debug-level callsites the log filter disables.\n{END}\n",
        turn.as_secs_f64(),
        ratio,
    ))
}

fn main() -> Res<()> {
    section::main(5, run, START, END)
}
