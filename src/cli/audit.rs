//! `keymint audit`: read the audit log.

use super::output::{self, opt};
use crate::apikeys::Actor;
use crate::audit::AuditQuery;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only events of this workspace.
    #[arg(long)]
    workspace: Option<String>,
    /// Only events about this key, workspace or signing key.
    #[arg(long)]
    target: Option<String>,
    /// Only events by this actor (key id, cli, bootstrap, system).
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
    /// Start after this point: the cursor the previous page printed.
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Every page, one after the other (at most 10 000 events).
    #[arg(long)]
    all: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    crate::apikeys::validate_limit(Some(args.limit))
        .map_err(|_| anyhow::anyhow!("--limit {}: must be between 1 and 100", args.limit))?;
    let app = super::open(config).await?;
    let query = AuditQuery {
        workspace_id: args.workspace,
        target_id: args.target,
        actor: args.actor,
        action: args.action,
        actor_ip: args.address,
        from: args.since,
        to: args.until,
        limit: Some(args.limit),
        cursor: args.cursor,
    };
    let page = if args.all {
        let data = app.audit.export(&Actor::cli(), &query).await?;
        crate::audit::AuditPage { data, next_cursor: None }
    } else {
        app.audit.list(&Actor::cli(), &query).await?
    };
    if args.json {
        return output::json(&page);
    }
    let rows: Vec<Vec<String>> = page
        .data
        .iter()
        .map(|e| {
            vec![
                e.at.clone(),
                e.actor.clone(),
                opt(&e.actor_ip),
                e.action.clone(),
                e.target_id.clone(),
                e.details.to_string(),
            ]
        })
        .collect();
    output::table(&["at", "actor", "ip", "action", "target", "details"], &rows);
    if let Some(next) = &page.next_cursor {
        println!("(more events: add --cursor {next} for the next page, or --all)");
    }
    println!("(refused exchanges reach the log with a running keymint's next usage flush)");
    Ok(())
}
