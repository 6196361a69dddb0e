//! `keymint secret-scanning pattern`: the regular expression that matches this
//! deployment's secrets, to register with a secret scanner or a push-protection
//! custom pattern (docs/security.md).

use clap::Subcommand;
use serde_json::json;

use super::output;
use crate::apikeys::secret;

#[derive(Debug, Subcommand)]
pub enum SecretScanningCommand {
    /// Print the pattern of this deployment's secrets (current and retired
    /// prefixes) and the checksum rule.
    ///
    /// Example: keymint secret-scanning pattern --secret-prefix acme
    Pattern {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What the checksum is, for a scanner that can check it.
const CHECKSUM_RULE: &str = "the last 6 characters are a checksum: the CRC-32 (IEEE) of \
    everything before them, written as 6 base62 digits (0-9, A-Z, a-z in that order), most \
    significant first";

pub fn run(cmd: SecretScanningCommand, prefix: &str, retired: &[String]) -> anyhow::Result<()> {
    secret::check_prefix(prefix).map_err(|why| anyhow::anyhow!("--secret-prefix: {why}"))?;
    secret::configure(prefix, retired);
    match cmd {
        SecretScanningCommand::Pattern { json } => {
            let pattern = secret::scanner_pattern();
            if json {
                return output::json(&json!({
                    "pattern": pattern,
                    "prefixes": secret::prefixes(),
                    "checksum": CHECKSUM_RULE,
                }));
            }
            outln!("{pattern}");
            eprintln!("Matches {} secrets; {CHECKSUM_RULE}.", secret::prefixes().join(" and "));
            Ok(())
        }
    }
}
