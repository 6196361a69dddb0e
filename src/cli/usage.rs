//! `keymint usage` and `keymint keys usage`: exchanges by outcome over a range.

use anyhow::Context;
use serde_json::Value;

use super::api::Api;
use super::output;
use crate::clock::Clock;
use crate::store::Granularity;
use crate::usage::{Bucket, TopKey, UsageRange};
use crate::vocab::Outcome;

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
    /// The query of a usage read, checked here first so that errors name the flags.
    pub fn query(&self) -> anyhow::Result<Vec<(&'static str, Option<String>)>> {
        let granularity =
            if self.granularity == "hour" { Granularity::Hour } else { Granularity::Day };
        let now = crate::clock::SystemClock.now();
        UsageRange::parse(Some(granularity), self.since.as_deref(), self.until.as_deref(), now)
            .map_err(|e| {
                let flag = if e.field == "to" { "--until" } else { "--since" };
                let reason = e
                    .reason
                    .replace("granularity=day", "--granularity day")
                    .replace(" to", " --until");
                anyhow::anyhow!("{flag}: {reason}")
            })?;
        Ok(vec![
            ("granularity", Some(self.granularity.clone())),
            ("from", self.since.clone()),
            ("to", self.until.clone()),
        ])
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this workspace (default: every workspace).
    #[arg(long)]
    workspace: Option<String>,
    /// Only the keys of this owner.
    #[arg(long)]
    owner: Option<String>,
    #[command(flatten)]
    range: RangeArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let mut query = args.range.query()?;
    query.push(("workspace_id", args.workspace));
    query.push(("owner", args.owner));
    let usage = api.get("/v1/usage", &query).await?;
    if args.json {
        return output::json(&usage);
    }
    buckets(&usage)?;
    outln!("{PENDING_NOTE}");
    for (title, list) in [("most tokens", "top_keys"), ("most refusals", "top_refused")] {
        let top: Vec<TopKey> = answer(&usage, list)?;
        if top.is_empty() {
            continue;
        }
        outln!("\nkeys with the {title}:");
        let rows: Vec<Vec<String>> = top
            .into_iter()
            .map(|k| {
                let name = k.name.unwrap_or_else(|| "(deleted)".into());
                vec![k.key_id, name, k.counts.issued.to_string(), k.counts.failed.to_string()]
            })
            .collect();
        output::table(&["key", "name", "issued", "failed"], &rows);
    }
    Ok(())
}

/// Member `name` of a usage answer, read as the API's own type: an answer of
/// another shape is an error, never a table of zeros.
fn answer<T: serde::de::DeserializeOwned>(usage: &Value, name: &str) -> anyhow::Result<T> {
    serde_json::from_value(usage[name].clone())
        .with_context(|| format!("the server's usage answer has no readable {name}"))
}

/// What a local read cannot show: a running server's counts not yet written.
pub const PENDING_NOTE: &str = "(a running keymint writes the exchanges it serves every \
     --usage-flush-interval, 10 s by default; newer ones are not counted here yet)";

/// Prints a usage answer's buckets as a table: start, issued, exchanged, raw keys
/// verified, refusals in all and by reason.
pub fn buckets(usage: &Value) -> anyhow::Result<()> {
    let mut header = vec!["start", "issued", "exchanged", "verified", "failed"];
    header.extend(Outcome::REFUSALS.iter().map(|o| o.as_str()));
    let data: Vec<Bucket> = answer(usage, "data")?;
    let rows: Vec<Vec<String>> = data
        .into_iter()
        .map(|b| {
            let c = b.counts;
            let mut row = vec![b.start, c.issued.to_string(), c.exchanged.to_string()];
            row.push(c.verified.to_string());
            row.push(c.failed.to_string());
            row.extend(Outcome::REFUSALS.iter().map(|&o| c.get(o).to_string()));
            row
        })
        .collect();
    output::table(&header, &rows);
    Ok(())
}
