//! `keymint workspaces ...`.

use crate::apikeys::catalog::{CatalogResource, ScopeCatalog};
use clap::Subcommand;

use super::output;
use crate::apikeys::Actor;
use crate::config::Config;
use crate::workspaces::WorkspaceInput;

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

pub async fn run(config: Config, cmd: WorkspacesCommand) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let actor = Actor::cli();
    match cmd {
        WorkspacesCommand::Create { name, json } => {
            let ws = app.workspaces.create(&actor, WorkspaceInput { name }).await?;
            if json {
                output::json(&ws)
            } else {
                println!("created workspace {} ({})", ws.id, ws.name);
                Ok(())
            }
        }
        WorkspacesCommand::List { json } => {
            let list = app.workspaces.list(&actor).await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|w| vec![w.id.clone(), w.name.clone(), w.created_at.clone()])
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
            let mut policy = app.workspaces.key_policy(&actor, &id).await?;
            let before = policy.clone();
            if let Some(preset) = default_expires_in {
                policy.default_expires_in = (preset != "none").then_some(preset);
            }
            if let Some(days) = max_lifetime_days {
                policy.max_lifetime_days = (days != 0).then_some(days);
            }
            policy.expiry_editable = expiry_editable.unwrap_or(policy.expiry_editable);
            policy.require_scope = require_scope.unwrap_or(policy.require_scope);
            policy.allow_wildcard_ranges =
                allow_wildcard_ranges.unwrap_or(policy.allow_wildcard_ranges);
            policy.catalog_scopes_only = catalog_scopes_only.unwrap_or(policy.catalog_scopes_only);
            if policy != before {
                policy = app.workspaces.set_key_policy(&actor, &id, policy).await?;
            }
            if json {
                return output::json(&policy);
            }
            let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.into());
            println!("key policy of {id}:");
            println!("  default_expires_in:    {}", or(&policy.default_expires_in, "none"));
            let days = policy.max_lifetime_days.map(|d| d.to_string());
            println!("  max_lifetime_days:     {}", or(&days, "no limit"));
            println!("  expiry_editable:       {}", policy.expiry_editable);
            println!("  require_scope:         {}", policy.require_scope);
            println!("  allow_wildcard_ranges: {}", policy.allow_wildcard_ranges);
            println!("  catalog_scopes_only:   {}", policy.catalog_scopes_only);
            Ok(())
        }
        WorkspacesCommand::Catalog { id, resources, clear, json } => {
            let mut catalog = app.workspaces.scope_catalog(&actor, &id).await?;
            if clear || !resources.is_empty() {
                let wanted = ScopeCatalog {
                    resources: resources
                        .iter()
                        .map(|r| {
                            let (name, actions) = r.split_once('=').unwrap_or((r, ""));
                            let actions: Vec<String> = actions
                                .split(',')
                                .filter(|a| !a.is_empty())
                                .map(str::to_string)
                                .collect();
                            CatalogResource::new(name, "", actions)
                        })
                        .collect(),
                };
                catalog =
                    app.workspaces.set_scope_catalog(&actor, &id, wanted).await.map_err(|e| {
                        anyhow::anyhow!("{}", e.to_string().replace("resources[", "--resource["))
                    })?;
            }
            if json {
                return output::json(&catalog);
            }
            println!("scope catalog of {id}:");
            if catalog.resources.is_empty() {
                println!("  (none: no scope is flagged)");
            }
            for r in &catalog.resources {
                println!("  {} ({})", r.name, r.actions.join(", "));
            }
            Ok(())
        }
        WorkspacesCommand::Rename { id, name, json } => {
            let ws = app.workspaces.rename(&actor, &id, WorkspaceInput { name }).await?;
            if json {
                output::json(&ws)
            } else {
                println!("renamed {} to {}", ws.id, ws.name);
                Ok(())
            }
        }
        WorkspacesCommand::Delete { id, force, yes } => {
            if force && !yes {
                let ws = app.workspaces.get(&actor, &id).await?;
                let warning = format!(
                    "This deletes workspace {} ({}) and every key in it; they stop working at \
                     once.",
                    ws.id, ws.name
                );
                output::confirm_by_typing(&warning, "workspace name", &ws.name)?;
            }
            app.workspaces.delete(&actor, &id, force).await?;
            println!("deleted workspace {id}");
            Ok(())
        }
    }
}
