//! `keymint keys create`.

use clap::Args;
use serde_json::json;

use super::claims::ClaimArgs;
use super::{print_revealed, without_nulls, ClientAuthArgs};
use crate::cli::api::Api;
use crate::cli::output::text;

/// Create a key and print its secret once.
///
/// Example: keymint keys create --name billing-sync --scope 'read:invoices/*'
/// --cidr 10.20.0.0/16 --expires-in 90d
#[derive(Debug, Args)]
pub struct Create {
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
    #[command(flatten)]
    auth: ClientAuthArgs,
    #[command(flatten)]
    claims: ClaimArgs,
    /// Require DPoP (RFC 9449): every token is bound to the client's own key.
    #[arg(long)]
    dpop_bound: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Create {
    pub async fn run(self, api: &Api) -> anyhow::Result<()> {
        let Create {
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
            auth,
            claims,
            dpop_bound,
            json,
        } = self;
        let secret = match import_secret_env {
            Some(var) => Some(
                std::env::var(&var)
                    .map_err(|_| anyhow::anyhow!("environment variable {var} is not set"))?,
            ),
            None => None,
        };
        let new = json!({
            "workspace_id": workspace,
            "name": name,
            "description": description,
            "environment": environment,
            "type": key_type,
            "scopes": scopes,
            "allowed_cidrs": cidrs,
            "audiences": audiences,
            "expires_at": expires_at,
            "expires_in": expires_in,
            "secret": secret,
            "dpop_bound_access_tokens": dpop_bound.then_some(true),
        });
        let mut new = without_nulls(new);
        auth.add_to(&mut new)?;
        claims.add_to(&mut new)?;
        let revealed = api.post("/v1/keys", new).await?;
        print_revealed(&revealed, json, &format!("Created key {:?}", text(&revealed, "name")))
    }
}
