//! What a key adds to its tokens and who it belongs to, as `keys create` and
//! `keys update` take it: `--claims`, `--owner`, `--federated-credential`.

use clap::Args;
use serde_json::{json, Value};

/// The claims, owner and federated credentials of a key.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// A JSON object copied into every token the key gets (at most 2 KB), e.g.
    /// --claims '{"tenant": "acme"}'; on update, '{}' removes them.
    #[arg(long, value_name = "JSON")]
    claims: Option<String>,
    /// The customer or team the key belongs to (an id of yours); on update, ''
    /// removes it.
    #[arg(long)]
    owner: Option<String>,
    /// A platform token that may act as the key with no secret (repeatable):
    /// 'ISSUER SUBJECT AUDIENCE...', e.g. --federated-credential
    /// 'https://token.actions.githubusercontent.com repo:acme/api:ref:refs/heads/main keymint';
    /// on update, replaces them all.
    #[arg(long = "federated-credential", value_name = "'ISSUER SUBJECT AUDIENCE...'")]
    federated: Option<Vec<String>>,
    /// On update: remove every federated credential.
    #[arg(long, conflicts_with = "federated")]
    no_federated_credentials: bool,
}

impl ClaimArgs {
    /// Sets the request members the flags give; absent flags set nothing.
    pub fn add_to(self, body: &mut Value) -> anyhow::Result<()> {
        if let Some(text) = self.claims {
            body["claims"] = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("--claims is not JSON: {e}"))?;
        }
        if let Some(owner) = self.owner {
            body["owner"] = json!(owner);
        }
        let federated = match (self.no_federated_credentials, self.federated) {
            (true, _) => Some(Vec::new()),
            (false, given) => given,
        };
        if let Some(lines) = federated {
            let list =
                lines.iter().map(|line| credential(line)).collect::<anyhow::Result<Vec<_>>>()?;
            body["federated_credentials"] = json!(list);
        }
        Ok(())
    }
}

/// One `--federated-credential`: issuer, subject, then one or more audiences.
fn credential(line: &str) -> anyhow::Result<Value> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.as_slice() {
        [issuer, subject, audiences @ ..] if !audiences.is_empty() => {
            Ok(json!({"issuer": issuer, "subject": subject, "audiences": audiences}))
        }
        _ => anyhow::bail!(
            "--federated-credential takes 'ISSUER SUBJECT AUDIENCE...', e.g. \
             'https://token.actions.githubusercontent.com repo:acme/api:ref:refs/heads/main keymint'"
        ),
    }
}
