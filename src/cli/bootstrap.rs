//! `keymint bootstrap`: a new platform-admin key, also how an operator recovers
//! after losing every admin key.

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print only `{"client_id": ..., "client_secret": ...}` on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    // The first admin key of a new installation: the database may not exist yet;
    // an existing one must have this keymint's schema (only serve and migrate
    // upgrade it).
    let clock = std::sync::Arc::new(crate::clock::SystemClock);
    let app = crate::app::App::open_with(config, clock, crate::store::schema::Opening::CREATE_ONLY)
        .await?;
    let revealed = app.bootstrap().await?;
    let secret = revealed.secret.as_ref().map(|s| s.expose());
    if args.json {
        super::output::json(&serde_json::json!({
            "client_id": revealed.key.id,
            "client_secret": secret,
        }))
    } else {
        print_credentials("Created a platform-admin API key", &revealed.key.id, secret);
        Ok(())
    }
}

/// Prints a key's credentials for a person, with the warning that this is the only
/// time; a key without a secret authenticates with private_key_jwt.
pub fn print_credentials(title: &str, client_id: &str, secret: Option<&str>) {
    match secret {
        Some(secret) => {
            outln!("{title} (the secret is shown once; store it now):");
            outln!("  client_id:     {client_id}");
            outln!("  client_secret: {secret}");
        }
        None => {
            outln!("{title} (it authenticates with private_key_jwt: no secret):");
            outln!("  client_id:     {client_id}");
        }
    }
}
