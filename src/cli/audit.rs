//! `keymint audit`: read the audit log.

use super::api::Api;
use super::output::{self, text};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only events of this workspace.
    #[arg(long)]
    workspace: Option<String>,
    /// Only events about this key, workspace or signing key.
    #[arg(long)]
    target: Option<String>,
    /// Only events by this actor (key id, person id, cli, bootstrap, system).
    #[arg(long)]
    actor: Option<String>,
    /// Only this action, e.g. key.revoke.
    #[arg(long)]
    action: Option<String>,
    /// Only events from this client address.
    #[arg(long)]
    address: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Events per page, 1 to 100.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Start after this point: the cursor the previous page printed (with --all,
    /// every page from there).
    #[arg(long)]
    cursor: Option<String>,
    /// Every page, one after the other (at most 10 000 events; then the cursor to
    /// go on from).
    #[arg(long)]
    all: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    output::check_limit(args.limit)?;
    let query = [
        ("workspace_id", args.workspace),
        ("target_id", args.target),
        ("actor", args.actor),
        ("action", args.action),
        ("actor_ip", args.address),
        ("from", args.since),
        ("to", args.until),
        ("limit", Some(args.limit.to_string())),
    ];
    let max = Some(crate::audit::EXPORT_MAX);
    let page = output::pages(api, "/v1/audit", &query, args.cursor, args.all, max).await?;
    if args.json {
        return output::json(&page);
    }
    let rows: Vec<Vec<String>> = output::items(&page)
        .map(|e| {
            ["at", "actor", "actor_email", "actor_ip", "action", "target_id"]
                .iter()
                .map(|f| text(e, f))
                .chain([e["details"].to_string()])
                .collect()
        })
        .collect();
    output::table(&["at", "actor", "email", "ip", "action", "target", "details"], &rows);
    match page["next_cursor"].as_str() {
        Some(next) if args.all => outln!(
            "(stopped after {} events, the most --all reads at once: add --cursor {next} to go on)",
            rows.len()
        ),
        Some(next) => outln!("(more events: add --cursor {next} for the next page, or --all)"),
        None => {}
    }
    outln!("(refused exchanges reach the log with a running keymint's next usage flush)");
    Ok(())
}
