//! `keymint usage` and `keymint keys usage`: exchanges by outcome over a range.

use serde_json::Value;

use super::api::Api;
use super::output::{self, text};
use crate::clock::Clock;
use crate::store::Granularity;
use crate::usage::{Outcome, UsageRange};

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
    #[command(flatten)]
    range: RangeArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(api: &Api, args: Args) -> anyhow::Result<()> {
    let mut query = args.range.query()?;
    query.push(("workspace_id", args.workspace));
    let usage = api.get("/v1/usage", &query).await?;
    if args.json {
        return output::json(&usage);
    }
    buckets(&usage);
    println!("{PENDING_NOTE}");
    for (title, list) in [("most tokens", "top_keys"), ("most refusals", "top_refused")] {
        let top = usage[list].as_array().cloned().unwrap_or_default();
        if top.is_empty() {
            continue;
        }
        println!("\nkeys with the {title}:");
        let rows: Vec<Vec<String>> = top
            .iter()
            .map(|k| {
                let name = k["name"].as_str().unwrap_or("(deleted)").to_string();
                let counts = &k["counts"];
                vec![text(k, "key_id"), name, text(counts, "issued"), text(counts, "failed")]
            })
            .collect();
        output::table(&["key", "name", "issued", "failed"], &rows);
    }
    Ok(())
}

/// What a local read cannot show: a running server's counts not yet written.
pub const PENDING_NOTE: &str = "(a running keymint writes the exchanges it serves every \
     --usage-flush-interval, 10 s by default; newer ones are not counted here yet)";

/// Prints a usage answer's buckets as a table: start, issued, raw keys verified,
/// refusals in all and by reason.
pub fn buckets(usage: &Value) {
    let mut header = vec!["start", "issued", "verified", "failed"];
    header.extend(Outcome::REFUSALS.iter().map(|o| o.as_str()));
    let rows: Vec<Vec<String>> = output::items(usage)
        .map(|b| {
            let counts = &b["counts"];
            let mut row = vec![text(b, "start")];
            row.extend(header[1..].iter().map(|name| counts_cell(counts, name)));
            row
        })
        .collect();
    output::table(&header, &rows);
}

/// A count of a bucket: a top-level count, or one of its refusals by reason.
fn counts_cell(counts: &Value, name: &str) -> String {
    let value = counts.get(name).or_else(|| counts["refused"].get(name));
    value.and_then(Value::as_i64).unwrap_or(0).to_string()
}
