//! `keymint workspaces ...`.

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
        #[arg(long)]
        json: bool,
    },
    /// List workspaces.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rename a workspace.
    Rename {
        id: String,
        name: String,
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
                eprint!(
                    "This deletes workspace {} ({}) and every key in it; they stop working at \
                     once.\nType the workspace name to confirm: ",
                    ws.id, ws.name
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if answer.trim() != ws.name {
                    anyhow::bail!(
                        "not confirmed; nothing was deleted (pass --yes to skip this question)"
                    );
                }
            }
            app.workspaces.delete(&actor, &id, force).await?;
            println!("deleted workspace {id}");
            Ok(())
        }
    }
}
