//! `keymint usage` and `keymint keys usage`: exchanges by outcome over a range.

use super::output;
use crate::apikeys::Actor;
use crate::config::Config;
use crate::store::Granularity;
use crate::usage::{Bucket, Outcome, UsageRange};

/// The range of a usage read.
#[derive(Debug, clap::Args)]
pub struct RangeArgs {
    /// Bucket size: hour or day.
    #[arg(long, value_parser = ["hour", "day"], default_value = "day")]
    granularity: String,
    /// First bucket (RFC 3339); default 24 hours or 30 days before --until.
    #[arg(long)]
    since: Option<String>,
    /// End of the range (RFC 3339, exclusive); default now.
    #[arg(long)]
    until: Option<String>,
}

impl RangeArgs {
    pub fn range(&self, now: i64) -> anyhow::Result<UsageRange> {
        let granularity =
            if self.granularity == "hour" { Granularity::Hour } else { Granularity::Day };
        let range =
            UsageRange::parse(Some(granularity), self.since.as_deref(), self.until.as_deref(), now)
                .map_err(|e| {
                    let flag = if e.field == "to" { "--until" } else { "--since" };
                    let reason = e
                        .reason
                        .replace("granularity=day", "--granularity day")
                        .replace(" to", " --until");
                    anyhow::anyhow!("{flag}: {reason}")
                })?;
        Ok(range)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this workspace (default: every workspace).
    #[arg(long)]
    workspace: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let range = args.range.range(app.clock.now())?;
    let usage = app.keys.workspace_usage(&Actor::cli(), args.workspace.as_deref(), range).await?;
    if args.json {
        return output::json(&usage);
    }
    buckets(&usage.data);
    println!("{PENDING_NOTE}");
    for (title, top) in [("most tokens", &usage.top_keys), ("most refusals", &usage.top_refused)] {
        if top.is_empty() {
            continue;
        }
        println!("\nkeys with the {title}:");
        let rows: Vec<Vec<String>> = top
            .iter()
            .map(|k| {
                let name = k.name.clone().unwrap_or_else(|| "(deleted)".into());
                vec![
                    k.key_id.clone(),
                    name,
                    k.counts.issued.to_string(),
                    k.counts.failed.to_string(),
                ]
            })
            .collect();
        output::table(&["key", "name", "issued", "failed"], &rows);
    }
    Ok(())
}

/// What a local read cannot show: a running server's counts not yet written.
pub const PENDING_NOTE: &str = "(a running keymint writes the exchanges it serves every \
     --usage-flush-interval, 10 s by default; newer ones are not counted here yet)";

/// Prints buckets as a table: start, issued, raw keys verified, refusals in all
/// and by reason.
pub fn buckets(data: &[Bucket]) {
    let mut header = vec!["start", "issued", "verified", "failed"];
    header.extend(Outcome::REFUSALS.iter().map(|o| o.as_str()));
    let rows: Vec<Vec<String>> = data
        .iter()
        .map(|b| {
            let c = &b.counts;
            let mut row = vec![
                b.start.clone(),
                c.issued.to_string(),
                c.verified.to_string(),
                c.failed.to_string(),
            ];
            row.extend(Outcome::REFUSALS.iter().map(|&o| c.get(o).to_string()));
            row
        })
        .collect();
    output::table(&header, &rows);
}
