//! `keymint workspaces ...`.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use super::api::Api;
use super::output::{self, text};

#[derive(Debug, Subcommand)]
pub enum WorkspacesCommand {
    /// Create a workspace.
    Create {
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List workspaces.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rename a workspace.
    Rename {
        id: String,
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a workspace's key policy, or change it with the options given.
    ///
    /// Example: keymint workspaces policy ws_1a2b3c --max-lifetime-days 90 --require-scope true
    Policy {
        id: String,
        /// The expiry of a new key that names none (1h, 1d, 7d, 30d, 90d, 180d, 360d),
        /// or `none`.
        #[arg(long)]
        default_expires_in: Option<String>,
        /// Every key must expire within this many days (1-3650), or 0 for no limit.
        #[arg(long)]
        max_lifetime_days: Option<i64>,
        /// Whether a key's expiry may change after creation.
        #[arg(long)]
        expiry_editable: Option<bool>,
        /// Whether every key needs at least one scope.
        #[arg(long)]
        require_scope: Option<bool>,
        /// Whether 0.0.0.0/0 and ::/0 are allowed as IP ranges.
        #[arg(long)]
        allow_wildcard_ranges: Option<bool>,
        /// Whether scopes outside the scope catalog are refused (not only flagged).
        #[arg(long)]
        catalog_scopes_only: Option<bool>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a workspace's scope catalog, or replace it with the resources given.
    ///
    /// Example: keymint workspaces catalog ws_1a2b3c --resource agents=read,write --resource prompts
    Catalog {
        id: String,
        /// A resource and its actions (read, write, admin; all when none given),
        /// e.g. agents=read,write. Repeat for each resource; replaces the catalog.
        #[arg(long = "resource")]
        resources: Vec<String>,
        /// Remove every resource (no catalog: no scope is flagged).
        #[arg(long, conflicts_with = "resources")]
        clear: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a workspace (refused while it holds keys, unless --force).
    ///
    /// With --force its keys are deleted too and stop working at once; you are asked
    /// to type the workspace's name unless --yes is given. The workspace that holds
    /// the last active platform-admin key cannot be deleted.
    Delete {
        id: String,
        /// Also delete its keys.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
    },
}

impl WorkspacesCommand {
    /// The workspace id the command names, if any (for its errors).
    pub fn id(&self) -> Option<&str> {
        use WorkspacesCommand::*;
        match self {
            Rename { id, .. } | Policy { id, .. } | Catalog { id, .. } | Delete { id, .. } => {
                Some(id)
            }
            Create { .. } | List { .. } => None,
        }
    }
}

/// `/v1/workspaces/{id}{rest}`, the id escaped.
fn path(id: &str, rest: &str) -> String {
    format!("/v1/workspaces/{}{rest}", output::segment(id))
}

pub async fn run(api: &Api, cmd: WorkspacesCommand) -> anyhow::Result<()> {
    match cmd {
        WorkspacesCommand::Create { name, json } => {
            let ws = api.post("/v1/workspaces", json!({ "name": name })).await?;
            if json {
                output::json(&ws)
            } else {
                outln!("created workspace {} ({})", text(&ws, "id"), text(&ws, "name"));
                Ok(())
            }
        }
        WorkspacesCommand::List { json } => {
            let list = api.get("/v1/workspaces", &[]).await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = output::items(&list)
                .map(|w| vec![text(w, "id"), text(w, "name"), text(w, "created_at")])
                .collect();
            output::table(&["id", "name", "created"], &rows);
            Ok(())
        }
        WorkspacesCommand::Policy {
            id,
            default_expires_in,
            max_lifetime_days,
            expiry_editable,
            require_scope,
            allow_wildcard_ranges,
            catalog_scopes_only,
            json,
        } => {
            let before = api.get(&path(&id, "/key-policy"), &[]).await?;
            let mut policy = before.clone();
            if let Some(preset) = default_expires_in {
                policy["default_expires_in"] = json!((preset != "none").then_some(preset));
            }
            if let Some(days) = max_lifetime_days {
                policy["max_lifetime_days"] = json!((days != 0).then_some(days));
            }
            for (name, given) in [
                ("expiry_editable", expiry_editable),
                ("require_scope", require_scope),
                ("allow_wildcard_ranges", allow_wildcard_ranges),
                ("catalog_scopes_only", catalog_scopes_only),
            ] {
                if let Some(value) = given {
                    policy[name] = json!(value);
                }
            }
            if policy != before {
                let put = Method::PUT;
                policy = api.send(put, &path(&id, "/key-policy"), &[], Some(policy)).await?;
            }
            if json {
                return output::json(&policy);
            }
            let or = |name: &str, none: &str| match text(&policy, name).as_str() {
                "-" => none.to_string(),
                value => value.to_string(),
            };
            outln!("key policy of {id}:");
            outln!("  default_expires_in:    {}", or("default_expires_in", "none"));
            outln!("  max_lifetime_days:     {}", or("max_lifetime_days", "no limit"));
            for name in
                ["expiry_editable", "require_scope", "allow_wildcard_ranges", "catalog_scopes_only"]
            {
                outln!("  {:<23}{}", format!("{name}:"), text(&policy, name));
            }
            Ok(())
        }
        WorkspacesCommand::Catalog { id, resources, clear, json } => {
            let mut catalog = api.get(&path(&id, "/scope-catalog"), &[]).await?;
            if clear || !resources.is_empty() {
                let wanted: Vec<Value> = resources
                    .iter()
                    .map(|r| {
                        let (name, actions) = r.split_once('=').unwrap_or((r, ""));
                        let actions: Vec<&str> =
                            actions.split(',').filter(|a| !a.is_empty()).collect();
                        if actions.is_empty() {
                            json!({ "name": name })
                        } else {
                            json!({ "name": name, "actions": actions })
                        }
                    })
                    .collect();
                let body = json!({ "resources": wanted });
                catalog =
                    api.send(Method::PUT, &path(&id, "/scope-catalog"), &[], Some(body)).await?;
            }
            if json {
                return output::json(&catalog);
            }
            outln!("scope catalog of {id}:");
            let resources = catalog["resources"].as_array().cloned().unwrap_or_default();
            if resources.is_empty() {
                outln!("  (none: no scope is flagged)");
            }
            for r in &resources {
                outln!("  {} ({})", text(r, "name"), text(r, "actions"));
            }
            Ok(())
        }
        WorkspacesCommand::Rename { id, name, json } => {
            let body = json!({ "name": name });
            let ws = api.send(Method::PATCH, &path(&id, ""), &[], Some(body)).await?;
            if json {
                output::json(&ws)
            } else {
                outln!("renamed {} to {}", text(&ws, "id"), text(&ws, "name"));
                Ok(())
            }
        }
        WorkspacesCommand::Delete { id, force, yes } => {
            if force && !yes {
                let ws = api.get(&path(&id, ""), &[]).await?;
                let name = text(&ws, "name");
                let warning = format!(
                    "This deletes workspace {id} ({name}) and every key in it; they stop working \
                     at once."
                );
                output::confirm_by_typing(&warning, "workspace name", &name)?;
            }
            let query = [("force", force.then(|| "true".to_string()))];
            api.send(Method::DELETE, &path(&id, ""), &query, None).await?;
            outln!("deleted workspace {id}");
            Ok(())
        }
    }
}
