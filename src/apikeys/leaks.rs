//! Leaked secrets: a secret scanner (GitHub's partner program, behind
//! `POST /secret-scanning/github`) reports values it found in public; each that
//! is the secret of one of this deployment's keys (current or pre-rotation) is a
//! true positive, and the key's workspace answers as its key policy says
//! (`on_leak`: revoke, the default; deactivate; or only notify). Either way the
//! report is audited as `key.leaked` with where it was found, and the
//! `key.leaked` webhook goes out, in the same transaction.

use serde_json::json;

use super::manage::Keys;
use super::policy::LeakResponse;
use super::secret::{self, Secret};
use crate::store::{AuditFilter, Credential, KeyStatus};
use crate::vocab::{Action, Actor, ManageError};

/// Where a scanner found a secret.
#[derive(Debug, Clone)]
pub struct Found {
    /// Who reported it, e.g. `github`.
    pub reporter: &'static str,
    /// The public URL the scanner gives (a commit, an issue, a gist).
    pub url: String,
    /// The kind of place, as the scanner names it (`content`, `commit`, ...).
    pub source: String,
}

/// The latest report of a key's secret found in public, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakReport {
    /// When it was reported (RFC 3339).
    pub at: String,
    pub url: String,
    pub source: String,
    pub reporter: String,
    /// What the workspace did: `revoke`, `deactivate` or `notify`.
    pub response: String,
}

impl Keys {
    /// The latest leak report of key `id`, if its secret was ever reported found.
    pub async fn leak_report(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Option<LeakReport>, ManageError> {
        self.load(actor, id).await?;
        let filter = AuditFilter {
            target_id: Some(id.to_string()),
            action: Some(Action::KeyLeaked.as_str().to_string()),
            limit: 1,
            ..AuditFilter::default()
        };
        let latest = self.store.list_audit(&filter).await?;
        Ok(latest.first().map(|e| {
            let text = |name: &str| e.details[name].as_str().unwrap_or_default().to_string();
            LeakReport {
                at: crate::clock::rfc3339(e.at_us.div_euclid(1_000_000)),
                url: text("url"),
                source: text("source"),
                reporter: text("reporter"),
                response: text("response"),
            }
        }))
    }

    /// Handles one reported value: whether it is a real secret of a key here
    /// (a true positive), after applying the workspace's leak response.
    pub async fn report_leak(&self, value: &Secret, found: &Found) -> Result<bool, ManageError> {
        let Ok(id) = secret::parse(value.expose()) else { return Ok(false) };
        let Some(key) = self.store.find_key(id).await? else { return Ok(false) };
        let Credential::Secret { current, previous, .. } = &key.credential else {
            return Ok(false);
        };
        let mut real = false;
        for hash in current.iter().map(|c| &c.hash).chain(previous.iter().map(|p| &p.hash)) {
            if self.hasher.verify(hash, value).await.unwrap_or(false) {
                real = true;
                break;
            }
        }
        if !real {
            return Ok(false);
        }
        let response = self.guardrails_of(&key.workspace_id).await?.policy.on_leak;
        let reporter = Actor {
            id: found.reporter.to_string(),
            email: None,
            ip: None,
            workspace_id: Some(key.workspace_id.clone()),
            platform: false,
            scopes: Vec::new(),
        };
        let details = json!({"url": found.url, "source": found.source,
            "reporter": found.reporter, "response": response.as_str()});
        let by = reporter.id.clone();
        self.write_change(&reporter, key, Action::KeyLeaked, move |key, now| {
            match response {
                LeakResponse::Revoke => {
                    super::manage::revocation(by, None, None)(key, now)?;
                }
                LeakResponse::Deactivate if key.status == KeyStatus::Active => {
                    key.status = KeyStatus::Inactive;
                }
                LeakResponse::Deactivate | LeakResponse::Notify => {}
            }
            // Audited even when nothing changes: the report itself is news.
            Ok(Some(details))
        })
        .await?;
        Ok(true)
    }
}
