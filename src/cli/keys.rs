//! `keymint keys ...`.

use clap::Subcommand;

use super::output::{self, opt};
use crate::apikeys::{Actor, KeyListQuery, KeyView, NewKey};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret once.
    Create {
        /// Unique name within the workspace.
        #[arg(long)]
        name: String,
        /// Workspace id (default: the `default` workspace).
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "production")]
        environment: String,
        #[arg(long = "type", default_value = "access")]
        key_type: String,
        /// A scope (repeatable), e.g. --scope 'read:agents/*'.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// An allowed CIDR (repeatable).
        #[arg(long = "cidr")]
        cidrs: Vec<String>,
        /// An allowed audience (repeatable; the first is the default).
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// Expiry as RFC 3339.
        #[arg(long)]
        expires_at: Option<String>,
        /// Expiry preset: 1h, 1d, 7d, 30d, 90d, 180d, 360d.
        #[arg(long)]
        expires_in: Option<String>,
        /// Read a legacy secret to import from this environment variable.
        #[arg(long)]
        import_secret_env: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List keys.
    List {
        /// Case-insensitive name search.
        #[arg(long)]
        q: Option<String>,
        /// active (default), inactive, expired, revoked or all.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long = "type")]
        key_type: Option<String>,
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one key.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key, permanently.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn print_key(key: &KeyView) {
    let rows = [
        ("id", key.id.clone()),
        ("workspace", key.workspace_id.clone()),
        ("name", key.name.clone()),
        ("status", key.status.clone()),
        ("environment", key.environment.clone()),
        ("type", key.key_type.clone()),
        ("scopes", key.scopes.join(" ")),
        ("allowed_cidrs", key.allowed_cidrs.join(", ")),
        ("audiences", key.audiences.join(", ")),
        ("secret", key.masked_secret.clone()),
        ("expires_at", opt(&key.expires_at)),
        (
            "created",
            format!("{} by {}", key.created_at, opt(&key.created_by)),
        ),
        (
            "last_used",
            format!("{} from {}", opt(&key.last_used_at), opt(&key.last_used_ip)),
        ),
        ("rotated_at", opt(&key.rotated_at)),
        ("revoked_at", opt(&key.revoked_at)),
    ];
    for (name, value) in rows {
        println!("{name:<14}{value}");
    }
}

pub async fn run(config: Config, cmd: KeysCommand) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let actor = Actor::cli();
    match cmd {
        KeysCommand::Create {
            name,
            workspace,
            description,
            environment,
            key_type,
            scopes,
            cidrs,
            audiences,
            expires_at,
            expires_in,
            import_secret_env,
            json,
        } => {
            let workspace_id = match workspace {
                Some(ws) => ws,
                None => app.workspaces.ensure_default().await?.id,
            };
            let secret = match import_secret_env {
                Some(var) => Some(
                    std::env::var(&var)
                        .map_err(|_| anyhow::anyhow!("environment variable {var} is not set"))?,
                ),
                None => None,
            };
            let new = NewKey {
                workspace_id: Some(workspace_id),
                name,
                description,
                environment: Some(environment),
                key_type: Some(key_type),
                scopes,
                allowed_cidrs: cidrs,
                audiences,
                expires_at,
                expires_in,
                secret,
            };
            let revealed = app.keys.create(&actor, new).await?;
            if json {
                let mut body = serde_json::to_value(&revealed.key)?;
                body["client_id"] = revealed.key.id.clone().into();
                body["client_secret"] = revealed.secret.expose().into();
                output::json(&body)
            } else {
                super::bootstrap::print_credentials(
                    &format!("Created key {:?}", revealed.key.name),
                    &revealed,
                );
                Ok(())
            }
        }
        KeysCommand::List {
            q,
            status,
            environment,
            key_type,
            workspace,
            limit,
            json,
        } => {
            let query = KeyListQuery {
                q,
                status,
                environment,
                key_type,
                workspace_id: workspace,
                limit: Some(limit.clamp(1, 100)),
                ..KeyListQuery::default()
            };
            let page = app.keys.list(&actor, &query).await?;
            if json {
                return output::json(&page);
            }
            let rows: Vec<Vec<String>> = page
                .data
                .iter()
                .map(|k| {
                    vec![
                        k.id.clone(),
                        k.name.clone(),
                        k.status.clone(),
                        k.environment.clone(),
                        k.key_type.clone(),
                        k.masked_secret.clone(),
                        opt(&k.last_used_at),
                    ]
                })
                .collect();
            output::table(
                &[
                    "id",
                    "name",
                    "status",
                    "environment",
                    "type",
                    "secret",
                    "last used",
                ],
                &rows,
            );
            if page.next_cursor.is_some() {
                println!("(more keys: narrow the search or raise --limit)");
            }
            Ok(())
        }
        KeysCommand::Show { id, json } => {
            let key = app.keys.get(&actor, &id).await?;
            if json {
                output::json(&key)
            } else {
                print_key(&key);
                Ok(())
            }
        }
        KeysCommand::Revoke { id, json } => {
            let key = app.keys.revoke(&actor, &id).await?;
            if json {
                output::json(&key)
            } else {
                println!("revoked {}", key.id);
                Ok(())
            }
        }
    }
}
