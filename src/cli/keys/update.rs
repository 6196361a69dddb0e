//! `keymint keys update`.

use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

use super::claims::ClaimArgs;
use super::{key_path, without_nulls, ClientAuthArgs};
use crate::cli::api::Api;
use crate::cli::output::{self, text};

/// Edit a key: only the options given change.
#[derive(Debug, Args)]
pub struct Update {
    pub(super) id: String,
    /// Rename the key (unique within its workspace).
    #[arg(long)]
    name: Option<String>,
    /// Replace the description.
    #[arg(long)]
    description: Option<String>,
    /// Replace the scopes (repeatable).
    #[arg(long = "scope", conflicts_with = "no_scopes")]
    scopes: Option<Vec<String>>,
    /// Remove every scope.
    #[arg(long)]
    no_scopes: bool,
    /// Replace the allowed CIDRs (repeatable).
    #[arg(long = "cidr", conflicts_with = "no_cidrs")]
    cidrs: Option<Vec<String>>,
    /// Remove every allowed range: the key works from any address.
    #[arg(long)]
    no_cidrs: bool,
    /// Replace the audiences (repeatable), e.g. --audience https://api.example.com.
    #[arg(long = "audience", alias = "allowed-audience", conflicts_with = "no_audiences")]
    audiences: Option<Vec<String>>,
    /// Remove every audience: tokens get the server's default audience.
    #[arg(long)]
    no_audiences: bool,
    /// New expiry as RFC 3339.
    #[arg(long, conflicts_with_all = ["expires_in", "no_expiry"])]
    expires_at: Option<String>,
    /// New expiry preset: 1h, 1d, 7d, 30d, 90d, 180d, 360d.
    #[arg(long, conflicts_with = "no_expiry")]
    expires_in: Option<String>,
    /// Remove the expiry.
    #[arg(long)]
    no_expiry: bool,
    #[command(flatten)]
    auth: ClientAuthArgs,
    #[command(flatten)]
    claims: ClaimArgs,
    /// Require DPoP-bound tokens (true) or stop requiring them (false).
    #[arg(long, value_name = "true|false")]
    dpop_bound: Option<bool>,
    /// Show what would change and what it may break, saving nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Update {
    pub async fn run(self, api: &Api) -> anyhow::Result<()> {
        let Update {
            id,
            name,
            description,
            scopes,
            no_scopes,
            cidrs,
            no_cidrs,
            audiences,
            no_audiences,
            expires_at,
            expires_in,
            no_expiry,
            auth,
            claims,
            dpop_bound,
            dry_run,
            json,
        } = self;
        // `--no-X` clears a list, as an empty list does in the API.
        let cleared = |flag: bool, given: Option<Vec<String>>| {
            if flag {
                Some(vec![])
            } else {
                given
            }
        };
        let mut update = without_nulls(json!({
            "name": name,
            "description": description,
            "scopes": cleared(no_scopes, scopes),
            "allowed_cidrs": cleared(no_cidrs, cidrs),
            "audiences": cleared(no_audiences, audiences),
            "expires_at": expires_at,
            "expires_in": expires_in,
            "dpop_bound_access_tokens": dpop_bound,
        }));
        auth.add_to(&mut update)?;
        claims.add_to(&mut update)?;
        if no_expiry {
            // An explicit null removes the expiry.
            update["expires_at"] = Value::Null;
        }
        let query = [("dry_run", dry_run.then(|| "true".to_string()))];
        let edited = api.send(Method::PATCH, &key_path(&id, ""), &query, Some(update)).await?;
        if json {
            return output::json(&edited);
        }
        let changes = edited["changes"].as_object();
        let verb = match (dry_run, changes.is_none_or(|c| c.is_empty())) {
            (_, true) => "no change to",
            (true, false) => "would update (nothing saved)",
            (false, false) => "updated",
        };
        outln!("{verb} {} ({})", text(&edited, "id"), text(&edited, "name"));
        for (field, change) in changes.into_iter().flatten() {
            outln!("  {field}: {} -> {}", change["from"], change["to"]);
        }
        for warning in edited["warnings"].as_array().into_iter().flatten() {
            outln!("  warning: {}", warning.as_str().unwrap_or_default());
        }
        Ok(())
    }
}
