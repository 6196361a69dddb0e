//! Announcing keys about to expire: each active key whose `expires_at` is within
//! [`NOTICE_SECONDS`] gets one `key.expiring` event (audited by `system`, with
//! the key as `/v1` shows it, so webhooks carry it). Every instance runs the job
//! (`app.rs`); the store's claim lets one announcement through per key.

use serde_json::json;

use super::manage::Keys;
use super::view::KeyView;
use crate::store::AuditRecord;
use crate::vocab::{Action, Actor, ManageError};

/// How long before its expiry a key is announced.
pub const NOTICE_SECONDS: i64 = 7 * 24 * 3600;
/// Most keys announced per run.
const BATCH: i64 = 100;

impl Keys {
    /// Announces the keys expiring within a week that were not announced yet; how
    /// many this run announced.
    pub async fn announce_expiring(&self) -> Result<usize, ManageError> {
        let now = self.clock.now();
        let due = self.store.keys_expiring_unannounced(now, now + NOTICE_SECONDS, BATCH).await?;
        let system = Actor { id: "system".into(), ..Actor::cli() };
        let mut announced = 0;
        for key in due {
            let at_us = self.clock.now_micros();
            let view = KeyView::new(&key, now);
            let details = json!({"expires_at": view.expires_at, "name": key.name});
            let audit = AuditRecord::by(
                &system,
                at_us,
                Action::KeyExpiring,
                &key.id,
                Some(&key.workspace_id),
                details,
            )
            .announcing(serde_json::to_value(&view).unwrap_or_default());
            if self.store.announce_expiry(&key.id, &audit).await? {
                announced += 1;
            }
        }
        Ok(announced)
    }
}
