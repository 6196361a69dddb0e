//! `keymint role-bindings ...`: which people get which rights.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use super::api::Api;
use super::output::{self, text};

#[derive(Debug, Subcommand)]
pub enum RoleBindingsCommand {
    /// List every role binding.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give a role to an identity-provider group or to one person.
    ///
    /// Example: keymint role-bindings create --subject group:support --role read-only
    /// --workspace ws_1a2b3c4d5e6f
    Create {
        /// group:<name> or email:<address>.
        #[arg(long)]
        subject: String,
        /// platform-admin, workspace-admin or read-only.
        #[arg(long)]
        role: String,
        /// The workspace the role applies in (default: every workspace).
        #[arg(long)]
        workspace: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a role binding: the rights it gave end at once.
    ///
    /// Example: keymint role-bindings delete rb_1a2b3c4d5e6f
    Delete {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl RoleBindingsCommand {
    /// The binding id the command names, if any (for its errors).
    pub fn id(&self) -> Option<&str> {
        match self {
            RoleBindingsCommand::Delete { id, .. } => Some(id),
            RoleBindingsCommand::List { .. } | RoleBindingsCommand::Create { .. } => None,
        }
    }
}

/// One binding as a table row.
fn row(binding: &serde_json::Value) -> Vec<String> {
    let workspace = binding["workspace_id"].as_str().unwrap_or("every workspace").to_string();
    vec![
        text(binding, "id"),
        text(binding, "subject"),
        text(binding, "role"),
        workspace,
        text(binding, "created_at"),
        text(binding, "created_by"),
    ]
}

const HEADINGS: [&str; 6] = ["id", "subject", "role", "workspace", "created", "by"];

pub async fn run(api: &Api, cmd: RoleBindingsCommand) -> anyhow::Result<()> {
    match cmd {
        RoleBindingsCommand::List { json } => {
            let list = api.get("/v1/role-bindings", &[]).await?;
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = output::items(&list).map(row).collect();
            output::table(&HEADINGS, &rows);
            Ok(())
        }
        RoleBindingsCommand::Create { subject, role, workspace, json } => {
            let body = json!({"subject": subject, "role": role, "workspace_id": workspace});
            let binding = api.post("/v1/role-bindings", body).await?;
            if json {
                return output::json(&binding);
            }
            output::table(&HEADINGS, &[row(&binding)]);
            Ok(())
        }
        RoleBindingsCommand::Delete { id, json } => {
            let path = format!("/v1/role-bindings/{}", output::segment(&id));
            api.send(Method::DELETE, &path, &[], None).await?;
            if json {
                return output::json(&json!({"id": id, "deleted": true}));
            }
            outln!("deleted role binding {id}");
            Ok(())
        }
    }
}
