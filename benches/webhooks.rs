//! Whether webhooks slow the token path: token exchanges per second against a
//! real keymint with no webhook endpoint, and with 10 endpoints subscribed to
//! every event, one of which never answers (each attempt to it waits out the
//! 10-second limit), measured in alternating turns. In both, an admin changes a
//! key 20 times a second, so the second case has 200 deliveries a second to
//! send; the first pays for the same changes without them. Writes its section of
//! docs/performance.md.
//!
//! `cargo bench --bench webhooks` (`scripts/bench` runs it); `-- --seconds N`
//! sets the length of each turn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

#[path = "shared/keymint.rs"]
mod keymint;
#[path = "shared/section.rs"]
mod section;

use keymint::{Keymint, Res};

const START: &str = "<!-- webhooks: start (written by benches/webhooks.rs) -->";
const END: &str = "<!-- webhooks: end -->";
/// The target: exchanges with the webhooks at least this share of without.
const TARGET: f64 = 0.95;
const ROUNDS: usize = 3;
const CONNECTIONS: usize = 32;
const ENDPOINTS: usize = 10;

/// A receiver answering 204 at once, and one that never answers.
async fn receivers() -> Res<(String, String)> {
    let fast = axum::Router::new()
        .route("/hook", axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }));
    let dead = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    let mut urls = Vec::new();
    for app in [fast, dead] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        urls.push(format!("http://{}/hook", listener.local_addr()?));
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    Ok((urls[0].clone(), urls[1].clone()))
}

/// Edits a key 20 times a second until `stop`: 20 events a second.
fn changes(
    server: &Keymint,
    admin: String,
    key: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let (http, url) = (server.http.clone(), format!("{}/v1/keys/{key}", server.base));
    tokio::spawn(async move {
        let mut n = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            n += 1;
            let _ = http
                .patch(&url)
                .bearer_auth(&admin)
                .json(&json!({"description": format!("change {n}")}))
                .send()
                .await;
        }
    })
}

async fn set_endpoints(server: &Keymint, admin: &str, urls: &[String]) -> Res<Vec<String>> {
    let mut ids = Vec::new();
    for url in urls {
        let created: Value = server
            .http
            .post(format!("{}/v1/webhooks", server.base))
            .bearer_auth(admin)
            .json(&json!({"url": url, "events": ["*"], "workspace_id": "*"}))
            .send()
            .await?
            .json()
            .await?;
        ids.push(created["id"].as_str().ok_or("no endpoint id")?.to_string());
    }
    Ok(ids)
}

async fn run(turn: Duration) -> Res<String> {
    let dir = tempfile::tempdir()?;
    let server =
        Keymint::start(dir.path(), &[("KEYMINT_ALLOW_PRIVATE_WEBHOOK_URLS", "true")]).await?;
    let admin = server.admin_token().await?;
    let (id, secret) = server.new_key(&admin, "exchanging", &[]).await?;
    let (changed, _) = server.new_key(&admin, "changing", &[]).await?;
    let (fast, dead) = receivers().await?;
    let mut urls = vec![fast; ENDPOINTS - 1];
    urls.push(dead);
    server.exchange_rate(&id, &secret, Duration::from_secs(2), CONNECTIONS).await?; // warm-up
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for subscribed in [false, true] {
            let endpoints =
                if subscribed { set_endpoints(&server, &admin, &urls).await? } else { Vec::new() };
            let stop = Arc::new(AtomicBool::new(false));
            let editor = changes(&server, admin.clone(), changed.clone(), stop.clone());
            let rate = server.exchange_rate(&id, &secret, turn, CONNECTIONS).await?;
            stop.store(true, Ordering::Relaxed);
            editor.await?;
            for endpoint in endpoints {
                server
                    .http
                    .delete(format!("{}/v1/webhooks/{endpoint}", server.base))
                    .bearer_auth(&admin)
                    .send()
                    .await?;
            }
            if subscribed {
                with.push(rate)
            } else {
                without.push(rate)
            }
        }
    }
    let (without, with) = (section::median(without), section::median(with));
    let ratio = with / without;
    let met = if ratio >= TARGET { "met" } else { "not met" };
    Ok(format!(
        "{START}\n## Webhooks and the token path\n\n\
         Measured by `benches/webhooks.rs` (`cargo bench --bench webhooks`, run by `scripts/bench`): \
         token exchanges per second on {CONNECTIONS} concurrent clients against a real keymint on \
         SQLite, while an admin edits a key 20 times a second, with no webhook endpoint and with \
         {ENDPOINTS} endpoints subscribed to every event, one of which never answers (each attempt \
         to it waits out the 10-second limit); medians of {ROUNDS} turns of {:.0} s each, taken in \
         alternation.\n\n\
         | webhook endpoints | exchanges per second |\n|---|---:|\n\
         | none | {without:.0}/s |\n\
         | {ENDPOINTS}, one timing out | {with:.0}/s |\n\n\
         With the endpoints the token path keeps **{:.2}** of its rate (target: at least {TARGET}): \
         **{met}**. Deliveries are sent by the dispatcher's own tasks, and a token exchange writes \
         no event.\n{END}\n",
        turn.as_secs_f64(),
        ratio,
    ))
}

fn main() -> Res<()> {
    section::main(5, run, START, END)
}
