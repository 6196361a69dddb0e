//! `keymint signing-keys ...`: list, rotate, and re-seal under a new master key.

use std::path::PathBuf;

use clap::Subcommand;

use super::output::{self, opt};
use crate::apikeys::Actor;
use crate::config::Config;
use crate::signing::MasterKey;

#[derive(Debug, Subcommand)]
pub enum SigningKeysCommand {
    /// List the published signing keys and their states.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rotate: publish a next key that signs after one JWKS max-age (or at once with
    /// --emergency, which also drops the current key from the JWKS).
    Rotate {
        /// The current key is compromised: the next key signs at once and the current
        /// one leaves the JWKS (its tokens stop verifying).
        #[arg(long)]
        emergency: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Re-seal every private key under a new master key (created if the file does not
    /// exist). Then restart every instance with the new master key.
    RotateMaster {
        /// File of the new master key (base64 of 32 bytes), created if missing.
        #[arg(long)]
        new_master_key_file: PathBuf,
    },
}

pub async fn run(config: Config, cmd: SigningKeysCommand) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let now = app.clock.now();
    match cmd {
        SigningKeysCommand::List { json } => {
            let keys = app.signing_keys.list(&Actor::cli()).await?;
            if json {
                return output::json(&serde_json::json!({ "data": keys }));
            }
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.kid.clone(),
                        k.alg.clone(),
                        k.state.to_string(),
                        k.created_at.clone(),
                        opt(&k.transition_at),
                    ]
                })
                .collect();
            output::table(&["kid", "alg", "state", "created", "next transition"], &rows);
            Ok(())
        }
        SigningKeysCommand::Rotate { emergency, json } => {
            let outcome = app.signing_keys.rotate(&Actor::cli(), emergency).await?;
            if json {
                return output::json(&outcome);
            }
            println!("{}: key {} signs from {}", outcome.outcome, outcome.kid, outcome.signs_from);
            Ok(())
        }
        SigningKeysCommand::RotateMaster { new_master_key_file } => {
            let new_master = if new_master_key_file.exists() {
                MasterKey::read_file(&new_master_key_file)?
            } else {
                MasterKey::create_file(&new_master_key_file)?
            };
            let count = app.keyring.reseal(&new_master, now).await?;
            println!(
                "re-sealed {count} signing keys under master key {} ({}); restart every instance with it",
                new_master.id(),
                new_master_key_file.display()
            );
            Ok(())
        }
    }
}
