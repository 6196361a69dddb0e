//! `keymint keys ...`.

use clap::Subcommand;

use super::output::{self, opt};
use crate::apikeys::{Actor, KeyListQuery, KeyUpdate, KeyView, NewKey};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret once.
    ///
    /// Example: keymint keys create --name billing-sync --scope 'read:invoices/*'
    /// --cidr 10.20.0.0/16 --expires-in 90d
    Create {
        /// Unique name within the workspace.
        #[arg(long)]
        name: String,
        /// Workspace id (default: the `default` workspace).
        #[arg(long)]
        workspace: Option<String>,
        /// What the key is for, shown to admins.
        #[arg(long, default_value = "")]
        description: String,
        /// Fixed after creation; `production` secrets start `km_live_`, others
        /// `km_test_`.
        #[arg(long, default_value = "production")]
        environment: String,
        /// Fixed after creation, e.g. access or gateway.
        #[arg(long = "type", default_value = "access")]
        key_type: String,
        /// A scope (repeatable), e.g. --scope 'read:agents/*'.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// An allowed CIDR (repeatable).
        #[arg(long = "cidr")]
        cidrs: Vec<String>,
        /// An audience the key's tokens may carry (repeatable; the first is the
        /// default), e.g. --audience https://api.example.com.
        #[arg(long = "audience", alias = "allowed-audience")]
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
        /// How the key authenticates: client_secret_basic (default),
        /// client_secret_post or private_key_jwt (needs --jwks-file; no secret).
        #[arg(long = "auth-method", value_name = "METHOD")]
        token_endpoint_auth_method: Option<String>,
        /// A JSON file holding the key's public keys (a JWK Set), for
        /// private_key_jwt, e.g. --jwks-file client-jwks.json.
        #[arg(long, value_name = "FILE")]
        jwks_file: Option<std::path::PathBuf>,
        /// Or the https URL where the client publishes its public keys, for
        /// private_key_jwt, e.g. --jwks-uri https://client.example.com/jwks.json.
        #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// Require DPoP (RFC 9449): every token is bound to the client's own key.
        #[arg(long)]
        dpop_bound: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List keys, oldest first, a page at a time.
    ///
    /// Example: keymint keys list --hygiene never-used --sort=-created --all
    List {
        /// Case-insensitive name search.
        #[arg(long, visible_alias = "search")]
        q: Option<String>,
        /// active (default), inactive, expired, revoked or all.
        #[arg(long)]
        status: Option<String>,
        /// Only keys of this environment (exact).
        #[arg(long)]
        environment: Option<String>,
        /// Only keys of this type (exact).
        #[arg(long = "type")]
        key_type: Option<String>,
        /// Only keys of this workspace (default: every workspace).
        #[arg(long)]
        workspace: Option<String>,
        /// Only keys failing a hygiene check: never-expires, never-used, unused-90d,
        /// any-address or no-scope.
        #[arg(long)]
        hygiene: Option<String>,
        /// Order: created (default), last_used (never used first) or expires
        /// (soonest first); a leading - reverses it, e.g. --sort=-last_used.
        #[arg(long, allow_hyphen_values = true)]
        sort: Option<String>,
        /// Keys per page, 1 to 100.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Start after this point: the cursor the previous page printed.
        #[arg(long, conflicts_with = "all")]
        cursor: Option<String>,
        /// Every page, one after the other.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one key.
    Show {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key, permanently; asks you to type its name unless --yes is given.
    ///
    /// Example: keymint keys revoke PcyU0ZyJPo3Qxpd1 --yes
    Revoke {
        id: String,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Edit a key: only the options given change.
    Update {
        id: String,
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
        /// How the key authenticates: client_secret_basic (default),
        /// client_secret_post or private_key_jwt (needs --jwks-file; no secret).
        #[arg(long = "auth-method", value_name = "METHOD")]
        token_endpoint_auth_method: Option<String>,
        /// A JSON file holding the key's public keys (a JWK Set), for
        /// private_key_jwt, e.g. --jwks-file client-jwks.json.
        #[arg(long, value_name = "FILE")]
        jwks_file: Option<std::path::PathBuf>,
        /// Or the https URL where the client publishes its public keys.
        #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// Require DPoP-bound tokens (true) or stop requiring them (false).
        #[arg(long, value_name = "true|false")]
        dpop_bound: Option<bool>,
        /// Show what would change and what it may break, saving nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give a key a new secret, printed once.
    Rotate {
        id: String,
        /// Seconds the old secret keeps working (default 0: it stops at once).
        #[arg(long, default_value_t = 0)]
        grace_seconds: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// End a rotation's grace period: the old secret stops working now.
    EndGrace {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop a key until it is activated again.
    Deactivate {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reactivate a deactivated key.
    Activate {
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a key (the audit log keeps the event); asks you to type its name
    /// unless --yes is given.
    ///
    /// Example: keymint keys delete PcyU0ZyJPo3Qxpd1 --yes
    Delete {
        id: String,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// How many active keys each hygiene check finds (list them with
    /// `keys list --hygiene CHECK`).
    Hygiene {
        /// Only this workspace (default: every workspace).
        #[arg(long)]
        workspace: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Token exchanges of a key by outcome, per hour or day.
    Usage {
        id: String,
        #[command(flatten)]
        range: super::usage::RangeArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl KeysCommand {
    /// The key id the command names, if any (for its errors).
    pub fn id(&self) -> Option<&str> {
        use KeysCommand::*;
        match self {
            Show { id, .. }
            | Revoke { id, .. }
            | Update { id, .. }
            | Rotate { id, .. }
            | EndGrace { id, .. }
            | Deactivate { id, .. }
            | Activate { id, .. }
            | Delete { id, .. }
            | Usage { id, .. } => Some(id),
            Create { .. } | List { .. } | Hygiene { .. } => None,
        }
    }
}

/// Prints a key view as JSON or as a short confirmation.
fn done(key: &KeyView, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        output::json(key)
    } else {
        println!("{verb} {} ({}), status {}", key.id, key.name, key.status);
        Ok(())
    }
}

/// Reads a JWK Set from a file (`--jwks-file`); the domain checks its keys.
fn read_jwks(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--jwks-file {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--jwks-file {}: not JSON: {e}", path.display()))
}

/// Prints revealed credentials as JSON (with `client_id`/`client_secret`) or for a person.
fn print_revealed(
    revealed: &crate::apikeys::Revealed,
    json: bool,
    title: &str,
) -> anyhow::Result<()> {
    if json {
        output::json(&revealed.to_json())
    } else {
        super::bootstrap::print_credentials(title, revealed);
        for warning in &revealed.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(())
    }
}

/// Every field of a key, named as the API names it, for `keys show`.
fn key_rows(key: &KeyView) -> Vec<(&'static str, String)> {
    let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    vec![
        ("id", key.id.clone()),
        ("workspace_id", key.workspace_id.clone()),
        ("name", key.name.clone()),
        (
            "description",
            if key.description.is_empty() { "-".into() } else { key.description.clone() },
        ),
        ("status", key.status.to_string()),
        ("environment", key.environment.clone()),
        ("type", key.key_type.clone()),
        ("scopes", list(&key.scopes)),
        ("allowed_cidrs", list(&key.allowed_cidrs)),
        ("audiences", list(&key.audiences)),
        (
            "masked_secret",
            if key.masked_secret.is_empty() { "-".into() } else { key.masked_secret.clone() },
        ),
        ("imported", key.imported.to_string()),
        ("token_endpoint_auth_method", key.token_endpoint_auth_method.clone()),
        ("jwks", key.jwks.as_ref().map_or("-".into(), |set| set.to_string())),
        ("jwks_uri", opt(&key.jwks_uri)),
        ("dpop_bound_access_tokens", key.dpop_bound_access_tokens.to_string()),
        ("expires_at", opt(&key.expires_at)),
        ("created_at", key.created_at.clone()),
        ("created_by", opt(&key.created_by)),
        ("updated_at", key.updated_at.clone()),
        ("last_used_at", opt(&key.last_used_at)),
        ("last_used_ip", opt(&key.last_used_ip)),
        ("rotated_at", opt(&key.rotated_at)),
        ("previous_secret_expires_at", opt(&key.previous_secret_expires_at)),
        ("previous_secret_use_count", key.previous_secret_use_count.to_string()),
        ("previous_secret_last_used_at", opt(&key.previous_secret_last_used_at)),
        ("previous_secret_last_used_ip", opt(&key.previous_secret_last_used_ip)),
        ("revoked_at", opt(&key.revoked_at)),
        ("revoked_by", opt(&key.revoked_by)),
    ]
}

fn print_key(key: &KeyView) {
    for (name, value) in key_rows(key) {
        println!("{name:<30}{value}");
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
            token_endpoint_auth_method,
            jwks_file,
            jwks_uri,
            dpop_bound,
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
                token_endpoint_auth_method,
                jwks: jwks_file.as_deref().map(read_jwks).transpose()?,
                jwks_uri,
                dpop_bound_access_tokens: dpop_bound.then_some(true),
            };
            let revealed = app.keys.create(&actor, new).await?;
            print_revealed(&revealed, json, &format!("Created key {:?}", revealed.key.name))
        }
        KeysCommand::List {
            q,
            status,
            environment,
            key_type,
            workspace,
            hygiene,
            sort,
            limit,
            cursor,
            all,
            json,
        } => {
            crate::apikeys::validate_limit(Some(limit))
                .map_err(|_| anyhow::anyhow!("--limit {limit}: must be between 1 and 100"))?;
            let mut query = KeyListQuery {
                q,
                status,
                environment,
                key_type,
                workspace_id: workspace,
                hygiene,
                sort,
                limit: Some(limit),
                cursor,
                ..KeyListQuery::default()
            };
            let mut page = app.keys.list(&actor, &query).await?;
            while all && page.next_cursor.is_some() {
                query.cursor = page.next_cursor.take();
                let next = app.keys.list(&actor, &query).await?;
                page.data.extend(next.data);
                page.next_cursor = next.next_cursor;
            }
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
                        k.workspace_id.clone(),
                        k.status.to_string(),
                        k.environment.clone(),
                        k.key_type.clone(),
                        k.masked_secret.clone(),
                        opt(&k.last_used_at),
                        k.expires_at.clone().unwrap_or_else(|| "never".into()),
                    ]
                })
                .collect();
            output::table(
                &[
                    "id",
                    "name",
                    "workspace",
                    "status",
                    "environment",
                    "type",
                    "secret",
                    "last used",
                    "expires",
                ],
                &rows,
            );
            if let Some(next) = &page.next_cursor {
                println!("(more keys: add --cursor {next} for the next page, or --all)");
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
        KeysCommand::Revoke { id, yes, json } => {
            let key = app.keys.get(&actor, &id).await?;
            if key.status == crate::store::KeyStatus::Revoked {
                return done(&key, json, "no change:");
            }
            if !yes {
                let warning = format!(
                    "This revokes key {} ({}) for good: it and its tokens stop working at once.",
                    key.id, key.name
                );
                output::confirm_by_typing(&warning, "key name", &key.name)?;
            }
            done(&app.keys.revoke(&actor, &id).await?, json, "revoked")
        }
        KeysCommand::EndGrace { id, json } => {
            done(&app.keys.end_grace(&actor, &id).await?, json, "ended the grace period of")
        }
        KeysCommand::Deactivate { id, json } => {
            let before = app.keys.get(&actor, &id).await?.status;
            let key = app.keys.set_active(&actor, &id, false).await?;
            done(&key, json, if before == key.status { "no change:" } else { "deactivated" })
        }
        KeysCommand::Activate { id, json } => {
            let before = app.keys.get(&actor, &id).await?.status;
            let key = app.keys.set_active(&actor, &id, true).await?;
            done(&key, json, if before == key.status { "no change:" } else { "activated" })
        }
        KeysCommand::Delete { id, yes, json } => {
            let key = app.keys.get(&actor, &id).await?;
            if !yes {
                let warning = format!(
                    "This deletes key {} ({}); it stops working at once.",
                    key.id, key.name
                );
                output::confirm_by_typing(&warning, "key name", &key.name)?;
            }
            app.keys.delete(&actor, &id).await?;
            if json {
                return output::json(&serde_json::json!({"id": key.id, "deleted": true}));
            }
            println!("deleted {} ({})", key.id, key.name);
            Ok(())
        }
        KeysCommand::Update {
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
            token_endpoint_auth_method,
            jwks_file,
            jwks_uri,
            dpop_bound,
            dry_run,
            json,
        } => {
            // `--no-X` clears a list, as an empty list does in the API.
            let cleared = |flag: bool, given: Option<Vec<String>>| {
                if flag {
                    Some(vec![])
                } else {
                    given
                }
            };
            let update = KeyUpdate {
                name,
                description,
                scopes: cleared(no_scopes, scopes),
                allowed_cidrs: cleared(no_cidrs, cidrs),
                audiences: cleared(no_audiences, audiences),
                expires_at: if no_expiry { Some(None) } else { expires_at.map(Some) },
                expires_in,
                token_endpoint_auth_method,
                jwks: jwks_file.as_deref().map(read_jwks).transpose()?,
                jwks_uri,
                dpop_bound_access_tokens: dpop_bound,
            };
            let edited = if dry_run {
                app.keys.preview_update(&actor, &id, update).await?
            } else {
                app.keys.update(&actor, &id, update).await?
            };
            if json {
                return output::json(&edited.to_json(dry_run));
            }
            let unchanged = edited.changes.as_object().is_none_or(|c| c.is_empty());
            let verb = match (dry_run, unchanged) {
                (_, true) => "no change to",
                (true, false) => "would update (nothing saved)",
                (false, false) => "updated",
            };
            println!("{verb} {} ({})", edited.key.id, edited.key.name);
            for (field, change) in edited.changes.as_object().into_iter().flatten() {
                println!("  {field}: {} -> {}", change["from"], change["to"]);
            }
            for warning in &edited.warnings {
                println!("  warning: {warning}");
            }
            Ok(())
        }
        KeysCommand::Rotate { id, grace_seconds, json } => {
            let rotation = app.keys.rotate(&actor, &id, grace_seconds).await?;
            print_revealed(&rotation.revealed, json, "Rotated the key's secret")?;
            if !json {
                match rotation.previous_expires_at {
                    Some(at) => {
                        println!("  the old secret works until {}", crate::clock::rfc3339(at))
                    }
                    None => println!("  the old secret no longer works"),
                }
            }
            Ok(())
        }
        KeysCommand::Hygiene { workspace, json } => {
            let counts = app.keys.hygiene(&actor, workspace.as_deref()).await?;
            if json {
                return output::json(&serde_json::json!({ "data": counts }));
            }
            let rows: Vec<Vec<String>> = counts
                .iter()
                .map(|c| vec![c.check.to_string(), c.label.to_string(), c.keys.to_string()])
                .collect();
            output::table(&["check", "finds", "keys"], &rows);
            Ok(())
        }
        KeysCommand::Usage { id, range, json } => {
            let range = range.range(app.clock.now())?;
            let usage = app.keys.key_usage(&actor, &id, range).await?;
            if json {
                return output::json(&usage);
            }
            super::usage::buckets(&usage.data);
            println!("{}", super::usage::PENDING_NOTE);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_show_prints_every_field_the_api_has() {
        let record = crate::oauth::tests::key(&["read:a"], &[], None);
        let view = super::KeyView::new(&record, 0);
        let json = serde_json::to_value(&view).unwrap();
        let mut api: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut shown: Vec<&str> = super::key_rows(&view).into_iter().map(|(n, _)| n).collect();
        api.sort_unstable();
        shown.sort_unstable();
        assert_eq!(shown, api);
    }
}
