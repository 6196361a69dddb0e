//! `keymint webhooks ...`: endpoints that receive keymint's events
//! (docs/webhooks.md).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::api::Api;
use super::output::{self, text};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the webhook endpoints you reach.
    List {
        /// Only this workspace's endpoints.
        #[arg(long)]
        workspace: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add an endpoint; its signing secret is printed once.
    ///
    /// Example: keymint webhooks create --url https://hooks.example.com/keymint
    /// --events key.revoked,key.leaked
    Create {
        /// Where events are POSTed (https).
        #[arg(long)]
        url: String,
        /// Event types, comma-separated, or * for all.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// The workspace whose events it receives (default: yours; * for every
        /// workspace, platform admins).
        #[arg(long)]
        workspace: Option<String>,
        /// What the endpoint is for, e.g. "security on-call".
        #[arg(long)]
        description: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one endpoint.
    Show {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change an endpoint's URL, events or description.
    Update {
        id: String,
        /// Where events are POSTed (https).
        #[arg(long)]
        url: Option<String>,
        /// Event types, comma-separated, or * for all.
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// What the endpoint is for.
        #[arg(long)]
        description: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A new signing secret, printed once; the old one signs beside it for the
    /// overlap (default a day).
    Rotate {
        id: String,
        /// Seconds the old secret keeps signing (0 to 604800).
        #[arg(long)]
        overlap_seconds: Option<i64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete an endpoint with its pending deliveries.
    Delete {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send a webhook.test event to the endpoint.
    Test {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The latest deliveries to an endpoint and their attempts, newest first.
    Deliveries {
        id: String,
        /// 1-100, default 50.
        #[arg(long)]
        limit: Option<i64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery's event again (same webhook-id).
    Resend {
        id: String,
        /// The delivery's number, as `keymint webhooks deliveries` lists it.
        delivery: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl WebhooksCommand {
    /// The endpoint id the command names, if any (for its errors).
    pub fn id(&self) -> Option<&str> {
        use WebhooksCommand::*;
        match self {
            Show { id, .. }
            | Update { id, .. }
            | Rotate { id, .. }
            | Delete { id, .. }
            | Test { id, .. }
            | Deliveries { id, .. }
            | Resend { id, .. } => Some(id),
            List { .. } | Create { .. } => None,
        }
    }
}

const HEADINGS: [&str; 6] = ["id", "url", "events", "workspace", "state", "created"];

fn row(w: &Value) -> Vec<String> {
    let events: Vec<&str> =
        w["events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let state = match w["failing_since"].as_str() {
        Some(since) => format!("failing since {since}"),
        None => "healthy".into(),
    };
    vec![
        text(w, "id"),
        text(w, "url"),
        events.join(","),
        w["workspace_id"].as_str().unwrap_or("every workspace").to_string(),
        state,
        text(w, "created_at"),
    ]
}

/// The endpoint, and its secret when the answer holds one (shown this once).
fn print(w: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(w);
    }
    output::table(&HEADINGS, &[row(w)]);
    if let Some(secret) = w["secret"].as_str() {
        outln!("");
        outln!("signing secret (shown once; verify deliveries with it): {secret}");
    }
    Ok(())
}

fn path(id: &str, rest: &str) -> String {
    format!("/v1/webhooks/{}{rest}", output::segment(id))
}

pub async fn run(api: &Api, cmd: WebhooksCommand) -> anyhow::Result<()> {
    use WebhooksCommand::*;
    match cmd {
        List { workspace, json } => {
            let list = api.get("/v1/webhooks", &[("workspace_id", workspace)]).await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = output::items(&list).map(row).collect();
            output::table(&HEADINGS, &rows);
            Ok(())
        }
        Create { url, events, workspace, description, json } => {
            let body = json!({"url": url, "events": events, "workspace_id": workspace,
                "description": description});
            print(&api.post("/v1/webhooks", body).await?, json)
        }
        Show { id, json } => print(&api.get(&path(&id, ""), &[]).await?, json),
        Update { id, url, events, description, json } => {
            let mut body = json!({});
            for (name, value) in [
                ("url", url.map(Value::from)),
                ("events", events.map(Value::from)),
                ("description", description.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[name] = value;
                }
            }
            let w = api.send(Method::PATCH, &path(&id, ""), &[], Some(body)).await?;
            print(&w, json)
        }
        Rotate { id, overlap_seconds, json } => {
            let body = json!({"overlap_seconds": overlap_seconds});
            print(&api.post(&path(&id, "/rotate"), body).await?, json)
        }
        Delete { id, json } => {
            api.send(Method::DELETE, &path(&id, ""), &[], None).await?;
            if json {
                return output::json(&json!({"id": id, "deleted": true}));
            }
            outln!("deleted webhook endpoint {id}");
            Ok(())
        }
        Test { id, json } => {
            let delivery = api.post(&path(&id, "/test"), json!({})).await?;
            delivery_out(&delivery, json, "test event queued")
        }
        Deliveries { id, limit, json } => {
            let list = api
                .get(&path(&id, "/deliveries"), &[("limit", limit.map(|l| l.to_string()))])
                .await?;
            if json {
                return output::json(&list);
            }
            let mut rows = Vec::new();
            for d in output::items(&list) {
                let last = &d["tries"][0];
                let answer = match last["status"].as_i64() {
                    Some(status) => format!("{status} in {} ms", last["latency_ms"]),
                    None if d["attempts"] == 0 => "not sent yet".into(),
                    None => text(last, "excerpt"),
                };
                rows.push(vec![
                    d["id"].to_string(),
                    text(d, "event_type"),
                    text(d, "state"),
                    d["attempts"].to_string(),
                    answer,
                    d["next_attempt_at"].as_str().unwrap_or("").to_string(),
                    text(d, "event_id"),
                ]);
            }
            output::table(
                &[
                    "delivery",
                    "event",
                    "state",
                    "attempts",
                    "last answer",
                    "next attempt",
                    "webhook-id",
                ],
                &rows,
            );
            Ok(())
        }
        Resend { id, delivery, json } => {
            let path = path(&id, &format!("/deliveries/{delivery}/resend"));
            let resent = api.post(&path, json!({})).await?;
            delivery_out(&resent, json, "queued again")
        }
    }
}

fn delivery_out(delivery: &Value, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        return output::json(delivery);
    }
    outln!(
        "{what}: delivery {} of {} ({})",
        delivery["id"],
        text(delivery, "event_type"),
        text(delivery, "event_id")
    );
    Ok(())
}
