//! `keymint signing-keys ...`: list, rotate, and re-seal under a new master key.

use std::path::PathBuf;

use clap::Subcommand;

use super::api::Api;
use super::output::{self, text};
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

pub async fn run(api: &Api, cmd: SigningKeysCommand) -> anyhow::Result<()> {
    match cmd {
        SigningKeysCommand::List { json } => {
            let keys = api.get("/v1/signing-keys", &[]).await?;
            if json {
                return output::json(&keys);
            }
            let rows: Vec<Vec<String>> = output::items(&keys)
                .map(|k| {
                    ["kid", "alg", "state", "created_at", "transition_at"]
                        .iter()
                        .map(|f| text(k, f))
                        .collect()
                })
                .collect();
            output::table(&["kid", "alg", "state", "created", "next transition"], &rows);
            Ok(())
        }
        SigningKeysCommand::Rotate { emergency, json } => {
            let outcome = api
                .post("/v1/signing-keys/rotate", serde_json::json!({ "emergency": emergency }))
                .await?;
            if json {
                return output::json(&outcome);
            }
            let [what, kid, from] = ["outcome", "kid", "signs_from"].map(|f| text(&outcome, f));
            outln!("{what}: key {kid} signs from {from}");
            Ok(())
        }
        SigningKeysCommand::RotateMaster { new_master_key_file } => {
            let Some(app) = api.local_app() else {
                anyhow::bail!(
                    "`signing-keys rotate-master` re-seals the private keys in the database \
                     with the master key: run it where the database is, with --database-url, \
                     not --server"
                );
            };
            let new_master = if new_master_key_file.exists() {
                MasterKey::read_file(&new_master_key_file)?
            } else {
                MasterKey::create_file(&new_master_key_file)?
            };
            let count = app.keyring.reseal(&new_master, app.clock.now()).await?;
            outln!(
                "re-sealed {count} signing keys under master key {} ({}); restart every instance with it",
                new_master.id(),
                new_master_key_file.display()
            );
            Ok(())
        }
    }
}
