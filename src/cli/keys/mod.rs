//! `keymint keys ...`: one file per command that has many flags (`create`,
//! `list`, `update`); the others, each a call or two, are here with what every
//! key command shares (how a key and a reveal are printed, the client
//! authentication flags).

mod claims;
mod create;
mod list;
mod update;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::Api;
use super::output::{self, text};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret once.
    ///
    /// Example: keymint keys create --name billing-sync --scope 'read:invoices/*'
    /// --cidr 10.20.0.0/16 --expires-in 90d
    Create(create::Create),
    /// List keys, oldest first, a page at a time.
    ///
    /// Example: keymint keys list --hygiene never-used --sort=-created --all
    List(list::List),
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
    Update(update::Update),
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

/// How a key authenticates, as `create` and `update` take it.
#[derive(Debug, Args)]
pub struct ClientAuthArgs {
    /// How the key authenticates: client_secret_basic (default),
    /// client_secret_post or private_key_jwt (needs --jwks-file or --jwks-uri; no
    /// secret).
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
}

impl ClientAuthArgs {
    /// Sets the request members the flags give (`token_endpoint_auth_method`,
    /// `jwks` read from its file, `jwks_uri`); absent flags set nothing.
    fn add_to(self, body: &mut Value) -> anyhow::Result<()> {
        let jwks = self.jwks_file.as_deref().map(read_jwks).transpose()?;
        let given = [
            ("token_endpoint_auth_method", self.token_endpoint_auth_method.map(Value::from)),
            ("jwks", jwks),
            ("jwks_uri", self.jwks_uri.map(Value::from)),
        ];
        for (name, value) in given {
            if let Some(value) = value {
                body[name] = value;
            }
        }
        Ok(())
    }
}

impl KeysCommand {
    /// The key id the command names, if any (for its errors).
    pub fn id(&self) -> Option<&str> {
        use KeysCommand::*;
        match self {
            Show { id, .. }
            | Revoke { id, .. }
            | Rotate { id, .. }
            | EndGrace { id, .. }
            | Deactivate { id, .. }
            | Activate { id, .. }
            | Delete { id, .. }
            | Usage { id, .. } => Some(id),
            Update(update) => Some(&update.id),
            Create(_) | List(_) | Hygiene { .. } => None,
        }
    }
}

/// Prints a key (the API's JSON) as JSON or as a short confirmation.
fn done(key: &Value, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        output::json(key)
    } else {
        outln!(
            "{verb} {} ({}), status {}",
            text(key, "id"),
            text(key, "name"),
            text(key, "status")
        );
        Ok(())
    }
}

/// Reads a JWK Set from a file (`--jwks-file`); the server checks its keys.
fn read_jwks(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--jwks-file {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--jwks-file {}: not JSON: {e}", path.display()))
}

/// Prints revealed credentials (the API's JSON, with `client_id` and, for a key
/// with a secret, `client_secret`) as JSON or for a person.
pub(super) fn print_revealed(revealed: &Value, json: bool, title: &str) -> anyhow::Result<()> {
    if json {
        return output::json(revealed);
    }
    let secret = revealed["client_secret"].as_str();
    super::bootstrap::print_credentials(title, &text(revealed, "client_id"), secret);
    for warning in revealed["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
    Ok(())
}

/// The fields of a key, in the order `keys show` prints them (any other field the
/// server sends follows).
const KEY_FIELDS: [&str; 32] = [
    "id",
    "workspace_id",
    "name",
    "owner",
    "description",
    "status",
    "environment",
    "type",
    "scopes",
    "allowed_cidrs",
    "audiences",
    "masked_secret",
    "imported",
    "token_endpoint_auth_method",
    "jwks",
    "jwks_uri",
    "dpop_bound_access_tokens",
    "claims",
    "federated_credentials",
    "expires_at",
    "created_at",
    "created_by",
    "updated_at",
    "last_used_at",
    "last_used_ip",
    "rotated_at",
    "previous_secret_expires_at",
    "previous_secret_use_count",
    "previous_secret_last_used_at",
    "previous_secret_last_used_ip",
    "revoked_at",
    "revoked_by",
];

/// Every field of a key, named as the API names it, for `keys show`.
fn key_rows(key: &Value) -> Vec<(String, String)> {
    let known = KEY_FIELDS.iter().filter(|name| key.get(**name).is_some()).map(|n| n.to_string());
    let others = key
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|name| !KEY_FIELDS.contains(&name.as_str()))
        .cloned();
    known.chain(others).map(|name| (name.clone(), text(key, &name))).collect()
}

/// The key of an id as the API has it.
async fn get_key(api: &Api, id: &str) -> anyhow::Result<Value> {
    api.get(&key_path(id, ""), &[]).await
}

/// `/v1/keys/{id}{rest}`, the id escaped.
pub(super) fn key_path(id: &str, rest: &str) -> String {
    format!("/v1/keys/{}{rest}", output::segment(id))
}

pub async fn run(api: &Api, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create(create) => create.run(api).await,
        KeysCommand::List(list) => list.run(api).await,
        KeysCommand::Update(update) => update.run(api).await,
        KeysCommand::Show { id, json } => {
            let key = get_key(api, &id).await?;
            if json {
                return output::json(&key);
            }
            for (name, value) in key_rows(&key) {
                outln!("{name:<30}{value}");
            }
            Ok(())
        }
        KeysCommand::Revoke { id, yes, json } => {
            let key = get_key(api, &id).await?;
            if key["status"] == "revoked" {
                return done(&key, json, "no change:");
            }
            let name = text(&key, "name");
            if !yes {
                let warning = format!(
                    "This revokes key {id} ({name}) for good: it and its tokens stop working at once."
                );
                output::confirm_by_typing(&warning, "key name", &name)?;
            }
            done(&api.post(&key_path(&id, "/revoke"), json!({})).await?, json, "revoked")
        }
        KeysCommand::EndGrace { id, json } => {
            let key = api.post(&key_path(&id, "/end-grace"), json!({})).await?;
            done(&key, json, "ended the grace period of")
        }
        KeysCommand::Deactivate { id, json } => set_active(api, &id, false, json).await,
        KeysCommand::Activate { id, json } => set_active(api, &id, true, json).await,
        KeysCommand::Delete { id, yes, json } => {
            let key = get_key(api, &id).await?;
            let name = text(&key, "name");
            if !yes {
                let warning = format!("This deletes key {id} ({name}); it stops working at once.");
                output::confirm_by_typing(&warning, "key name", &name)?;
            }
            api.send(Method::DELETE, &key_path(&id, ""), &[], None).await?;
            if json {
                return output::json(&json!({"id": id, "deleted": true}));
            }
            outln!("deleted {id} ({name})");
            Ok(())
        }
        KeysCommand::Rotate { id, grace_seconds, json } => {
            let body = json!({ "grace_seconds": grace_seconds });
            let rotated = api.post(&key_path(&id, "/rotate"), body).await?;
            print_revealed(&rotated, json, "Rotated the key's secret")?;
            if !json {
                match rotated["previous_secret_expires_at"].as_str() {
                    Some(at) => outln!("  the old secret works until {at}"),
                    None => outln!("  the old secret no longer works"),
                }
            }
            Ok(())
        }
        KeysCommand::Hygiene { workspace, json } => {
            let counts = api.get("/v1/hygiene", &[("workspace_id", workspace)]).await?;
            if json {
                return output::json(&counts);
            }
            let rows: Vec<Vec<String>> = output::items(&counts)
                .map(|c| vec![text(c, "check"), text(c, "label"), text(c, "keys")])
                .collect();
            output::table(&["check", "finds", "keys"], &rows);
            Ok(())
        }
        KeysCommand::Usage { id, range, json } => {
            let query = range.query()?;
            let usage = api.get(&key_path(&id, "/usage"), &query).await?;
            if json {
                return output::json(&usage);
            }
            super::usage::buckets(&usage)?;
            outln!("{}", super::usage::PENDING_NOTE);
            Ok(())
        }
    }
}

/// `activate` or `deactivate`, saying "no change" when the key already was.
async fn set_active(api: &Api, id: &str, active: bool, json: bool) -> anyhow::Result<()> {
    let before = get_key(api, id).await?;
    let verb = if active { "activate" } else { "deactivate" };
    let key = api.post(&key_path(id, &format!("/{verb}")), json!({})).await?;
    let said = if before["status"] == key["status"] { "no change:" } else { &format!("{verb}d") };
    done(&key, json, said)
}

/// A request body without its absent (null) members: the API's defaults apply.
pub(super) fn without_nulls(mut body: Value) -> Value {
    if let Some(members) = body.as_object_mut() {
        members.retain(|_, v| !v.is_null());
    }
    body
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_show_knows_every_field_the_api_has() {
        let record = crate::store::fixtures::key(&["read:a"], &[], None);
        let view = crate::apikeys::KeyView::new(&record, 0);
        let json = serde_json::to_value(&view).unwrap();
        let mut api: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut known = super::KEY_FIELDS.to_vec();
        api.sort_unstable();
        known.sort_unstable();
        assert_eq!(known, api, "keys show prints them in a chosen order");
        let shown: Vec<String> = super::key_rows(&json).into_iter().map(|(n, _)| n).collect();
        assert_eq!(shown.len(), api.len());
    }
}
